//! Reading the state: a row by id, queries (filters, an order, a limit), the state digest, and
//! whether an op is effective. Reads see the materialized rows through a read transaction, so
//! they never wait for a writer.

use super::Replica;
use crate::cbor::Value;
use crate::dag::Causality;
use crate::error::{suggest, QueryError, StorageError};
use crate::ids::{OpHash, RowId, StateDigest};
use crate::model::digest::Digest;
use crate::model::row::RowState;
use crate::model::world::{visible_row, World};
use crate::plan::{Plan, Probe, Use};
use crate::store::{self, ReadTables, RowNumber};
use schemac::ir;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::rc::Rc;

/// A visible row, as reads return it. `row["field"]` is the field's value (`Null` for a field
/// the collection does not have).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row's id.
    pub id: RowId,
    /// The collection it belongs to.
    pub collection: String,
    /// Every field's current value, by name (see [`Value`] for how each type is held).
    pub fields: BTreeMap<String, Value>,
}

impl Row {
    /// A field's value, if the collection has that field.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }
}

impl std::ops::Index<&str> for Row {
    type Output = Value;

    fn index(&self, field: &str) -> &Value {
        const MISSING: &Value = &Value::Null;
        self.fields.get(field).unwrap_or(MISSING)
    }
}

/// The order a query returns rows in.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Order {
    /// The order the inserts happened in, causally: by the depth of the inserting op in the
    /// DAG, then its hash, then the insert's place in the op. The same on every replica; an
    /// insert made after seeing another comes after it. The default.
    #[default]
    Inserted,
    /// By row id: arbitrary but stable, and the cheapest.
    Id,
    /// By a field's value (nulls first; then numbers, text and bytes in their natural order),
    /// ties in insertion order.
    Field {
        /// The field.
        name: String,
        /// Greatest first.
        descending: bool,
    },
}

impl Order {
    /// By a field's value, least first.
    pub fn by(field: &str) -> Order {
        Order::Field { name: field.to_owned(), descending: false }
    }

    /// By a field's value, greatest first.
    pub fn by_descending(field: &str) -> Order {
        Order::Field { name: field.to_owned(), descending: true }
    }
}

/// A query over one collection's visible rows: equality filters, an [`Order`] and a limit.
/// Made by [`Replica::query`].
///
/// A filter on a field the query index holds (declared `indexed`, or not readonly and compared
/// by equality in a rule's `exists`) is looked up there; without one, the collection is scanned. The other filters are
/// checked on each candidate row.
#[derive(Debug, Clone)]
pub struct Query<'r> {
    replica: &'r Replica,
    collection: String,
    filters: Vec<(String, Value)>,
    order: Order,
    limit: Option<usize>,
}

impl Query<'_> {
    /// Keeps the rows whose `field` equals `value`.
    pub fn filter(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.filters.push((field.to_owned(), value.into()));
        self
    }

    /// Returns the rows in this order (the default is [`Order::Inserted`]).
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// Returns at most `limit` rows.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The matching rows, in order.
    pub fn rows(&self) -> Result<Vec<Row>, QueryError> {
        self.replica.run(self)
    }

    /// The matching rows, in order, each as its id and the values of `fields` in that order
    /// (typed queries: [`crate::typed::TypedQuery`]).
    pub(crate) fn values(&self, fields: &[&str]) -> Result<Vec<(RowId, Vec<Value>)>, QueryError> {
        self.replica.run_values(self, fields)
    }

    /// The first matching row, in order.
    pub fn first(&self) -> Result<Option<Row>, QueryError> {
        Ok(self.clone().limit(1).rows()?.into_iter().next())
    }

    /// How many rows match.
    pub fn count(&self) -> Result<usize, QueryError> {
        Ok(self.replica.find(&self.clone().order(Order::Id))?.len())
    }

    /// The collection it reads.
    pub(crate) fn collection(&self) -> &str {
        &self.collection
    }
}

/// The materialized state, as a read transaction sees it.
struct Materialized<'t> {
    tables: &'t ReadTables<'t>,
    plan: &'t Plan,
}

impl World for Materialized<'_> {
    /// Materialized rows fold every effective writer: exact for every use.
    fn row(&self, id: &RowId, _: Use) -> Result<Option<Rc<RowState>>, StorageError> {
        Ok(store::read_record(&self.tables.rows, &self.tables.row_ids, id)?.and_then(|(_, row)| row).map(Rc::new))
    }

    fn scan(
        &self,
        collection: &str,
        probe: &Probe,
        visit: &mut dyn FnMut(RowId) -> Result<bool, StorageError>,
    ) -> Result<(), StorageError> {
        let lookup = self.plan.lookup(collection, probe, true);
        store::visit_lookup(&self.tables.row_index, &self.tables.field_index, &lookup, visit)
    }
}

impl Replica {
    /// One visible row of a collection; `None` if no such row is visible (never inserted,
    /// deleted, rolled back, or a row of another collection).
    pub fn get(&self, collection: &str, id: &RowId) -> Result<Option<Row>, QueryError> {
        self.collection(collection)?;
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        let row = visible_row(&world, id, Use::Bound)?.filter(|row| row.collection == collection);
        Ok(row.map(|row| Row { id: *id, collection: row.collection.clone(), fields: row.values() }))
    }

    /// A query over a collection's visible rows; see [`Query`].
    pub fn query(&self, collection: &str) -> Query<'_> {
        Query {
            replica: self,
            collection: collection.to_owned(),
            filters: Vec::new(),
            order: Order::default(),
            limit: None,
        }
    }

    /// The visible rows of a collection whose fields equal the given values (all rows with no
    /// filter), in the order their inserts happened ([`Order::Inserted`]). Shorthand for a
    /// [`Query`].
    pub fn rows(&self, collection: &str, filter: &[(String, Value)]) -> Result<Vec<Row>, QueryError> {
        let query =
            filter.iter().fold(self.query(collection), |query, (name, value)| query.filter(name, value.clone()));
        query.rows()
    }

    fn collection(&self, name: &str) -> Result<&ir::Collection, QueryError> {
        self.schema().collections.get(name).ok_or_else(|| QueryError::UnknownCollection {
            collection: name.to_owned(),
            suggestion: suggest(name, self.schema().collections.keys()),
        })
    }

    fn run(&self, query: &Query) -> Result<Vec<Row>, QueryError> {
        let found = self.find(query)?;
        Ok(found
            .into_iter()
            .map(|(id, row)| Row { id, collection: query.collection.clone(), fields: row.values() })
            .collect())
    }

    /// The matching rows, in order, each as its id and the values of `fields` in that order:
    /// what typed reads take, without building a map of every field by name for each row.
    pub(crate) fn run_values(&self, query: &Query, fields: &[&str]) -> Result<Vec<(RowId, Vec<Value>)>, QueryError> {
        let found = self.find(query)?;
        Ok(found.into_iter().map(|(id, row)| (id, fields.iter().map(|name| row.field(name)).collect())).collect())
    }

    /// The visible rows a query keeps, in its order and within its limit.
    fn find(&self, query: &Query) -> Result<Vec<(RowId, Rc<RowState>)>, QueryError> {
        let definition = self.collection(&query.collection)?;
        let order_field = match &query.order {
            Order::Field { name, .. } => Some(name),
            Order::Inserted | Order::Id => None,
        };
        for name in query.filters.iter().map(|(name, _)| name).chain(order_field) {
            if definition.field(name).is_none() {
                return Err(QueryError::UnknownField {
                    collection: query.collection.clone(),
                    field: name.clone(),
                    suggestion: suggest(name, definition.fields.iter().map(|field| &field.name)),
                });
            }
        }
        let collection = query.collection.as_str();
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        let probe = match query.filters.iter().find(|(name, _)| self.plan.is_queryable(collection, name)) {
            Some(indexed) => Probe::Equal(vec![indexed.clone()]),
            None => Probe::All,
        };
        let mut found = Vec::new();
        world.scan(collection, &probe, &mut |id| {
            if let Some(row) = visible_row(&world, &id, Use::Bound)?.filter(|row| row.collection == collection) {
                if query.filters.iter().all(|(name, value)| row.field_equals(name, value)) {
                    found.push((id, row));
                }
            }
            Ok(false)
        })?;
        match &query.order {
            Order::Id => found.sort_by_key(|(id, _)| *id),
            Order::Inserted => sort_by_insertion(&tables, &mut found, None)?,
            Order::Field { name, descending } => sort_by_insertion(&tables, &mut found, Some((name, *descending)))?,
        }
        if let Some(limit) = query.limit {
            found.truncate(limit);
        }
        Ok(found)
    }

    /// A hash of the visible state, equal on every replica that holds the same ops
    /// (docs/SPEC.md §3).
    pub fn digest(&self) -> Result<StateDigest, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        let mut digest = Digest::default();
        store::for_each_row_id(&tables.rows, &tables.row_ids, &mut |id| {
            if let Some(row) = visible_row(&world, &id, Use::Bound)? {
                digest.add(&id, &row);
            }
            Ok(())
        })?;
        Ok(StateDigest(digest.finish()))
    }

    /// Whether an op is effective now; `None` if the log does not hold it.
    pub fn is_effective(&self, op: &OpHash) -> Result<Option<bool>, StorageError> {
        let transaction = self.begin_read()?;
        let tables = ReadTables::open(&transaction, &self.recent)?;
        let Some(local) = tables.local_of(op)? else { return Ok(None) };
        if *op == OpHash(self.id.0) {
            return Ok(Some(true));
        }
        Ok(Some(tables.ineffective.get(local)?.is_none()))
    }
}

/// Sorts rows by a field's value (greatest first when `descending`), if one is given, then in
/// the order their inserts happened: (depth, op hash, change index) of the inserting op, the
/// same on every replica.
fn sort_by_insertion(
    tables: &ReadTables,
    rows: &mut Vec<(RowId, Rc<RowState>)>,
    by_field: Option<(&str, bool)>,
) -> Result<(), StorageError> {
    let mut keyed = Vec::with_capacity(rows.len());
    for (id, row) in rows.drain(..) {
        let number = store::row_number(&tables.rows, &tables.row_ids, &id)?
            .ok_or_else(|| StorageError::Corrupt(format!("row {id} has no record")))?;
        let inserter = tables
            .info(number.inserter())?
            .ok_or_else(|| StorageError::Corrupt(format!("the op that inserted row {id} is missing")))?;
        let RowNumber(number) = number;
        // Read once per row, not once per comparison.
        let field = by_field.map(|(name, _)| row.field(name));
        keyed.push(((field, (inserter.depth, inserter.hash, number & 0xffff)), (id, row)));
    }
    let descending = by_field.is_some_and(|(_, descending)| descending);
    keyed.sort_by(|((left_field, left_key), _), ((right_field, right_key), _)| {
        let by_field = match (left_field, right_field) {
            (Some(left), Some(right)) if descending => compare_values(left, right).reverse(),
            (Some(left), Some(right)) => compare_values(left, right),
            _ => Ordering::Equal,
        };
        by_field.then(left_key.cmp(right_key))
    });
    rows.extend(keyed.into_iter().map(|(_, row)| row));
    Ok(())
}

/// A total order on field values: null first, then booleans, numbers, text, bytes, arrays and
/// maps, each in its natural order (floats by `total_cmp`).
fn compare_values(left: &Value, right: &Value) -> Ordering {
    fn rank(value: &Value) -> u8 {
        match value {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Int(_) | Value::Float(_) => 2,
            Value::Text(_) => 3,
            Value::Bytes(_) => 4,
            Value::Array(_) => 5,
            Value::Map(_) => 6,
        }
    }
    match (left, right) {
        (Value::Bool(left), Value::Bool(right)) => left.cmp(right),
        (Value::Int(left), Value::Int(right)) => left.cmp(right),
        (Value::Float(left), Value::Float(right)) => left.total_cmp(right),
        (Value::Int(left), Value::Float(right)) => (*left as f64).total_cmp(right),
        (Value::Float(left), Value::Int(right)) => left.total_cmp(&(*right as f64)),
        (Value::Text(left), Value::Text(right)) => left.cmp(right),
        (Value::Bytes(left), Value::Bytes(right)) => left.cmp(right),
        (Value::Array(left), Value::Array(right)) => left
            .iter()
            .zip(right)
            .map(|(left, right)| compare_values(left, right))
            .find(|ordering| ordering.is_ne())
            .unwrap_or_else(|| left.len().cmp(&right.len())),
        _ => rank(left).cmp(&rank(right)).then_with(|| left.encode().cmp(&right.encode())),
    }
}
