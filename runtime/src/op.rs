//! Operations: the signed, content-addressed entries of the log, and their canonical encoding.
//!
//! An op is a CBOR array (docs/SPEC.md §2 gives the format with test vectors):
//!
//! ```text
//! [ version, database, schema, author, seq, parents, depth, payload, attestations, signature ]
//! ```
//!
//! Its hash is the suite's hash of the same array without the signature (nine items), and the
//! signature is over `"cairn-op-v1" ‖ hash`. Decoding checks structure and canonical form only;
//! [`verify`] checks the hash and signature and is the only way to get a [`VerifiedOp`] from
//! bytes; local writes get theirs by signing.

use crate::cbor::{self, Reader, Value, Writer};
use crate::crypto::{CryptoSuite, SecretKey, Signature, SignedMessage};
use crate::error::{LimitError, OpDecodeError, VerifyError};
use crate::ids::{DatabaseId, Identity, OpHash, RowId};
use smallvec::SmallVec;
use smol_str::SmolStr;

/// The signature a local op is stored with until it is signed: never valid (see [`verify`]).
pub(crate) const BLANK_SIGNATURE: [u8; 64] = [0; 64];

/// The op format version this code writes and reads.
pub const FORMAT_VERSION: u64 = 1;

/// The domain separator signatures are made over, so an op signature is never valid as
/// anything else.
const SIGNATURE_DOMAIN: &[u8] = b"cairn-op-v1";

/// Size limits checked before anything else is done with an op from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest op, encoded.
    pub max_op_bytes: usize,
    /// The most parents an op may name.
    pub max_parents: usize,
    /// The most changes one op may carry.
    pub max_changes: usize,
    /// The longest string or byte string a field value may hold.
    pub max_value_bytes: usize,
    /// How many ops may wait for missing parents at once; beyond it the oldest is evicted.
    pub max_parked: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_op_bytes: 1 << 20,
            max_parents: 64,
            max_changes: 10_000,
            max_value_bytes: 256 << 10,
            max_parked: 10_000,
        }
    }
}

/// One edit to a field of an existing row.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Replace a register field's value (plain fields, lists, records, optionals).
    Set {
        /// The field.
        field: String,
        /// Its new value.
        value: Value,
    },
    /// Add elements to a set.
    Add {
        /// The `set` field.
        field: String,
        /// The elements to add.
        elements: Vec<Value>,
    },
    /// Remove elements from a set: the adds this op has seen are undone.
    Remove {
        /// The `set` field.
        field: String,
        /// The elements to remove.
        elements: Vec<Value>,
    },
    /// Write one key of a map.
    Put {
        /// The `map` field.
        field: String,
        /// The key.
        key: String,
        /// Its new value.
        value: Value,
    },
    /// Remove one key of a map.
    Unset {
        /// The `map` field.
        field: String,
        /// The key.
        key: String,
    },
    /// Add to a counter.
    Increment {
        /// The `counter` field.
        field: String,
        /// How much to add (negative to subtract).
        amount: i64,
    },
}

impl Edit {
    /// Sets a plain, optional, list or record field.
    pub fn set(field: &str, value: impl Into<Value>) -> Edit {
        Edit::Set { field: field.to_owned(), value: value.into() }
    }

    /// Adds elements to a `set` field.
    pub fn add<T: Into<Value>>(field: &str, elements: impl IntoIterator<Item = T>) -> Edit {
        Edit::Add { field: field.to_owned(), elements: set_elements(elements) }
    }

    /// Removes elements from a `set` field (the adds this op has seen).
    pub fn remove<T: Into<Value>>(field: &str, elements: impl IntoIterator<Item = T>) -> Edit {
        Edit::Remove { field: field.to_owned(), elements: set_elements(elements) }
    }

    /// Writes one key of a `map` field.
    pub fn put(field: &str, key: &str, value: impl Into<Value>) -> Edit {
        Edit::Put { field: field.to_owned(), key: key.to_owned(), value: value.into() }
    }

    /// Removes one key of a `map` field.
    pub fn unset(field: &str, key: &str) -> Edit {
        Edit::Unset { field: field.to_owned(), key: key.to_owned() }
    }

    /// Adds `amount` to a `counter` field.
    pub fn increment(field: &str, amount: i64) -> Edit {
        Edit::Increment { field: field.to_owned(), amount }
    }

    /// The field the edit writes.
    pub fn field(&self) -> &str {
        match self {
            Edit::Set { field, .. }
            | Edit::Add { field, .. }
            | Edit::Remove { field, .. }
            | Edit::Put { field, .. }
            | Edit::Unset { field, .. }
            | Edit::Increment { field, .. } => field,
        }
    }
}

/// A set's elements in their one canonical form: sorted by encoding, without repeats.
fn set_elements<T: Into<Value>>(elements: impl IntoIterator<Item = T>) -> Vec<Value> {
    let mut values: Vec<Value> = elements.into_iter().map(Into::into).collect();
    crate::cbor::canonical_set(&mut values);
    values
}

/// One row change in an op's batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new row. Local writes fill in the fields the schema gives defaults; an op from a peer
    /// carries every field its author set.
    Insert {
        /// The collection.
        collection: String,
        /// The fields' initial values, by name (optional, set, list, map and counter fields may
        /// be left out: they start null, empty or at zero).
        fields: Vec<(String, Value)>,
    },
    /// Edits to an existing row.
    Update {
        /// The row's collection.
        collection: String,
        /// The row.
        row: RowId,
        /// The edits, applied in order.
        edits: Vec<Edit>,
    },
    /// Deletes a row (and, with it, the rows nested in it). A delete wins over concurrent
    /// updates.
    Delete {
        /// The row's collection.
        collection: String,
        /// The row.
        row: RowId,
    },
}

impl Change {
    /// The collection the change names.
    pub fn collection(&self) -> &str {
        match self {
            Change::Insert { collection, .. }
            | Change::Update { collection, .. }
            | Change::Delete { collection, .. } => collection,
        }
    }
}

/// What an op carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// The first op of a database. The nonce keeps two databases with the same founder and
    /// schema apart.
    Genesis {
        /// 16 random bytes.
        nonce: [u8; 16],
    },
    /// A batch of row changes, applied atomically.
    Changes(Vec<Change>),
}

/// An op's attestations, one per change. The first (as most ops make one change) and its
/// first witness are held inline. Ingest decodes ops on one thread and stores them on another;
/// with the attestation's three heap blocks gone, rule-checked ingest went from 0.88-0.90x to
/// 0.92-0.94x of the same ops under `if true` rules (runtime/benches/state.rs). The same for an
/// op's parents, change list and collection names measured no change, so they stay `Vec`s and
/// `String`s.
pub type Attestations = SmallVec<[Attestation; 1]>;

/// The rows that witnessed one change's rule, the first inline (see [`Attestations`]).
pub type Witnesses = SmallVec<[Witness; 1]>;

/// A row version a rule relied on: the row and the op that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness {
    /// The row's collection (held inline up to 23 bytes).
    pub collection: SmolStr,
    /// The row.
    pub row: RowId,
    /// The op that last wrote what rules read of it (see docs/SPEC.md §2.4, step 9).
    pub version: OpHash,
}

/// What an op's author saw that made a rule hold: the rule (by its index in the collection's
/// rules) and the witnessing rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The change's index in the op.
    pub change: u32,
    /// The rule's index among the rules of the change's collection.
    pub rule: u32,
    /// The rows the rule's `exists` found.
    pub witnesses: Witnesses,
}

/// An op as decoded, not yet verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// `None` only in a genesis op, whose hash becomes the database id.
    pub database: Option<DatabaseId>,
    /// The hash of the schema the op was written under.
    pub schema: [u8; 32],
    /// Who signed it.
    pub author: Identity,
    /// The author's sequence number: 1, 2, 3, … along the author's chain.
    pub seq: u64,
    /// The ops it was written on top of: sorted, without duplicates, the author's previous op
    /// among them.
    pub parents: Vec<OpHash>,
    /// 1 + the greatest depth of its parents (1 for the genesis).
    pub depth: u64,
    /// The genesis, or a batch of changes.
    pub payload: Payload,
    /// For each change, the rule its author relied on and the rows that witnessed it.
    pub attestations: Attestations,
    /// The author's signature over the hash.
    pub signature: Signature,
}

/// An op whose hash and signature have been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedOp {
    op: Op,
    hash: OpHash,
    bytes: Vec<u8>,
}

impl VerifiedOp {
    /// The op.
    pub fn op(&self) -> &Op {
        &self.op
    }

    /// Its hash (the suite's hash of everything but the signature).
    pub fn hash(&self) -> OpHash {
        self.hash
    }

    /// The canonical encoding, exactly as stored and sent.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The op, its hash and its bytes.
    pub fn into_parts(self) -> (Op, OpHash, Vec<u8>) {
        (self.op, self.hash, self.bytes)
    }
}

fn structure(part: &'static str, reason: impl Into<String>) -> OpDecodeError {
    OpDecodeError::Structure { part, reason: reason.into() }
}

impl Op {
    /// The encoding of the nine items the hash covers (everything but the signature).
    pub fn unsigned_encoding(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.array(9);
        self.write_unsigned_items(&mut writer);
        writer.bytes
    }

    /// The full canonical encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut writer = Writer::new();
        writer.array(10);
        self.write_unsigned_items(&mut writer);
        writer.bytes(&self.signature);
        writer.bytes
    }

    fn write_unsigned_items(&self, writer: &mut Writer) {
        writer.unsigned(FORMAT_VERSION);
        match &self.database {
            Some(database) => writer.bytes(&database.0),
            None => writer.null(),
        };
        writer.bytes(&self.schema).bytes(&self.author.0).unsigned(self.seq);
        writer.array(self.parents.len());
        for parent in &self.parents {
            writer.bytes(&parent.0);
        }
        writer.unsigned(self.depth);
        write_payload(writer, &self.payload);
        writer.array(self.attestations.len());
        for attestation in &self.attestations {
            writer.array(3).unsigned(attestation.change.into()).unsigned(attestation.rule.into());
            writer.array(attestation.witnesses.len());
            for witness in &attestation.witnesses {
                writer.array(3).text(&witness.collection).bytes(&witness.row.0).bytes(&witness.version.0);
            }
        }
    }

    /// The hash the suite gives this op.
    pub fn hash(&self, suite: &dyn CryptoSuite) -> OpHash {
        OpHash(suite.hash(&self.unsigned_encoding()))
    }

    /// Signs the op in place and returns the verified result.
    pub fn sign(mut self, suite: &dyn CryptoSuite, secret: &SecretKey) -> VerifiedOp {
        let hash = self.hash(suite);
        self.signature = suite.sign(secret, &signed_message(&hash));
        let bytes = self.encode();
        VerifiedOp { op: self, hash, bytes }
    }

    /// The op with a signature made over its hash elsewhere (see `replica::signing`).
    pub(crate) fn into_signed(mut self, hash: OpHash, signature: [u8; 64]) -> VerifiedOp {
        self.signature = signature;
        let bytes = self.encode();
        VerifiedOp { op: self, hash, bytes }
    }

    /// Decodes an op, accepting only its canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Op, OpDecodeError> {
        let op = Op::decode_structure(bytes)?;
        cbor::require_canonical(bytes, &op.encode())?;
        Ok(op)
    }

    /// Decodes an op without checking that the bytes are canonical: for bytes the log stored
    /// after [`Op::decode`] accepted them.
    pub(crate) fn decode_stored(bytes: &[u8]) -> Result<Op, OpDecodeError> {
        Op::decode_structure(bytes)
    }

    fn decode_structure(bytes: &[u8]) -> Result<Op, OpDecodeError> {
        let mut reader = Reader::new(bytes);
        let arity = reader.array()?;
        if arity != 10 {
            return Err(OpDecodeError::Arity(arity));
        }
        let version = reader.unsigned()?;
        if version != FORMAT_VERSION {
            return Err(OpDecodeError::Version(version));
        }
        let database = if reader.null()? { None } else { Some(DatabaseId(reader.fixed_bytes()?)) };
        let schema = reader.fixed_bytes()?;
        let author = Identity(reader.fixed_bytes()?);
        let seq = reader.unsigned()?;
        let parent_count = reader.array()?;
        let mut parents = Vec::with_capacity(parent_count.min(64));
        for _ in 0..parent_count {
            parents.push(OpHash(reader.fixed_bytes()?));
        }
        if parents.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err(structure("parents", "not sorted ascending without duplicates"));
        }
        let depth = reader.unsigned()?;
        let payload = read_payload(&mut reader)?;
        let attestation_count = reader.array()?;
        let mut attestations = Attestations::new();
        for _ in 0..attestation_count {
            if reader.array()? != 3 {
                return Err(structure("attestation", "expected [change, rule, witnesses]"));
            }
            let change =
                u32::try_from(reader.unsigned()?).map_err(|_| structure("attestation", "change index too large"))?;
            let rule =
                u32::try_from(reader.unsigned()?).map_err(|_| structure("attestation", "rule index too large"))?;
            let witness_count = reader.array()?;
            let mut witnesses = Witnesses::new();
            for _ in 0..witness_count {
                if reader.array()? != 3 {
                    return Err(structure("witness", "expected [collection, row, version]"));
                }
                witnesses.push(Witness {
                    collection: reader.text()?.into(),
                    row: RowId(reader.fixed_bytes()?),
                    version: OpHash(reader.fixed_bytes()?),
                });
            }
            attestations.push(Attestation { change, rule, witnesses });
        }
        let signature = reader.fixed_bytes::<64>()?;
        reader.finish()?;
        Ok(Op { database, schema, author, seq, parents, depth, payload, attestations, signature })
    }
}

/// The hash of a decoded op, taken from its canonical bytes without encoding it again: the
/// unsigned encoding is the same array with nine items instead of ten and without the final
/// signature (a 64-byte string: 2 bytes of head, 64 of content).
fn hash_of_canonical(suite: &dyn CryptoSuite, op: &Op, bytes: &[u8]) -> OpHash {
    const SIGNATURE_ITEM: usize = 2 + 64;
    match bytes.split_first() {
        Some((0x8a, rest)) if rest.len() > SIGNATURE_ITEM => {
            let mut unsigned = Vec::with_capacity(bytes.len() - SIGNATURE_ITEM);
            unsigned.push(0x89);
            unsigned.extend_from_slice(&rest[..rest.len() - SIGNATURE_ITEM]);
            OpHash(suite.hash(&unsigned))
        }
        // Not the shape `Op::decode` accepts; hash the re-encoding instead.
        _ => op.hash(suite),
    }
}

/// Fails with the first size limit an op exceeds, if any: parents, changes, or the length of
/// any string or byte string it holds (names, keys and values alike). Checked right after
/// decoding, before any other work is done for the op.
pub fn check_size(op: &Op, limits: &Limits) -> Result<(), LimitError> {
    if op.parents.len() > limits.max_parents {
        return Err(LimitError::Parents { count: op.parents.len(), limit: limits.max_parents });
    }
    let too_long = |text: &str| text.len() > limits.max_value_bytes;
    fn value_too_long(value: &Value, limit: usize) -> bool {
        match value {
            Value::Text(text) => text.len() > limit,
            Value::Bytes(bytes) => bytes.len() > limit,
            Value::Array(items) => items.iter().any(|item| value_too_long(item, limit)),
            Value::Map(entries) => entries.iter().any(|(key, entry)| key.len() > limit || value_too_long(entry, limit)),
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => false,
        }
    }
    let limit = limits.max_value_bytes;
    if let Payload::Changes(changes) = &op.payload {
        if changes.len() > limits.max_changes {
            return Err(LimitError::Changes { count: changes.len(), limit: limits.max_changes });
        }
        for change in changes {
            let oversized = too_long(change.collection())
                || match change {
                    Change::Insert { fields, .. } => {
                        fields.iter().any(|(name, value)| too_long(name) || value_too_long(value, limit))
                    }
                    Change::Update { edits, .. } => edits.iter().any(|edit| {
                        too_long(edit.field())
                            || match edit {
                                Edit::Set { value, .. } => value_too_long(value, limit),
                                Edit::Add { elements, .. } | Edit::Remove { elements, .. } => {
                                    elements.iter().any(|element| value_too_long(element, limit))
                                }
                                Edit::Put { key, value, .. } => too_long(key) || value_too_long(value, limit),
                                Edit::Unset { key, .. } => too_long(key),
                                Edit::Increment { .. } => false,
                            }
                    }),
                    Change::Delete { .. } => false,
                };
            if oversized {
                return Err(LimitError::Value { limit });
            }
        }
    }
    let witness_too_long = op
        .attestations
        .iter()
        .flat_map(|attestation| &attestation.witnesses)
        .any(|witness| too_long(&witness.collection));
    if witness_too_long {
        return Err(LimitError::WitnessCollection { limit });
    }
    Ok(())
}

pub(crate) fn signed_message(hash: &OpHash) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 32);
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.extend_from_slice(&hash.0);
    message
}

/// The id of the row inserted by the `index`-th change of the op `op`.
pub fn row_id(suite: &dyn CryptoSuite, op: &OpHash, index: u32) -> RowId {
    let mut input = Vec::with_capacity(4 + 32 + 4);
    input.extend_from_slice(b"row\0");
    input.extend_from_slice(&op.0);
    input.extend_from_slice(&index.to_be_bytes());
    RowId(suite.hash(&input))
}

/// Verifies decoded ops' signatures (in one batch) and pairs each with its hash and bytes.
/// The hash is computed here, from the canonical bytes, so it cannot be wrong; an op "with a
/// wrong hash" is an op whose signature does not match its content.
pub fn verify(suite: &dyn CryptoSuite, ops: Vec<(Op, Vec<u8>)>) -> Vec<Result<VerifiedOp, VerifyError>> {
    let hashes: Vec<OpHash> = ops.iter().map(|(op, bytes)| hash_of_canonical(suite, op, bytes)).collect();
    let messages: Vec<Vec<u8>> = hashes.iter().map(signed_message).collect();
    let items: Vec<SignedMessage> = ops
        .iter()
        .zip(&messages)
        .map(|((op, _), message)| SignedMessage { signer: &op.author, message, signature: &op.signature })
        .collect();
    let valid = suite.verify_batch(&items);
    drop(items);
    ops.into_iter()
        .zip(hashes)
        .zip(valid)
        .map(|(((op, bytes), hash), valid)| {
            // A blank signature marks a local op not yet signed (see `replica::deferred`); one
            // that verifies (a small-order key, for which any message verifies) is refused.
            if valid && op.signature != BLANK_SIGNATURE {
                Ok(VerifiedOp { op, hash, bytes })
            } else {
                Err(VerifyError::BadSignature { author: op.author })
            }
        })
        .collect()
}

fn write_payload(writer: &mut Writer, payload: &Payload) {
    match payload {
        Payload::Genesis { nonce } => {
            writer.array(2).text("genesis").bytes(nonce);
        }
        Payload::Changes(changes) => {
            writer.array(2).text("changes").array(changes.len());
            for change in changes {
                match change {
                    Change::Insert { collection, fields } => {
                        writer.array(3).text("insert").text(collection);
                        writer.value(&Value::Map(fields.clone()));
                    }
                    Change::Update { collection, row, edits } => {
                        writer.array(4).text("update").text(collection).bytes(&row.0).array(edits.len());
                        for edit in edits {
                            write_edit(writer, edit);
                        }
                    }
                    Change::Delete { collection, row } => {
                        writer.array(3).text("delete").text(collection).bytes(&row.0);
                    }
                }
            }
        }
    }
}

fn write_edit(writer: &mut Writer, edit: &Edit) {
    match edit {
        Edit::Set { field, value } => writer.array(3).text("set").text(field).value(value),
        Edit::Add { field, elements } => writer.array(3).text("add").text(field).value(&Value::Array(elements.clone())),
        Edit::Remove { field, elements } => {
            writer.array(3).text("remove").text(field).value(&Value::Array(elements.clone()))
        }
        Edit::Put { field, key, value } => writer.array(4).text("put").text(field).text(key).value(value),
        Edit::Unset { field, key } => writer.array(3).text("unset").text(field).text(key),
        Edit::Increment { field, amount } => writer.array(3).text("increment").text(field).int(*amount),
    };
}

fn read_payload(reader: &mut Reader) -> Result<Payload, OpDecodeError> {
    if reader.array()? != 2 {
        return Err(structure("payload", "expected [kind, content]"));
    }
    match reader.text()? {
        "genesis" => Ok(Payload::Genesis { nonce: reader.fixed_bytes()? }),
        "changes" => {
            let count = reader.array()?;
            let mut changes = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                changes.push(read_change(reader)?);
            }
            Ok(Payload::Changes(changes))
        }
        other => Err(structure("payload", format!("unknown kind `{other}`"))),
    }
}

fn read_change(reader: &mut Reader) -> Result<Change, OpDecodeError> {
    let arity = reader.array()?;
    let kind = reader.text()?;
    let collection = reader.text()?.to_owned();
    match (kind, arity) {
        // An insert's fields sit inside the op, its payload, the change list and the change.
        ("insert", 3) => match reader.value(4)? {
            Value::Map(fields) => Ok(Change::Insert { collection, fields }),
            _ => Err(structure("insert", "fields must be a map")),
        },
        ("update", 4) => {
            let row = RowId(reader.fixed_bytes()?);
            let count = reader.array()?;
            let mut edits = Vec::with_capacity(count.min(1024));
            for _ in 0..count {
                edits.push(read_edit(reader)?);
            }
            Ok(Change::Update { collection, row, edits })
        }
        ("delete", 3) => Ok(Change::Delete { collection, row: RowId(reader.fixed_bytes()?) }),
        (kind, arity) => Err(structure("change", format!("unknown change `{kind}` with {arity} items"))),
    }
}

fn read_edit(reader: &mut Reader) -> Result<Edit, OpDecodeError> {
    let arity = reader.array()?;
    let kind = reader.text()?;
    let field = reader.text()?.to_owned();
    // An edit's values sit inside the op, payload, change list, change, edit list and edit.
    const EDIT_DEPTH: usize = 6;
    let elements = |reader: &mut Reader| match reader.value(EDIT_DEPTH)? {
        Value::Array(elements) => Ok(elements),
        _ => Err(structure("edit", "elements must be an array")),
    };
    match (kind, arity) {
        ("set", 3) => Ok(Edit::Set { field, value: reader.value(EDIT_DEPTH)? }),
        ("add", 3) => Ok(Edit::Add { field, elements: elements(reader)? }),
        ("remove", 3) => Ok(Edit::Remove { field, elements: elements(reader)? }),
        ("put", 4) => Ok(Edit::Put { field, key: reader.text()?.to_owned(), value: reader.value(EDIT_DEPTH)? }),
        ("unset", 3) => Ok(Edit::Unset { field, key: reader.text()?.to_owned() }),
        ("increment", 3) => match reader.value(EDIT_DEPTH)? {
            Value::Int(amount) => Ok(Edit::Increment { field, amount }),
            _ => Err(structure("edit", "an increment is an integer")),
        },
        (kind, arity) => Err(structure("edit", format!("unknown edit `{kind}` with {arity} items"))),
    }
}
