//! The command line's flags: what each command takes. The commands themselves are under
//! `commands/`.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "cairn", version, about = "A Cairn node: a replica of one database, driven by its schema")]
pub struct Cli {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
    /// Serve sync on a TCP address: prints the address and the node's identity, then a line
    /// per session. Other commands on DIR go through this node while it runs.
    Serve {
        dir: PathBuf,
        /// The address to listen on, e.g. 127.0.0.1:7000 (port 0 picks one).
        #[arg(long)]
        listen: String,
        /// Let only these identities sync (may repeat); with --allow-members, either.
        #[arg(long = "allow", value_name = "ID")]
        allow: Vec<String>,
        /// Let the identities a field of the database's rows names sync: COLLECTION.FIELD, an
        /// identity field (e.g. Membership.member), checked when each connection opens.
        #[arg(long = "allow-members", value_name = "COLLECTION.FIELD")]
        members: Vec<String>,
        /// Stay in live sync with these peers too (HOST:PORT, may repeat), reconnecting when
        /// they go.
        #[arg(long = "peer", value_name = "HOST:PORT")]
        peers: Vec<String>,
        /// The key the node authenticates with (default: the one it writes with).
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Sync with a peer: once, or (--live) staying connected and pushing new ops both ways.
    Sync {
        dir: PathBuf,
        /// The peer's address, HOST:PORT.
        #[arg(long)]
        peer: String,
        /// The identity the peer must prove it has.
        #[arg(long = "peer-id", value_name = "ID")]
        peer_id: Option<String>,
        /// Stay connected; other commands on DIR go through this process meanwhile.
        #[arg(long)]
        live: bool,
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Heads, op count, digest, and the peers this node synced with.
    Status { dir: PathBuf },
    /// The whole story in one command: two replicas in a temporary folder, two authors, a
    /// write a rule denies, a sync over loopback, a concurrent revoke rolled back on both sides,
    /// and explain saying why.
    Demo,
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Generate a key and write it to FILE (mode 0600); prints its identity.
    New { file: PathBuf },
    /// Print the identity of a key file.
    Show { file: PathBuf },
}

impl Command {
    /// The node directory the command works on, for the commands a running node can run on
    /// the caller's behalf.
    pub fn node_dir(&self) -> Option<&Path> {
        match self {
            Command::Put { dir, .. }
            | Command::Update { dir, .. }
            | Command::Delete { dir, .. }
            | Command::Log { dir }
            | Command::Export { dir, .. }
            | Command::Import { dir }
            | Command::Check { dir }
            | Command::Get { dir, .. }
            | Command::Digest { dir }
            | Command::Explain { dir, .. }
            | Command::Events { dir, .. }
            | Command::Sync { dir, .. }
            | Command::Status { dir } => Some(dir),
            Command::Key { .. }
            | Command::Init { .. }
            | Command::Join { .. }
            | Command::Serve { .. }
            | Command::Demo => None,
        }
    }

    /// Makes the command's relative paths absolute against `base` (the working directory of
    /// the process that forwarded it to a running node).
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        };
        match self {
            Command::Key { command: KeyCommand::New { file } | KeyCommand::Show { file } } => resolve(file),
            Command::Init { dir, schema, key } | Command::Join { dir, schema, key, .. } => {
                resolve(dir);
                resolve(schema);
                key.iter_mut().for_each(resolve);
            }
            Command::Put { dir, key, .. }
            | Command::Update { dir, key, .. }
            | Command::Delete { dir, key, .. }
            | Command::Serve { dir, key, .. }
            | Command::Sync { dir, key, .. } => {
                resolve(dir);
                key.iter_mut().for_each(resolve);
            }
            Command::Log { dir }
            | Command::Export { dir, .. }
            | Command::Import { dir }
            | Command::Check { dir }
            | Command::Get { dir, .. }
            | Command::Digest { dir }
            | Command::Explain { dir, .. }
            | Command::Events { dir, .. }
            | Command::Status { dir } => resolve(dir),
            Command::Demo => {}
        }
    }
}
