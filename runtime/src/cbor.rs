//! The CBOR subset ops are made of, and its canonical encoding.
//!
//! [`Value`] is schema-independent: ops decode before their schema is looked up. Encoding is
//! deterministic (RFC 8949 §4.2.1: shortest heads, definite lengths, map keys sorted by their
//! encoded bytes), with one documented simplification: every float is a binary64 (`fb` + 8
//! bytes). Decoding uses minicbor and then re-encodes: input whose re-encoding differs is not
//! canonical and is rejected, so decode → encode is the identity on everything accepted.

/// A field value, as ops carry it and reads return it: a CBOR data item whose map keys are text.
///
/// How each schema type is held (docs/SPEC.md §2.2):
///
/// | schema type | `Value` | build it from | read it with |
/// | --- | --- | --- | --- |
/// | `bool` | `Bool` | `bool` | [`Value::as_bool`] |
/// | `int`, `counter` | `Int` | `i64`, `i32`, `u32` | [`Value::as_i64`] |
/// | `timestamp` | `Int`: milliseconds since the Unix epoch | [`Value::timestamp`], `i64` | [`Value::as_i64`] |
/// | `float` | `Float` (finite) | `f64` | [`Value::as_f64`] |
/// | `string`, an enum variant (its name) | `Text` | `&str`, `String` | [`Value::as_str`] |
/// | `bytes` | `Bytes` | `Vec<u8>`, `&[u8]` | [`Value::as_bytes`] |
/// | `identity` | `Bytes`, 32 of them | [`Identity`](crate::Identity) | [`Value::as_identity`] |
/// | `ref C` | `Bytes`, 32 of them: the row's id | [`RowId`](crate::RowId) | [`Value::as_row_id`] |
/// | `list<T>`, `set<T>` | `Array` (a set's elements sorted by their encoding) | `Vec<T>` | [`Value::as_array`] |
/// | `map<string, T>`, a record | `Map` | `Vec<(String, Value)>` | [`Value::as_map`], [`Value::get`] |
/// | `T?` left empty | `Null` | `None` of an `Option<T>` | [`Value::is_null`] |
///
/// ```
/// use cairn::{Identity, Value};
/// let owner = Identity([7; 32]);
/// assert_eq!(Value::from(owner).as_identity(), Some(owner));
/// assert_eq!(Value::from("general").as_str(), Some("general"));
/// assert_eq!(Value::from(Some(3i64)), Value::Int(3));
/// assert!(Value::from(None::<i64>).is_null());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An empty optional field.
    Null,
    /// A `bool`.
    Bool(bool),
    /// An `int`, `counter` or `timestamp`.
    Int(i64),
    /// A `float` (ops carry finite floats only).
    Float(f64),
    /// A `string`, or the name of an enum variant.
    Text(String),
    /// `bytes`, an `identity` or the id of a `ref` row.
    Bytes(Vec<u8>),
    /// A `list` or a `set`.
    Array(Vec<Value>),
    /// A `map` or a record, by key.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// The value's canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.value(self);
        writer.bytes
    }
}

/// Sorts set elements by their encoding and drops duplicates: a set's one canonical form.
pub(crate) fn canonical_set(values: &mut Vec<Value>) {
    values.sort_by_cached_key(Value::encode);
    values.dedup_by(|left, right| left.encode() == right.encode());
}

/// How deeply arrays and maps may nest, counted from the op's outer array; decoding recurses,
/// and peer input must not be able to exhaust the stack.
pub const MAX_NESTING: usize = 32;

/// How many data items one op may hold. A decoded item takes about 32 bytes of memory however
/// small its encoding, so this bounds what a peer's op can make us allocate (about 4 MiB).
pub const MAX_ITEMS: usize = 1 << 17;

/// Appends canonical CBOR to a buffer.
#[derive(Debug, Default)]
pub struct Writer {
    pub bytes: Vec<u8>,
}

pub use crate::error::DecodeError;
use schemac::hash::major::{ARRAY, BYTES, MAP, NEGATIVE, TEXT, UNSIGNED};

impl Writer {
    pub fn new() -> Writer {
        Writer::default()
    }

    /// A writer whose buffer holds `capacity` bytes before it grows.
    pub fn with_capacity(capacity: usize) -> Writer {
        Writer { bytes: Vec::with_capacity(capacity) }
    }

    fn head(&mut self, major: u8, argument: u64) {
        schemac::hash::write_head(&mut self.bytes, major, argument);
    }

    pub fn unsigned(&mut self, value: u64) -> &mut Writer {
        self.head(UNSIGNED, value);
        self
    }

    pub fn int(&mut self, value: i64) -> &mut Writer {
        if value >= 0 {
            self.head(UNSIGNED, value as u64);
        } else {
            self.head(NEGATIVE, !(value as u64));
        }
        self
    }

    pub fn bytes(&mut self, value: &[u8]) -> &mut Writer {
        self.head(BYTES, value.len() as u64);
        self.bytes.extend_from_slice(value);
        self
    }

    pub fn text(&mut self, value: &str) -> &mut Writer {
        self.head(TEXT, value.len() as u64);
        self.bytes.extend_from_slice(value.as_bytes());
        self
    }

    pub fn array(&mut self, length: usize) -> &mut Writer {
        self.head(ARRAY, length as u64);
        self
    }

    pub fn null(&mut self) -> &mut Writer {
        self.bytes.push(0xf6);
        self
    }

    pub fn bool(&mut self, value: bool) -> &mut Writer {
        self.bytes.push(if value { 0xf5 } else { 0xf4 });
        self
    }

    pub fn float(&mut self, value: f64) -> &mut Writer {
        self.bytes.push(0xfb);
        self.bytes.extend_from_slice(&value.to_bits().to_be_bytes());
        self
    }

    pub fn value(&mut self, value: &Value) -> &mut Writer {
        match value {
            Value::Null => self.null(),
            Value::Bool(value) => self.bool(*value),
            Value::Int(value) => self.int(*value),
            Value::Float(value) => self.float(*value),
            Value::Text(value) => self.text(value),
            Value::Bytes(value) => self.bytes(value),
            Value::Array(items) => {
                self.array(items.len());
                for item in items {
                    self.value(item);
                }
                self
            }
            Value::Map(entries) => self.text_map(entries.iter().map(|(key, entry)| (key.as_str(), entry))),
        }
    }

    /// A map with text keys, from borrowed entries, in canonical order: shorter keys first,
    /// then bytewise (the order of the encoded keys for text).
    pub fn text_map<'v>(&mut self, entries: impl IntoIterator<Item = (&'v str, &'v Value)>) -> &mut Writer {
        let mut sorted: Vec<(&str, &Value)> = entries.into_iter().collect();
        sorted.sort_by(|left, right| (left.0.len(), left.0.as_bytes()).cmp(&(right.0.len(), right.0.as_bytes())));
        self.head(MAP, sorted.len() as u64);
        for (key, entry) in sorted {
            self.text(key);
            self.value(entry);
        }
        self
    }
}

/// Reads CBOR items from a byte slice.
pub struct Reader<'b> {
    decoder: minicbor::Decoder<'b>,
    /// Items read by [`Reader::value`] so far.
    items: usize,
}

fn malformed(position: usize, error: impl std::fmt::Display) -> DecodeError {
    DecodeError::Malformed { position, reason: error.to_string() }
}

impl<'b> Reader<'b> {
    pub fn new(bytes: &'b [u8]) -> Reader<'b> {
        Reader { decoder: minicbor::Decoder::new(bytes), items: 0 }
    }

    pub fn position(&self) -> usize {
        self.decoder.position()
    }

    pub fn is_at_end(&self) -> bool {
        self.decoder.position() >= self.decoder.input().len()
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let extra = self.decoder.input().len().saturating_sub(self.decoder.position());
        if extra == 0 {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { extra })
        }
    }

    /// The bytes of the next data item, whatever it holds (for reading a sequence of items).
    /// Only the heads are read, so an item with bad content (invalid UTF-8, say) is still
    /// delimited and the items after it stay readable.
    pub fn next_item(&mut self) -> Result<&'b [u8], DecodeError> {
        let start = self.position();
        let input = self.decoder.input();
        let length = item_length(&input[start..]).map_err(|reason| malformed(start, reason))?;
        self.decoder.set_position(start + length);
        Ok(&input[start..start + length])
    }

    /// A definite-length array header; returns its length.
    pub fn array(&mut self) -> Result<usize, DecodeError> {
        let position = self.position();
        match self.decoder.array().map_err(|error| malformed(position, error))? {
            Some(length) => usize::try_from(length).map_err(|_| malformed(position, "array too long")),
            None => Err(DecodeError::Unsupported { position, kind: "indefinite-length array".into() }),
        }
    }

    pub fn unsigned(&mut self) -> Result<u64, DecodeError> {
        let position = self.position();
        self.decoder.u64().map_err(|error| malformed(position, error))
    }

    pub fn bytes(&mut self) -> Result<&'b [u8], DecodeError> {
        let position = self.position();
        self.decoder.bytes().map_err(|error| malformed(position, error))
    }

    pub fn fixed_bytes<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let position = self.position();
        let bytes = self.bytes()?;
        bytes.try_into().map_err(|_| malformed(position, format!("expected {N} bytes, found {}", bytes.len())))
    }

    pub fn text(&mut self) -> Result<&'b str, DecodeError> {
        let position = self.position();
        self.decoder.str().map_err(|error| malformed(position, error))
    }

    /// Whether the next item is an array (nothing is consumed).
    pub fn peek_array(&mut self) -> Result<bool, DecodeError> {
        let position = self.position();
        let kind = self.decoder.datatype().map_err(|error| malformed(position, error))?;
        Ok(matches!(kind, minicbor::data::Type::Array | minicbor::data::Type::ArrayIndef))
    }

    /// `null` (returns `true`) or nothing consumed (returns `false`).
    pub fn null(&mut self) -> Result<bool, DecodeError> {
        let position = self.position();
        if matches!(self.decoder.datatype(), Ok(minicbor::data::Type::Null)) {
            self.decoder.null().map_err(|error| malformed(position, error))?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Any supported item, as a [`Value`].
    pub fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        use minicbor::data::Type;
        if depth > MAX_NESTING {
            return Err(DecodeError::TooDeep { limit: MAX_NESTING });
        }
        self.items += 1;
        if self.items > MAX_ITEMS {
            return Err(DecodeError::TooManyItems { limit: MAX_ITEMS });
        }
        let position = self.position();
        let kind = self.decoder.datatype().map_err(|error| malformed(position, error))?;
        let value = match kind {
            Type::Null => {
                self.decoder.null().map_err(|error| malformed(position, error))?;
                Value::Null
            }
            Type::Bool => Value::Bool(self.decoder.bool().map_err(|error| malformed(position, error))?),
            Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64 | Type::Int => {
                let integer = self.decoder.int().map_err(|error| malformed(position, error))?;
                Value::Int(
                    i64::try_from(integer)
                        .map_err(|_| malformed(position, "integer outside the 64-bit signed range"))?,
                )
            }
            Type::F64 => Value::Float(self.decoder.f64().map_err(|error| malformed(position, error))?),
            Type::Bytes => Value::Bytes(self.bytes()?.to_vec()),
            Type::String => Value::Text(self.text()?.to_owned()),
            Type::Array => {
                let length = self.array()?;
                let mut items = Vec::with_capacity(length.min(1024));
                for _ in 0..length {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            Type::Map => {
                let length = match self.decoder.map().map_err(|error| malformed(position, error))? {
                    Some(length) => length,
                    None => return Err(DecodeError::Unsupported { position, kind: "indefinite-length map".into() }),
                };
                let mut entries: Vec<(String, Value)> = Vec::new();
                for _ in 0..length {
                    let key_position = self.position();
                    let key = self.text()?.to_owned();
                    // Canonical order (shorter first, then bytewise), checked as we go: this
                    // rejects duplicates and disorder in one comparison per key.
                    if let Some((previous, _)) = entries.last() {
                        let order = (previous.len(), previous.as_bytes()).cmp(&(key.len(), key.as_bytes()));
                        match order {
                            std::cmp::Ordering::Less => {}
                            std::cmp::Ordering::Equal => return Err(DecodeError::DuplicateKey { key }),
                            std::cmp::Ordering::Greater => {
                                return Err(DecodeError::NotCanonical { position: key_position })
                            }
                        }
                    }
                    let entry = self.value(depth + 1)?;
                    entries.push((key, entry));
                }
                Value::Map(entries)
            }
            other => return Err(DecodeError::Unsupported { position, kind: format!("{other:?}") }),
        };
        Ok(value)
    }
}

/// The length of the first CBOR data item in `bytes`, read from heads alone, without
/// recursion. Indefinite lengths are refused: ops never use them.
fn item_length(bytes: &[u8]) -> Result<usize, &'static str> {
    let mut position = 0;
    // How many more items the enclosing arrays and maps expect; the outer "container" holds one.
    let mut pending: Vec<u64> = vec![1];
    while let Some(remaining) = pending.last_mut() {
        if *remaining == 0 {
            pending.pop();
            continue;
        }
        *remaining -= 1;
        let initial = *bytes.get(position).ok_or("the stream ends inside an item")?;
        position += 1;
        let (major, additional) = (initial >> 5, initial & 0x1f);
        let argument = match additional {
            0..=23 => u64::from(additional),
            24..=27 => {
                let width = 1usize << (additional - 24);
                let field = bytes.get(position..position + width).ok_or("the stream ends inside a head")?;
                position += width;
                field.iter().fold(0u64, |value, byte| value << 8 | u64::from(*byte))
            }
            _ => return Err("indefinite lengths and reserved heads are not used in ops"),
        };
        match major {
            2 | 3 => {
                let length = usize::try_from(argument).map_err(|_| "a string longer than memory")?;
                position = position
                    .checked_add(length)
                    .filter(|end| *end <= bytes.len())
                    .ok_or("the stream ends inside a string")?;
            }
            4 => pending.push(argument),
            5 => pending.push(argument.checked_mul(2).ok_or("a map too large")?),
            6 => pending.push(1),
            _ => {}
        }
        if pending.len() > MAX_NESTING + 2 {
            return Err("nested too deeply");
        }
    }
    Ok(position)
}

/// Compares an input with its canonical re-encoding.
pub fn require_canonical(input: &[u8], canonical: &[u8]) -> Result<(), DecodeError> {
    if input == canonical {
        return Ok(());
    }
    let position =
        input.iter().zip(canonical).position(|(left, right)| left != right).unwrap_or(input.len().min(canonical.len()));
    Err(DecodeError::NotCanonical { position })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &Value) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.value(value);
        writer.bytes
    }

    fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
        let mut reader = Reader::new(bytes);
        let value = reader.value(0)?;
        reader.finish()?;
        require_canonical(bytes, &encode(&value))?;
        Ok(value)
    }

    #[test]
    fn non_canonical_forms_are_rejected() {
        // 1 written with a one-byte argument instead of inline.
        assert!(matches!(decode(&[0x18, 0x01]), Err(DecodeError::NotCanonical { .. })));
        // A map with keys out of order: {"bb": 1, "a": 2}.
        assert!(matches!(
            decode(&[0xa2, 0x62, b'b', b'b', 0x01, 0x61, b'a', 0x02]),
            Err(DecodeError::NotCanonical { .. })
        ));
        // Duplicate keys.
        assert!(matches!(decode(&[0xa2, 0x61, b'a', 0x01, 0x61, b'a', 0x02]), Err(DecodeError::DuplicateKey { .. })));
        // Indefinite-length array.
        assert!(matches!(decode(&[0x9f, 0x01, 0xff]), Err(DecodeError::Unsupported { .. })));
        // A float in half precision (we write every float as binary64).
        assert!(matches!(
            decode(&[0xf9, 0x3c, 0x00]),
            Err(DecodeError::Unsupported { .. }) | Err(DecodeError::NotCanonical { .. })
        ));
        // Trailing bytes.
        assert!(matches!(decode(&[0x01, 0x02]), Err(DecodeError::TrailingBytes { .. })));
        // Deep nesting.
        let mut deep = vec![0x81; 100];
        deep.push(0x01);
        assert!(matches!(decode(&deep), Err(DecodeError::TooDeep { .. })));
    }

    #[test]
    fn canonical_values_round_trip() {
        let value = Value::Map(vec![
            ("b".into(), Value::Array(vec![Value::Int(-1), Value::Int(24), Value::Int(i64::MIN), Value::Float(1.5)])),
            ("aa".into(), Value::Bytes(vec![1, 2, 3])),
            ("c".into(), Value::Text("ünï".into())),
            ("d".into(), Value::Null),
        ]);
        let bytes = encode(&value);
        let decoded = decode(&bytes).expect("canonical");
        assert_eq!(encode(&decoded), bytes);
    }
}
