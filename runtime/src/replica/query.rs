//! Reading the state: rows by id, scans filtered by field values, the state digest, and why an
//! op is or is not effective.

use super::Replica;
use crate::cbor::Value;
use crate::dag::Causality;
use crate::engine::Engine;
use crate::error::{Denial, StorageError};
use crate::ids::{Identity, OpHash, RowId, StateDigest};
use crate::model::digest::Digest;
use crate::model::row::{FieldValues, Row};
use crate::model::rules::Verdict;
use crate::model::world::{visible_row, World};
use crate::op::Attestation;
use crate::plan::{Plan, Probe, Use};
use crate::store::{self, InfoLookup, ReadTables, WriteTables};
use redb::ReadableTable;
use std::collections::BTreeMap;
use std::rc::Rc;

/// Why an op is or is not effective (see [`Replica::explain`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub op: OpHash,
    pub author: Identity,
    pub effective: bool,
    /// Whether the author signed another op with a sequence number at or before this one's.
    pub equivocated: bool,
    /// Judged in everything this replica holds except the op and its future: for each change,
    /// the rule that allows it and the rows that witnessed it.
    pub allowed_by: Vec<Attestation>,
    /// Or the first change that no rule allows there, with the failing rules and clauses.
    pub denial: Option<Denial>,
    /// The concurrent ops that defeated it, with their authors: each op whose absence (with its
    /// future) would let the rules hold; all concurrent ops if no single one would.
    pub defeated_by: Vec<(OpHash, Identity)>,
}

/// The materialized state, as a read transaction sees it.
struct Materialized<'t> {
    tables: &'t ReadTables,
    plan: &'t Plan,
}

impl World for Materialized<'_> {
    /// Materialized rows fold every effective writer: exact for every use.
    fn row(&self, id: &RowId, _: Use) -> Result<Option<Rc<Row>>, StorageError> {
        Ok(store::read_record(&self.tables.rows, id)?.and_then(|(_, row)| row).map(Rc::new))
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
    /// One visible row of a collection: its field values.
    pub fn get(&self, collection: &str, id: &RowId) -> Result<Option<BTreeMap<String, Value>>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        Ok(visible_row(&world, id, Use::Bound)?.filter(|row| row.collection == collection).map(|row| row.values()))
    }

    /// The visible rows of a collection whose fields equal the given values (all rows with no
    /// filter), in id order. A filter on a scalar field is looked up in its index; other
    /// filters are checked on each row.
    pub fn rows(
        &self,
        collection: &str,
        filter: &[(String, Value)],
    ) -> Result<Vec<(RowId, FieldValues)>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        let probe = match filter.iter().find(|(name, _)| self.plan.is_queryable(collection, name)) {
            Some(indexed) => Probe::Equal(vec![indexed.clone()]),
            None => Probe::All,
        };
        let mut found = Vec::new();
        world.scan(collection, &probe, &mut |id| {
            if let Some(row) = visible_row(&world, &id, Use::Bound)?.filter(|row| row.collection == collection) {
                let values = row.values();
                if filter.iter().all(|(name, value)| values.get(name) == Some(value)) {
                    found.push((id, values));
                }
            }
            Ok(false)
        })?;
        found.sort_by_key(|(id, _)| *id);
        Ok(found)
    }

    /// A hash of the visible state, equal on every replica that holds the same ops
    /// (docs/SPEC.md §3).
    pub fn digest(&self) -> Result<StateDigest, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let world = Materialized { tables: &tables, plan: &self.plan };
        let mut digest = Digest::default();
        for entry in tables.rows.iter()? {
            let (id, _) = entry?;
            let id = RowId(*id.value());
            if let Some(row) = visible_row(&world, &id, Use::Bound)? {
                digest.add(&id, &row);
            }
        }
        Ok(StateDigest(digest.finish()))
    }

    /// Whether an op is effective now; `None` if the log does not hold it.
    pub fn is_effective(&self, op: &OpHash) -> Result<Option<bool>, StorageError> {
        let transaction = self.database.begin_read()?;
        let tables = ReadTables::open(&transaction)?;
        let Some(local) = tables.local_of(op)? else { return Ok(None) };
        if *op == OpHash(self.id.0) {
            return Ok(Some(true));
        }
        Ok(Some(tables.ineffective.get(local)?.is_none()))
    }

    /// Why an op is or is not effective; `None` if the log does not hold it. Judging needs the
    /// engine's write-side view, so this takes (and abandons) a write transaction.
    pub fn explain(&self, op: &OpHash) -> Result<Option<Explanation>, StorageError> {
        let transaction = self.database.begin_write()?;
        let explanation = {
            let tables = WriteTables::open(&transaction)?;
            let Some(local) = tables.local_of(op)? else { return Ok(None) };
            let founder =
                self.founder(&tables)?.ok_or_else(|| StorageError::Corrupt("an op without a genesis".into()))?;
            let engine = Engine::new(self.schema(), &self.plan, self.suite.as_ref(), founder);
            let explained = engine.explain(&tables, local)?;
            let author = tables.load(local)?.map(|(_, _, op)| op.author).unwrap_or(founder);
            let mut defeated_by = Vec::new();
            for hash in explained.defeated_by {
                let other = match tables.local_of(&hash)? {
                    Some(other) => tables.load(other)?.map(|(_, _, op)| op.author),
                    None => None,
                };
                defeated_by.push((hash, other.unwrap_or(author)));
            }
            let (allowed_by, denial) = match explained.verdict {
                Verdict::Allowed(attestations) => (attestations, None),
                Verdict::Denied(denial) => (Vec::new(), Some(denial)),
            };
            Explanation {
                op: *op,
                author,
                effective: explained.effective,
                equivocated: explained.equivocated,
                allowed_by,
                denial,
                defeated_by,
            }
        };
        transaction.abort()?;
        Ok(Some(explanation))
    }
}
