//! The schema's content hash: blake3 over the deterministic CBOR encoding of its IR.
//!
//! Docs are left out of the encoding, and the IR keeps top-level declarations in sorted maps,
//! so whitespace, comments, doc comments and declaration order never change the hash, while
//! every semantic change does. docs/SPEC.md specifies the encoding with a worked example.

use crate::ir;

mod canonical_cbor;

pub use canonical_cbor::{major, to_canonical_cbor, write_head, EncodeError};

/// A schema's identity, printed `blake3:<64 lowercase hex digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaHash(pub [u8; 32]);

impl std::fmt::Display for SchemaHash {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "blake3:{}", blake3::Hash::from_bytes(self.0).to_hex())
    }
}

/// A string that is not `blake3:` followed by 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a schema hash (expected `blake3:` and 64 lowercase hex digits)")]
pub struct MalformedSchemaHash(pub String);

impl std::str::FromStr for SchemaHash {
    type Err = MalformedSchemaHash;

    fn from_str(text: &str) -> Result<SchemaHash, MalformedSchemaHash> {
        let malformed = || MalformedSchemaHash(text.to_owned());
        if !is_well_formed(text) {
            return Err(malformed());
        }
        let hex = &text["blake3:".len()..];
        blake3::Hash::from_hex(hex).map(|hash| SchemaHash(*hash.as_bytes())).map_err(|_| malformed())
    }
}

/// Whether `text` has the form of a schema hash: `blake3:` and 64 lowercase hex digits.
pub fn is_well_formed(text: &str) -> bool {
    text.strip_prefix("blake3:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')))
}

/// The canonical encoding the hash is taken over: deterministic CBOR (RFC 8949 §4.2.1) of the
/// IR with every `docs` field left out.
pub fn canonical_encoding(schema: &ir::Schema) -> Vec<u8> {
    match canonical_cbor::to_canonical_cbor(schema) {
        Ok(bytes) => bytes,
        // The IR is plain data (strings, integers, floats, maps, lists); encoding cannot fail.
        Err(error) => unreachable!("the IR always encodes: {error}"),
    }
}

/// The content hash of a checked schema.
pub fn schema_hash(schema: &ir::Schema) -> SchemaHash {
    SchemaHash(*blake3::hash(&canonical_encoding(schema)).as_bytes())
}
