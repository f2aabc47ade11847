//! A node's sync over TCP: serving every peer that connects, and connecting to one.

use super::{noise, run_session, SyncOptions, SyncReport};
use crate::error::SyncError;
use crate::keys::Keypair;
use crate::replica::{PeerRecord, Replica};
use crate::sync::Role;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::{TcpListener, ToSocketAddrs};

/// What one connection to a serving node came to: its report, and the address it came from.
#[derive(Debug)]
pub struct Served {
    /// The peer's address.
    pub address: std::net::SocketAddr,
    /// The session's report (a failed handshake has no peer and an error).
    pub report: SyncReport,
}

/// How many sessions (handshakes included) a node serves at once; a connection beyond that
/// waits for one to end.
pub const MAX_SESSIONS: usize = 64;

/// Serves sync to every peer that connects to `listener`, each in its own session as the
/// acceptor, at most [`MAX_SESSIONS`] at once. Each session's report goes to `reports`. A failed
/// accept (too many open files, say) is retried after a pause, never the end of the node.
pub async fn serve(
    replica: Arc<Replica>,
    listener: TcpListener,
    keypair: Keypair,
    options: SyncOptions,
    reports: tokio::sync::mpsc::UnboundedSender<Served>,
) -> std::io::Result<()> {
    let sessions = Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS));
    loop {
        let Ok(permit) = sessions.clone().acquire_owned().await else { return Ok(()) };
        let (stream, address) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (replica, keypair, options, reports) = (replica.clone(), keypair.clone(), options.clone(), reports.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let started = Instant::now();
            let max_frame = options.session.limits.max_frame_bytes;
            let report = match noise::accept(stream, &keypair, replica.suite(), max_frame).await {
                Ok(channel) => run_session(replica.clone(), channel, Role::Acceptor, options).await,
                Err(error) => SyncReport::unauthenticated(SyncError::Channel(error), started),
            };
            remember(&replica, &report, address.to_string());
            let _ = reports.send(Served { address, report });
        });
    }
}

/// Connects to a peer, checks that it is `expected` (when given), and syncs as the initiator:
/// once, or until the connection closes when the options say live.
pub async fn connect_and_sync(
    replica: Arc<Replica>,
    address: impl ToSocketAddrs + std::fmt::Display,
    keypair: Keypair,
    expected: Option<crate::ids::Identity>,
    options: SyncOptions,
) -> SyncReport {
    let started = Instant::now();
    let max_frame = options.session.limits.max_frame_bytes;
    let named = address.to_string();
    let report = match noise::connect(address, &keypair, replica.suite(), expected, max_frame).await {
        Ok(channel) => run_session(replica.clone(), channel, Role::Initiator, options).await,
        Err(error) => SyncReport::unauthenticated(SyncError::Channel(error), started),
    };
    remember(&replica, &report, named);
    report
}

/// Records an authenticated session in the replica's peer table (best effort: a storage
/// failure here loses only the record).
fn remember(replica: &Replica, report: &SyncReport, address: String) {
    let Some(identity) = report.peer else { return };
    let at_millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
    let record = PeerRecord {
        identity,
        address: Some(address),
        at_millis,
        ops_in: report.stats.ops_received,
        ops_out: report.stats.ops_sent,
        completed: report.completed,
        error: report.error.as_ref().map(ToString::to_string),
    };
    let _ = replica.record_peer(&record);
}
