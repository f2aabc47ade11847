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
pub use serve::{connect_and_sync, serve, Served, MAX_SESSIONS};

use crate::error::{ChannelError, SyncError};
use crate::ids::Identity;
use crate::replica::Replica;
use crate::sync::{Message, Received, Role, Session, SessionOptions, SyncStats};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// What the session thread waits for: frames (through a bounded queue, so a peer that sends
/// faster than the node ingests is slowed down by its own TCP window), or a wake-up.
enum Input {
    Frame(Vec<u8>),
    Closed(ChannelError),
    /// Look at the flags: new ops to push, or stop.
    Wake,
}

/// How many received frames may wait for the session thread.
const FRAME_QUEUE: usize = 8;

/// What the session thread is told besides frames: set by the store's watch (new ops) and by
/// the session's guard (stop), then a wake-up is sent that may be dropped when the queue is full.
#[derive(Default)]
struct Flags {
    new_ops: AtomicBool,
    stop: AtomicBool,
}

/// Ends a session's thread and watch when its future ends or is dropped (a live session
/// aborted by its owner, say).
struct SessionGuard {
    replica: Arc<Replica>,
    watch: crate::replica::WatchId,
    flags: Arc<Flags>,
    wake: mpsc::SyncSender<Input>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.replica.unwatch(self.watch);
        self.flags.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.try_send(Input::Wake);
        self.reader.abort();
    }
}

/// Runs one sync session over a channel until both replicas are in sync (or, live, until the
/// channel closes or the peer misbehaves). Ops go through ingest; a peer that sends anything
/// refused, breaks the protocol, stays silent (or stops reading) past the idle timeout is cut
/// off, and what it sent that was valid stays.
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
    let (input, inputs) = mpsc::sync_channel::<Input>(FRAME_QUEUE);
    let (output, mut outputs) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    // The receiving half feeds the session thread; it stops when the thread has gone.
    let reading = input.clone();
    let reader = tokio::spawn(async move {
        loop {
            let mut next = match receiver.receive().await {
                Ok(frame) => Input::Frame(frame),
                Err(error) => Input::Closed(error),
            };
            let closed = matches!(next, Input::Closed(_));
            loop {
                match reading.try_send(next) {
                    Ok(()) => break,
                    Err(mpsc::TrySendError::Full(again)) => {
                        next = again;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Err(mpsc::TrySendError::Disconnected(_)) => return,
                }
            }
            if closed {
                return;
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(frame) = outputs.recv().await {
            sender.send(frame).await?;
        }
        Ok::<(), ChannelError>(())
    });
    let flags = Arc::new(Flags::default());
    let (watched, waking) = (flags.clone(), input.clone());
    let watch = replica.watch(move || {
        watched.new_ops.store(true, Ordering::SeqCst);
        let _ = waking.try_send(Input::Wake);
    });
    let guard = SessionGuard { replica: replica.clone(), watch, flags: flags.clone(), wake: input, reader };
    let thread_replica = replica.clone();
    let session_options = options.clone();
    let outcome =
        tokio::task::spawn_blocking(move || drive(&thread_replica, role, &session_options, &inputs, &flags, &output))
            .await;
    drop(guard);
    // The writer ends once the session thread dropped its sender; let it flush what is queued,
    // unless the peer has stopped reading.
    let _ = tokio::time::timeout(options.idle_timeout, writer).await;
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
    flags: &Flags,
    output: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> (SyncStats, bool, Option<SyncError>) {
    let mut driver = Driver {
        session: Session::new(replica, role, options.session),
        options,
        inputs,
        output,
        heard: Instant::now(),
    };
    let mut completed = false;
    let result = (|| -> Result<(), SyncError> {
        driver.session.start()?;
        let mut pinged = Instant::now();
        loop {
            if flags.stop.load(Ordering::SeqCst) {
                return Err(ChannelError::Closed.into());
            }
            if flags.new_ops.swap(false, Ordering::SeqCst) && options.session.live {
                driver.session.push_new_ops()?;
            }
            driver.flush()?;
            if driver.session.is_complete() {
                completed = true;
                if !options.session.live {
                    return Ok(());
                }
            }
            // Checked on every turn, not only when nothing arrives: a stream of wake-ups must
            // not keep a silent peer connected.
            let silent = driver.heard.elapsed();
            if silent >= options.idle_timeout {
                return Err(SyncError::Idle { seconds: silent.as_secs() });
            }
            if options.session.live && pinged.elapsed() >= options.keepalive && silent >= options.keepalive {
                driver.session.ping();
                pinged = Instant::now();
                continue;
            }
            let tick = options.keepalive.min(options.idle_timeout).min(Duration::from_secs(1));
            match inputs.recv_timeout(tick) {
                Ok(input) => {
                    driver.handle(input)?;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(ChannelError::Closed.into()),
            }
        }
    })();
    match &result {
        // A session that ended well sends what it queued last (`done`, an `ack`).
        Ok(()) => {
            let _ = driver.flush();
        }
        // One that failed sends only its goodbye, with the reason.
        Err(_) => {
            if let Some(goodbye) = driver.session.goodbye() {
                let _ = output.try_send(goodbye);
            }
        }
    }
    let error = match result {
        Ok(()) => None,
        // A live session ends when the peer goes; that is not a failure once it was in sync.
        Err(SyncError::Channel(ChannelError::Closed)) if completed && options.session.live => None,
        Err(error) => Some(error),
    };
    (driver.session.stats().clone(), completed, error)
}

/// The session thread's state: the session, where frames come from and go to, and when the
/// peer was last heard.
struct Driver<'a> {
    session: Session<'a>,
    options: &'a SyncOptions,
    inputs: &'a mpsc::Receiver<Input>,
    output: &'a tokio::sync::mpsc::Sender<Vec<u8>>,
    heard: Instant,
}

impl Driver<'_> {
    /// Takes one input; says whether it was the peer moving the session on.
    fn handle(&mut self, input: Input) -> Result<bool, SyncError> {
        match input {
            Input::Frame(frame) => {
                let progress = self.session.receive(&frame)? == Received::Progress;
                // Keepalives keep only a live session open.
                if progress || self.options.session.live {
                    self.heard = Instant::now();
                }
                if let Some(report) = &self.options.progress {
                    report(self.session.stats());
                }
                Ok(progress)
            }
            Input::Wake => Ok(false),
            Input::Closed(error) => Err(error.into()),
        }
    }

    /// Sends all the session has to send. While the writer is full, frames from the peer are
    /// still taken in (both sides may be sending at once, and neither must wait for the other);
    /// a peer that reads nothing for the idle timeout is cut off.
    fn flush(&mut self) -> Result<(), SyncError> {
        while let Some(mut frame) = self.session.poll_transmit()? {
            let mut waiting_since = Instant::now();
            loop {
                match self.output.try_send(frame) {
                    Ok(()) => break,
                    Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return Err(ChannelError::Closed.into()),
                    Err(tokio::sync::mpsc::error::TrySendError::Full(again)) => {
                        frame = again;
                        match self.inputs.try_recv() {
                            Ok(input) => {
                                if self.handle(input)? {
                                    waiting_since = Instant::now();
                                }
                            }
                            Err(mpsc::TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(1)),
                            Err(mpsc::TryRecvError::Disconnected) => return Err(ChannelError::Closed.into()),
                        }
                        if waiting_since.elapsed() >= self.options.idle_timeout {
                            return Err(SyncError::Idle { seconds: waiting_since.elapsed().as_secs() });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
