//! The stored encoding of a [`RowState`], merge metadata included, so that the engine can fold
//! further ops into a materialized row without reading its writers again.

use super::row::{FieldState, RowState, Version};
use crate::cbor::{Reader, Value, Writer};
use crate::error::DecodeError;
use crate::ids::{OpHash, RowId};
use std::collections::BTreeMap;

impl RowState {
    /// The bytes of the row as the store keeps it, merge metadata included:
    /// `[collection, parent, deleted, writers, fields]`, where `writers` lists each distinct
    /// (depth, op hash) the row's versions name (the row's own version first) and a field's
    /// version is `[writer index, change, edit]`, so a row written by one op names it once.
    /// Appended to `prefix` (the store puts the row's id first).
    pub fn encode_after(&self, prefix: Vec<u8>) -> Vec<u8> {
        let mut writers: Vec<(u64, OpHash)> = Vec::with_capacity(2);
        writers.push(self.version);
        let mut note = |version: &Version| {
            if !writers.contains(&(version.0, version.1)) {
                writers.push((version.0, version.1));
            }
        };
        for state in self.fields.values() {
            match state {
                FieldState::Register { version, .. } => note(version),
                FieldState::Map(entries) => entries.values().for_each(|(_, version)| note(version)),
                FieldState::Set(_) | FieldState::Counter(_) => {}
            }
        }
        let mut writer = Writer { bytes: prefix };
        writer.array(5).text(&self.collection);
        match &self.parent {
            Some(parent) => writer.bytes(&parent.0),
            None => writer.null(),
        };
        writer.bool(self.deleted).array(writers.len());
        for (depth, hash) in &writers {
            writer.array(2).unsigned(*depth).bytes(&hash.0);
        }
        let write_version = |writer: &mut Writer, version: &Version| {
            let index = writers.iter().position(|known| *known == (version.0, version.1)).unwrap_or_default();
            writer.array(3).unsigned(index as u64).unsigned(version.2.into()).unsigned(version.3.into());
        };
        writer.array(self.fields.len());
        for (name, state) in &self.fields {
            writer.array(2).text(name);
            match state {
                FieldState::Register { value, version } => {
                    writer.array(3).unsigned(0).value(value);
                    write_version(&mut writer, version);
                }
                FieldState::Set(members) => {
                    writer.array(2).unsigned(1).array(members.len());
                    for (value, tags) in members {
                        writer.array(2).value(value).array(tags.len());
                        for tag in tags {
                            writer.unsigned(*tag);
                        }
                    }
                }
                FieldState::Map(entries) => {
                    writer.array(2).unsigned(2).array(entries.len());
                    for (key, (value, version)) in entries {
                        writer.array(3).text(key);
                        match value {
                            Some(value) => writer.value(value),
                            None => writer.null(),
                        };
                        write_version(&mut writer, version);
                    }
                }
                FieldState::Counter(total) => {
                    writer.array(2).unsigned(3).int(*total);
                }
            }
        }
        writer.bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<RowState, DecodeError> {
        let mut reader = Reader::new(bytes);
        expect_array(&mut reader, 5)?;
        let collection = reader.text()?.to_owned();
        let parent = if reader.null()? { None } else { Some(RowId(reader.fixed_bytes()?)) };
        let deleted = matches!(reader.value(0)?, Value::Bool(true));
        let writer_count = reader.array()?;
        let mut writers = Vec::with_capacity(writer_count.min(1024));
        for _ in 0..writer_count {
            expect_array(&mut reader, 2)?;
            writers.push((reader.unsigned()?, OpHash(reader.fixed_bytes()?)));
        }
        let version = *writers.first().ok_or_else(|| malformed_row(&reader))?;
        let read_version = |reader: &mut Reader| -> Result<Version, DecodeError> {
            expect_array(reader, 3)?;
            let index = usize::try_from(reader.unsigned()?).map_err(|_| malformed_row(reader))?;
            let (depth, hash) = *writers.get(index).ok_or_else(|| malformed_row(reader))?;
            let change = u32::try_from(reader.unsigned()?).map_err(|_| malformed_row(reader))?;
            let edit = u32::try_from(reader.unsigned()?).map_err(|_| malformed_row(reader))?;
            Ok((depth, hash, change, edit))
        };
        let field_count = reader.array()?;
        let mut fields = BTreeMap::new();
        for _ in 0..field_count {
            expect_array(&mut reader, 2)?;
            let name = reader.text()?.to_owned();
            let length = reader.array()?;
            let state = match reader.unsigned()? {
                0 if length == 3 => {
                    let value = reader.value(1)?;
                    FieldState::Register { value, version: read_version(&mut reader)? }
                }
                1 if length == 2 => {
                    let count = reader.array()?;
                    let mut members = Vec::with_capacity(count.min(1024));
                    for _ in 0..count {
                        expect_array(&mut reader, 2)?;
                        let value = reader.value(1)?;
                        let tag_count = reader.array()?;
                        let mut tags = Vec::with_capacity(tag_count.min(1024));
                        for _ in 0..tag_count {
                            tags.push(reader.unsigned()?);
                        }
                        members.push((value, tags));
                    }
                    FieldState::Set(members)
                }
                2 if length == 2 => {
                    let count = reader.array()?;
                    let mut entries = BTreeMap::new();
                    for _ in 0..count {
                        expect_array(&mut reader, 3)?;
                        let key = reader.text()?.to_owned();
                        let value = if reader.null()? { None } else { Some(reader.value(1)?) };
                        entries.insert(key, (value, read_version(&mut reader)?));
                    }
                    FieldState::Map(entries)
                }
                3 if length == 2 => match reader.value(1)? {
                    Value::Int(total) => FieldState::Counter(total),
                    _ => return Err(malformed_row(&reader)),
                },
                _ => return Err(malformed_row(&reader)),
            };
            fields.insert(name, state);
        }
        reader.finish()?;
        Ok(RowState { collection, parent, fields, deleted, version })
    }
}

fn malformed_row(reader: &Reader) -> DecodeError {
    DecodeError::Malformed { position: reader.position(), reason: "not a stored row".into() }
}

fn expect_array(reader: &mut Reader, length: usize) -> Result<(), DecodeError> {
    if reader.array()? == length {
        Ok(())
    } else {
        Err(malformed_row(reader))
    }
}
