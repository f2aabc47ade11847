//! `cairn`: a generic Cairn node driven by a compiled schema.
//!
//! A node lives in a directory: `cairn.redb` (the store) and, unless `--key` names another,
//! `identity.key` (the secret key it writes with). Every command prints human-readable text, or
//! JSON with `--json`; errors go to stderr with a non-zero exit code. The flags are here; each
//! command (or group) has its file under `commands/`, and the node directory is handled in
//! `node`.

mod commands;
mod failure;
mod node;
mod output;

use clap::{Parser, Subcommand};
use commands::{events, explain, init, key, log, read, transfer, write};
use failure::Failure;
use output::Output;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Print the identity of a key file.
    Show { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let output = Output { json: cli.json };
    match &cli.command {
        Command::Key { command: KeyCommand::New { file } } => key::new(output, file),
        Command::Key { command: KeyCommand::Show { file } } => key::show(output, file),
        Command::Init { dir, schema, key } => init::init(output, dir, schema, key),
        Command::Join { dir, db, schema, key } => init::join(output, dir, db, schema, key),
        Command::Put { dir, collection, row, key } => write::put(output, dir, collection, row, key),
        Command::Update { dir, collection, id, changes, key } => {
            write::update(output, dir, collection, id, changes, key)
        }
        Command::Delete { dir, collection, id, key } => write::delete(output, dir, collection, id, key),
        Command::Log { dir } => log::log(output, dir),
        Command::Export { dir, since } => transfer::export(dir, since),
        Command::Import { dir } => transfer::import(output, dir),
        Command::Get { dir, collection, id, filters } => read::get(dir, collection, id.as_deref(), filters),
        Command::Digest { dir } => read::digest(output, dir),
        Command::Explain { dir, op } => explain::explain(output, dir, op),
        Command::Events { dir, consumer, follow } => events::events(dir, consumer.as_deref(), *follow),
        Command::Check { dir } => read::check(output, dir),
    }
}
