//! The state digest (docs/SPEC.md §3): one hash of the visible rows, equal on every replica
//! that holds the same ops.

use super::row::RowState;
use crate::cbor::{Value, Writer};
use crate::ids::RowId;

/// The digest of a state: blake3 over the canonical encodings of its visible rows, in id
/// order, each `[collection, id, {field: value}]` (docs/SPEC.md §3). Rows stream in, so a
/// large state is never held whole.
#[derive(Default)]
pub struct Digest {
    hasher: blake3::Hasher,
}

impl Digest {
    pub fn add(&mut self, id: &RowId, row: &RowState) {
        let mut writer = Writer::new();
        let fields = row.fields.iter().map(|(name, state)| (name.clone(), state.value())).collect();
        writer.array(3).text(&row.collection).bytes(&id.0).value(&Value::Map(fields));
        self.hasher.update(&writer.bytes);
    }

    pub fn finish(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }
}
