//! Evaluating a rule's condition in a [`World`]: field reads of the row being written, of
//! `old` and `new` and of the rows `exists` binds, and `exists` itself, which asks the world
//! for candidate rows through a [`Probe`] and records the rows that witnessed it.

use super::row::RowState;
use super::world::{visible_row, World};
use crate::cbor::Value;
use crate::error::StorageError;
use crate::ids::{Identity, RowId};
use crate::op::Witness;
use crate::plan::{Probe, Use};
use schemac::ir::{Expr, RowRef};
use std::cell::RefCell;
use std::rc::Rc;

pub(super) fn truthy(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
}

/// What a rule's expression can see.
pub(super) struct Scope<'s> {
    pub(super) world: &'s dyn World,
    pub(super) author: Identity,
    pub(super) founder: Identity,
    pub(super) subject_id: RowId,
    pub(super) subject: Option<&'s RowState>,
    pub(super) old: Option<&'s RowState>,
    pub(super) new: Option<&'s RowState>,
    pub(super) bound: Vec<(String, RowId, Rc<RowState>)>,
    /// The rows `exists` found, with their versions.
    pub(super) witnesses: &'s RefCell<Vec<Witness>>,
}

impl Scope<'_> {
    fn bound(&self, name: &str) -> Option<&(String, RowId, Rc<RowState>)> {
        self.bound.iter().rev().find(|(bound, _, _)| bound == name)
    }

    fn row_of(&self, reference: &RowRef) -> Option<&RowState> {
        match reference {
            RowRef::Subject => self.subject,
            RowRef::Old => self.old,
            RowRef::New => self.new,
            RowRef::Bound(name) => self.bound(name).map(|(_, _, row)| row.as_ref()),
        }
    }

    pub(super) fn evaluate(&self, expr: &Expr) -> Result<Value, StorageError> {
        Ok(match expr {
            Expr::Literal(value) => super::check::literal(value),
            Expr::Field { row, path } => {
                let Some(row) = self.row_of(row) else { return Ok(Value::Null) };
                let Some((first, rest)) = path.split_first() else { return Ok(Value::Null) };
                super::check::record_path(row.field(first), rest)
            }
            Expr::RowId(RowRef::Subject | RowRef::Old | RowRef::New) => Value::Bytes(self.subject_id.0.to_vec()),
            Expr::RowId(RowRef::Bound(name)) => match self.bound(name) {
                Some((_, id, _)) => Value::Bytes(id.0.to_vec()),
                None => Value::Null,
            },
            Expr::OpAuthor => Value::Bytes(self.author.0.to_vec()),
            Expr::DbFounder => Value::Bytes(self.founder.0.to_vec()),
            Expr::Not(inner) => Value::Bool(!truthy(&self.evaluate(inner)?)),
            Expr::And(left, right) => Value::Bool(truthy(&self.evaluate(left)?) && truthy(&self.evaluate(right)?)),
            Expr::Or(left, right) => Value::Bool(truthy(&self.evaluate(left)?) || truthy(&self.evaluate(right)?)),
            Expr::Compare { op, left, right } => {
                Value::Bool(super::check::compare(*op, &self.evaluate(left)?, &self.evaluate(right)?))
            }
            Expr::In { value, options } => {
                let value = self.evaluate(value)?;
                let mut found = false;
                for option in options {
                    if self.evaluate(option)? == value {
                        found = true;
                        break;
                    }
                }
                Value::Bool(found)
            }
            Expr::Len(inner) => super::check::length(self.evaluate(inner)?),
            Expr::Exists { collection, variable, condition } => {
                Value::Bool(self.exists(collection, variable, condition.as_deref())?)
            }
        })
    }

    /// `exists C x where D1 or D2 or I`, where `I` does not read `x`, is evaluated as
    /// `(exists C x where D1) or (exists C x where D2) or (I and exists C x)`: each part has its
    /// own probe, and `I` is not evaluated per row.
    fn exists(&self, collection: &str, variable: &str, condition: Option<&Expr>) -> Result<bool, StorageError> {
        let Some(condition) = condition else { return self.exists_where(collection, variable, None) };
        let disjuncts = condition.disjuncts();
        if disjuncts.len() == 1 {
            return self.exists_where(collection, variable, Some(condition));
        }
        let (dependent, independent): (Vec<&Expr>, Vec<&Expr>) =
            disjuncts.into_iter().partition(|disjunct| disjunct.reads_variable(variable));
        for disjunct in dependent {
            if self.exists_where(collection, variable, Some(disjunct))? {
                return Ok(true);
            }
        }
        for disjunct in independent {
            if truthy(&self.evaluate(disjunct)?) {
                return self.exists_where(collection, variable, None);
            }
        }
        Ok(false)
    }

    fn exists_where(&self, collection: &str, variable: &str, condition: Option<&Expr>) -> Result<bool, StorageError> {
        let probe = match condition {
            None => Some(Probe::All),
            Some(condition) => self.probe(condition, variable)?,
        };
        let Some(probe) = probe else { return Ok(false) };
        let mut found: Option<(RowId, Rc<RowState>)> = None;
        self.world.scan(collection, &probe, &mut |id| {
            let Some(row) = visible_row(self.world, &id, Use::Bound)? else { return Ok(false) };
            if row.collection != collection {
                return Ok(false);
            }
            let holds = match condition {
                None => true,
                Some(condition) => {
                    let mut bound = self.bound.clone();
                    bound.push((variable.to_owned(), id, row.clone()));
                    let inner = Scope { bound, ..*self };
                    truthy(&inner.evaluate(condition)?)
                }
            };
            if holds {
                found = Some((id, row));
            }
            Ok(holds)
        })?;
        match found {
            Some((id, row)) => {
                self.witnesses.borrow_mut().push(Witness {
                    collection: collection.to_owned(),
                    row: id,
                    version: row.version.1,
                });
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The rows an `exists` over `variable` must look at for `condition` (a conjunction; an
    /// `or` inside it is checked per row): `x = e` names a row, `x.f = e` keys an index, a
    /// false clause that does not read `x` rules every row out (`None`).
    fn probe(&self, condition: &Expr, variable: &str) -> Result<Option<Probe>, StorageError> {
        let mut rows = None;
        let mut equal = Vec::new();
        for conjunct in condition.conjuncts() {
            if !conjunct.reads_variable(variable) {
                if !truthy(&self.evaluate(conjunct)?) {
                    return Ok(None);
                }
                continue;
            }
            if let Some(other) = conjunct.bound_row_equality(variable) {
                rows = Some(match self.evaluate(other)? {
                    Value::Bytes(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
                        Ok(id) => vec![RowId(id)],
                        Err(_) => Vec::new(),
                    },
                    _ => Vec::new(),
                });
            } else if let Some((field, other)) = conjunct.bound_field_equality(variable) {
                equal.push((field.to_owned(), self.evaluate(other)?));
            }
        }
        Ok(Some(match (rows, equal.is_empty()) {
            (Some(rows), _) => Probe::Rows(rows),
            (None, false) => Probe::Equal(equal),
            (None, true) => Probe::All,
        }))
    }

    /// The first clause of a false condition that is false: descending into `and`.
    pub(super) fn failing_clause<'e>(&self, expr: &'e Expr) -> Result<&'e Expr, StorageError> {
        match expr {
            Expr::And(left, right) => {
                if truthy(&self.evaluate(left)?) {
                    self.failing_clause(right)
                } else {
                    self.failing_clause(left)
                }
            }
            _ => Ok(expr),
        }
    }
}
