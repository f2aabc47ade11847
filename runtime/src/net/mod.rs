//! Transports and the driver that runs sync sessions over them (docs/SPEC.md §5.5).
//!
//! A [`Channel`] is an authenticated, ordered, reliable stream of frames between two
//! identities; it splits into a sending and a receiving half so that both directions flow at
//! once. [`memory`] pairs channels in one process (tests, many replicas in one program);
//! [`noise`] runs them over TCP with Noise XX, binding each side's Noise key to its replica
//! identity. [`run_session`] drives one [`Session`] over a channel: the session runs on its own
//! thread (it reads and writes the store), the channel's halves on tokio tasks.

pub mod memory;
pub mod noise;
mod policy;
mod serve;

pub use policy::PeerPolicy;
pub use serve::{connect_and_sync, serve, Served};

use crate::error::{ChannelError, SyncError};
use crate::ids::Identity;
use crate::replica::Replica;
use crate::sync::{Message, Role, Session, SessionOptions, SyncStats};
use std::future::Future;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The sending half of a channel.
pub trait FrameSender: Send + 'static {
    /// Sends one frame.
    fn send(&mut self, frame: Vec<u8>) -> impl Future<Output = Result<(), ChannelError>> + Send;
}

/// The receiving half of a channel.
pub trait FrameReceiver: Send + 'static {
    /// The next frame; [`ChannelError::Closed`] once the peer has closed the channel.
    fn receive(&mut self) -> impl Future<Output = Result<Vec<u8>, ChannelError>> + Send;
}

/// An authenticated, ordered, reliable stream of frames to one peer.
pub trait Channel: Send + 'static {
    /// The sending half.
    type Sender: FrameSender;
    /// The receiving half.
    type Receiver: FrameReceiver;

    /// The peer's identity, as the channel authenticated it.
    fn peer(&self) -> Identity;

    /// Splits the channel in two halves that work at once.
    fn split(self) -> (Self::Sender, Self::Receiver);
}

/// Called as a session goes, with what it did so far (a progress bar, say).
pub type Progress = Arc<dyn Fn(&SyncStats) + Send + Sync>;

/// How a session runs: the protocol's options, and the driver's timing.
#[derive(Clone)]
pub struct SyncOptions {
    /// The protocol session's options (limits, batches, live or not).
    pub session: SessionOptions,
    /// A peer silent for this long is cut off.
    pub idle_timeout: Duration,
    /// A live session pings an idle peer this often.
    pub keepalive: Duration,
    /// Who may sync; `None` lets every authenticated peer.
    pub policy: Option<PeerPolicy>,
    /// Called after every frame received.
    pub progress: Option<Progress>,
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SyncOptions")
            .field("session", &self.session)
            .field("idle_timeout", &self.idle_timeout)
            .field("keepalive", &self.keepalive)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Default for SyncOptions {
    fn default() -> SyncOptions {
        SyncOptions {
            session: SessionOptions::default(),
            idle_timeout: Duration::from_secs(60),
            keepalive: Duration::from_secs(15),
            policy: None,
            progress: None,
        }
    }
}

/// What a session did, with whom, and how it ended.
#[derive(Debug)]
pub struct SyncReport {
    /// The peer, once the channel authenticated it.
    pub peer: Option<Identity>,
    /// What was sent and received.
    pub stats: SyncStats,
    /// Whether the two replicas were in sync when it ended (for a live session: at some point).
    pub completed: bool,
    /// Why it ended before completing, or how a live session ended.
    pub error: Option<SyncError>,
    /// How long it took.
    pub elapsed: Duration,
}

/// What the session thread waits for.
enum Input {
    Frame(Vec<u8>),
    Closed(ChannelError),
    NewOps,
    /// The session's future was dropped: stop.
    Stop,
}

/// Ends a session's thread and watch when its future ends or is dropped (a live session
/// aborted by its owner, say).
struct SessionGuard {
    replica: Arc<Replica>,
    watch: crate::replica::WatchId,
    stop: mpsc::Sender<Input>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.replica.unwatch(self.watch);
        let _ = self.stop.send(Input::Stop);
        self.reader.abort();
    }
}

/// Runs one sync session over a channel until both replicas are in sync (or, live, until the
/// channel closes or the peer misbehaves). Ops go through ingest; a peer that sends anything
/// refused, breaks the protocol or stays silent past the idle timeout is cut off, and what it
/// sent that was valid stays.
pub async fn run_session<C: Channel>(
    replica: Arc<Replica>,
    channel: C,
    role: Role,
    options: SyncOptions,
) -> SyncReport {
    let started = Instant::now();
    let peer = channel.peer();
    let (mut sender, mut receiver) = channel.split();
    if let Some(policy) = &options.policy {
        match policy.allows(&replica, &peer) {
            Ok(true) => {}
            Ok(false) => {
                let _ = sender.send(Message::Bye("not allowed to sync with this node".into()).encode()).await;
                return SyncReport::failed(peer, SyncError::NotAllowed(peer), started);
            }
            Err(error) => return SyncReport::failed(peer, error.into(), started),
        }
    }
    let (input, inputs) = mpsc::channel::<Input>();
    let (output, mut outputs) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    // The receiving half feeds the session thread; it stops when the thread has gone.
    let reading = input.clone();
    let reader = tokio::spawn(async move {
        loop {
            match receiver.receive().await {
                Ok(frame) => {
                    if reading.send(Input::Frame(frame)).is_err() {
                        break;
                    }
                }
                Err(error) => {
                    let _ = reading.send(Input::Closed(error));
                    break;
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(frame) = outputs.recv().await {
            sender.send(frame).await?;
        }
        Ok::<(), ChannelError>(())
    });
    let watched = input.clone();
    let watch = replica.watch(move || {
        let _ = watched.send(Input::NewOps);
    });
    let guard = SessionGuard { replica: replica.clone(), watch, stop: input, reader };
    let thread_replica = replica.clone();
    let session_options = options.clone();
    let outcome =
        tokio::task::spawn_blocking(move || drive(&thread_replica, role, &session_options, &inputs, &output)).await;
    drop(guard);
    // The writer ends once the session thread dropped its sender; let it flush what is queued.
    let _ = writer.await;
    let (stats, completed, error) = match outcome {
        Ok(outcome) => outcome,
        Err(panic) => (SyncStats::default(), false, Some(SyncError::Protocol(format!("the session failed: {panic}")))),
    };
    SyncReport { peer: Some(peer), stats, completed, error, elapsed: started.elapsed() }
}

impl SyncReport {
    fn failed(peer: Identity, error: SyncError, started: Instant) -> SyncReport {
        SyncReport { peer: Some(peer), ..SyncReport::unauthenticated(error, started) }
    }

    fn unauthenticated(error: SyncError, started: Instant) -> SyncReport {
        SyncReport {
            peer: None,
            stats: SyncStats::default(),
            completed: false,
            error: Some(error),
            elapsed: started.elapsed(),
        }
    }
}

/// The session thread: the protocol core, fed frames and new-op notices, sending through the
/// writer task.
fn drive(
    replica: &Replica,
    role: Role,
    options: &SyncOptions,
    inputs: &mpsc::Receiver<Input>,
    output: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> (SyncStats, bool, Option<SyncError>) {
    let mut session = Session::new(replica, role, options.session);
    let mut completed = false;
    let result = (|| -> Result<(), SyncError> {
        session.start()?;
        let mut heard = Instant::now();
        let mut pinged = Instant::now();
        loop {
            while let Some(frame) = session.poll_transmit()? {
                output.blocking_send(frame).map_err(|_| ChannelError::Closed)?;
            }
            if session.is_complete() {
                completed = true;
                if !options.session.live {
                    return Ok(());
                }
            }
            let tick = options.keepalive.min(options.idle_timeout).min(Duration::from_secs(1));
            match inputs.recv_timeout(tick) {
                Ok(Input::Frame(frame)) => {
                    heard = Instant::now();
                    session.receive(&frame)?;
                    if let Some(progress) = &options.progress {
                        progress(session.stats());
                    }
                }
                Ok(Input::NewOps) => {
                    if options.session.live {
                        session.push_new_ops()?;
                    }
                }
                Ok(Input::Closed(error)) => return Err(error.into()),
                Ok(Input::Stop) => return Err(ChannelError::Closed.into()),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if heard.elapsed() >= options.idle_timeout {
                        return Err(SyncError::Idle { seconds: heard.elapsed().as_secs() });
                    }
                    if options.session.live
                        && pinged.elapsed() >= options.keepalive
                        && heard.elapsed() >= options.keepalive
                    {
                        session.ping();
                        pinged = Instant::now();
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ChannelError::Closed.into()),
            }
        }
    })();
    // Whatever the session queued last (a goodbye with the reason, say) still goes out.
    while let Ok(Some(frame)) = session.poll_transmit() {
        if output.blocking_send(frame).is_err() {
            break;
        }
    }
    let error = match result {
        Ok(()) => None,
        // A live session ends when the peer goes; that is not a failure once it was in sync.
        Err(SyncError::Channel(ChannelError::Closed)) if completed && options.session.live => None,
        Err(error) => Some(error),
    };
    (session.stats().clone(), completed, error)
}
