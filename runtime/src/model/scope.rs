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
use std::borrow::Cow;
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
    /// The innermost row an `exists` bound, if any, with the ones around it.
    pub(super) bound: Option<&'s Binding<'s>>,
    /// The rows `exists` found, with their versions.
    pub(super) witnesses: &'s RefCell<Vec<Witness>>,
}

/// A row an `exists` bound to its variable while its condition is evaluated for that row,
/// linked to the bindings of the `exists` around it (kept on the stack: no copy per row).
pub(super) struct Binding<'b> {
    variable: &'b str,
    id: RowId,
    row: Rc<RowState>,
    outer: Option<&'b Binding<'b>>,
}

impl Scope<'_> {
    fn bound(&self, name: &str) -> Option<&Binding<'_>> {
        let mut binding = self.bound;
        while let Some(current) = binding {
            if current.variable == name {
                return Some(current);
            }
            binding = current.outer;
        }
        None
    }

    fn row_of(&self, reference: &RowRef) -> Option<&RowState> {
        match reference {
            RowRef::Subject => self.subject,
            RowRef::Old => self.old,
            RowRef::New => self.new,
            RowRef::Bound(name) => self.bound(name).map(|binding| binding.row.as_ref()),
        }
    }

    /// An operand's value, borrowed when it is a field the row holds as it is: comparisons read
    /// fields without copying them.
    fn operand(&self, expr: &Expr) -> Result<Cow<'_, Value>, StorageError> {
        if let Expr::Field { row, path } = expr {
            if let (Some(row), [field]) = (self.row_of(row), path.as_slice()) {
                return Ok(row.field_value(field));
            }
        }
        Ok(Cow::Owned(self.evaluate(expr)?))
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
                Some(binding) => Value::Bytes(binding.id.0.to_vec()),
                None => Value::Null,
            },
            Expr::OpAuthor => Value::Bytes(self.author.0.to_vec()),
            Expr::DbFounder => Value::Bytes(self.founder.0.to_vec()),
            Expr::Not(inner) => Value::Bool(!truthy(&self.evaluate(inner)?)),
            Expr::And(left, right) => Value::Bool(truthy(&self.evaluate(left)?) && truthy(&self.evaluate(right)?)),
            Expr::Or(left, right) => Value::Bool(truthy(&self.evaluate(left)?) || truthy(&self.evaluate(right)?)),
            Expr::Compare { op, left, right } => {
                Value::Bool(super::check::compare(*op, &*self.operand(left)?, &*self.operand(right)?))
            }
            Expr::In { value, options } => {
                let value = self.operand(value)?;
                let mut found = false;
                for option in options {
                    if *self.operand(option)? == *value {
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
        if !matches!(condition, Expr::Or(..)) {
            return self.exists_where(collection, variable, Some(condition));
        }
        let disjuncts = condition.disjuncts();
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
                    let binding = Binding { variable, id, row: row.clone(), outer: self.bound };
                    let inner = Scope { bound: Some(&binding), ..*self };
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
        if !self.narrow(condition, variable, &mut rows, &mut equal)? {
            return Ok(None);
        }
        Ok(Some(match (rows, equal.is_empty()) {
            (Some(rows), _) => Probe::Rows(rows),
            (None, false) => Probe::Equal(equal),
            (None, true) => Probe::All,
        }))
    }

    /// Walks the conjuncts of `condition` for [`Scope::probe`], collecting the rows `x = e` names
    /// and the values `x.f = e` keys on; false when a clause that does not read `x` is false.
    fn narrow(
        &self,
        condition: &Expr,
        variable: &str,
        rows: &mut Option<Vec<RowId>>,
        equal: &mut Vec<(String, Value)>,
    ) -> Result<bool, StorageError> {
        if let Expr::And(left, right) = condition {
            return Ok(self.narrow(left, variable, rows, equal)? && self.narrow(right, variable, rows, equal)?);
        }
        if !condition.reads_variable(variable) {
            return Ok(truthy(&self.evaluate(condition)?));
        }
        if let Some(other) = condition.bound_row_equality(variable) {
            *rows = Some(match self.evaluate(other)? {
                Value::Bytes(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
                    Ok(id) => vec![RowId(id)],
                    Err(_) => Vec::new(),
                },
                _ => Vec::new(),
            });
        } else if let Some((field, other)) = condition.bound_field_equality(variable) {
            equal.push((field.to_owned(), self.evaluate(other)?));
        }
        Ok(true)
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
