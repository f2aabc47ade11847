//! A serde serializer that writes deterministic CBOR (RFC 8949 §4.2.1) in one pass.
//!
//! Integers and lengths use their shortest form, every length is definite, floats use the
//! shortest of half, single or double precision that keeps the value exactly, and map entries
//! are ordered by the bytes of their encoded keys. Struct fields named `docs` are skipped:
//! doc comments are not part of a schema's meaning.
//!
//! ciborium's `Value` gives the same bytes after sorting, but building and sorting a `Value`
//! tree took 8 of the front end's 50 ms budget on a 200-collection schema (see
//! `benches/front_end.rs`); this writer takes about 1 ms.

use serde::ser::{self, Serialize};

/// Serialization of the IR cannot fail; this error exists because serde's traits require one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EncodeError(String);

impl ser::Error for EncodeError {
    fn custom<T: std::fmt::Display>(message: T) -> EncodeError {
        EncodeError(message.to_string())
    }
}

/// Encodes `value` as deterministic CBOR.
pub fn to_canonical_cbor<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, EncodeError> {
    let mut encoder = Encoder { out: Vec::new() };
    value.serialize(&mut encoder)?;
    Ok(encoder.out)
}

const UNSIGNED: u8 = 0;
const NEGATIVE: u8 = 1;
const BYTES: u8 = 2;
const TEXT: u8 = 3;
const ARRAY: u8 = 4;
const MAP: u8 = 5;
const SIMPLE: u8 = 7;

struct Encoder {
    out: Vec<u8>,
}

impl Encoder {
    /// A major type with its argument in the shortest form.
    fn head(&mut self, major: u8, argument: u64) {
        let major = major << 5;
        if argument < 24 {
            self.out.push(major | argument as u8);
        } else if argument <= u8::MAX as u64 {
            self.out.extend_from_slice(&[major | 24, argument as u8]);
        } else if argument <= u16::MAX as u64 {
            self.out.push(major | 25);
            self.out.extend_from_slice(&(argument as u16).to_be_bytes());
        } else if argument <= u32::MAX as u64 {
            self.out.push(major | 26);
            self.out.extend_from_slice(&(argument as u32).to_be_bytes());
        } else {
            self.out.push(major | 27);
            self.out.extend_from_slice(&argument.to_be_bytes());
        }
    }

    fn integer(&mut self, value: i128) {
        if value >= 0 {
            self.head(UNSIGNED, value as u64);
        } else {
            self.head(NEGATIVE, (-1 - value) as u64);
        }
    }

    fn text(&mut self, text: &str) {
        self.head(TEXT, text.len() as u64);
        self.out.extend_from_slice(text.as_bytes());
    }

    fn float(&mut self, value: f64) {
        let as_single = value as f32;
        if value.is_nan() {
            // The one NaN that deterministic CBOR allows: the half-precision quiet NaN.
            self.out.extend_from_slice(&[0xf9, 0x7e, 0x00]);
        } else if let Some(half) = to_half_exact(value) {
            self.out.push(0xf9);
            self.out.extend_from_slice(&half.to_be_bytes());
        } else if as_single as f64 == value {
            self.out.push(0xfa);
            self.out
                .extend_from_slice(&as_single.to_bits().to_be_bytes());
        } else {
            self.out.push(0xfb);
            self.out.extend_from_slice(&value.to_bits().to_be_bytes());
        }
    }

    /// Appends the encoding of `value` to `buffer` and returns where it landed.
    fn encode_into<T: Serialize + ?Sized>(
        buffer: &mut Vec<u8>,
        value: &T,
    ) -> Result<std::ops::Range<usize>, EncodeError> {
        let start = buffer.len();
        let mut encoder = Encoder {
            out: std::mem::take(buffer),
        };
        let result = value.serialize(&mut encoder);
        *buffer = encoder.out;
        result.map(|()| start..buffer.len())
    }
}

/// The binary16 bits of `value` when half precision holds it exactly.
fn to_half_exact(value: f64) -> Option<u16> {
    let single = value as f32;
    if single as f64 != value {
        return None;
    }
    let bits = single.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0xff {
        // Infinity (NaN is handled by the caller).
        return (mantissa == 0).then_some(sign | 0x7c00);
    }
    if exponent == 0 {
        // Zero; single-precision subnormals are far below half precision's range.
        return (mantissa == 0).then_some(sign);
    }
    let unbiased = exponent - 127;
    if unbiased > 15 {
        None
    } else if unbiased >= -14 {
        // A normal half keeps 10 of the 23 mantissa bits.
        (mantissa & 0x1fff == 0)
            .then(|| sign | (((unbiased + 15) as u16) << 10) | (mantissa >> 13) as u16)
    } else if unbiased >= -24 {
        // A subnormal half: the value is fraction × 2^-24.
        let full = mantissa | 0x80_0000;
        let shift = (-unbiased - 1) as u32;
        (full & ((1 << shift) - 1) == 0).then(|| sign | (full >> shift) as u16)
    } else {
        None
    }
}

/// Entries of a map or struct, written sorted by encoded key when the map ends. Keys and values
/// are encoded into one buffer; the entries are ranges into it.
struct MapWriter<'a> {
    encoder: &'a mut Encoder,
    buffer: Vec<u8>,
    entries: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
    pending_key: Option<std::ops::Range<usize>>,
}

impl<'a> MapWriter<'a> {
    fn new(encoder: &'a mut Encoder) -> MapWriter<'a> {
        MapWriter {
            encoder,
            buffer: Vec::new(),
            entries: Vec::new(),
            pending_key: None,
        }
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), EncodeError> {
        let key = Encoder::encode_into(&mut self.buffer, key)?;
        let value = Encoder::encode_into(&mut self.buffer, value)?;
        self.entries.push((key, value));
        Ok(())
    }

    fn finish(mut self) {
        let buffer = &self.buffer;
        self.entries
            .sort_by(|left, right| buffer[left.0.clone()].cmp(&buffer[right.0.clone()]));
        self.encoder.head(MAP, self.entries.len() as u64);
        for (key, value) in &self.entries {
            self.encoder.out.extend_from_slice(&buffer[key.clone()]);
            self.encoder.out.extend_from_slice(&buffer[value.clone()]);
        }
    }
}

/// Items of an array. serde gives the length of every sequence the IR holds, so the head is
/// written first and the items stream after it; a sequence of unknown length is buffered.
struct ArrayWriter<'a> {
    encoder: &'a mut Encoder,
    /// Items of a sequence whose length was not known up front.
    buffered: Option<(Vec<u8>, u64)>,
}

impl<'a> ArrayWriter<'a> {
    fn new(encoder: &'a mut Encoder, length: Option<usize>) -> ArrayWriter<'a> {
        match length {
            Some(length) => {
                encoder.head(ARRAY, length as u64);
                ArrayWriter {
                    encoder,
                    buffered: None,
                }
            }
            None => ArrayWriter {
                encoder,
                buffered: Some((Vec::new(), 0)),
            },
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        match &mut self.buffered {
            Some((items, count)) => {
                Encoder::encode_into(items, value)?;
                *count += 1;
                Ok(())
            }
            None => value.serialize(&mut *self.encoder),
        }
    }

    fn finish(self) {
        if let Some((items, count)) = self.buffered {
            self.encoder.head(ARRAY, count);
            self.encoder.out.extend_from_slice(&items);
        }
    }
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = ArrayWriter<'a>;
    type SerializeTuple = ArrayWriter<'a>;
    type SerializeTupleStruct = ArrayWriter<'a>;
    type SerializeTupleVariant = ArrayWriter<'a>;
    type SerializeMap = MapWriter<'a>;
    type SerializeStruct = MapWriter<'a>;
    type SerializeStructVariant = VariantMapWriter<'a>;

    fn serialize_bool(self, value: bool) -> Result<(), EncodeError> {
        self.out.push(if value { 0xf5 } else { 0xf4 });
        Ok(())
    }
    fn serialize_i8(self, value: i8) -> Result<(), EncodeError> {
        self.integer(value.into());
        Ok(())
    }
    fn serialize_i16(self, value: i16) -> Result<(), EncodeError> {
        self.integer(value.into());
        Ok(())
    }
    fn serialize_i32(self, value: i32) -> Result<(), EncodeError> {
        self.integer(value.into());
        Ok(())
    }
    fn serialize_i64(self, value: i64) -> Result<(), EncodeError> {
        self.integer(value.into());
        Ok(())
    }
    fn serialize_u8(self, value: u8) -> Result<(), EncodeError> {
        self.integer(value.into());
        Ok(())
    }
    fn serialize_u16(self, value: u16) -> Result<(), EncodeError> {
        self.integer(value.into());
        Ok(())
    }
    fn serialize_u32(self, value: u32) -> Result<(), EncodeError> {
        self.integer(value.into());
        Ok(())
    }
    fn serialize_u64(self, value: u64) -> Result<(), EncodeError> {
        self.integer(value.into());
        Ok(())
    }
    fn serialize_f32(self, value: f32) -> Result<(), EncodeError> {
        self.float(value.into());
        Ok(())
    }
    fn serialize_f64(self, value: f64) -> Result<(), EncodeError> {
        self.float(value);
        Ok(())
    }
    fn serialize_char(self, value: char) -> Result<(), EncodeError> {
        self.text(value.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, value: &str) -> Result<(), EncodeError> {
        self.text(value);
        Ok(())
    }
    fn serialize_bytes(self, value: &[u8]) -> Result<(), EncodeError> {
        self.head(BYTES, value.len() as u64);
        self.out.extend_from_slice(value);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), EncodeError> {
        self.out.push((SIMPLE << 5) | 22);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), EncodeError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), EncodeError> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), EncodeError> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), EncodeError> {
        self.text(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        self.head(MAP, 1);
        self.text(variant);
        value.serialize(self)
    }
    fn serialize_seq(self, length: Option<usize>) -> Result<ArrayWriter<'a>, EncodeError> {
        Ok(ArrayWriter::new(self, length))
    }
    fn serialize_tuple(self, length: usize) -> Result<ArrayWriter<'a>, EncodeError> {
        self.serialize_seq(Some(length))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        length: usize,
    ) -> Result<ArrayWriter<'a>, EncodeError> {
        self.serialize_seq(Some(length))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        length: usize,
    ) -> Result<ArrayWriter<'a>, EncodeError> {
        self.head(MAP, 1);
        self.text(variant);
        Ok(ArrayWriter::new(self, Some(length)))
    }
    fn serialize_map(self, _length: Option<usize>) -> Result<MapWriter<'a>, EncodeError> {
        Ok(MapWriter::new(self))
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _length: usize,
    ) -> Result<MapWriter<'a>, EncodeError> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _length: usize,
    ) -> Result<VariantMapWriter<'a>, EncodeError> {
        Ok(VariantMapWriter {
            variant,
            fields: MapWriter::new(self),
        })
    }
}

impl ser::SerializeSeq for ArrayWriter<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.push(value)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTuple for ArrayWriter<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.push(value)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTupleStruct for ArrayWriter<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.push(value)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeTupleVariant for ArrayWriter<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        self.push(value)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeMap for MapWriter<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EncodeError> {
        self.pending_key = Some(Encoder::encode_into(&mut self.buffer, key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EncodeError> {
        let key = self
            .pending_key
            .take()
            .ok_or_else(|| EncodeError("map value without a key".into()))?;
        let value = Encoder::encode_into(&mut self.buffer, value)?;
        self.entries.push((key, value));
        Ok(())
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish();
        Ok(())
    }
}

impl ser::SerializeStruct for MapWriter<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        if key == "docs" {
            return Ok(());
        }
        self.entry(key, value)
    }
    fn end(self) -> Result<(), EncodeError> {
        self.finish();
        Ok(())
    }
}

/// `{ variant: { fields } }`
struct VariantMapWriter<'a> {
    variant: &'static str,
    fields: MapWriter<'a>,
}

impl ser::SerializeStructVariant for VariantMapWriter<'_> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EncodeError> {
        ser::SerializeStruct::serialize_field(&mut self.fields, key, value)
    }
    fn end(self) -> Result<(), EncodeError> {
        let VariantMapWriter { variant, fields } = self;
        fields.encoder.head(MAP, 1);
        fields.encoder.text(variant);
        fields.finish();
        Ok(())
    }
}
