//! What a replica remembers about the peers it synced with: the address, when the last session
//! ended, what it carried, and how it ended. Kept in the store, so `cairn status` can say it.

use super::Replica;
use crate::cbor::{Reader, Value, Writer};
use crate::error::StorageError;
use crate::ids::Identity;
use crate::store::PEERS;
use redb::ReadableTable;

/// The last sync with one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRecord {
    /// The peer.
    pub identity: Identity,
    /// Where it was reached, or came from.
    pub address: Option<String>,
    /// When the session ended, in milliseconds since the Unix epoch.
    pub at_millis: i64,
    /// Ops received from it.
    pub ops_in: u64,
    /// Ops sent to it.
    pub ops_out: u64,
    /// Whether the two replicas were in sync when it ended.
    pub completed: bool,
    /// Why it ended early, if it did.
    pub error: Option<String>,
}

impl PeerRecord {
    fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.array(6);
        match &self.address {
            Some(address) => writer.text(address),
            None => writer.null(),
        };
        writer.int(self.at_millis).unsigned(self.ops_in).unsigned(self.ops_out).bool(self.completed);
        match &self.error {
            Some(error) => writer.text(error),
            None => writer.null(),
        };
        writer.bytes
    }

    fn decode(identity: Identity, bytes: &[u8]) -> Result<PeerRecord, StorageError> {
        let corrupt = |_| StorageError::Corrupt(format!("the record of peer {identity} is malformed"));
        let mut reader = Reader::new(bytes);
        if reader.array().map_err(corrupt)? != 6 {
            return Err(corrupt(crate::error::DecodeError::TrailingBytes { extra: 0 }));
        }
        let text = |reader: &mut Reader| -> Result<Option<String>, StorageError> {
            if reader.null().map_err(corrupt)? {
                Ok(None)
            } else {
                Ok(Some(reader.text().map_err(corrupt)?.to_owned()))
            }
        };
        let address = text(&mut reader)?;
        let at_millis = match reader.value(1).map_err(corrupt)? {
            Value::Int(millis) => millis,
            _ => return Err(StorageError::Corrupt(format!("the record of peer {identity} is malformed"))),
        };
        let ops_in = reader.unsigned().map_err(corrupt)?;
        let ops_out = reader.unsigned().map_err(corrupt)?;
        let completed = matches!(reader.value(1).map_err(corrupt)?, Value::Bool(true));
        let error = text(&mut reader)?;
        Ok(PeerRecord { identity, address, at_millis, ops_in, ops_out, completed, error })
    }
}

impl Replica {
    /// Remembers the last sync with a peer (replacing what was remembered of it).
    pub fn record_peer(&self, record: &PeerRecord) -> Result<(), StorageError> {
        let transaction = self.begin_write()?;
        transaction.open_table(PEERS)?.insert(&record.identity.0, record.encode().as_slice())?;
        self.commit(transaction)?;
        Ok(())
    }

    /// The peers this replica synced with, and how the last session with each went.
    pub fn peers(&self) -> Result<Vec<PeerRecord>, StorageError> {
        let transaction = self.begin_read()?;
        let table = match transaction.open_table(PEERS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let mut peers = Vec::new();
        for entry in table.iter()? {
            let (identity, bytes) = entry?;
            peers.push(PeerRecord::decode(Identity(*identity.value()), bytes.value())?);
        }
        Ok(peers)
    }
}
