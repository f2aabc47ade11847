//! The event stream's items: effects on the state (rows that appeared, changed or vanished,
//! ops that stopped or started being effective), why each happened, and their stored encoding.

use crate::cbor::{Reader, Value, Writer};
use crate::error::{DecodeError, StorageError};
use crate::ids::{OpHash, RowId};
use std::collections::BTreeMap;

/// What happened to a row or an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A row became visible (with every field's value).
    RowInserted,
    /// Fields of a visible row changed (with their new values).
    RowUpdated,
    /// A row stopped being visible.
    RowDeleted,
    /// An op that was effective stopped being so: a concurrent op defeated its rules.
    OpRolledBack,
    /// An op that was not effective became so again.
    OpReinstated,
}

impl EventKind {
    /// The kind as `cairn events` prints it: `row_inserted`, `row_updated`, `row_deleted`,
    /// `op_rolled_back` or `op_reinstated`.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RowInserted => "row_inserted",
            EventKind::RowUpdated => "row_updated",
            EventKind::RowDeleted => "row_deleted",
            EventKind::OpRolledBack => "op_rolled_back",
            EventKind::OpReinstated => "op_reinstated",
        }
    }

    /// Every kind, in the order of the numbers they are stored as.
    const ALL: [EventKind; 5] = [
        EventKind::RowInserted,
        EventKind::RowUpdated,
        EventKind::RowDeleted,
        EventKind::OpRolledBack,
        EventKind::OpReinstated,
    ];

    fn number(self) -> u64 {
        EventKind::ALL.iter().position(|kind| *kind == self).unwrap_or(0) as u64
    }

    fn from_number(number: u64) -> Option<EventKind> {
        usize::try_from(number).ok().and_then(|index| EventKind::ALL.get(index).copied())
    }
}

/// Why a row event happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Its op took effect: an insert, update or delete as written.
    Written,
    /// Its op was rolled back: what the op had done is undone (a row it inserted vanishes, a row
    /// it deleted comes back, a field it set takes its previous value).
    RolledBack,
    /// Its op was reinstated: what it does applies again.
    Reinstated,
}

impl Cause {
    /// The cause as `cairn events` prints it: `written`, `rolled_back` or `reinstated`.
    pub fn name(&self) -> &'static str {
        match self {
            Cause::Written => "written",
            Cause::RolledBack => "rolled_back",
            Cause::Reinstated => "reinstated",
        }
    }

    /// Every cause, in the order of the numbers they are stored as.
    const ALL: [Cause; 3] = [Cause::Written, Cause::RolledBack, Cause::Reinstated];

    fn number(self) -> u64 {
        Cause::ALL.iter().position(|cause| *cause == self).unwrap_or(0) as u64
    }

    fn from_number(number: u64) -> Option<Cause> {
        usize::try_from(number).ok().and_then(|index| Cause::ALL.get(index).copied())
    }
}

/// An effect on the state: a row that appeared, changed or vanished, or an op that stopped or
/// started being effective. Numbered without gaps in the order this replica saw them.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The event's number in this replica's stream, from 1, without gaps.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// The row's collection (row events).
    pub collection: Option<String>,
    /// The row (row events).
    pub row: Option<RowId>,
    /// For a row event, the op whose effect (or whose undoing, see `cause`) it is; for an op
    /// event, the op that was rolled back or reinstated.
    pub op: OpHash,
    /// For an insert, every field's value; for an update, the new values of the fields that
    /// changed; nothing otherwise.
    pub fields: BTreeMap<String, Value>,
    /// Why a row event happened: its op was written, rolled back or reinstated. (Op events say
    /// it in their kind.)
    pub cause: Cause,
    /// For an op event, the rows the op writes, with their collections.
    pub rows: Vec<(String, RowId)>,
    /// For an op event, the op whose arrival flipped it: for a rollback, an op that defeated it
    /// (`explain` lists every op that does).
    pub by: Option<OpHash>,
}

/// An event as the store keeps it: the ops it names by their local numbers and its row by its
/// row number (8 or 9 bytes where a hash or an id takes 34), which [`StoredEvent::resolve`]
/// turns back into hashes and ids when the event is read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredEvent {
    pub kind: EventKind,
    pub collection: Option<String>,
    /// The row's number (row events).
    pub row: Option<u64>,
    /// The local number of the op the event is about (see [`Event::op`]).
    pub op: u64,
    pub fields: BTreeMap<String, Value>,
    pub cause: Cause,
    pub rows: Vec<(String, RowId)>,
    /// The local number of the op whose arrival flipped an op (op events).
    pub by: Option<u64>,
}

impl StoredEvent {
    /// The stored encoding, `[kind, collection, row number, op local, fields, cause, rows, by
    /// local]` (the sequence number is the store's), appended to `bytes`.
    pub(crate) fn encode_into(&self, bytes: &mut Vec<u8>) {
        let mut writer = Writer { bytes: std::mem::take(bytes) };
        writer.array(8).unsigned(self.kind.number());
        match &self.collection {
            Some(collection) => writer.text(collection),
            None => writer.null(),
        };
        match self.row {
            Some(row) => writer.unsigned(row),
            None => writer.null(),
        };
        writer.unsigned(self.op);
        writer.text_map(self.fields.iter().map(|(name, value)| (name.as_str(), value)));
        writer.unsigned(self.cause.number()).array(self.rows.len());
        for (collection, row) in &self.rows {
            writer.array(2).text(collection).bytes(&row.0);
        }
        match self.by {
            Some(by) => writer.unsigned(by),
            None => writer.null(),
        };
        *bytes = writer.bytes;
    }

    pub(crate) fn decode(seq: u64, bytes: &[u8]) -> Result<StoredEvent, StorageError> {
        let corrupt = |error: DecodeError| StorageError::Corrupt(format!("event {seq}: {error}"));
        let unknown = |what: &str| StorageError::Corrupt(format!("event {seq} has an unknown {what}"));
        let mut reader = Reader::new(bytes);
        if reader.array().map_err(corrupt)? != 8 {
            return Err(StorageError::Corrupt(format!("event {seq} is not an array of 8 items")));
        }
        let kind = EventKind::from_number(reader.unsigned().map_err(corrupt)?).ok_or_else(|| unknown("kind"))?;
        let collection =
            if reader.null().map_err(corrupt)? { None } else { Some(reader.text().map_err(corrupt)?.to_owned()) };
        let row = if reader.null().map_err(corrupt)? { None } else { Some(reader.unsigned().map_err(corrupt)?) };
        let op = reader.unsigned().map_err(corrupt)?;
        let fields = match reader.value(0).map_err(corrupt)? {
            Value::Map(entries) => entries.into_iter().collect(),
            _ => return Err(StorageError::Corrupt(format!("event {seq} has no field map"))),
        };
        let cause = Cause::from_number(reader.unsigned().map_err(corrupt)?).ok_or_else(|| unknown("cause"))?;
        let count = reader.array().map_err(corrupt)?;
        let mut rows = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            if reader.array().map_err(corrupt)? != 2 {
                return Err(StorageError::Corrupt(format!("event {seq} has a malformed row")));
            }
            rows.push((reader.text().map_err(corrupt)?.to_owned(), RowId(reader.fixed_bytes().map_err(corrupt)?)));
        }
        let by = if reader.null().map_err(corrupt)? { None } else { Some(reader.unsigned().map_err(corrupt)?) };
        reader.finish().map_err(corrupt)?;
        Ok(StoredEvent { kind, collection, row, op, fields, cause, rows, by })
    }

    /// The event as readers see it, numbered `seq`: `op_hash` gives an op's hash from its local
    /// number, `row_id` a row's id from its row number.
    pub(crate) fn resolve(
        self,
        seq: u64,
        op_hash: &dyn Fn(u64) -> Result<OpHash, StorageError>,
        row_id: &dyn Fn(u64) -> Result<RowId, StorageError>,
    ) -> Result<Event, StorageError> {
        Ok(Event {
            seq,
            kind: self.kind,
            collection: self.collection,
            row: self.row.map(row_id).transpose()?,
            op: op_hash(self.op)?,
            fields: self.fields,
            cause: self.cause,
            rows: self.rows,
            by: self.by.map(op_hash).transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(event: &StoredEvent) -> Vec<u8> {
        let mut bytes = Vec::new();
        event.encode_into(&mut bytes);
        bytes
    }

    #[test]
    fn events_round_trip_and_resolve_their_numbers() {
        let event = StoredEvent {
            kind: EventKind::OpRolledBack,
            collection: None,
            row: None,
            op: 12,
            fields: BTreeMap::new(),
            cause: Cause::Written,
            rows: vec![("Message".into(), RowId([2; 32]))],
            by: Some(40),
        };
        assert_eq!(StoredEvent::decode(7, &encoded(&event)).expect("decodes"), event);
        let row = StoredEvent {
            kind: EventKind::RowInserted,
            collection: Some("Message".into()),
            row: Some(12 << 16),
            fields: BTreeMap::from([("body".to_owned(), Value::Text("hi".into()))]),
            cause: Cause::RolledBack,
            rows: Vec::new(),
            by: None,
            ..event.clone()
        };
        assert_eq!(StoredEvent::decode(7, &encoded(&row)).expect("decodes"), row);
        assert!(StoredEvent::decode(7, &encoded(&row)[..10]).is_err());
        let op_hash = |local: u64| Ok(OpHash([local as u8; 32]));
        let row_id = |number: u64| Ok(RowId([(number >> 16) as u8 + 100; 32]));
        let resolved = row.resolve(7, &op_hash, &row_id).expect("resolves");
        assert_eq!(
            (resolved.seq, resolved.op, resolved.row, resolved.by),
            (7, OpHash([12; 32]), Some(RowId([112; 32])), None)
        );
        let resolved = event.clone().resolve(8, &op_hash, &row_id).expect("resolves");
        assert_eq!((resolved.op, resolved.by, resolved.row), (OpHash([12; 32]), Some(OpHash([40; 32])), None));
        let missing = |_: u64| Err(StorageError::Corrupt("missing".into()));
        // An op the store cannot name is an error, not a made-up hash.
        assert!(event.clone().resolve(9, &missing, &row_id).is_err());
    }
}
