//! `cairn`: a generic Cairn node driven by a compiled schema.
//!
//! A node lives in a directory: `cairn.redb` (the store) and, unless `--key` names another,
//! `identity.key` (the secret key it writes with). Every command prints human-readable text, or
//! JSON with `--json`; errors go to stderr with a non-zero exit code.

use cairn::cbor::{Reader, Writer};
use cairn::json::{changes_from_json, update_from_json};
use cairn::keys::{load_key, save_key, Keypair};
use cairn::op::{Change, Payload};
use cairn::{DatabaseId, Ed25519Blake3, IngestError, Ingested, OpHash, Replica, RowId, Storage};
use clap::{Parser, Subcommand};
use serde_json::{json, Value as Json};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "cairn", version, about = "A Cairn node: a replica of one database, driven by its schema")]
struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage secret keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Create a database in DIR: writes its genesis op and prints its id.
    Init {
        dir: PathBuf,
        #[arg(long)]
        schema: PathBuf,
        /// The founder's key file (default: DIR/identity.key, created if missing).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Create an empty replica of an existing database in DIR, to fill by import or sync.
    Join {
        dir: PathBuf,
        #[arg(long)]
        db: String,
        #[arg(long)]
        schema: PathBuf,
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Insert a row (a JSON object of fields), or write several changes as one op (a JSON
    /// array of {"insert": {…}}, {"update": "row:…", "fields": {…}}, {"delete": "row:…"}, each
    /// with an optional "collection"); prints the row id(s) and the op hash.
    Put {
        dir: PathBuf,
        collection: String,
        row: String,
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Update a row: plain fields take new values; sets take {"add": [...], "remove": [...]},
    /// maps {"put": {...}, "unset": [...]}, counters {"increment": n}.
    Update {
        dir: PathBuf,
        collection: String,
        id: String,
        changes: String,
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Delete a row.
    Delete {
        dir: PathBuf,
        collection: String,
        id: String,
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// List the ops, one per line, parents first.
    Log { dir: PathBuf },
    /// Write the ops (those not in the past of --since, if given) to stdout as a CBOR sequence.
    Export {
        dir: PathBuf,
        /// Op hashes the reader already has (comma-separated); their past is left out.
        #[arg(long, value_delimiter = ',')]
        since: Vec<String>,
    },
    /// Read ops written by `export` from stdin and ingest each through every check.
    Import { dir: PathBuf },
    /// Check that the store's tables agree with each other.
    Check { dir: PathBuf },
    /// Print visible rows as JSON objects with their `id`, one per line (always JSON): one row by id, or a
    /// collection's rows, filtered by field values.
    Get {
        dir: PathBuf,
        collection: String,
        id: Option<String>,
        /// Keep rows whose field equals the value (JSON, or a bare string); may repeat.
        #[arg(long = "where", value_name = "FIELD=VALUE")]
        filters: Vec<String>,
    },
    /// Print the digest of the effective state: equal on replicas that hold the same ops.
    Digest { dir: PathBuf },
    /// Say why an op is or is not effective: the rule, its witnesses, the ops that defeated it.
    Explain { dir: PathBuf, op: String },
    /// Print the event stream, one JSON object per line. With --consumer, resume after that
    /// consumer's checkpoint and advance it; with --follow, wait for new events.
    Events {
        dir: PathBuf,
        #[arg(long)]
        consumer: Option<String>,
        #[arg(long)]
        follow: bool,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Generate a key and write it to FILE (mode 0600); prints its identity.
    New { file: PathBuf },
}

/// The magic first item of an export stream.
const EXPORT_MAGIC: &str = "cairn-export";
const EXPORT_VERSION: u64 = 1;
const IMPORT_BATCH: usize = 1_000;

type Failure = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`cairn log | head`) is not an error.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn suite() -> Arc<Ed25519Blake3> {
    Arc::new(Ed25519Blake3)
}

fn store_path(dir: &Path) -> PathBuf {
    dir.join("cairn.redb")
}

fn key_path(dir: &Path, key: &Option<PathBuf>) -> PathBuf {
    key.clone().unwrap_or_else(|| dir.join("identity.key"))
}

/// Loads the key, creating the directory's default key on first use.
fn load_or_create_key(dir: &Path, key: &Option<PathBuf>) -> Result<Keypair, Failure> {
    let path = key_path(dir, key);
    if key.is_none() && !path.exists() {
        let keypair = Keypair::generate(&Ed25519Blake3);
        save_key(&path, &Ed25519Blake3, &keypair)?;
        return Ok(keypair);
    }
    Ok(load_key(&path, &Ed25519Blake3)?)
}

fn compile_schema(path: &Path) -> Result<schemac::ir::Schema, Failure> {
    let text = schemac::files::read(path)?;
    let checked = schemac::files::compile_text(path, &text, &[])?;
    let name = path.display().to_string();
    let source = schemac::SourceFile { name: &name, text: &text };
    for diagnostic in checked.diagnostics.iter().filter(|diagnostic| diagnostic.is_error()) {
        eprint!("{}", source.render(diagnostic));
    }
    checked.ir.ok_or_else(|| format!("{} has errors", path.display()).into())
}

/// How long a command waits for another `cairn` process (an `events --follow`, say) to let go
/// of the store: redb lets one process at a time open it.
const STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn open(dir: &Path) -> Result<Replica, Failure> {
    let path = store_path(dir);
    if !path.exists() {
        return Err(format!("{} holds no database (run `cairn init` or `cairn join`)", dir.display()).into());
    }
    let deadline = std::time::Instant::now() + STORE_WAIT;
    loop {
        match Replica::open(Storage::File(&path), suite()) {
            Err(cairn::replica::OpenError::Storage(cairn::store::StorageError::InUse))
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return Ok(result?),
        }
    }
}

fn print(cli: &Cli, value: Json, text: String) {
    if cli.json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Key { command: KeyCommand::New { file } } => {
            let keypair = Keypair::generate(&Ed25519Blake3);
            save_key(file, &Ed25519Blake3, &keypair)?;
            print(cli, json!({ "identity": keypair.identity.to_string() }), keypair.identity.to_string());
        }
        Command::Init { dir, schema, key } => {
            let schema = compile_schema(schema)?;
            std::fs::create_dir_all(dir)?;
            let keypair = load_or_create_key(dir, key)?;
            let replica = Replica::create(Storage::File(&store_path(dir)), suite(), &keypair, schema)?;
            let id = replica.id().to_string();
            print(cli, json!({ "db": id, "identity": keypair.identity.to_string() }), id);
        }
        Command::Join { dir, db, schema, key } => {
            let id: DatabaseId = db.parse()?;
            let schema = compile_schema(schema)?;
            std::fs::create_dir_all(dir)?;
            let keypair = load_or_create_key(dir, key)?;
            let replica = Replica::join(Storage::File(&store_path(dir)), suite(), id, schema)?;
            let id = replica.id().to_string();
            print(cli, json!({ "db": id, "identity": keypair.identity.to_string() }), id);
        }
        Command::Put { dir, collection, row, key } => {
            let replica = open(dir)?;
            let keypair = load_key(&key_path(dir, key), &Ed25519Blake3)?;
            let json: Json = serde_json::from_str(row)?;
            let changes = changes_from_json(replica.schema(), collection, &json, &keypair.identity)?;
            let op = replica.write(&keypair, changes)?;
            let ids: Vec<String> = replica.touched_rows(&op).iter().map(RowId::to_string).collect();
            if json.is_array() {
                print(
                    cli,
                    json!({ "ids": ids, "op": op.hash().to_string() }),
                    format!("{} {}", ids.join(" "), op.hash()),
                );
            } else {
                let id = ids.first().cloned().unwrap_or_default();
                print(cli, json!({ "id": id, "op": op.hash().to_string() }), format!("{id} {}", op.hash()));
            }
        }
        Command::Update { dir, collection, id, changes, key } => {
            let replica = open(dir)?;
            let keypair = load_key(&key_path(dir, key), &Ed25519Blake3)?;
            let row: RowId = id.parse()?;
            let json: Json = serde_json::from_str(changes)?;
            let change = update_from_json(replica.schema(), collection, row, &json)?;
            let op = replica.write(&keypair, vec![change])?;
            print(cli, json!({ "id": row.to_string(), "op": op.hash().to_string() }), op.hash().to_string());
        }
        Command::Delete { dir, collection, id, key } => {
            let replica = open(dir)?;
            let keypair = load_key(&key_path(dir, key), &Ed25519Blake3)?;
            let row: RowId = id.parse()?;
            let op = replica.write(&keypair, vec![Change::Delete { collection: collection.clone(), row }])?;
            print(cli, json!({ "id": row.to_string(), "op": op.hash().to_string() }), op.hash().to_string());
        }
        Command::Log { dir } => {
            let replica = open(dir)?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for entry in replica.log()? {
                let kind = match &entry.op.payload {
                    Payload::Genesis { .. } => "genesis",
                    Payload::Changes(_) => "changes",
                };
                let parents: Vec<String> = entry.op.parents.iter().map(OpHash::to_string).collect();
                if cli.json {
                    let line = json!({
                        "hash": entry.hash.to_string(),
                        "author": entry.op.author.to_string(),
                        "seq": entry.op.seq,
                        "depth": entry.op.depth,
                        "parents": parents,
                        "kind": kind,
                    });
                    writeln!(out, "{line}")?;
                } else {
                    writeln!(
                        out,
                        "{} {kind} seq={} depth={} author={}",
                        entry.hash, entry.op.seq, entry.op.depth, entry.op.author
                    )?;
                }
            }
        }
        Command::Export { dir, since } => {
            let replica = open(dir)?;
            let since: Vec<OpHash> = since.iter().map(|text| text.parse()).collect::<Result<_, _>>()?;
            let mut header = Writer::new();
            header.array(3).text(EXPORT_MAGIC).unsigned(EXPORT_VERSION).bytes(&replica.id().0);
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            out.write_all(&header.bytes)?;
            for bytes in replica.export(&since)? {
                out.write_all(&bytes)?;
            }
            out.flush()?;
        }
        Command::Import { dir } => import(cli, dir)?,
        Command::Get { dir, collection, id, filters } => get(dir, collection, id.as_deref(), filters)?,
        Command::Digest { dir } => {
            let digest = open(dir)?.digest()?.to_string();
            print(cli, json!({ "digest": digest }), digest.clone());
        }
        Command::Explain { dir, op } => explain(cli, dir, op)?,
        Command::Events { dir, consumer, follow } => events(dir, consumer.as_deref(), *follow)?,
        Command::Check { dir } => {
            let replica = open(dir)?;
            replica.check_integrity()?;
            let count = replica.op_count()?;
            print(cli, json!({ "ok": true, "ops": count }), format!("ok: {count} ops"));
        }
    }
    Ok(())
}

fn import(cli: &Cli, dir: &Path) -> Result<(), Failure> {
    let replica = open(dir)?;
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    let mut reader = Reader::new(&input);
    let header = reader.next_item()?;
    let mut header_reader = Reader::new(header);
    let well_formed = header_reader.array().ok() == Some(3)
        && header_reader.text().ok() == Some(EXPORT_MAGIC)
        && header_reader.unsigned().ok() == Some(EXPORT_VERSION);
    if !well_formed {
        return Err("stdin is not a Cairn export (bad header)".into());
    }
    let database = DatabaseId(header_reader.fixed_bytes()?);
    if database != replica.id() {
        return Err(format!("the export is of database {database}, this replica holds {}", replica.id()).into());
    }
    let (mut accepted, mut duplicate, mut rejected, mut parked) = (0u64, 0u64, 0u64, 0u64);
    let mut errors = Vec::new();
    let mut equivocations = Vec::new();
    let mut ops: Vec<&[u8]> = Vec::new();
    let mut stream_error = None;
    while !reader.is_at_end() {
        match reader.next_item() {
            Ok(bytes) => ops.push(bytes),
            Err(error) => {
                stream_error = Some(error.to_string());
                break;
            }
        }
    }
    let mut waiting = Vec::new();
    let mut storage_failure = None;
    for result in replica.ingest_stream(&ops, IMPORT_BATCH) {
        match result {
            Ok(Ingested::Accepted(_)) => accepted += 1,
            Ok(Ingested::Duplicate(_)) => duplicate += 1,
            Ok(Ingested::Parked { op, .. }) => waiting.push(op),
            Ok(Ingested::Equivocation { op, other, author, seq }) => {
                accepted += 1;
                equivocations.push(json!({ "op": op.to_string(), "other": other.to_string(), "author": author.to_string(), "seq": seq }));
            }
            Err(error) => {
                if matches!(error, IngestError::Storage(_)) {
                    storage_failure = Some(error.to_string());
                }
                rejected += 1;
                errors.push(json!({ "op": error.op().map(|op| op.to_string()), "reason": error.to_string() }));
            }
        }
    }
    // An op that waited for a parent later in the stream was stored when the parent came.
    for op in waiting {
        if replica.contains(&op)? {
            accepted += 1;
        } else {
            parked += 1;
        }
    }
    if let Some(reason) = stream_error {
        rejected += 1;
        errors.push(json!({ "op": null, "reason": format!("the rest of the stream is unreadable: {reason}") }));
    }
    let summary = json!({
        "accepted": accepted,
        "duplicate": duplicate,
        "rejected": rejected,
        "parked": parked,
        "errors": errors,
        "equivocations": equivocations,
    });
    let mut text =
        format!("accepted {accepted}, duplicate {duplicate}, rejected {rejected}, waiting for parents {parked}");
    for error in &errors {
        text.push_str(&format!(
            "\n  rejected {}: {}",
            error["op"].as_str().unwrap_or("(undecodable)"),
            error["reason"].as_str().unwrap_or("")
        ));
    }
    print(cli, summary, text);
    match storage_failure {
        // The store could not take the ops: the import did not happen, whatever was counted.
        Some(reason) => Err(format!("the import stopped on a storage failure: {reason}").into()),
        None => Ok(()),
    }
}

fn get(dir: &Path, collection: &str, id: Option<&str>, filters: &[String]) -> Result<(), Failure> {
    let replica = open(dir)?;
    let definition = replica
        .schema()
        .collections
        .get(collection)
        .ok_or_else(|| format!("the schema has no collection `{collection}`"))?;
    let mut filter = Vec::new();
    for text in filters {
        let (name, value) = text.split_once('=').ok_or_else(|| format!("`--where {text}`: expected FIELD=VALUE"))?;
        let field = definition.field(name).ok_or_else(|| format!("`{collection}` has no field `{name}`"))?;
        let json = serde_json::from_str(value).unwrap_or_else(|_| Json::String(value.to_owned()));
        filter.push((name.to_owned(), cairn::json::from_json(replica.schema(), &field.ty, &json, name)?));
    }
    let rows = match id {
        Some(id) => {
            let row: RowId = id.parse()?;
            let found = replica.get(collection, &row)?.ok_or_else(|| format!("no visible {collection} row {row}"))?;
            let keep = filter.iter().all(|(name, value)| found.get(name) == Some(value));
            if keep {
                vec![(row, found)]
            } else {
                Vec::new()
            }
        }
        None => replica.rows(collection, &filter)?,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for (row, values) in rows {
        let mut object = serde_json::Map::new();
        object.insert("id".into(), Json::String(row.to_string()));
        for field in &definition.fields {
            if let Some(value) = values.get(&field.name) {
                object.insert(field.name.clone(), cairn::json::to_json(&field.ty, value));
            }
        }
        writeln!(out, "{}", Json::Object(object))?;
    }
    Ok(())
}

fn explain(cli: &Cli, dir: &Path, op: &str) -> Result<(), Failure> {
    let replica = open(dir)?;
    let hash: OpHash = op.parse()?;
    let explanation = replica.explain(&hash)?.ok_or_else(|| format!("this replica does not hold op {hash}"))?;
    let rules_of = |change: u32, rule: u32| -> Option<(String, String)> {
        let log_op = replica.log().ok()?.into_iter().find(|entry| entry.hash == hash)?;
        let Payload::Changes(changes) = &log_op.op.payload else { return None };
        let collection = changes.get(change as usize)?.collection().to_owned();
        let text = replica.schema().collections.get(&collection)?.rules.get(rule as usize)?.to_string();
        Some((collection, text))
    };
    let allowed: Vec<Json> = explanation
        .allowed_by
        .iter()
        .map(|attestation| {
            let (collection, text) = rules_of(attestation.change, attestation.rule).unwrap_or_default();
            json!({
                "change": attestation.change,
                "collection": collection,
                "rule": attestation.rule,
                "text": text,
                "witnesses": attestation.witnesses.iter().map(|witness| json!({
                    "collection": witness.collection,
                    "row": witness.row.to_string(),
                    "version": witness.version.to_string(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failed_rules: Vec<Json> = match explanation.denial.as_ref().map(|denial| &denial.reason) {
        Some(cairn::rules::DenialReason::RulesFailed(rules)) => rules
            .iter()
            .map(|failed| json!({ "rule": failed.rule, "text": failed.text, "clause": failed.clause }))
            .collect(),
        _ => Vec::new(),
    };
    let rule = match &explanation.denial {
        Some(_) => failed_rules.first().and_then(|failed| failed["text"].as_str()).map(str::to_owned),
        None => allowed.first().and_then(|allowed| allowed["text"].as_str()).map(str::to_owned),
    };
    let value = json!({
        "op": hash.to_string(),
        "author": explanation.author.to_string(),
        "effective": explanation.effective,
        "equivocated": explanation.equivocated,
        "rule": rule,
        "allowed_by": allowed,
        "denial": explanation.denial.as_ref().map(|denial| json!({
            "change": denial.change,
            "collection": denial.collection,
            "action": denial.action,
            "reason": denial.reason.to_string(),
            "failed_rules": failed_rules,
        })),
        "defeated_by": explanation.defeated_by.iter().map(|(op, _)| op.to_string()).collect::<Vec<_>>(),
        "defeated_by_authors": explanation.defeated_by.iter().map(|(_, author)| author.to_string()).collect::<Vec<_>>(),
    });
    let mut text = format!(
        "{hash} by {}: {}",
        explanation.author,
        if explanation.effective { "effective" } else { "not effective" }
    );
    if explanation.equivocated {
        text.push_str("\n  its author signed two ops with one sequence number");
    }
    for allowed in &allowed {
        text.push_str(&format!(
            "\n  change {} allowed by `{}`",
            allowed["change"],
            allowed["text"].as_str().unwrap_or("")
        ));
        for witness in allowed["witnesses"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "\n    witness {} {} at {}",
                witness["collection"].as_str().unwrap_or(""),
                witness["row"].as_str().unwrap_or(""),
                witness["version"].as_str().unwrap_or("")
            ));
        }
    }
    if let Some(denial) = &explanation.denial {
        text.push_str(&format!("\n  {denial}"));
    }
    for (op, author) in &explanation.defeated_by {
        text.push_str(&format!("\n  defeated by {op} (by {author})"));
    }
    print(cli, value, text);
    Ok(())
}

/// How many events `cairn events` reads (and, for a consumer, commits) at a time.
const EVENT_BATCH: usize = 1_000;

fn events(dir: &Path, consumer: Option<&str>, follow: bool) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut after = None;
    loop {
        // The store is opened for each batch and closed while waiting, so that other `cairn`
        // processes can write to it meanwhile.
        let replica = open(dir)?;
        let mut consumer = consumer.map(|name| replica.consumer(name)).transpose()?;
        let from = after.unwrap_or_else(|| consumer.as_ref().map_or(0, |consumer| consumer.checkpoint()));
        let batch = replica.events_after(from, EVENT_BATCH)?;
        if batch.is_empty() {
            if !follow {
                return Ok(());
            }
            drop(consumer);
            drop(replica);
            after = Some(from);
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        let mut out = stdout.lock();
        for event in &batch {
            writeln!(out, "{}", event_json(&replica, event))?;
        }
        out.flush()?;
        let last = batch.last().map_or(from, |event| event.seq);
        after = Some(last);
        // The checkpoint moves only after the events are written out: a consumer that dies in
        // between sees them again (at least once), never loses one.
        if let Some(consumer) = consumer.as_mut() {
            consumer.commit(last)?;
        }
    }
}

fn event_json(replica: &Replica, event: &cairn::Event) -> Json {
    let fields: serde_json::Map<String, Json> = event
        .fields
        .iter()
        .map(|(name, value)| {
            let ty = event
                .collection
                .as_ref()
                .and_then(|collection| replica.schema().collections.get(collection))
                .and_then(|collection| collection.field(name));
            let json = match ty {
                Some(field) => cairn::json::to_json(&field.ty, value),
                None => cairn::json::untyped_json(value),
            };
            (name.clone(), json)
        })
        .collect();
    json!({
        "seq": event.seq,
        "kind": event.kind.name(),
        "collection": event.collection,
        "row": event.row.map(|row| row.to_string()),
        "op": event.op.to_string(),
        "fields": fields,
    })
}
