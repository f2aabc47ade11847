//! Op log throughput against the cost of bare signatures, measured in the same run.
//!
//! `cargo bench -p cairn --bench op_log` prints: bare ed25519 signing and batch verification
//! (the baselines), local writes in transactions of 1 (sequential, durable) and 1,000 ops,
//! sequential single-op writes deferred with one flush, ingest in transactions of 1 and 1,000
//! ops, the storage used per encoded byte (and per table, in bytes per op), and the time to
//! reopen a large store. Writes and ingest include the state engine (every op here is a
//! rule-free insert that it materializes and reports as an event); the storage figure
//! separates the log's pages from the state's. The file is measured while the store is open
//! and after it closes (when redb trims the free pages at its end), by length and by the disk
//! it takes. It ends with a `summary:` line for tools that track it, whose `file` is the
//! length after closing.
//!
//! `CAIRN_BENCH_OPS` sets the size of the ingest run (default 100,000); from 200,000 ops the
//! stream is ingested in N/100,000 segments (100,000 ops each when N is a multiple) and each
//! segment's rate and the file ratio so far (open) are printed, to show how they hold as the
//! log grows (`CAIRN_BENCH_OPS=1000000` is the opt-in long run). `CAIRN_BENCH_REOPEN_OPS` sets
//! the size of the reopened store (default 1,000,000).

use cairn::op::Change;
use cairn::Value;
use cairn::{CryptoSuite, SignedMessage};
use cairn::{Ed25519Blake3, Keypair, Replica, Storage};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;
use support::{compile, env_count, TempDir};

const SCHEMA: &str = "schema bench;\ncollection Note {\n    text: string,\n    stars: counter,\n    allow insert, update, delete if true;\n}\n";

fn schema() -> schemac::ir::Schema {
    compile(SCHEMA)
}

fn note(index: usize) -> Vec<Change> {
    vec![Change::Insert {
        collection: "Note".into(),
        fields: vec![("text".into(), Value::Text(format!("note number {index}")))],
    }]
}

fn rate(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64()
}

fn report(label: &str, count: usize, elapsed: Duration, baseline: Option<(&str, f64)>) -> f64 {
    let ops_per_second = rate(count, elapsed);
    match baseline {
        Some((name, base)) => {
            println!("{label:<44} {ops_per_second:>10.0} ops/s   {:>5.2}x {name}", ops_per_second / base)
        }
        None => println!("{label:<44} {ops_per_second:>10.0} ops/s"),
    }
    ops_per_second
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|metadata| metadata.len()).unwrap_or(0)
}

/// The bytes of disk a file takes: less than its length where it is sparse (redb lengthens
/// the file ahead of use, and the part not yet written takes no disk).
fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).map(|metadata| metadata.blocks() * 512).unwrap_or(0)
}

fn main() {
    let suite: Arc<dyn CryptoSuite> = Arc::new(Ed25519Blake3);
    let keypair = Keypair::generate(suite.as_ref());
    let ingest_count = env_count("CAIRN_BENCH_OPS", 100_000);
    println!("op log benchmark: {} ops ingested, suite {}", ingest_count, suite.name());

    // Baselines: bare signing and batch verification of 43-byte messages (an op's signed message).
    let messages: Vec<Vec<u8>> = (0..10_000u32)
        .map(|index| [b"cairn-op-v1".as_slice(), &blake3::hash(&index.to_be_bytes()).as_bytes()[..]].concat())
        .collect();
    let start = Instant::now();
    let signatures: Vec<[u8; 64]> = messages.iter().map(|message| suite.sign(&keypair.secret, message)).collect();
    let sign_rate = report("bare ed25519 sign", messages.len(), start.elapsed(), None);
    let items: Vec<SignedMessage> = messages
        .iter()
        .zip(&signatures)
        .map(|(message, signature)| SignedMessage { signer: &keypair.identity, message, signature })
        .collect();
    let start = Instant::now();
    for chunk in items.chunks(1_000) {
        black_box(suite.verify_batch(chunk));
    }
    let verify_rate = report("bare ed25519 batch verify (1,000 per batch)", items.len(), start.elapsed(), None);

    // Local writes: build, store, sign.
    let writes = TempDir::new("write");
    let replica = Replica::create(Storage::File(&writes.store("store")), &keypair, schema()).expect("create");
    let single = 500;
    let start = Instant::now();
    for index in 0..single {
        replica.write(&keypair, note(index)).expect("write");
    }
    report(
        "local write, 1 op per transaction (sequential, durable)",
        single,
        start.elapsed(),
        Some(("sign", sign_rate)),
    );
    let start = Instant::now();
    let batched = 20_000;
    for chunk in 0..batched / 1_000 {
        replica.write_ops(&keypair, (0..1_000).map(|index| note(chunk * 1_000 + index)).collect()).expect("write");
    }
    let batched_rate =
        report("local write, 1,000 ops per transaction", batched, start.elapsed(), Some(("sign", sign_rate)));

    // Sequential single-op writes, each awaited, deferred: committed without a sync, signed and
    // synced by one flush at the end (the durable ones are "1 op per transaction" above).
    let sequential = TempDir::new("sequential");
    let replica = Replica::create(Storage::File(&sequential.store("deferred")), &keypair, schema()).expect("create");
    let deferred = 10_000;
    let start = Instant::now();
    for index in 0..deferred {
        replica.write_deferred(&keypair, note(index)).expect("write");
    }
    replica.flush().expect("flush");
    report("sequential writes, deferred, one flush (target >= 20,000)", deferred, start.elapsed(), None);
    drop(replica);

    // The ops to ingest: a chain by several authors, written once in memory.
    let source_dir = TempDir::new("source");
    let source = Replica::create(Storage::File(&source_dir.store("store")), &keypair, schema()).expect("create");
    let authors: Vec<Keypair> = (0..4).map(|_| Keypair::generate(suite.as_ref())).collect();
    let mut written = 0;
    while written < ingest_count {
        let author = &authors[(written / 1_000) % authors.len()];
        let count = (ingest_count - written).min(1_000);
        source.write_ops(author, (0..count).map(|index| note(written + index)).collect()).expect("write");
        written += count;
    }
    let log: Vec<Vec<u8>> = source.log().expect("log").into_iter().map(|entry| entry.bytes).collect();
    let encoded_bytes: usize = log.iter().map(Vec::len).sum();

    let single_dir = TempDir::new("ingest-single");
    let target = Replica::join(Storage::File(&single_dir.store("store")), source.id(), schema()).expect("join");
    let single_ops = 500.min(log.len());
    let start = Instant::now();
    for bytes in &log[..single_ops] {
        target.ingest(bytes).expect("ingest");
    }
    report("ingest, 1 op per transaction", single_ops, start.elapsed(), Some(("batch verify", verify_rate)));

    let batch_dir = TempDir::new("ingest-batch");
    let target = Replica::join(Storage::File(&batch_dir.store("store")), source.id(), schema()).expect("join");
    let start = Instant::now();
    for chunk in log.chunks(1_000) {
        let slices: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        for result in target.ingest_batch(&slices) {
            result.expect("ingest");
        }
    }
    report(
        &format!("ingest_batch {} ops, 1,000 per transaction", log.len()),
        log.len(),
        start.elapsed(),
        Some(("batch verify", verify_rate)),
    );
    drop(target);
    let batch_dir = TempDir::new("ingest-stream");
    let target = Replica::join(Storage::File(&batch_dir.store("store")), source.id(), schema()).expect("join");
    let slices: Vec<&[u8]> = log.iter().map(Vec::as_slice).collect();
    let start = Instant::now();
    // Segments of about 100,000 ops (the genesis joins the first).
    let segment = slices.len().div_ceil((ingest_count / 100_000).max(1)).max(1);
    let (mut done, mut done_bytes) = (0, 0);
    for part in slices.chunks(segment) {
        let part_start = Instant::now();
        for result in target.ingest_stream(part, 1_000) {
            result.expect("ingest");
        }
        (done, done_bytes) = (done + part.len(), done_bytes + part.iter().map(|op| op.len()).sum::<usize>());
        if segment < slices.len() {
            let path = batch_dir.store("store");
            println!(
                "  ops {:>9} to {:>9}: {:>8.0} ops/s   file {:.2}x the encoded ops so far, {:.2}x on disk",
                done - part.len(),
                done,
                rate(part.len(), part_start.elapsed()),
                file_size(&path) as f64 / done_bytes as f64,
                disk_usage(&path) as f64 / done_bytes as f64,
            );
        }
    }
    let ingest_rate = report(
        &format!("ingest_stream {} ops, 1,000 per transaction", log.len()),
        log.len(),
        start.elapsed(),
        Some(("batch verify", verify_rate)),
    );
    let usage = target.storage_usage().expect("usage");
    let open_file = file_size(&batch_dir.store("store"));
    let open_disk = disk_usage(&batch_dir.store("store"));
    drop(target);
    let file_ratio = file_size(&batch_dir.store("store")) as f64 / encoded_bytes as f64;
    let log_bytes = usage.allocated_bytes - usage.state_bytes;
    println!(
        "storage: the log takes {} bytes in allocated pages for {} bytes of encoded ops ({:.2}x; target <= 2x); \
         the state (rows, indexes, events) {} more; in all {} bytes of keys and values, {} of B-tree \
         structure, {} unused in pages; file {} bytes",
        log_bytes,
        encoded_bytes,
        log_bytes as f64 / encoded_bytes as f64,
        usage.state_bytes,
        usage.stored_bytes,
        usage.metadata_bytes,
        usage.fragmented_bytes,
        file_size(&batch_dir.store("store")),
    );
    let mut tables: Vec<_> = usage.tables.iter().filter(|table| table.page_bytes > 0).collect();
    tables.sort_by_key(|table| std::cmp::Reverse(table.page_bytes));
    for table in tables {
        println!(
            "  {:<14} {:>6.1} MB of pages: {:>6.1} B/op stored, {:>6.1} B/op unused in its pages",
            table.name,
            table.page_bytes as f64 / 1e6,
            table.stored_bytes as f64 / log.len() as f64,
            table.fragmented_bytes as f64 / log.len() as f64,
        );
    }
    println!(
        "storage: while the store is open, the file is {:.2}x the encoded ops ({:.2}x on disk); closed, {file_ratio:.2}x \
         ({:.2}x on disk) (target <= 3x)",
        open_file as f64 / encoded_bytes as f64,
        open_disk as f64 / encoded_bytes as f64,
        disk_usage(&batch_dir.store("store")) as f64 / encoded_bytes as f64,
    );
    println!(
        "target: ingest_stream at >= 0.50x the bare batch-verify rate, the state engine included (every op \
         materialized and reported as an event); measured {:.2}x",
        ingest_rate / verify_rate
    );

    // Reopening a large store reads its metadata only.
    let reopen_count = env_count("CAIRN_BENCH_REOPEN_OPS", 1_000_000);
    let reopen_dir = TempDir::new("reopen");
    {
        let big = Replica::create(Storage::File(&reopen_dir.store("store")), &keypair, schema()).expect("create");
        let mut written = 0;
        while written < reopen_count {
            let count = (reopen_count - written).min(5_000);
            big.write_ops(&keypair, (0..count).map(|index| note(written + index)).collect()).expect("write");
            written += count;
        }
    }
    let start = Instant::now();
    let reopened = Replica::open(Storage::File(&reopen_dir.store("store"))).expect("reopen");
    let heads = reopened.heads().expect("heads");
    let elapsed = start.elapsed();
    println!(
        "reopen a {reopen_count}-op store and read its heads: {:.2} ms (target < 50 ms), {} head(s)",
        elapsed.as_secs_f64() * 1000.0,
        heads.len()
    );
    println!(
        "summary: ingest_stream={:.2}x local_write_1000={:.2}x file={:.2}x",
        ingest_rate / verify_rate,
        batched_rate / sign_rate,
        file_ratio
    );
}
