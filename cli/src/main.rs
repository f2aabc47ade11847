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

fn open(dir: &Path) -> Result<Replica, Failure> {
    let path = store_path(dir);
    if !path.exists() {
        return Err(format!("{} holds no database (run `cairn init` or `cairn join`)", dir.display()).into());
    }
    Ok(Replica::open(Storage::File(&path), suite())?)
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
