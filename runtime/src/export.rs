//! The export stream (docs/SPEC.md §2.6): a CBOR sequence (RFC 8742) of the header
//! `["cairn-export", 1, database id]` and then each op's canonical bytes, parents first. The
//! `cairn export` and `cairn import` commands and anything else that moves ops as a file share
//! this codec.

use crate::cbor::{Reader, Writer};
use crate::error::{DecodeError, ExportError};
use crate::ids::DatabaseId;

/// The first item of the header.
pub const MAGIC: &str = "cairn-export";
/// The stream format this code writes and reads.
pub const VERSION: u64 = 1;

/// The header that starts an export of `database`.
pub fn header(database: DatabaseId) -> Vec<u8> {
    let mut writer = Writer::new();
    writer.array(3).text(MAGIC).unsigned(VERSION).bytes(&database.0);
    writer.bytes
}

/// An export stream being read: its database, then its ops, one item at a time.
pub struct ExportReader<'b> {
    database: DatabaseId,
    reader: Reader<'b>,
    /// Set once an item cannot be delimited: nothing after it can be read.
    broken: bool,
}

impl<'b> ExportReader<'b> {
    /// Reads the header. The ops are not looked at until they are iterated.
    pub fn new(bytes: &'b [u8]) -> Result<ExportReader<'b>, ExportError> {
        if bytes.is_empty() {
            return Err(ExportError::Empty);
        }
        let mut reader = Reader::new(bytes);
        let header = reader.next_item().map_err(|_| ExportError::NotAnExport)?;
        let mut header = Reader::new(header);
        if header.array().ok() != Some(3) || header.text().ok() != Some(MAGIC) {
            return Err(ExportError::NotAnExport);
        }
        let version = header.unsigned().map_err(|_| ExportError::NotAnExport)?;
        if version != VERSION {
            return Err(ExportError::Version { found: version, expected: VERSION });
        }
        let database = DatabaseId(header.fixed_bytes().map_err(|_| ExportError::NotAnExport)?);
        Ok(ExportReader { database, reader, broken: false })
    }

    /// The database the export is of.
    pub fn database(&self) -> DatabaseId {
        self.database
    }

    /// Fails unless the export is of `expected`.
    pub fn require_database(&self, expected: DatabaseId) -> Result<(), ExportError> {
        if self.database == expected {
            Ok(())
        } else {
            Err(ExportError::WrongDatabase { found: self.database, expected })
        }
    }
}

/// The ops' bytes, in stream order. An item whose bytes cannot even be delimited ends the
/// stream with its error; an item that is delimited but is not a valid op is yielded as it is,
/// for ingest to refuse with a reason.
impl<'b> Iterator for ExportReader<'b> {
    type Item = Result<&'b [u8], DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.broken || self.reader.is_at_end() {
            return None;
        }
        let item = self.reader.next_item();
        self.broken = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_strangers_are_refused() {
        let database = DatabaseId([7; 32]);
        let mut stream = header(database);
        stream.extend_from_slice(&[0x01, 0x02]);
        let reader = ExportReader::new(&stream).expect("an export");
        assert_eq!(reader.database(), database);
        assert_eq!(reader.collect::<Vec<_>>(), vec![Ok(&[0x01][..]), Ok(&[0x02][..])]);
        assert!(matches!(ExportReader::new(&[]), Err(ExportError::Empty)));
        assert!(matches!(ExportReader::new(b"hello"), Err(ExportError::NotAnExport)));
        let mut future = Writer::new();
        future.array(3).text(MAGIC).unsigned(VERSION + 1).bytes(&database.0);
        assert!(matches!(ExportReader::new(&future.bytes), Err(ExportError::Version { found: 2, expected: 1 })));
        let truncated = [header(database), vec![0x82, 0x01]].concat();
        let items: Vec<_> = ExportReader::new(&truncated).expect("an export").collect();
        assert!(matches!(items.as_slice(), [Err(_)]));
    }
}
