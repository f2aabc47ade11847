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
pub use session::{Received, Role, Session, SessionOptions, SyncStats};

/// The fingerprint of a set of ops (docs/SPEC.md §5.2), as a range's is computed: the first 16
/// bytes of blake3 over the count (8 bytes, little-endian) and the sum of the hashes as 256-bit
/// little-endian integers, modulo 2²⁵⁶.
pub fn fingerprint(hashes: &[crate::ids::OpHash]) -> [u8; 16] {
    let mut sum = crate::store::SetSum::default();
    hashes.iter().for_each(|hash| sum.add(hash));
    sum.fingerprint()
}
