//! `cairn`: a generic Cairn node driven by a compiled schema.
//!
//! A node lives in a directory: `cairn.redb` (the store) and, unless `--key` names another,
//! `identity.key` (the secret key it writes with). Every command prints human-readable text, or
//! JSON with `--json`; errors go to stderr with a non-zero exit code (`failure`). The flags are
//! in `args`; each command (or group) has its file under `commands/`; the node directory is
//! handled in `node`, a command's surroundings in `context`, and a running node's control
//! socket in `host`.

mod args;
mod commands;
mod context;
mod failure;
mod host;
mod node;

use args::{Cli, Command, KeyCommand};
use clap::Parser;
use commands::{demo, events, explain, init, key, log, read, sync, transfer, write};
use context::Context;
use failure::Failure;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A node serving this directory holds its store: the command runs there.
    if let Some(dir) = cli.command.node_dir() {
        if host::socket_path(dir).exists() {
            let args: Vec<String> = std::env::args().collect();
            let stdin = match &cli.command {
                Command::Import { .. } => Context::terminal(cli.json).stdin().ok(),
                _ => None,
            };
            if let Some(code) = host::forward(dir, &args, stdin.as_deref()) {
                return ExitCode::from(code);
            }
        }
    }
    let cx = Context::terminal(cli.json);
    match dispatch(&cli.command, &cx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => ExitCode::from(failure.exit_code(&cx)),
    }
}

/// Runs one command.
pub fn dispatch(command: &Command, cx: &Context) -> Result<(), Failure> {
    match command {
        Command::Key { command: KeyCommand::New { file } } => key::new(cx, file),
        Command::Key { command: KeyCommand::Show { file } } => key::show(cx, file),
        Command::Init { dir, schema, key } => init::init(cx, dir, schema, key),
        Command::Join { dir, db, schema, key } => init::join(cx, dir, db, schema, key),
        Command::Put { dir, collection, row, key } => write::put(cx, dir, collection, row, key),
        Command::Update { dir, collection, id, changes, key } => write::update(cx, dir, collection, id, changes, key),
        Command::Delete { dir, collection, id, key } => write::delete(cx, dir, collection, id, key),
        Command::Log { dir } => log::log(cx, dir),
        Command::Export { dir, since } => transfer::export(cx, dir, since),
        Command::Import { dir } => transfer::import(cx, dir),
        Command::Get { dir, collection, id, filters } => read::get(cx, dir, collection, id.as_deref(), filters),
        Command::Digest { dir } => read::digest(cx, dir),
        Command::Explain { dir, op } => explain::explain(cx, dir, op),
        Command::Events { dir, consumer, follow } => events::events(cx, dir, consumer.as_deref(), *follow),
        Command::Check { dir } => read::check(cx, dir),
        Command::Serve { dir, listen, allow, members, peers, key } => {
            sync::serve(cx, dir, listen, allow, members, peers, key)
        }
        Command::Sync { dir, peer, peer_id, live, key } => sync::sync(cx, dir, peer, peer_id.as_deref(), *live, key),
        Command::Status { dir } => sync::status(cx, dir),
        Command::Demo => demo::demo(cx),
    }
}
