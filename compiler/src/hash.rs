//! The schema's content hash: blake3 over the deterministic CBOR encoding of its IR.
//!
//! Docs are left out of the encoding, and the IR keeps top-level declarations in sorted maps,
//! so whitespace, comments, doc comments and declaration order never change the hash, while
//! every semantic change does. docs/SPEC.md specifies the encoding with a worked example.

use crate::ir;
use ciborium::Value;

/// A schema's identity, printed `blake3:<64 lowercase hex digits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaHash(pub [u8; 32]);

impl std::fmt::Display for SchemaHash {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "blake3:{}",
            blake3::Hash::from_bytes(self.0).to_hex()
        )
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
        blake3::Hash::from_hex(hex)
            .map(|hash| SchemaHash(*hash.as_bytes()))
            .map_err(|_| malformed())
    }
}

/// Whether `text` has the form of a schema hash: `blake3:` and 64 lowercase hex digits.
pub fn is_well_formed(text: &str) -> bool {
    text.strip_prefix("blake3:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// The canonical encoding the hash is taken over: deterministic CBOR (RFC 8949 §4.2.1) of the
/// IR with every `docs` field removed.
pub fn canonical_encoding(schema: &ir::Schema) -> Vec<u8> {
    let mut value = match Value::serialized(&without_docs(schema)) {
        Ok(value) => value,
        // The IR is plain data (strings, integers, floats, maps, lists); serde cannot fail on it.
        Err(error) => unreachable!("the IR always serializes: {error}"),
    };
    sort_maps(&mut value);
    encode(&value)
}

/// The content hash of a checked schema.
pub fn schema_hash(schema: &ir::Schema) -> SchemaHash {
    SchemaHash(*blake3::hash(&canonical_encoding(schema)).as_bytes())
}

fn without_docs(schema: &ir::Schema) -> ir::Schema {
    let mut stripped = schema.clone();
    stripped.docs = None;
    for item in stripped.enums.values_mut() {
        item.docs = None;
    }
    for record in stripped.records.values_mut() {
        record.docs = None;
        record.fields.iter_mut().for_each(|field| field.docs = None);
    }
    for collection in stripped.collections.values_mut() {
        collection.docs = None;
        collection
            .fields
            .iter_mut()
            .for_each(|field| field.docs = None);
        collection
            .rules
            .iter_mut()
            .for_each(|rule| rule.docs = None);
    }
    stripped
}

/// Compares two map keys by their deterministic encodings. For text keys (all the IR has) the
/// encoding is a length header that grows with the length, then the bytes, so comparing
/// (length, bytes) gives the same order without encoding anything.
fn compare_encoded_keys(left: &Value, right: &Value) -> std::cmp::Ordering {
    match (left, right) {
        (Value::Text(left), Value::Text(right)) => (left.len(), left.as_bytes()).cmp(&(right.len(), right.as_bytes())),
        _ => encode(left).cmp(&encode(right)),
    }
}

fn encode(value: &Value) -> Vec<u8> {
    let mut encoded = Vec::new();
    if let Err(error) = ciborium::into_writer(value, &mut encoded) {
        unreachable!("writing to a Vec cannot fail: {error}");
    }
    encoded
}

/// Orders every map's entries by the bytes of their encoded keys, as RFC 8949 §4.2.1 requires.
fn sort_maps(value: &mut Value) {
    match value {
        Value::Map(entries) => {
            for (key, entry) in entries.iter_mut() {
                sort_maps(key);
                sort_maps(entry);
            }
            entries.sort_by(|(left, _), (right, _)| compare_encoded_keys(left, right));
        }
        Value::Array(items) => items.iter_mut().for_each(sort_maps),
        Value::Tag(_, inner) => sort_maps(inner),
        _ => {}
    }
}
