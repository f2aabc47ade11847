//! A node's sync over TCP: serving every peer that connects, and connecting to one.

use super::{noise, run_session, SyncOptions, SyncReport};
use crate::error::SyncError;
use crate::keys::Keypair;
use crate::replica::Replica;
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

/// Serves sync to every peer that connects to `listener`, each in its own session as the
/// acceptor, until the listener fails. Each session's report goes to `reports`.
pub async fn serve(
    replica: Arc<Replica>,
    listener: TcpListener,
    keypair: Keypair,
    options: SyncOptions,
    reports: tokio::sync::mpsc::UnboundedSender<Served>,
) -> std::io::Result<()> {
    loop {
        let (stream, address) = listener.accept().await?;
        let (replica, keypair, options, reports) = (replica.clone(), keypair.clone(), options.clone(), reports.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let max_frame = options.session.limits.max_frame_bytes;
            let report = match noise::accept(stream, &keypair, replica.suite(), max_frame).await {
                Ok(channel) => run_session(replica, channel, Role::Acceptor, options).await,
                Err(error) => SyncReport::unauthenticated(SyncError::Channel(error), started),
            };
            let _ = reports.send(Served { address, report });
        });
    }
}

/// Connects to a peer, checks that it is `expected` (when given), and syncs as the initiator:
/// once, or until the connection closes when the options say live.
pub async fn connect_and_sync(
    replica: Arc<Replica>,
    address: impl ToSocketAddrs,
    keypair: Keypair,
    expected: Option<crate::ids::Identity>,
    options: SyncOptions,
) -> SyncReport {
    let started = Instant::now();
    let max_frame = options.session.limits.max_frame_bytes;
    match noise::connect(address, &keypair, replica.suite(), expected, max_frame).await {
        Ok(channel) => run_session(replica, channel, Role::Initiator, options).await,
        Err(error) => SyncReport::unauthenticated(SyncError::Channel(error), started),
    }
}
