//! The sync protocol's messages and their encoding (docs/SPEC.md §5.3): each frame is one CBOR
//! array whose first item names the message. Decoding is strict (exact arities and types) and
//! bounded by [`MessageLimits`] before anything is allocated for the items.

use crate::cbor::{Reader, Writer};
use crate::error::MessageError;
use crate::ids::{DatabaseId, OpHash};
use crate::store::Bound;

/// The protocol version this code speaks. Peers agree on the greatest version both speak.
pub const PROTOCOL_VERSION: u64 = 1;
/// The oldest version this code speaks.
pub const OLDEST_PROTOCOL_VERSION: u64 = 1;

/// One message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The first message each side sends.
    Hello(Hello),
    /// The sender's heads (ops without children), when the hellos' fingerprints differ; none
    /// when it has more than [`MAX_HEADS`].
    Heads(Vec<OpHash>),
    /// Ranges of the op order, each with a fingerprint or the list of its ops.
    Ranges(Vec<Range>),
    /// Ops the sender lacks and asks for.
    Want(Vec<OpHash>),
    /// A batch of ops, parents first.
    Ops(Vec<Vec<u8>>),
    /// A batch of ops was ingested: how many ops it held.
    Ack(u64),
    /// The sender has sent everything it knows the receiver lacks, and has nothing to ask.
    Done,
    /// Are you there? (Live sessions, when idle.)
    Ping,
    /// Yes.
    Pong,
    /// The sender closes the session, and says why.
    Bye(String),
}

/// What a side says first: which versions it speaks, which database it holds, and a summary of
/// its ops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The oldest and the newest protocol version the sender speaks.
    pub versions: (u64, u64),
    /// The database.
    pub database: DatabaseId,
    /// How many ops it holds.
    pub count: u64,
    /// The fingerprint of all of them (docs/SPEC.md §5.2).
    pub fingerprint: [u8; 16],
}

/// The most heads a heads message lists.
pub const MAX_HEADS: usize = 64;

/// Each message's tag: the first item of its array.
mod tag {
    pub const HELLO: u64 = 0;
    pub const HEADS: u64 = 1;
    pub const RANGES: u64 = 2;
    pub const WANT: u64 = 3;
    pub const OPS: u64 = 4;
    pub const ACK: u64 = 5;
    pub const DONE: u64 = 6;
    pub const PING: u64 = 7;
    pub const PONG: u64 = 8;
    pub const BYE: u64 = 9;
}

/// A range `[lower, upper)` of the op order and what the sender holds in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The first position in the range.
    pub lower: Bound,
    /// The first position after it.
    pub upper: Bound,
    /// A fingerprint, or the ops.
    pub content: RangeContent,
}

/// What a range message says about a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeContent {
    /// The fingerprint of the sender's ops in the range.
    Fingerprint([u8; 16]),
    /// The hashes of the sender's ops in the range.
    Ops(Vec<OpHash>),
}

/// A goodbye's reason is cut to this many characters when it is sent.
pub const MAX_BYE_CHARS: usize = 512;

/// Bounds on what one message may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// The largest frame.
    pub max_frame_bytes: usize,
    /// The most ranges in one message.
    pub max_ranges: usize,
    /// The most hashes in one range's list, or in one want.
    pub max_hashes: usize,
    /// The most ops in one batch.
    pub max_batch_ops: usize,
}

impl Default for MessageLimits {
    fn default() -> MessageLimits {
        MessageLimits { max_frame_bytes: 4 << 20, max_ranges: 8_192, max_hashes: 16_384, max_batch_ops: 4_096 }
    }
}

fn write_bound(writer: &mut Writer, bound: &Bound) {
    if *bound == Bound::END {
        writer.null();
        return;
    }
    // The hash without its trailing zero bytes: a bound at the start of a depth is one byte.
    let length = bound.hash.iter().rposition(|byte| *byte != 0).map_or(0, |last| last + 1);
    writer.array(2).unsigned(bound.depth).bytes(&bound.hash[..length]);
}

impl Message {
    /// The message's canonical encoding: one frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        match self {
            Message::Hello(hello) => {
                writer.array(5).unsigned(tag::HELLO).array(2).unsigned(hello.versions.0).unsigned(hello.versions.1);
                writer.bytes(&hello.database.0).unsigned(hello.count).bytes(&hello.fingerprint);
            }
            Message::Heads(heads) => {
                writer.array(2).unsigned(tag::HEADS).array(heads.len());
                for head in heads {
                    writer.bytes(&head.0);
                }
            }
            Message::Ranges(ranges) => {
                writer.array(2).unsigned(tag::RANGES).array(ranges.len());
                for range in ranges {
                    writer.array(3);
                    write_bound(&mut writer, &range.lower);
                    write_bound(&mut writer, &range.upper);
                    match &range.content {
                        RangeContent::Fingerprint(fingerprint) => writer.bytes(fingerprint),
                        RangeContent::Ops(hashes) => {
                            writer.array(hashes.len());
                            for hash in hashes {
                                writer.bytes(&hash.0);
                            }
                            &mut writer
                        }
                    };
                }
            }
            Message::Want(hashes) => {
                writer.array(2).unsigned(tag::WANT).array(hashes.len());
                for hash in hashes {
                    writer.bytes(&hash.0);
                }
            }
            Message::Ops(ops) => {
                writer.array(2).unsigned(tag::OPS).array(ops.len());
                for op in ops {
                    writer.bytes(op);
                }
            }
            Message::Ack(count) => {
                writer.array(2).unsigned(tag::ACK).unsigned(*count);
            }
            Message::Done => {
                writer.array(1).unsigned(tag::DONE);
            }
            Message::Ping => {
                writer.array(1).unsigned(tag::PING);
            }
            Message::Pong => {
                writer.array(1).unsigned(tag::PONG);
            }
            Message::Bye(reason) => {
                let reason: String = reason.chars().take(MAX_BYE_CHARS).collect();
                writer.array(2).unsigned(tag::BYE).text(&reason);
            }
        }
        writer.bytes
    }

    /// Decodes one frame.
    pub fn decode(bytes: &[u8], limits: &MessageLimits) -> Result<Message, MessageError> {
        if bytes.len() > limits.max_frame_bytes {
            return Err(MessageError::TooLarge { size: bytes.len(), limit: limits.max_frame_bytes });
        }
        let mut reader = Reader::new(bytes);
        let arity = reader.array()?;
        let kind = reader.unsigned()?;
        let expect = |wanted: usize| {
            if arity == wanted {
                Ok(())
            } else {
                Err(MessageError::Malformed { message: kind, reason: "wrong number of items" })
            }
        };
        let message = match kind {
            tag::HELLO => {
                expect(5)?;
                if reader.array()? != 2 {
                    return Err(MessageError::Malformed { message: tag::HELLO, reason: "versions are a pair" });
                }
                let versions = (reader.unsigned()?, reader.unsigned()?);
                let database = DatabaseId(reader.fixed_bytes()?);
                let count = reader.unsigned()?;
                let fingerprint = reader.fixed_bytes()?;
                Message::Hello(Hello { versions, database, count, fingerprint })
            }
            tag::HEADS => {
                expect(2)?;
                Message::Heads(read_hashes(&mut reader, MAX_HEADS, "heads")?)
            }
            tag::RANGES => {
                expect(2)?;
                let count = reader.array()?;
                if count > limits.max_ranges {
                    return Err(MessageError::TooMany { what: "ranges", count, limit: limits.max_ranges });
                }
                let mut ranges = Vec::with_capacity(count);
                for _ in 0..count {
                    if reader.array()? != 3 {
                        return Err(MessageError::Malformed { message: tag::RANGES, reason: "a range has 3 items" });
                    }
                    let lower = read_bound(&mut reader)?;
                    let upper = read_bound(&mut reader)?;
                    let content = if reader.peek_array()? {
                        RangeContent::Ops(read_hashes(&mut reader, limits.max_hashes, "ranges")?)
                    } else {
                        RangeContent::Fingerprint(reader.fixed_bytes()?)
                    };
                    if lower >= upper {
                        return Err(MessageError::Malformed { message: tag::RANGES, reason: "an empty range" });
                    }
                    ranges.push(Range { lower, upper, content });
                }
                Message::Ranges(ranges)
            }
            tag::WANT => {
                expect(2)?;
                Message::Want(read_hashes(&mut reader, limits.max_hashes, "want")?)
            }
            tag::OPS => {
                expect(2)?;
                let count = reader.array()?;
                if count > limits.max_batch_ops {
                    return Err(MessageError::TooMany { what: "ops", count, limit: limits.max_batch_ops });
                }
                let mut ops = Vec::with_capacity(count);
                for _ in 0..count {
                    ops.push(reader.bytes()?.to_vec());
                }
                Message::Ops(ops)
            }
            tag::ACK => {
                expect(2)?;
                Message::Ack(reader.unsigned()?)
            }
            tag::DONE => {
                expect(1)?;
                Message::Done
            }
            tag::PING => {
                expect(1)?;
                Message::Ping
            }
            tag::PONG => {
                expect(1)?;
                Message::Pong
            }
            tag::BYE => {
                expect(2)?;
                Message::Bye(reader.text()?.to_owned())
            }
            other => return Err(MessageError::Unknown { kind: other }),
        };
        reader.finish()?;
        // One encoding per message: a frame that decodes but is not how the message encodes
        // (a longer integer, another spelling of a bound) is refused.
        if message.encode() != bytes {
            return Err(MessageError::Malformed { message: kind, reason: "not in canonical form" });
        }
        Ok(message)
    }
}

fn read_bound(reader: &mut Reader) -> Result<Bound, MessageError> {
    if reader.null()? {
        return Ok(Bound::END);
    }
    if reader.array()? != 2 {
        return Err(MessageError::Malformed { message: tag::RANGES, reason: "a bound is [depth, hash prefix]" });
    }
    let depth = reader.unsigned()?;
    let prefix = reader.bytes()?;
    if prefix.len() > 32 || prefix.last() == Some(&0) {
        return Err(MessageError::Malformed { message: tag::RANGES, reason: "a bound's hash prefix is not minimal" });
    }
    let mut hash = [0; 32];
    hash[..prefix.len()].copy_from_slice(prefix);
    Ok(Bound { depth, hash })
}

fn read_hashes(reader: &mut Reader, limit: usize, message: &'static str) -> Result<Vec<OpHash>, MessageError> {
    let count = reader.array()?;
    if count > limit {
        return Err(MessageError::TooMany { what: message, count, limit });
    }
    let mut hashes = Vec::with_capacity(count);
    for _ in 0..count {
        hashes.push(OpHash(reader.fixed_bytes()?));
    }
    Ok(hashes)
}
