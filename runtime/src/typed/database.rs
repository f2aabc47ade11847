//! A database handle that writes as one author, with typed inserts, reads, queries,
//! transactions and event consumers. Generated modules wrap it in a `Db` with one accessor per
//! collection; each call here is one call of the dynamic API.

use super::fields::FieldValue;
use super::Projection;
use crate::cbor::Value;
use crate::error::{OpenError, PayloadError, QueryError, RowDecodeError, StorageError, WriteError};
use crate::ids::{OpHash, RowId};
use crate::keys::Keypair;
use crate::model::event::Event;
use crate::op::{Edit, VerifiedOp};
use crate::replica::{Consumer, Explanation, Order, Query, Replica, Transaction};
use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

/// The typed id of a row of one collection ([`super::Id`]; generated modules name each:
/// `ChannelId`, …).
pub trait RowKey: Copy + From<RowId> + Into<RowId> {}

/// A new row of one collection, ready to insert (generated: `NewChannel`, …).
pub trait Insert {
    /// The collection it goes into.
    const COLLECTION: &'static str;
    /// The id of the row once inserted.
    type Id: RowKey;
    /// The `check` constraints, compiled: the first field whose check fails.
    fn check(&self) -> Result<(), &'static str>;
    /// Its fields, by name, as the dynamic API takes them.
    fn into_fields(self) -> Vec<(&'static str, Value)>;
}

/// A row inserted by an earlier change of the same transaction, as the value of a `ref` field:
/// [`Ref::New`]. Its id depends on the op's hash; [`Committed::row`] gives it afterwards.
#[derive(Debug)]
pub struct New<I> {
    transaction: u64,
    change: u32,
    id: PhantomData<I>,
}

/// Numbers typed transactions, so that a [`New`] is only ever read in its own.
static TRANSACTIONS: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The typed transaction being built on this thread, if any.
    static BUILDING: Cell<u64> = const { Cell::new(0) };
}

/// A change index no op has: what a [`New`] of another transaction is written as, so that the
/// write is refused (`PayloadError::ChangeReference`) rather than pointed at the wrong row.
const FOREIGN_CHANGE: u32 = u32::MAX;

impl<I> Clone for New<I> {
    fn clone(&self) -> New<I> {
        *self
    }
}

impl<I> Copy for New<I> {}

impl<I> New<I> {
    /// The index of the change that inserts it.
    pub fn change(self) -> u32 {
        self.change
    }
}

/// The value of a `ref` field in a new row: a row that exists, or one this transaction inserts.
#[derive(Debug, Clone, Copy)]
pub enum Ref<I> {
    /// An existing row.
    Row(I),
    /// A row inserted earlier in the same transaction.
    New(New<I>),
}

impl<I> From<New<I>> for Ref<I> {
    fn from(new: New<I>) -> Ref<I> {
        Ref::New(new)
    }
}

impl<I: RowKey> FieldValue for Ref<I> {
    fn into_value(self) -> Value {
        match self {
            Ref::Row(id) => Value::from(id.into()),
            Ref::New(new) => {
                let change = if BUILDING.with(Cell::get) == new.transaction { new.change } else { FOREIGN_CHANGE };
                Value::Array(vec![Value::Int(i64::from(change))])
            }
        }
    }

    fn from_value(value: &Value) -> Result<Self, super::ValueMismatch> {
        RowId::from_value(value).map(|id| Ref::Row(I::from(id)))
    }
}

/// A transaction that was written: its op, and the rows its changes touched.
#[derive(Debug, Clone)]
pub struct Committed {
    op: VerifiedOp,
    rows: Vec<RowId>,
    transaction: u64,
}

impl Committed {
    /// The op the transaction was written as.
    pub fn op(&self) -> &VerifiedOp {
        &self.op
    }

    /// The op's hash.
    pub fn hash(&self) -> OpHash {
        self.op.hash()
    }

    /// The id of a row this transaction inserted (`None` for a [`New`] of another transaction).
    pub fn row<I: RowKey>(&self, new: New<I>) -> Option<I> {
        if new.transaction != self.transaction {
            return None;
        }
        self.rows.get(new.change as usize).map(|row| I::from(*row))
    }
}

/// The changes of one op, typed: inserts, updates and deletes that all take effect or none.
/// A new row whose compiled `check` fails is remembered, and the transaction is refused with
/// it before anything is signed.
#[derive(Debug)]
pub struct TypedTransaction {
    id: u64,
    inner: Transaction,
    changes: usize,
    failure: Option<WriteError>,
}

impl TypedTransaction {
    /// Inserts a row; returns it for the `ref` fields of later changes.
    pub fn insert<N: Insert>(&mut self, new: N) -> New<N::Id> {
        if let Err(field) = new.check() {
            self.failure.get_or_insert(WriteError::Payload(PayloadError::CheckFailed {
                change: self.changes,
                collection: N::COLLECTION.to_owned(),
                field: field.to_owned(),
            }));
        }
        let row = self.inner.insert(N::COLLECTION, new.into_fields());
        self.changes += 1;
        New { transaction: self.id, change: row.change(), id: PhantomData }
    }

    /// Edits a row of `collection`.
    pub fn update(&mut self, collection: &str, row: RowId, edits: Vec<Edit>) {
        self.inner.update(collection, row, edits);
        self.changes += 1;
    }

    /// Deletes a row of `collection` (and the rows nested in it).
    pub fn delete(&mut self, collection: &str, row: RowId) {
        self.inner.delete(collection, row);
        self.changes += 1;
    }
}

/// Where an update's edits go: written as an op of their own (through a [`Database`]), or
/// added to a transaction.
pub trait EditSink {
    /// What applying the edits returns.
    type Output;
    /// Applies edits to a row of `collection`.
    fn apply_edits(self, collection: &str, row: RowId, edits: Vec<Edit>) -> Self::Output;
}

impl EditSink for &Database {
    type Output = Result<VerifiedOp, WriteError>;

    fn apply_edits(self, collection: &str, row: RowId, edits: Vec<Edit>) -> Self::Output {
        self.update(collection, row, edits)
    }
}

impl EditSink for &mut TypedTransaction {
    type Output = ();

    fn apply_edits(self, collection: &str, row: RowId, edits: Vec<Edit>) {
        self.update(collection, row, edits);
    }
}

/// A replica and the author it writes as, for typed code: what a generated `Db` holds.
pub struct Database {
    replica: Replica,
    author: Keypair,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Database")
            .field("db", &self.replica.id())
            .field("author", &self.author.identity)
            .finish()
    }
}

impl Database {
    /// Wraps a replica for code generated from the schema with hash `schema_hash` (as
    /// `schemac hash` prints it): refused when the store holds another schema.
    pub fn new(replica: Replica, author: Keypair, schema_hash: &str) -> Result<Database, OpenError> {
        let store = format!("blake3:{}", blake3::Hash::from_bytes(replica.schema_hash()).to_hex());
        if store != schema_hash {
            return Err(OpenError::SchemaMismatch { store, code: schema_hash.to_owned() });
        }
        Ok(Database { replica, author })
    }

    /// The replica underneath: sync, export, the dynamic API.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The key writes are signed with.
    pub fn author(&self) -> &Keypair {
        &self.author
    }

    /// Inserts a row as one op.
    pub fn insert<N: Insert>(&self, new: N) -> Result<N::Id, WriteError> {
        let (committed, new) = self.transaction(|tx| tx.insert(new))?;
        committed.row(new).ok_or_else(|| WriteError::Storage(StorageError::Corrupt("an insert without its row".into())))
    }

    /// Edits a row as one op.
    pub fn update(&self, collection: &str, row: RowId, edits: Vec<Edit>) -> Result<VerifiedOp, WriteError> {
        Ok(self.transaction(|tx| tx.update(collection, row, edits))?.0.op)
    }

    /// Deletes a row as one op.
    pub fn delete(&self, collection: &str, row: RowId) -> Result<VerifiedOp, WriteError> {
        Ok(self.transaction(|tx| tx.delete(collection, row))?.0.op)
    }

    /// A visible row, read as `P`.
    pub fn get<P: Projection>(&self, row: RowId) -> Result<Option<P>, QueryError> {
        self.replica.get_as(&row)
    }

    /// A query over the visible rows of `P`'s collection.
    pub fn query<P: Projection>(&self) -> TypedQuery<'_, P> {
        self.replica.query_as()
    }

    /// Writes the changes `build` makes as one op; returns it with what `build` returned.
    pub fn transaction<T>(&self, build: impl FnOnce(&mut TypedTransaction) -> T) -> Result<(Committed, T), WriteError> {
        let id = TRANSACTIONS.fetch_add(1, Ordering::Relaxed);
        let mut transaction = TypedTransaction { id, inner: Transaction::default(), changes: 0, failure: None };
        let outer = BUILDING.with(|building| building.replace(id));
        let result = build(&mut transaction);
        BUILDING.with(|building| building.set(outer));
        if let Some(failure) = transaction.failure {
            return Err(failure);
        }
        let op = self.replica.write(&self.author, transaction.inner.into_changes())?;
        let rows = self.replica.touched_rows(&op);
        Ok((Committed { op, rows, transaction: id }, result))
    }

    /// Why an op is or is not effective.
    pub fn explain(&self, op: &OpHash) -> Result<Option<Explanation>, StorageError> {
        self.replica.explain(op)
    }

    /// Up to `limit` events after event number `after`, typed, with their numbers.
    pub fn events_after<E: TypedEvent>(&self, after: u64, limit: usize) -> Result<Vec<(u64, E)>, QueryError> {
        let events = self.replica.events_after(after, limit)?;
        Ok(events
            .into_iter()
            .map(|event| Ok((event.seq, E::from_event(event)?)))
            .collect::<Result<_, RowDecodeError>>()?)
    }

    /// A named, durable reader of the event stream, typed (see [`Consumer`]).
    pub fn consumer<E: TypedEvent>(&self, name: &str) -> Result<TypedConsumer<'_, E>, StorageError> {
        Ok(TypedConsumer { inner: self.replica.consumer(name)?, events: PhantomData })
    }
}

/// A query over the rows of one collection, read as `P`.
#[derive(Debug, Clone)]
pub struct TypedQuery<'r, P> {
    query: Query<'r>,
    rows: PhantomData<P>,
}

impl<'r, P: Projection> TypedQuery<'r, P> {
    /// Reads the rows of a dynamic query as `P`.
    pub fn new(query: Query<'r>) -> TypedQuery<'r, P> {
        TypedQuery { query, rows: PhantomData }
    }

    /// Keeps the rows whose `field` equals `value`.
    pub fn filter(mut self, field: &str, value: impl FieldValue) -> Self {
        self.query = self.query.filter(field, value.into_value());
        self
    }

    /// Returns the rows in this order (the default is [`Order::Inserted`]).
    pub fn order(mut self, order: Order) -> Self {
        self.query = self.query.order(order);
        self
    }

    /// Returns at most `limit` rows.
    pub fn limit(mut self, limit: usize) -> Self {
        self.query = self.query.limit(limit);
        self
    }

    /// The matching rows, in order.
    pub fn rows(&self) -> Result<Vec<P>, QueryError> {
        if P::FIELDS.is_empty() {
            let rows = self.query.rows()?;
            return Ok(rows.into_iter().map(P::from_owned_row).collect::<Result<_, _>>()?);
        }
        // Values carry no collection: the query's must be the projection's.
        super::same_collection(self.query.collection(), P::COLLECTION)?;
        let rows = self.query.values(P::FIELDS)?;
        Ok(rows.into_iter().map(|(id, values)| P::from_values(id, values)).collect::<Result<_, _>>()?)
    }

    /// The first matching row, in order.
    pub fn first(&self) -> Result<Option<P>, QueryError> {
        Ok(TypedQuery::<P>::new(self.query.clone().limit(1)).rows()?.into_iter().next())
    }

    /// How many rows match.
    pub fn count(&self) -> Result<usize, QueryError> {
        self.query.count()
    }
}

/// An event of the stream, typed (generated: each schema's `Event` enum).
pub trait TypedEvent: Sized {
    /// Reads an event of the stream.
    fn from_event(event: Event) -> Result<Self, RowDecodeError>;
}

/// A named, durable reader of the event stream that reads typed events (see [`Consumer`]).
pub struct TypedConsumer<'r, E> {
    inner: Consumer<'r>,
    events: PhantomData<E>,
}

impl<E: TypedEvent> TypedConsumer<'_, E> {
    /// The last event this consumer committed.
    pub fn checkpoint(&self) -> u64 {
        self.inner.checkpoint()
    }

    /// Up to `limit` events after the checkpoint, with their numbers; does not advance it.
    pub fn poll(&self, limit: usize) -> Result<Vec<(u64, E)>, QueryError> {
        let events = self.inner.poll(limit)?;
        Ok(events
            .into_iter()
            .map(|event| Ok((event.seq, E::from_event(event)?)))
            .collect::<Result<_, RowDecodeError>>()?)
    }

    /// Durably records that every event up to `seq` is processed.
    pub fn commit(&mut self, seq: u64) -> Result<(), StorageError> {
        self.inner.commit(seq)
    }
}
