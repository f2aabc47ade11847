//! The event stream's items: effects on the state (rows that appeared, changed or vanished,
//! ops that stopped or started being effective), and their stored encoding.

use crate::cbor::{Reader, Value, Writer};
use crate::error::{DecodeError, StorageError};
use crate::ids::{OpHash, RowId};
use std::collections::BTreeMap;

/// What happened to a row or an op, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    RowInserted,
    RowUpdated,
    RowDeleted,
    OpRolledBack,
    OpReinstated,
}

impl EventKind {
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RowInserted => "row_inserted",
            EventKind::RowUpdated => "row_updated",
            EventKind::RowDeleted => "row_deleted",
            EventKind::OpRolledBack => "op_rolled_back",
            EventKind::OpReinstated => "op_reinstated",
        }
    }

    fn from_name(name: &str) -> Option<EventKind> {
        [
            EventKind::RowInserted,
            EventKind::RowUpdated,
            EventKind::RowDeleted,
            EventKind::OpRolledBack,
            EventKind::OpReinstated,
        ]
        .into_iter()
        .find(|kind| kind.name() == name)
    }
}

/// An effect on the state: a row that appeared, changed or vanished, or an op that stopped or
/// started being effective. Numbered without gaps in the order this replica saw them.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: u64,
    pub kind: EventKind,
    /// The row's collection (for row events).
    pub collection: Option<String>,
    pub row: Option<RowId>,
    /// The op that caused it: the op that arrived, or the op that flipped.
    pub op: OpHash,
    /// For an insert, every field's value; for an update, the new values of the fields that
    /// changed; nothing otherwise.
    pub fields: BTreeMap<String, Value>,
}

impl Event {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.array(5).text(self.kind.name());
        match &self.collection {
            Some(collection) => writer.text(collection),
            None => writer.null(),
        };
        match &self.row {
            Some(row) => writer.bytes(&row.0),
            None => writer.null(),
        };
        writer.bytes(&self.op.0);
        writer.value(&Value::Map(self.fields.iter().map(|(name, value)| (name.clone(), value.clone())).collect()));
        writer.bytes
    }

    pub(crate) fn decode(seq: u64, bytes: &[u8]) -> Result<Event, StorageError> {
        let corrupt = |error: DecodeError| StorageError::Corrupt(format!("event {seq}: {error}"));
        let mut reader = Reader::new(bytes);
        reader.array().map_err(corrupt)?;
        let kind = EventKind::from_name(reader.text().map_err(corrupt)?)
            .ok_or_else(|| StorageError::Corrupt(format!("event {seq} has an unknown kind")))?;
        let collection =
            if reader.null().map_err(corrupt)? { None } else { Some(reader.text().map_err(corrupt)?.to_owned()) };
        let row =
            if reader.null().map_err(corrupt)? { None } else { Some(RowId(reader.fixed_bytes().map_err(corrupt)?)) };
        let op = OpHash(reader.fixed_bytes().map_err(corrupt)?);
        let fields = match reader.value(0).map_err(corrupt)? {
            Value::Map(entries) => entries.into_iter().collect(),
            _ => return Err(StorageError::Corrupt(format!("event {seq} has no field map"))),
        };
        Ok(Event { seq, kind, collection, row, op, fields })
    }
}
