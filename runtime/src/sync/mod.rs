//! Sync: replicas of one database find the ops the other lacks and exchange them (docs/SPEC.md
//! §5). The protocol core is a state machine without IO ([`Session`]), driven over any
//! authenticated channel by the transports in `net`; everything a peer sends goes through the
//! checks of ingest, so sync can push nothing past them.

mod message;
mod queue;
mod session;

pub use message::{
    Hello, Message, MessageLimits, Range, RangeContent, MAX_HEADS, OLDEST_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
pub use session::{Role, Session, SessionOptions, SyncStats};
