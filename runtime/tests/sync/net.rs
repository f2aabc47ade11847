//! Sync over channels: in memory and over loopback TCP with Noise, between 2, 3 and 5
//! replicas; the handshake's identity check; peer policies; live push; a stalled peer.

use crate::*;
use cairn::net::{self, memory, PeerPolicy, SyncOptions, SyncReport};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Syncs two replicas over an in-memory channel; returns both reports.
async fn over_memory(left: &Arc<Replica>, right: &Arc<Replica>, options: SyncOptions) -> (SyncReport, SyncReport) {
    let (left_key, right_key) = (Keypair::generate(&Ed25519Blake3), Keypair::generate(&Ed25519Blake3));
    let (one, other) = memory::pair(left_key.identity, right_key.identity, 8);
    let first = tokio::spawn(net::run_session(left.clone(), one, Role::Initiator, options.clone()));
    let second = tokio::spawn(net::run_session(right.clone(), other, Role::Acceptor, options));
    (first.await.expect("initiator"), second.await.expect("acceptor"))
}

fn assert_clean(report: &SyncReport) {
    assert!(report.completed && report.error.is_none(), "{report:?}");
}

/// A node serving sync on loopback: its address and identity.
async fn serving(replica: &Arc<Replica>, options: SyncOptions) -> (std::net::SocketAddr, Keypair) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let key = Keypair::generate(&Ed25519Blake3);
    let (reports, _) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(net::serve(replica.clone(), listener, key.clone(), options, reports));
    (address, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_over_memory_channels() {
    for count in [2, 3, 5] {
        let (first, founder) = database();
        let first = Arc::new(first);
        let replicas: Vec<Arc<Replica>> =
            std::iter::once(first.clone()).chain((1..count).map(|_| Arc::new(join(&first)))).collect();
        let authors: Vec<Keypair> = (0..count)
            .map(|index| if index == 0 { founder.clone() } else { Keypair::generate(&Ed25519Blake3) })
            .collect();
        // Partition: the first half syncs among itself while everyone writes.
        for (index, replica) in replicas.iter().enumerate() {
            if index == 0 {
                write_notes(replica, &authors[0], 30, "founder");
            }
        }
        for (index, replica) in replicas.iter().enumerate().skip(1) {
            let (left, right) = over_memory(&replicas[0], replica, SyncOptions::default()).await;
            assert_clean(&left);
            assert_clean(&right);
            write_notes(replica, &authors[index], 10 + index, "member");
        }
        // Heal: a ring, twice.
        for _ in 0..2 {
            for index in 0..count {
                let (left, right) =
                    over_memory(&replicas[index], &replicas[(index + 1) % count], SyncOptions::default()).await;
                assert_clean(&left);
                assert_clean(&right);
            }
        }
        for replica in &replicas[1..] {
            assert_converged(&replicas[0], replica);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_over_loopback_tcp_with_noise() {
    for count in [2, 3, 5] {
        let (first, founder) = database();
        let first = Arc::new(first);
        write_notes(&first, &founder, 50, "founder");
        let (address, _) = serving(&first, SyncOptions::default()).await;
        let others: Vec<(Arc<Replica>, Keypair)> =
            (1..count).map(|_| (Arc::new(join(&first)), Keypair::generate(&Ed25519Blake3))).collect();
        // Every replica gets the database, writes, and syncs with the serving one twice more (the
        // second round carries the others' ops back out).
        for (replica, key) in &others {
            assert_clean(
                &net::connect_and_sync(replica.clone(), address, key.clone(), None, SyncOptions::default()).await,
            );
            write_notes(replica, key, 7, "member");
        }
        for _ in 0..2 {
            for (replica, key) in &others {
                let report =
                    net::connect_and_sync(replica.clone(), address, key.clone(), None, SyncOptions::default()).await;
                assert_clean(&report);
            }
        }
        for (replica, _) in &others {
            assert_converged(&first, replica);
        }
        assert_eq!(first.op_count().expect("count"), 1 + 50 + 7 * (count as u64 - 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_is_not_the_expected_identity_is_refused() {
    let (first, _) = database();
    let first = Arc::new(first);
    let (address, server_key) = serving(&first, SyncOptions::default()).await;
    let (replica, key) = (Arc::new(join(&first)), Keypair::generate(&Ed25519Blake3));
    let impostor = Keypair::generate(&Ed25519Blake3).identity;
    let report =
        net::connect_and_sync(replica.clone(), address, key.clone(), Some(impostor), SyncOptions::default()).await;
    assert!(matches!(report.error, Some(cairn::SyncError::Channel(cairn::ChannelError::Handshake(_)))), "{report:?}");
    assert_eq!(replica.op_count().expect("count"), 0);
    let report =
        net::connect_and_sync(replica.clone(), address, key.clone(), Some(server_key.identity), SyncOptions::default())
            .await;
    assert_clean(&report);
    assert_eq!(report.peer, Some(server_key.identity));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_with_a_stolen_identity_fails() {
    // A peer that claims an identity but signs with another key cannot finish the handshake:
    // the claim is checked against the signature over its Noise key.
    let (first, _) = database();
    let first = Arc::new(first);
    let (address, _) = serving(&first, SyncOptions::default()).await;
    let mut liar = Keypair::generate(&Ed25519Blake3);
    liar.identity = Keypair::generate(&Ed25519Blake3).identity;
    let report = net::connect_and_sync(Arc::new(join(&first)), address, liar, None, SyncOptions::default()).await;
    assert!(report.error.is_some() && !report.completed, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_allowed_peers_and_current_members_may_sync() {
    let founder = Keypair::generate(&Ed25519Blake3);
    let chat = cairn::load_schema(concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas/chat.schema")).expect("chat");
    let first = Arc::new(Replica::create(Storage::Memory, &founder, chat.clone()).expect("create"));
    let member = Keypair::generate(&Ed25519Blake3);
    let (_, rows) = first
        .transaction(&founder, |tx| {
            let channel = tx.insert("Channel", [("name", Value::from("general")), ("owner", founder.identity.into())]);
            tx.insert(
                "Membership",
                [("channel", channel.into()), ("member", member.identity.into()), ("role", "writer".into())],
            );
        })
        .expect("setup");
    let policy = PeerPolicy::Members { collection: "Membership".into(), field: "member".into() };
    let options = SyncOptions { policy: Some(policy), ..SyncOptions::default() };
    let (address, _) = serving(&first, options).await;
    let theirs = Arc::new(Replica::join(Storage::Memory, first.id(), chat.clone()).expect("join"));
    assert_clean(&net::connect_and_sync(theirs.clone(), address, member.clone(), None, SyncOptions::default()).await);
    let stranger = Keypair::generate(&Ed25519Blake3);
    let report = net::connect_and_sync(theirs.clone(), address, stranger.clone(), None, SyncOptions::default()).await;
    assert!(!report.completed && report.error.is_some(), "{report:?}");
    // The membership is deleted by an effective op: from then on the member is refused.
    first
        .transaction(&founder, |tx| {
            tx.delete("Membership", rows[1]);
        })
        .expect("remove");
    let report = net::connect_and_sync(theirs, address, member.clone(), None, SyncOptions::default()).await;
    assert!(!report.completed && report.error.is_some(), "{report:?}");
    // An allow list.
    let allowed = PeerPolicy::Allow(BTreeSet::from([stranger.identity]));
    assert!(allowed.allows(&first, &stranger.identity).expect("checks"));
    assert!(!allowed.allows(&first, &member.identity).expect("checks"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sessions_push_new_ops_at_once() {
    let (first, founder) = database();
    let first = Arc::new(first);
    write_notes(&first, &founder, 5, "before");
    let live =
        SyncOptions { session: SessionOptions { live: true, ..SessionOptions::default() }, ..SyncOptions::default() };
    let (address, _) = serving(&first, live.clone()).await;
    let (theirs, key) = (Arc::new(join(&first)), Keypair::generate(&Ed25519Blake3));
    let session = tokio::spawn(net::connect_and_sync(theirs.clone(), address, key.clone(), None, live));
    let until = |replica: Arc<Replica>, count: u64| async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        while replica.op_count().expect("count") < count {
            assert!(Instant::now() < deadline, "the push did not arrive");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    until(theirs.clone(), 6).await;
    // A write on either side reaches the other while the session is open.
    write_notes(&first, &founder, 1, "pushed");
    until(theirs.clone(), 7).await;
    write_notes(&theirs, &key, 1, "pushed back");
    until(first.clone(), 8).await;
    assert_converged(&first, &theirs);
    session.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_peer_is_cut_off() {
    let (first, _) = database();
    let first = Arc::new(first);
    let options = SyncOptions { idle_timeout: Duration::from_millis(300), ..SyncOptions::default() };
    let (mine, theirs) =
        memory::pair(Keypair::generate(&Ed25519Blake3).identity, Keypair::generate(&Ed25519Blake3).identity, 8);
    let report = tokio::spawn(net::run_session(first, mine, Role::Acceptor, options));
    // The other end never says anything.
    let report = report.await.expect("session");
    drop(theirs);
    assert!(
        matches!(report.error, Some(cairn::SyncError::Idle { .. }) | Some(cairn::SyncError::Channel(_))),
        "{report:?}"
    );
}
