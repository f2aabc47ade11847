//! One sync session with one peer, as a state machine with no IO: it consumes the frames the
//! peer sends ([`Session::receive`]) and produces the frames to send ([`Session::poll_transmit`]).
//! A driver moves frames over a channel; tests drive two sessions in one thread.
//!
//! The protocol (docs/SPEC.md §5): both sides send a hello (versions, database, count,
//! fingerprint). Equal fingerprints: in sync, one round trip. Otherwise both send their heads. A
//! side that holds all of the peer's heads holds everything the peer holds (op sets are closed under parents), so it
//! sends what the peer lacks straight away: the ops outside the past of those heads. Otherwise
//! the initiator starts range-based reconciliation over the op order `(depth, hash)`: ranges
//! with fingerprints, split where they differ, lists of ops where they are small; a side that
//! receives a list sends what the peer lacks and asks for what it lacks. Ops go parents first,
//! in batches, with at most a window of batches unacknowledged. Each side says `done` when it
//! has nothing left to send or ask; a live session then stays open and pushes new ops.

use super::message::{Hello, Message, MessageLimits, Range, RangeContent, MAX_HEADS};
use super::message::{OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION};
use super::queue::SendQueue;
use crate::error::{IngestError, SyncError};
use crate::ids::OpHash;
use crate::replica::{Ingested, Replica};
use crate::store::Bound;
use std::collections::{HashSet, VecDeque};

/// Which side of the connection a session is: the initiator (the side that connected) starts
/// reconciliation when neither side is known to hold all the other holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The side that opened the connection.
    Initiator,
    /// The side that accepted it.
    Acceptor,
}

/// How a session behaves: message limits, how ranges are split, how ops are batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Bounds on every message, both ways.
    pub limits: MessageLimits,
    /// Into how many ranges a differing range is split.
    pub split: u64,
    /// A differing range with at most this many ops is sent as the list of its ops.
    pub leaf: u64,
    /// How many batches of ops may be unacknowledged at once.
    pub window: usize,
    /// The most ops in one batch.
    pub batch_ops: usize,
    /// The most bytes of ops in one batch (an op larger than this goes alone).
    pub batch_bytes: usize,
    /// Whether the session stays open once in sync, pushing new ops both ways.
    pub live: bool,
    /// The most ops this side may have asked for and not yet received: a peer that lists more
    /// (say, hashes of ops it does not have) is cut off.
    pub max_wanted: usize,
}

impl Default for SessionOptions {
    fn default() -> SessionOptions {
        SessionOptions {
            limits: MessageLimits::default(),
            split: 16,
            leaf: 32,
            window: 4,
            batch_ops: 1_000,
            batch_bytes: 2 << 20,
            live: false,
            max_wanted: 1 << 20,
        }
    }
}

/// What a frame was, to the driver: progress, or a keepalive (`ping`, `pong`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// A message that moves the session on.
    Progress,
    /// A keepalive.
    Keepalive,
}

/// What a session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Ops sent to the peer.
    pub ops_sent: u64,
    /// Ops from the peer that were stored.
    pub ops_received: u64,
    /// Ops from the peer this replica already held.
    pub ops_duplicate: u64,
    /// Ops from the peer that wait for parents.
    pub ops_waiting: u64,
    /// Ops from the peer that were refused: the session ends at the first, unless it names a
    /// schema this replica does not know (skipped, and offered again by a later session).
    pub ops_rejected: u64,
    /// Bytes of frames sent.
    pub bytes_sent: u64,
    /// Bytes of frames received.
    pub bytes_received: u64,
    /// Bytes of ops sent (part of `bytes_sent`).
    pub op_bytes_sent: u64,
    /// Bytes of ops received (part of `bytes_received`).
    pub op_bytes_received: u64,
    /// Frames sent.
    pub frames_sent: u64,
    /// Frames received.
    pub frames_received: u64,
    /// Round trips: how many times this side sent after hearing from the peer.
    pub round_trips: u64,
    /// How many ops the peer said it held, in its hello.
    pub peer_ops: u64,
    /// How many ops this side held when the session started.
    pub own_ops: u64,
}

/// How many hashes of ops received from the peer a live session remembers, so as not to push
/// them back.
const RECEIVED_MEMORY: usize = 100_000;

/// A sync session with one peer.
pub struct Session<'r> {
    replica: &'r Replica,
    role: Role,
    options: SessionOptions,
    outbox: VecDeque<Message>,
    send: SendQueue,
    inflight: usize,
    /// Batches the peer sent that this side has not acknowledged yet (an honest peer keeps
    /// within the window).
    unacknowledged: usize,
    wanted: HashSet<OpHash>,
    own: Option<(u64, [u8; 16])>,
    /// Our heads as of the hello (none when there are more than a heads message holds).
    heads: Vec<OpHash>,
    peer: Option<Hello>,
    /// Whether the peer's heads arrived.
    peer_heads: bool,
    /// We hold everything the peer holds: we send it the difference, and need nothing.
    superset: bool,
    /// Range reconciliation has started here, and has ended.
    ranges_started: bool,
    ranges_finished: bool,
    /// We sent ranges and wait for the reply.
    awaiting_ranges: bool,
    sent_done: bool,
    peer_done: bool,
    /// Ops with a local number from here on are pushed to a live peer.
    live_cursor: u64,
    received: HashSet<OpHash>,
    received_order: VecDeque<OpHash>,
    heard_since_sent: bool,
    stats: SyncStats,
}

impl<'r> Session<'r> {
    /// A session of `replica` with a peer; [`Session::start`] queues the hello.
    pub fn new(replica: &'r Replica, role: Role, options: SessionOptions) -> Session<'r> {
        Session {
            replica,
            role,
            options,
            outbox: VecDeque::new(),
            send: SendQueue::default(),
            inflight: 0,
            unacknowledged: 0,
            wanted: HashSet::new(),
            own: None,
            heads: Vec::new(),
            peer: None,
            peer_heads: false,
            superset: false,
            ranges_started: false,
            ranges_finished: false,
            awaiting_ranges: false,
            sent_done: false,
            peer_done: false,
            live_cursor: 0,
            received: HashSet::new(),
            received_order: VecDeque::new(),
            heard_since_sent: true,
            stats: SyncStats::default(),
        }
    }

    /// Queues the hello. Ops stored from now on are pushed to a live peer as they come.
    pub fn start(&mut self) -> Result<(), SyncError> {
        let summary = self.replica.sync_summary()?;
        self.live_cursor = self.replica.next_local()?;
        self.own = Some((summary.count, summary.fingerprint));
        self.stats.own_ops = summary.count;
        self.heads = if summary.heads.len() <= MAX_HEADS { summary.heads } else { Vec::new() };
        self.outbox.push_back(Message::Hello(Hello {
            versions: (OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION),
            database: self.replica.id(),
            count: summary.count,
            fingerprint: summary.fingerprint,
        }));
        Ok(())
    }

    /// What the session did so far.
    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// Whether both sides are in sync: equal at hello, or each has sent all the other lacks,
    /// received all it asked for, and said so.
    pub fn is_complete(&self) -> bool {
        (self.in_sync_at_hello() || (self.sent_done && self.peer_done)) && self.settled()
    }

    /// Whether this side has nothing left to do: reconciled, sent and acknowledged, and given
    /// all it asked for.
    fn settled(&self) -> bool {
        let reconciled = self.superset
            || self.ranges_finished
            || (self.peer_done && !self.ranges_started)
            || self.in_sync_at_hello();
        self.peer.is_some()
            && reconciled
            && !self.awaiting_ranges
            && self.send.is_empty()
            && self.inflight == 0
            && self.wanted.is_empty()
    }

    fn in_sync_at_hello(&self) -> bool {
        match (&self.own, &self.peer) {
            (Some((count, fingerprint)), Some(peer)) => *count == peer.count && *fingerprint == peer.fingerprint,
            _ => false,
        }
    }

    /// Queues a ping (a live driver's keepalive).
    pub fn ping(&mut self) {
        self.outbox.push_back(Message::Ping);
    }

    /// Queues the ops stored since the last call (written here, or received from other peers)
    /// for a live peer, except those this peer sent.
    pub fn push_new_ops(&mut self) -> Result<(), SyncError> {
        let next = self.replica.next_local()?;
        if next <= self.live_cursor {
            return Ok(());
        }
        let fresh: Vec<u64> = (self.live_cursor..next).collect();
        for op in self.replica.ops_by_local(&fresh)? {
            if !self.received.contains(&op.hash) {
                self.send.insert(op.local);
            }
        }
        self.live_cursor = next;
        self.sent_done = false;
        Ok(())
    }

    /// The next frame to send, if any: control messages first, then ops as the window allows,
    /// then `done` once this side has nothing left.
    pub fn poll_transmit(&mut self) -> Result<Option<Vec<u8>>, SyncError> {
        let message = if let Some(message) = self.outbox.pop_front() {
            message
        } else if !self.send.is_empty() && self.inflight < self.options.window {
            self.next_batch()?
        } else if !self.sent_done && self.settled() && !(self.in_sync_at_hello() && self.send.is_empty()) {
            self.sent_done = true;
            Message::Done
        } else {
            return Ok(None);
        };
        if matches!(message, Message::Ack(_)) {
            self.unacknowledged = self.unacknowledged.saturating_sub(1);
        }
        if matches!(message, Message::Ranges(_) | Message::Want(_) | Message::Ops(_)) {
            // The peer takes these as more to do, and waits for another `done`.
            self.sent_done = false;
        }
        let frame = message.encode();
        if self.heard_since_sent {
            self.stats.round_trips += 1;
            self.heard_since_sent = false;
        }
        self.stats.frames_sent += 1;
        self.stats.bytes_sent += frame.len() as u64;
        Ok(Some(frame))
    }

    fn next_batch(&mut self) -> Result<Message, SyncError> {
        let locals = self.send.take(self.options.batch_ops);
        let mut ops = Vec::with_capacity(locals.len());
        let mut bytes = 0;
        let mut unsent = Vec::new();
        for op in self.replica.ops_by_local(&locals)? {
            // Parents first: once one op waits for the next batch, so do all after it.
            if !unsent.is_empty() || (!ops.is_empty() && bytes + op.bytes.len() > self.options.batch_bytes) {
                unsent.push(op.local);
                continue;
            }
            bytes += op.bytes.len();
            ops.push(op.bytes);
        }
        for local in unsent {
            self.send.insert(local);
        }
        self.inflight += 1;
        self.stats.ops_sent += ops.len() as u64;
        self.stats.op_bytes_sent += bytes as u64;
        Ok(Message::Ops(ops))
    }

    /// Handles one frame from the peer; says whether it was a keepalive (a driver does not count
    /// those as progress in a one-shot session).
    pub fn receive(&mut self, frame: &[u8]) -> Result<Received, SyncError> {
        let keepalive = self.handle(frame)?;
        Ok(if keepalive { Received::Keepalive } else { Received::Progress })
    }

    fn handle(&mut self, frame: &[u8]) -> Result<bool, SyncError> {
        self.stats.frames_received += 1;
        self.stats.bytes_received += frame.len() as u64;
        self.heard_since_sent = true;
        let message = Message::decode(frame, &self.options.limits)?;
        if self.peer.is_none() && !matches!(message, Message::Hello(_) | Message::Bye(_)) {
            return Err(SyncError::Protocol("the first message must be a hello".into()));
        }
        let keepalive = matches!(message, Message::Ping | Message::Pong);
        match message {
            Message::Hello(hello) => self.on_hello(hello),
            Message::Heads(heads) => self.on_heads(heads),
            Message::Ranges(ranges) => {
                self.peer_done = false;
                self.on_ranges(ranges)
            }
            Message::Want(hashes) => {
                self.peer_done = false;
                let locals = self.replica.locals_of(&hashes)?;
                self.queue_locals(locals);
                Ok(())
            }
            Message::Ops(ops) => {
                self.peer_done = false;
                if self.unacknowledged >= self.options.window {
                    return Err(SyncError::Protocol(format!(
                        "a batch beyond the window of {} unacknowledged",
                        self.options.window
                    )));
                }
                self.unacknowledged += 1;
                self.on_ops(ops)
            }
            Message::Ack(_) => {
                self.inflight = self
                    .inflight
                    .checked_sub(1)
                    .ok_or_else(|| SyncError::Protocol("an acknowledgement of a batch never sent".into()))?;
                Ok(())
            }
            Message::Done => {
                self.peer_done = true;
                Ok(())
            }
            Message::Ping => {
                self.outbox.push_back(Message::Pong);
                Ok(())
            }
            Message::Pong => Ok(()),
            Message::Bye(reason) => Err(SyncError::Closed(reason)),
        }?;
        Ok(keepalive)
    }

    /// The goodbye queued last, if any: all a driver still sends once the session failed.
    pub fn goodbye(&mut self) -> Option<Vec<u8>> {
        self.outbox.iter().rev().find(|message| matches!(message, Message::Bye(_))).map(Message::encode)
    }

    fn queue_locals(&mut self, locals: Vec<u64>) {
        if !locals.is_empty() {
            self.sent_done = false;
        }
        for local in locals {
            self.send.insert(local);
        }
    }

    fn on_hello(&mut self, hello: Hello) -> Result<(), SyncError> {
        if self.peer.is_some() {
            return Err(SyncError::Protocol("a second hello".into()));
        }
        let (oldest, newest) = (hello.versions.0.max(OLDEST_PROTOCOL_VERSION), hello.versions.1.min(PROTOCOL_VERSION));
        if oldest > newest {
            self.outbox.push_back(Message::Bye("no protocol version in common".into()));
            return Err(SyncError::Version {
                peer_oldest: hello.versions.0,
                peer_newest: hello.versions.1,
                oldest: OLDEST_PROTOCOL_VERSION,
                newest: PROTOCOL_VERSION,
            });
        }
        if hello.database != self.replica.id() {
            self.outbox.push_back(Message::Bye("another database".into()));
            return Err(SyncError::WrongDatabase { expected: self.replica.id(), found: hello.database });
        }
        let in_sync =
            self.own.is_some_and(|(count, fingerprint)| count == hello.count && fingerprint == hello.fingerprint);
        self.stats.peer_ops = hello.count;
        self.peer = Some(hello);
        if !in_sync {
            self.outbox.push_back(Message::Heads(self.heads.clone()));
        }
        Ok(())
    }

    fn on_heads(&mut self, heads: Vec<OpHash>) -> Result<(), SyncError> {
        if std::mem::replace(&mut self.peer_heads, true) {
            return Err(SyncError::Protocol("heads sent twice".into()));
        }
        let empty = self.peer.as_ref().is_some_and(|peer| peer.count == 0);
        // Holding all the peer's heads means holding everything it holds.
        if empty {
            self.superset = true;
            self.send.insert_range(0..self.live_cursor);
            self.sent_done = false;
        } else if !heads.is_empty() && self.replica.holds_all(&heads)? {
            self.superset = true;
            let missing = self.replica.locals_missing_from(&heads)?;
            self.queue_locals(missing);
        } else if self.role == Role::Initiator {
            self.ranges_started = true;
            let ranges = self.fingerprints(Bound::START, Bound::END)?;
            self.outbox.push_back(Message::Ranges(ranges));
            self.awaiting_ranges = true;
        }
        Ok(())
    }

    /// The fingerprints of the parts of a range.
    fn fingerprints(&self, lower: Bound, upper: Bound) -> Result<Vec<Range>, SyncError> {
        let mut ranges = Vec::new();
        for (lower, upper) in self.replica.split_range(lower, upper, self.options.split)? {
            let fingerprint = self.replica.range_sum(lower, upper)?.fingerprint();
            ranges.push(Range { lower, upper, content: RangeContent::Fingerprint(fingerprint) });
        }
        Ok(ranges)
    }

    fn on_ranges(&mut self, ranges: Vec<Range>) -> Result<(), SyncError> {
        // In order and apart, so that one message costs at most one pass over the op order.
        if ranges.windows(2).any(|pair| pair[0].upper > pair[1].lower) {
            return Err(SyncError::Protocol("ranges out of order or overlapping".into()));
        }
        let answering = std::mem::replace(&mut self.awaiting_ranges, false);
        if self.superset {
            // We send the peer all it lacks and lack nothing: nothing to reconcile.
            if !ranges.is_empty() {
                self.outbox.push_back(Message::Ranges(Vec::new()));
            }
            return Ok(());
        }
        self.ranges_started = true;
        let incoming_empty = ranges.is_empty();
        let mut reply = Reply::new(&self.options.limits);
        let mut want = Vec::new();
        let mut ranges = ranges.into_iter();
        while let Some(range) = ranges.next() {
            let answer = match range.content {
                RangeContent::Fingerprint(fingerprint) => self.answer_fingerprint(&range, fingerprint)?,
                RangeContent::Ops(theirs) => {
                    self.answer_list(range.lower, range.upper, theirs, &mut want)?;
                    continue;
                }
            };
            if !reply.fits(&answer) {
                // What does not fit this reply goes back as one range with its fingerprint: the
                // peer splits it again next round, so every round makes progress.
                let upper = ranges.next_back().map_or(range.upper, |last| last.upper);
                let fingerprint = self.replica.range_sum(range.lower, upper)?.fingerprint();
                reply.ranges.push(Range { lower: range.lower, upper, content: RangeContent::Fingerprint(fingerprint) });
                break;
            }
            reply.add(answer);
        }
        self.ask_for(want)?;
        if !reply.ranges.is_empty() {
            self.outbox.push_back(Message::Ranges(reply.ranges));
            self.awaiting_ranges = true;
        } else {
            // Every range matched or was settled: reconciliation is over once the peer hears it
            // (an empty reply), or now, if this was the peer's empty reply to ours.
            self.ranges_finished = true;
            if !incoming_empty || !answering {
                self.outbox.push_back(Message::Ranges(Vec::new()));
            }
        }
        Ok(())
    }

    /// The answer to a range with the peer's fingerprint: nothing where ours is equal, its parts
    /// with fingerprints where it is large, the list of our ops in it where it is small.
    fn answer_fingerprint(&self, range: &Range, fingerprint: [u8; 16]) -> Result<Vec<Range>, SyncError> {
        let sum = self.replica.range_sum(range.lower, range.upper)?;
        if sum.fingerprint() == fingerprint {
            return Ok(Vec::new());
        }
        let parts = if sum.count > self.options.leaf {
            self.replica.split_range(range.lower, range.upper, self.options.split)?
        } else {
            Vec::new()
        };
        if parts.len() > 1 {
            let mut answer = Vec::with_capacity(parts.len());
            for (lower, upper) in parts {
                let fingerprint = self.replica.range_sum(lower, upper)?.fingerprint();
                answer.push(Range { lower, upper, content: RangeContent::Fingerprint(fingerprint) });
            }
            return Ok(answer);
        }
        let hashes = self.replica.range_hashes(range.lower, range.upper)?;
        if hashes.len() > self.options.limits.max_hashes {
            return Err(SyncError::OverLimit(format!(
                "{} ops in one range of the op order cannot be listed",
                hashes.len()
            )));
        }
        Ok(vec![Range { lower: range.lower, upper: range.upper, content: RangeContent::Ops(hashes) }])
    }

    /// A range with the peer's list of ops: queues ours it lacks, and notes those we lack.
    fn answer_list(
        &mut self,
        lower: Bound,
        upper: Bound,
        theirs: Vec<OpHash>,
        want: &mut Vec<OpHash>,
    ) -> Result<(), SyncError> {
        let ours = self.replica.range_hashes(lower, upper)?;
        let theirs_set: HashSet<OpHash> = theirs.iter().copied().collect();
        let ours_set: HashSet<OpHash> = ours.iter().copied().collect();
        let lacked: Vec<OpHash> = ours.into_iter().filter(|hash| !theirs_set.contains(hash)).collect();
        let locals = self.replica.locals_of(&lacked)?;
        self.queue_locals(locals);
        want.extend(theirs.into_iter().filter(|hash| !ours_set.contains(hash)));
        Ok(())
    }

    /// Asks for ops this side lacks, within the bound on what may be outstanding.
    fn ask_for(&mut self, want: Vec<OpHash>) -> Result<(), SyncError> {
        let mut seen = HashSet::with_capacity(want.len());
        let fresh: Vec<OpHash> =
            want.into_iter().filter(|hash| !self.wanted.contains(hash) && seen.insert(*hash)).collect();
        if self.wanted.len() + fresh.len() > self.options.max_wanted {
            return Err(SyncError::OverLimit(format!(
                "{} ops asked for and not received, more than {}",
                self.wanted.len() + fresh.len(),
                self.options.max_wanted
            )));
        }
        for chunk in fresh.chunks(self.options.limits.max_hashes) {
            self.wanted.extend(chunk.iter().copied());
            self.outbox.push_back(Message::Want(chunk.to_vec()));
        }
        Ok(())
    }

    fn on_ops(&mut self, ops: Vec<Vec<u8>>) -> Result<(), SyncError> {
        let count = ops.len() as u64;
        self.stats.op_bytes_received += ops.iter().map(|op| op.len() as u64).sum::<u64>();
        let slices: Vec<&[u8]> = ops.iter().map(Vec::as_slice).collect();
        for result in self.replica.ingest_batch(&slices) {
            let arrived = match result {
                Ok(Ingested::Accepted(hash) | Ingested::Equivocation { op: hash, .. }) => {
                    self.stats.ops_received += 1;
                    hash
                }
                Ok(Ingested::Duplicate(hash)) => {
                    self.stats.ops_duplicate += 1;
                    hash
                }
                Ok(Ingested::Parked { op, .. }) => {
                    self.stats.ops_waiting += 1;
                    op
                }
                Err(IngestError::Storage(error)) => return Err(error.into()),
                // Refused for now, not for good: the op names a schema this replica does not
                // know yet. The peer is honest; the op is not stored, and a later session
                // offers it again.
                Err(IngestError::UnknownSchema { op, .. }) => {
                    self.stats.ops_rejected += 1;
                    op
                }
                Err(error) => {
                    self.stats.ops_rejected += 1;
                    self.outbox.push_back(Message::Bye(format!("refused: {error}")));
                    return Err(SyncError::Refused(Box::new(error)));
                }
            };
            self.wanted.remove(&arrived);
            self.remember_received(arrived);
        }
        self.outbox.push_back(Message::Ack(count));
        Ok(())
    }

    fn remember_received(&mut self, hash: OpHash) {
        if self.received.insert(hash) {
            self.received_order.push_back(hash);
        }
        while self.received_order.len() > RECEIVED_MEMORY {
            if let Some(old) = self.received_order.pop_front() {
                self.received.remove(&old);
            }
        }
    }
}

/// A ranges reply being built, kept within one message's limits: the count of ranges (less
/// one, for what does not fit) and half a frame's bytes.
struct Reply {
    ranges: Vec<Range>,
    bytes: usize,
    max_ranges: usize,
    max_bytes: usize,
}

impl Reply {
    fn new(limits: &MessageLimits) -> Reply {
        Reply { ranges: Vec::new(), bytes: 0, max_ranges: limits.max_ranges - 1, max_bytes: limits.max_frame_bytes / 2 }
    }

    /// A range's encoded size, at most: two bounds of a depth and a hash, and its content.
    fn size(range: &Range) -> usize {
        let bounds = 2 * (1 + 9 + 33);
        bounds
            + match &range.content {
                RangeContent::Fingerprint(_) => 17,
                RangeContent::Ops(hashes) => 9 + 34 * hashes.len(),
            }
    }

    fn fits(&self, answer: &[Range]) -> bool {
        self.ranges.len() + answer.len() <= self.max_ranges
            && self.bytes + answer.iter().map(Reply::size).sum::<usize>() <= self.max_bytes
    }

    fn add(&mut self, answer: Vec<Range>) {
        self.bytes += answer.iter().map(Reply::size).sum::<usize>();
        self.ranges.extend(answer);
    }
}
