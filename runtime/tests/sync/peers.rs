//! Peers that misbehave: every one is cut off with a typed error, and what it sent that was
//! valid stays. Frames are crafted by hand and fed to a session.

use crate::*;
use cairn::sync::{Hello, Message, MessageLimits, Range, RangeContent, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION};
use cairn::Bound;
use cairn::{DatabaseId, SyncError};

/// A session of `replica` that has received a matching hello from a peer holding nothing.
fn greeted(replica: &Replica) -> Session<'_> {
    greeted_with(replica, SessionOptions::default())
}

fn greeted_with(replica: &Replica, options: SessionOptions) -> Session<'_> {
    let mut session = Session::new(replica, Role::Acceptor, options);
    session.start().expect("start");
    let hello = Hello {
        versions: (OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION),
        database: replica.id(),
        count: 0,
        fingerprint: [0; 16],
    };
    session.receive(&Message::Hello(hello).encode()).expect("hello");
    session
}

#[test]
fn garbage_oversized_and_unknown_frames_are_refused() {
    let (replica, _) = database();
    let mut session = greeted(&replica);
    assert!(matches!(session.receive(b"\xff\x00garbage"), Err(SyncError::Message(_))));
    let huge = vec![0u8; MessageLimits::default().max_frame_bytes + 1];
    assert!(matches!(greeted(&replica).receive(&huge), Err(SyncError::Message(_))));
    assert!(matches!(greeted(&replica).receive(&[0x81, 0x18, 0x63]), Err(SyncError::Message(_))));
    let flood = Message::Want((0..20_000u32).map(|index| cairn::OpHash([index as u8; 32])).collect()).encode();
    assert!(matches!(greeted(&replica).receive(&flood), Err(SyncError::Message(_))));
    assert!(matches!(greeted(&replica).receive(&Message::Ack(1).encode()), Err(SyncError::Protocol(_))));
}

#[test]
fn a_peer_must_say_hello_first_with_this_database_and_a_common_version() {
    let (replica, _) = database();
    let mut session = Session::new(&replica, Role::Acceptor, SessionOptions::default());
    session.start().expect("start");
    assert!(matches!(session.receive(&Message::Done.encode()), Err(SyncError::Protocol(_))));
    let stranger = Hello { versions: (1, 1), database: DatabaseId([9; 32]), count: 3, fingerprint: [1; 16] };
    let mut session = Session::new(&replica, Role::Acceptor, SessionOptions::default());
    session.start().expect("start");
    assert!(matches!(session.receive(&Message::Hello(stranger).encode()), Err(SyncError::WrongDatabase { .. })));
    let future = Hello {
        versions: (PROTOCOL_VERSION + 1, PROTOCOL_VERSION + 5),
        database: replica.id(),
        count: 3,
        fingerprint: [1; 16],
    };
    let mut session = Session::new(&replica, Role::Acceptor, SessionOptions::default());
    session.start().expect("start");
    assert!(matches!(session.receive(&Message::Hello(future).encode()), Err(SyncError::Version { .. })));
    // It said goodbye, with a reason, before the cut.
    let frames = drain(&mut session);
    let last = frames.last().expect("frames");
    assert!(matches!(Message::decode(last, &MessageLimits::default()), Ok(Message::Bye(_))));
}

#[test]
fn forged_ops_and_ops_of_another_database_cut_the_peer_and_the_valid_ones_stay() {
    let (source, founder) = database();
    write_notes(&source, &founder, 3, "note");
    let ops = source.export(&[]).expect("export");
    let target = join(&source);
    let mut session = greeted(&target);
    // A valid batch first, then a forged op: its signature flipped.
    session.receive(&Message::Ops(ops[..3].to_vec()).encode()).expect("valid ops");
    let mut forged = ops[3].clone();
    let last = forged.len() - 5;
    forged[last] ^= 0x55;
    let cut = session.receive(&Message::Ops(vec![forged]).encode());
    assert!(matches!(cut, Err(SyncError::Refused(_))), "{cut:?}");
    assert_eq!(target.op_count().expect("count"), 3, "the valid ops stayed");
    // An op of another database.
    let (elsewhere, other_founder) = database();
    write_notes(&elsewhere, &other_founder, 1, "stray");
    let strays = elsewhere.export(&[]).expect("export");
    let cut = greeted(&target).receive(&Message::Ops(vec![strays[1].clone()]).encode());
    assert!(matches!(cut, Err(SyncError::Refused(_))), "{cut:?}");
}

#[test]
fn a_peer_that_lists_more_ops_than_may_be_wanted_is_cut() {
    let (replica, _) = database();
    let listing = |count: u32| {
        let hashes = (0..count).map(|index| cairn::OpHash(*blake3::hash(&index.to_le_bytes()).as_bytes())).collect();
        Message::Ranges(vec![Range { lower: Bound::START, upper: Bound::END, content: RangeContent::Ops(hashes) }])
            .encode()
    };
    let options = SessionOptions { max_wanted: 100, ..SessionOptions::default() };
    greeted_with(&replica, options).receive(&listing(100)).expect("within the bound");
    let mut session = greeted_with(&replica, options);
    let cut = session.receive(&listing(101));
    assert!(matches!(cut, Err(SyncError::OverLimit(_))), "{cut:?}");
}

#[test]
fn batches_beyond_the_window_unordered_ranges_and_non_canonical_frames_are_refused() {
    let (source, founder) = database();
    write_notes(&source, &founder, 10, "note");
    let ops = source.export(&[]).expect("export");
    let target = join(&source);
    // Five batches without waiting for an acknowledgement: one more than the window.
    let mut session = greeted(&target);
    for (index, op) in ops.iter().take(4).enumerate() {
        session
            .receive(&Message::Ops(vec![op.clone()]).encode())
            .unwrap_or_else(|error| panic!("batch {index}: {error}"));
    }
    let beyond = session.receive(&Message::Ops(vec![ops[4].clone()]).encode());
    assert!(matches!(beyond, Err(SyncError::Protocol(_))), "{beyond:?}");
    // Ranges must come in order and apart.
    let range = |lower: u64, upper: u64| Range {
        lower: Bound::new(lower),
        upper: Bound::new(upper),
        content: RangeContent::Fingerprint([0; 16]),
    };
    let unordered = greeted(&target).receive(&Message::Ranges(vec![range(3, 5), range(1, 2)]).encode());
    assert!(matches!(unordered, Err(SyncError::Protocol(_))), "{unordered:?}");
    // One encoding per message: an ack of 1 with the count in two bytes decodes, and is refused.
    let longer = greeted(&target).receive(&[0x82, 0x05, 0x18, 0x01]);
    assert!(matches!(longer, Err(SyncError::Message(_))), "{longer:?}");
}
