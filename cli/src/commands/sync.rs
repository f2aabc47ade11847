//! Sync: `cairn serve` (a running node: serves peers, stays live with `--peer`s, and runs the
//! other commands on its directory), `cairn sync` (once, or live) and `cairn status`.

use crate::context::Context;
use crate::host::Host;
use crate::node::load_writer_key;
use crate::Failure;
use cairn::net::{self, PeerPolicy, Served, SyncOptions, SyncReport};
use cairn::sync::SessionOptions;
use cairn::{Identity, Replica};
use serde_json::{json, Value as Json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How many ops a sync must still expect before a progress bar is worth showing.
const PROGRESS_THRESHOLD: u64 = 5_000;

pub fn serve(
    cx: &Context,
    dir: &Path,
    listen: &str,
    allow: &[String],
    members: &[String],
    peers: &[String],
    key: &Option<PathBuf>,
) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let keypair = load_writer_key(dir, key)?;
    let options = SyncOptions { policy: policy(allow, members)?, ..SyncOptions::default() };
    let live = SyncOptions { session: SessionOptions { live: true, ..SessionOptions::default() }, ..options.clone() };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let address = listener.local_addr()?;
        let _host = Host::start(dir, replica.clone())?;
        cx.print(
            json!({ "listen": address.to_string(), "identity": keypair.identity.to_string(), "db": replica.id().to_string() }),
            format!("serving {} as {} on {address}", replica.id(), keypair.identity),
        )?;
        let (reports, mut received) = tokio::sync::mpsc::unbounded_channel();
        // Peers connect for sessions that stay live, so that a write here reaches them at once.
        tokio::spawn(net::serve(replica.clone(), listener, keypair.clone(), live.clone(), reports.clone()));
        for peer in peers {
            tokio::spawn(stay_live(replica.clone(), peer.clone(), keypair.clone(), live.clone(), reports.clone()));
        }
        loop {
            tokio::select! {
                served = received.recv() => match served {
                    Some(served) => log_session(cx, &served.address.to_string(), &served.report)?,
                    None => return Ok::<(), Failure>(()),
                },
                _ = tokio::signal::ctrl_c() => return Ok(()),
            }
        }
    })
}

/// Keeps a live session with a peer, connecting again (after a pause that grows to 30 s) when it
/// ends.
async fn stay_live(
    replica: Arc<Replica>,
    peer: String,
    keypair: cairn::Keypair,
    options: SyncOptions,
    reports: tokio::sync::mpsc::UnboundedSender<Served>,
) {
    let mut pause = Duration::from_millis(500);
    loop {
        let report = net::connect_and_sync(replica.clone(), peer.clone(), keypair.clone(), None, options.clone()).await;
        if report.completed {
            pause = Duration::from_millis(500);
        }
        let address = tokio::net::lookup_host(&peer).await.ok().and_then(|mut found| found.next());
        if let Some(address) = address {
            if reports.send(Served { address, report }).is_err() {
                return;
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(30));
    }
}

fn policy(allow: &[String], members: &[String]) -> Result<Option<PeerPolicy>, Failure> {
    let mut policies = Vec::new();
    if !allow.is_empty() {
        let identities: BTreeSet<Identity> = allow.iter().map(|id| id.parse()).collect::<Result<_, _>>()?;
        policies.push(PeerPolicy::Allow(identities));
    }
    for member in members {
        let (collection, field) =
            member.split_once('.').ok_or_else(|| format!("`--allow-members {member}`: expected COLLECTION.FIELD"))?;
        policies.push(PeerPolicy::Members { collection: collection.to_owned(), field: field.to_owned() });
    }
    Ok(match policies.len() {
        0 => None,
        1 => policies.pop(),
        _ => Some(PeerPolicy::AnyOf(policies)),
    })
}

/// One line per session: who, what went each way, and how it ended.
fn log_session(cx: &Context, address: &str, report: &SyncReport) -> Result<(), Failure> {
    let peer = report.peer.map_or_else(|| "an unauthenticated peer".to_owned(), |peer| peer.to_string());
    let outcome = match &report.error {
        None if report.completed => "in sync".to_owned(),
        None => "ended".to_owned(),
        Some(error) => format!("cut: {error}"),
    };
    let stats = &report.stats;
    cx.print(
        json!({
            "session": {
                "peer": report.peer.map(|peer| peer.to_string()),
                "address": address,
                "ops_in": stats.ops_received,
                "ops_out": stats.ops_sent,
                "rejected": stats.ops_rejected,
                "completed": report.completed,
                "error": report.error.as_ref().map(ToString::to_string),
            }
        }),
        format!(
            "session with {peer} at {address}: received {}, sent {}, rejected {}; {outcome}",
            stats.ops_received, stats.ops_sent, stats.ops_rejected
        ),
    )
}

pub fn sync(
    cx: &Context,
    dir: &Path,
    peer: &str,
    peer_id: Option<&str>,
    live: bool,
    key: &Option<PathBuf>,
) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let keypair = load_writer_key(dir, key)?;
    let expected: Option<Identity> = peer_id.map(str::parse).transpose()?;
    let mut options =
        SyncOptions { session: SessionOptions { live, ..SessionOptions::default() }, ..SyncOptions::default() };
    let bar = cx.interactive.then(progress_bar);
    if let Some(bar) = &bar {
        let bar = bar.clone();
        options.progress = Some(Arc::new(move |stats| {
            let expected = stats.peer_ops.saturating_sub(stats.own_ops);
            if expected >= PROGRESS_THRESHOLD {
                bar.set_length(expected);
                bar.set_position(stats.ops_received + stats.ops_duplicate + stats.ops_waiting);
            }
        }));
    }
    // A live sync holds the store for as long as it runs: other commands come through it.
    let _host = if live { Some(Host::start(dir, replica.clone())?) } else { None };
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(net::connect_and_sync(replica, peer.to_owned(), keypair, expected, options));
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let stats = &report.stats;
    let value = json!({
        "peer": report.peer.map(|peer| peer.to_string()),
        "completed": report.completed,
        "ops_sent": stats.ops_sent,
        "ops_received": stats.ops_received,
        "ops_duplicate": stats.ops_duplicate,
        "ops_waiting": stats.ops_waiting,
        "ops_rejected": stats.ops_rejected,
        "bytes_sent": stats.bytes_sent,
        "bytes_received": stats.bytes_received,
        "round_trips": stats.round_trips,
        "seconds": report.elapsed.as_secs_f64(),
        "error": report.error.as_ref().map(ToString::to_string),
    });
    let mut text = format!(
        "synced with {}: sent {} ops, received {} ({} already held, {} waiting, {} rejected); {} bytes out, {} in, {} round trips, {:.2} s",
        report.peer.map_or_else(|| peer.to_owned(), |peer| peer.to_string()),
        stats.ops_sent,
        stats.ops_received,
        stats.ops_duplicate,
        stats.ops_waiting,
        stats.ops_rejected,
        stats.bytes_sent,
        stats.bytes_received,
        stats.round_trips,
        report.elapsed.as_secs_f64()
    );
    if let Some(error) = &report.error {
        text.push_str(&format!("\n  the session was cut: {error}"));
    }
    cx.print(value, text)?;
    if report.error.is_some() || !report.completed {
        return Err(Failure::Reported);
    }
    Ok(())
}

fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} ops, {per_sec}, {eta} left")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

pub fn status(cx: &Context, dir: &Path) -> Result<(), Failure> {
    let replica = cx.replica(dir)?;
    let heads: Vec<String> = replica.heads()?.iter().map(ToString::to_string).collect();
    let count = replica.op_count()?;
    let digest = replica.digest()?.to_string();
    let peers = replica.peers()?;
    let peer_json: Vec<Json> = peers
        .iter()
        .map(|peer| {
            json!({
                "identity": peer.identity.to_string(),
                "address": peer.address,
                "last_sync_ms": peer.at_millis,
                "ops_in": peer.ops_in,
                "ops_out": peer.ops_out,
                "completed": peer.completed,
                "error": peer.error,
            })
        })
        .collect();
    let mut text = format!("database {}\nops {count}\ndigest {digest}\nheads {}", replica.id(), heads.join(" "));
    for peer in &peers {
        let outcome = match (&peer.error, peer.completed) {
            (Some(error), _) => format!("cut: {error}"),
            (None, true) => "in sync".to_owned(),
            (None, false) => "ended".to_owned(),
        };
        text.push_str(&format!(
            "\npeer {} at {}: last sync {}, received {}, sent {}; {outcome}",
            peer.identity,
            peer.address.as_deref().unwrap_or("?"),
            ago(peer.at_millis),
            peer.ops_in,
            peer.ops_out
        ));
    }
    cx.print(
        json!({ "db": replica.id().to_string(), "ops": count, "digest": digest, "heads": heads, "peers": peer_json }),
        text,
    )
}

/// "12 s ago", from a time in milliseconds since the Unix epoch.
fn ago(millis: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
    let seconds = (now - millis).max(0) / 1000;
    match seconds {
        0..=119 => format!("{seconds} s ago"),
        120..=7199 => format!("{} min ago", seconds / 60),
        _ => format!("{} h ago", seconds / 3600),
    }
}
