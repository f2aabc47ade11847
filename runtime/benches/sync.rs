//! Sync, measured: a full sync over loopback TCP with Noise against local `ingest_stream` of the
//! same ops (same run); replicas in sync (round trips, bytes); incremental syncs of d recent ops
//! and of d ops written deep in the past, missing from a large replica; live propagation latency;
//! the receiving node's peak memory, in a process of its own, for full syncs of up to four times
//! the full sync's size (past the point where the page cache is full).
//!
//! `cargo bench -p cairn --bench sync`. `CAIRN_BENCH_SYNC_OPS` sets the full sync's size
//! (default 100,000) and `CAIRN_BENCH_SYNC_BASE` the large replica's (default 200,000; set it
//! to 1,000,000 for the size a large replica is measured at).

use cairn::net::{self, SyncOptions};
use cairn::sync::{Role, Session, SessionOptions, SyncStats};
use cairn::{Change, Ed25519Blake3, Keypair, Replica, Storage, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;
use support::{compile, env_count, TempDir};

const SCHEMA: &str = "schema bench;\ncollection Note {\n    text: string,\n    stars: counter,\n    allow insert, update, delete if true;\n}\n";

fn schema() -> cairn::Schema {
    compile(SCHEMA)
}

fn note(index: usize) -> Vec<Change> {
    vec![Change::Insert {
        collection: "Note".into(),
        fields: vec![("text".into(), Value::Text(format!("note number {index}")))],
    }]
}

/// Writes `count` notes by `author` in transactions of 1,000 ops.
fn write(replica: &Replica, author: &Keypair, start: usize, count: usize) {
    let mut written = 0;
    while written < count {
        let batch = (count - written).min(1_000);
        replica.write_ops(author, (0..batch).map(|index| note(start + written + index)).collect()).expect("write");
        written += batch;
    }
}

/// Copies every op of `from` into `to`.
fn copy(from: &Replica, to: &Replica) {
    let ops = from.export(&[]).expect("export");
    let slices: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
    for result in to.ingest_stream(&slices, 1_000) {
        result.expect("ingest");
    }
}

/// Two sessions in one thread, every step delivering everything queued: the one-way flights
/// until both are complete, and each side's stats.
fn lockstep(initiator: &Replica, acceptor: &Replica) -> (u64, SyncStats, SyncStats) {
    let mut left = Session::new(initiator, Role::Initiator, SessionOptions::default());
    let mut right = Session::new(acceptor, Role::Acceptor, SessionOptions::default());
    left.start().expect("start");
    right.start().expect("start");
    for flights in 0.. {
        let drain = |session: &mut Session| {
            let mut frames = Vec::new();
            while let Some(frame) = session.poll_transmit().expect("transmit") {
                frames.push(frame);
            }
            frames
        };
        let (from_left, from_right) = (drain(&mut left), drain(&mut right));
        if from_left.is_empty() && from_right.is_empty() {
            assert!(left.is_complete() && right.is_complete(), "stalled");
            return (flights, left.stats().clone(), right.stats().clone());
        }
        from_left.iter().for_each(|frame| {
            right.receive(frame).expect("frame");
        });
        from_right.iter().for_each(|frame| {
            left.receive(frame).expect("frame");
        });
    }
    unreachable!()
}

fn overhead(stats: &SyncStats) -> u64 {
    stats.bytes_sent - stats.op_bytes_sent
}

fn report_incremental(label: &str, missing: usize, (flights, left, right): (u64, SyncStats, SyncStats)) {
    let round_trips = flights.div_ceil(2);
    let (out, back) = (overhead(&left), overhead(&right));
    let budget = 2_560 + 64 * missing as u64;
    println!(
        "{label:<58} {round_trips} round trips ({flights} flights); {out} + {back} bytes besides the ops (budget {budget} each way); {} ops",
        left.ops_received + right.ops_received
    );
}

fn main() {
    if std::env::var("CAIRN_BENCH_SYNC_RECEIVER").is_ok() {
        return receiver();
    }
    let full = env_count("CAIRN_BENCH_SYNC_OPS", 100_000);
    let base = env_count("CAIRN_BENCH_SYNC_BASE", 200_000);
    println!("sync benchmark, suite ed25519-zip215+blake3, {full} ops for the full sync, a {base}-op replica for the incremental ones");
    full_sync(full);
    in_sync();
    incremental(base);
    live_propagation(200);
    // Up to four times the full sync: the store's page cache (bounded, `DEFAULT_CACHE_BYTES`)
    // fills on the way, about the full sync's size at the default, and only past it does "flat"
    // show.
    memory(&[full / 4, full / 2, full, 2 * full, 4 * full]);
}

/// A full sync over loopback TCP with Noise, against `ingest_stream` of the same ops.
fn full_sync(count: usize) {
    let dir = TempDir::new("sync-full");
    let author = Keypair::generate(&Ed25519Blake3);
    let source = Arc::new(Replica::create(Storage::File(&dir.store("source")), &author, schema()).expect("create"));
    write(&source, &author, 0, count);
    let ops = source.export(&[]).expect("export");
    let slices: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
    let local = Replica::join(Storage::File(&dir.store("local")), source.id(), schema()).expect("join");
    let started = Instant::now();
    for result in local.ingest_stream(&slices, 1_000) {
        result.expect("ingest");
    }
    let ingest_rate = slices.len() as f64 / started.elapsed().as_secs_f64();
    drop(local);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let target = Arc::new(Replica::join(Storage::File(&dir.store("target")), source.id(), schema()).expect("join"));
    let (rate, stats) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (reports, _) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(net::serve(source.clone(), listener, author.clone(), SyncOptions::default(), reports));
        let started = Instant::now();
        let report = net::connect_and_sync(
            target.clone(),
            address,
            Keypair::generate(&Ed25519Blake3),
            None,
            SyncOptions::default(),
        )
        .await;
        assert!(report.completed, "{report:?}");
        (slices.len() as f64 / started.elapsed().as_secs_f64(), report.stats)
    });
    assert_eq!(target.op_count().expect("count"), slices.len() as u64);
    println!("local ingest_stream of {} ops (baseline)                 {ingest_rate:>9.0} ops/s", slices.len());
    println!(
        "full sync over loopback TCP + Noise                        {rate:>9.0} ops/s   {:.2}x ingest_stream (target >= 0.80); {} round trips, {:.1} MB received",
        rate / ingest_rate,
        stats.round_trips,
        stats.bytes_received as f64 / 1e6
    );
}

/// Replicas already in sync: how many flights and bytes to find out.
fn in_sync() {
    let author = Keypair::generate(&Ed25519Blake3);
    let ours = Replica::create(Storage::Memory, &author, schema()).expect("create");
    write(&ours, &author, 0, 10_000);
    let theirs = Replica::join(Storage::Memory, ours.id(), schema()).expect("join");
    copy(&ours, &theirs);
    let (flights, left, right) = lockstep(&ours, &theirs);
    println!(
        "replicas in sync (10,001 ops)                         {} round trip ({flights} flight); {} bytes out, {} back (target: 1 round trip, < 100 bytes each way)",
        flights.div_ceil(2),
        left.bytes_sent,
        right.bytes_sent
    );
}

/// d ops missing from a large replica: recent ones, then ones written deep in the past.
fn incremental(base: usize) {
    let dir = TempDir::new("sync-incremental");
    let author = Keypair::generate(&Ed25519Blake3);
    let started = Instant::now();
    let full = Replica::create(Storage::File(&dir.store("full")), &author, schema()).expect("create");
    write(&full, &author, 0, base);
    let behind = Replica::join(Storage::File(&dir.store("behind")), full.id(), schema()).expect("join");
    copy(&full, &behind);
    // A replica that holds only the first 100 ops: ops written there are deep in the past.
    let early = Replica::join(Storage::Memory, full.id(), schema()).expect("join");
    let prefix: Vec<Vec<u8>> = full.export(&[]).expect("export").into_iter().take(101).collect();
    for result in early.ingest_batch(&prefix.iter().map(Vec::as_slice).collect::<Vec<_>>()) {
        result.expect("prefix");
    }
    println!("  (built the {base}-op replicas in {:.0} s)", started.elapsed().as_secs_f64());
    let mut written = base;
    for missing in [1usize, 10, 1_000] {
        write(&full, &author, written, missing);
        written += missing;
        report_incremental(
            &format!("{missing} recent ops missing, the behind side initiates"),
            missing,
            lockstep(&behind, &full),
        );
    }
    let old_author = Keypair::generate(&Ed25519Blake3);
    let mut old_written = 0;
    for missing in [1usize, 10, 1_000] {
        write(&early, &old_author, old_written, missing);
        old_written += missing;
        let fresh: Vec<Vec<u8>> =
            early.export(&[]).expect("export").into_iter().skip(101 + old_written - missing).collect();
        for result in full.ingest_batch(&fresh.iter().map(Vec::as_slice).collect::<Vec<_>>()) {
            result.expect("old ops");
        }
        report_incremental(
            &format!("{missing} ops deep in the past missing, the full side initiates"),
            missing,
            lockstep(&full, &behind),
        );
    }
}

/// A put on one replica until the row is visible on a live-connected one, over loopback.
fn live_propagation(puts: usize) {
    let dir = TempDir::new("sync-live");
    let author = Keypair::generate(&Ed25519Blake3);
    let source = Arc::new(Replica::create(Storage::File(&dir.store("source")), &author, schema()).expect("create"));
    let target = Arc::new(Replica::join(Storage::File(&dir.store("target")), source.id(), schema()).expect("join"));
    let live =
        SyncOptions { session: SessionOptions { live: true, ..SessionOptions::default() }, ..SyncOptions::default() };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut latencies = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let (reports, _) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(net::serve(source.clone(), listener, author.clone(), live.clone(), reports));
        let session =
            tokio::spawn(net::connect_and_sync(target.clone(), address, Keypair::generate(&Ed25519Blake3), None, live));
        while target.op_count().expect("count") < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut latencies = Vec::with_capacity(puts);
        for index in 0..puts {
            let started = Instant::now();
            let op = source.write(&author, note(index)).expect("put");
            let row = source.row_id(&op.hash(), 0);
            while target.get("Note", &row).expect("get").is_none() {
                tokio::task::yield_now().await;
            }
            latencies.push(started.elapsed());
        }
        session.abort();
        latencies
    });
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "live propagation, put to visible, {puts} puts over loopback   median {:.2} ms, p99 {:.2} ms (target p99 < 50 ms)",
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3
    );
}

/// The receiving node's peak resident memory during full syncs of growing size, each in a
/// process of its own. The page cache is part of it, up to its bound.
fn memory(sizes: &[usize]) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for &count in sizes {
        let dir = TempDir::new(&format!("sync-memory-{count}"));
        let author = Keypair::generate(&Ed25519Blake3);
        let source = Arc::new(Replica::create(Storage::File(&dir.store("source")), &author, schema()).expect("create"));
        write(&source, &author, 0, count);
        let address = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let address = listener.local_addr().expect("address");
            let (reports, _) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(net::serve(source.clone(), listener, author.clone(), SyncOptions::default(), reports));
            address
        });
        let output = std::process::Command::new(std::env::current_exe().expect("the bench binary"))
            .env("CAIRN_BENCH_SYNC_RECEIVER", address.to_string())
            .env("CAIRN_BENCH_SYNC_DATABASE", source.id().to_string())
            .env("CAIRN_BENCH_SYNC_STORE", dir.store("receiver"))
            .output()
            .expect("the receiver runs");
        let said = String::from_utf8_lossy(&output.stdout);
        println!("receiving node, full sync of {count:>7} ops: {}", said.trim());
    }
}

/// The receiving side of `memory`, in its own process: syncs, then prints its peak RSS.
fn receiver() {
    let address = std::env::var("CAIRN_BENCH_SYNC_RECEIVER").expect("an address");
    let database: cairn::DatabaseId =
        std::env::var("CAIRN_BENCH_SYNC_DATABASE").expect("a database").parse().expect("an id");
    let store = PathBuf::from(std::env::var("CAIRN_BENCH_SYNC_STORE").expect("a store"));
    let replica = Arc::new(Replica::join(Storage::File(&store), database, schema()).expect("join"));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let report = runtime.block_on(net::connect_and_sync(
        replica.clone(),
        address,
        Keypair::generate(&Ed25519Blake3),
        None,
        SyncOptions::default(),
    ));
    assert!(report.completed, "{report:?}");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap_or("VmHWM: unknown")
        .trim_start_matches("VmHWM:")
        .trim()
        .to_owned();
    println!(
        "peak resident memory {peak} (target < 200 MiB, flat as n grows; the page cache takes up to {} MiB of it), {} ops received",
        cairn::DEFAULT_CACHE_BYTES >> 20,
        report.stats.ops_received
    );
}
