//! What can go wrong in a sync session: frames that are not messages, peers that break the
//! protocol, send ops that are refused, or stall; and channels that fail.

use super::{DecodeError, IngestError, StorageError};
use crate::ids::{DatabaseId, Identity};

/// A frame that is not a message this code reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The bytes are not CBOR of the expected shape.
    #[error(transparent)]
    Cbor(#[from] DecodeError),
    /// The frame is over the size limit.
    #[error("a frame of {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The frame's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A list is over its limit.
    #[error("{count} {what} in one message, over the limit of {limit}")]
    TooMany {
        /// What is listed.
        what: &'static str,
        /// How many.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An unknown message.
    #[error("an unknown message (tag {kind})")]
    Unknown {
        /// The tag it was sent under.
        kind: u64,
    },
    /// A known message of the wrong shape.
    #[error("a malformed message (tag {message}): {reason}")]
    Malformed {
        /// The message's tag.
        message: u64,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Why a sync session ended before it completed. The peer is cut off; what it sent that was
/// valid stays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The peer sent a frame that is not a message.
    #[error("the peer sent a malformed message: {0}")]
    Message(#[from] MessageError),
    /// The peer broke the protocol.
    #[error("the peer broke the protocol: {0}")]
    Protocol(String),
    /// The peer holds another database.
    #[error("the peer holds database {found}, not {expected}")]
    WrongDatabase {
        /// Ours.
        expected: DatabaseId,
        /// Theirs.
        found: DatabaseId,
    },
    /// No protocol version both sides speak.
    #[error("the peer speaks protocol versions {peer_oldest} to {peer_newest}; this node speaks {oldest} to {newest}")]
    Version {
        /// The oldest version the peer speaks.
        peer_oldest: u64,
        /// The newest version the peer speaks.
        peer_newest: u64,
        /// The oldest version this node speaks.
        oldest: u64,
        /// The newest version this node speaks.
        newest: u64,
    },
    /// The peer sent an op that fails the checks of ingest for good (forged, of another
    /// database, or one its author could not have written).
    #[error("the peer sent an op that is refused: {0}")]
    Refused(#[from] Box<IngestError>),
    /// The peer asked for too much, or sent too much without acknowledgement.
    #[error("the peer went over a limit: {0}")]
    OverLimit(String),
    /// The peer sent nothing for too long.
    #[error("the peer sent nothing for {seconds} s")]
    Idle {
        /// How long it was silent.
        seconds: u64,
    },
    /// The peer is not allowed to sync with this node.
    #[error("{0} may not sync with this node")]
    NotAllowed(Identity),
    /// The peer policy names what the schema does not have.
    #[error("the peer policy cannot be checked: {0}")]
    Policy(#[from] super::QueryError),
    /// The peer closed the session, saying why.
    #[error("the peer closed the session: {0}")]
    Closed(String),
    /// The channel failed or ended before the session completed.
    #[error("the channel failed: {0}")]
    Channel(#[from] ChannelError),
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A channel (an authenticated, ordered, reliable stream of frames) that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// Reading or writing the connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The connection ended.
    #[error("the connection closed")]
    Closed,
    /// The handshake failed: the peer could not prove the identity it claims, or is not the
    /// peer that was expected.
    #[error("the handshake failed: {0}")]
    Handshake(String),
    /// A frame over the limit.
    #[error("a frame of {size} bytes, over the limit of {limit}")]
    FrameTooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}
