//! Evaluating a rule's condition in a [`World`]: field reads of the row being written, of
//! `old` and `new` and of the rows `exists` binds, and `exists` itself, which asks the world
//! for candidate rows through a [`Probe`] and records the rows that witnessed it.

use super::row::RowState;
use super::world::{visible_row, World};
use crate::cbor::Value;
use crate::error::StorageError;
use crate::ids::{Identity, RowId};
use crate::op::{Attestation, Witness, Witnesses};
use crate::plan::{Probe, Use};
use schemac::ir::{Comparison, Expr, RowRef};
use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;

pub(super) fn truthy(value: &Value) -> bool {
    matches!(value, Value::Bool(true))
}

/// The most attested witnesses an `exists` tries before it looks rows up. Attestations come
/// from peers and may name one row thousands of times; the lookup finds any row they would.
const HINTS_TRIED: usize = 4;

/// What a rule's expression can see.
pub(super) struct Scope<'s> {
    pub(super) world: &'s dyn World,
    pub(super) actors: &'s Actors,
    pub(super) subject_id: RowId,
    pub(super) subject: Option<&'s RowState>,
    pub(super) old: Option<&'s RowState>,
    pub(super) new: Option<&'s RowState>,
    /// The innermost row an `exists` bound, if any, with the ones around it.
    pub(super) bound: Option<&'s Binding<'s>>,
    /// Where to record the rows `exists` found, with their versions; `None` when the verdict
    /// need not name them.
    pub(super) witnesses: Option<&'s RefCell<Witnesses>>,
    /// Attestations whose witnesses for change `change` are tried before a lookup
    /// (see [`super::rules::Judged::hints`]).
    pub(super) hints: &'s [Attestation],
    pub(super) change: u32,
}

/// `op.author` and `db.founder`, each turned into a value on its first read and kept for the op.
pub(super) struct Actors {
    author: Identity,
    founder: Identity,
    author_value: OnceCell<Value>,
    founder_value: OnceCell<Value>,
}

impl Actors {
    pub(super) fn new(author: Identity, founder: Identity) -> Actors {
        Actors { author, founder, author_value: OnceCell::new(), founder_value: OnceCell::new() }
    }

    fn author(&self) -> &Value {
        self.author_value.get_or_init(|| Value::Bytes(self.author.0.to_vec()))
    }

    fn founder(&self) -> &Value {
        self.founder_value.get_or_init(|| Value::Bytes(self.founder.0.to_vec()))
    }
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

    /// An operand's value, borrowed when it is a field the row holds as it is, or the author or
    /// founder: comparisons read them without copying.
    fn operand(&self, expr: &Expr) -> Result<Cow<'_, Value>, StorageError> {
        match expr {
            Expr::Field { row, path } => {
                if let (Some(row), [field]) = (self.row_of(row), path.as_slice()) {
                    return Ok(row.field_value(field));
                }
            }
            Expr::OpAuthor => return Ok(Cow::Borrowed(self.actors.author())),
            Expr::DbFounder => return Ok(Cow::Borrowed(self.actors.founder())),
            _ => {}
        }
        Ok(Cow::Owned(self.evaluate(expr)?))
    }

    /// Whether two operands are equal.
    fn equal(&self, left: &Expr, right: &Expr) -> Result<bool, StorageError> {
        match left {
            Expr::Literal(_) => self.equals(left, &*self.operand(right)?),
            _ => self.equals(right, &*self.operand(left)?),
        }
    }

    /// Whether an operand equals a value; a constant is compared as the IR holds it.
    fn equals(&self, expr: &Expr, value: &Value) -> Result<bool, StorageError> {
        Ok(match expr {
            Expr::Literal(constant) => super::check::literal_is(constant, value),
            expr => *self.operand(expr)? == *value,
        })
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
            Expr::OpAuthor => self.actors.author().clone(),
            Expr::DbFounder => self.actors.founder().clone(),
            Expr::Not(inner) => Value::Bool(!truthy(&self.evaluate(inner)?)),
            Expr::And(left, right) => Value::Bool(truthy(&self.evaluate(left)?) && truthy(&self.evaluate(right)?)),
            Expr::Or(left, right) => Value::Bool(truthy(&self.evaluate(left)?) || truthy(&self.evaluate(right)?)),
            Expr::Compare { op: Comparison::Equal, left, right } => Value::Bool(self.equal(left, right)?),
            Expr::Compare { op: Comparison::NotEqual, left, right } => Value::Bool(!self.equal(left, right)?),
            Expr::Compare { op, left, right } => {
                Value::Bool(super::check::compare(*op, &*self.operand(left)?, &*self.operand(right)?))
            }
            Expr::In { value, options } => {
                let value = self.operand(value)?;
                let mut found = false;
                for option in options {
                    if self.equals(option, &value)? {
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
        let hinted = self
            .hints
            .iter()
            .filter(|attestation| attestation.change == self.change)
            .flat_map(|attestation| &attestation.witnesses)
            .filter(|witness| witness.collection == collection)
            .take(HINTS_TRIED);
        for witness in hinted {
            if let Some(row) = self.satisfies(collection, variable, condition, witness.row)? {
                return Ok(self.witnessed(collection, witness.row, &row));
            }
        }
        let probe = match condition {
            None => Some(Probe::All),
            Some(condition) => self.probe(condition, variable)?,
        };
        let Some(probe) = probe else { return Ok(false) };
        let mut found: Option<(RowId, Rc<RowState>)> = None;
        self.world.scan(collection, &probe, &mut |id| {
            found = self.satisfies(collection, variable, condition, id)?.map(|row| (id, row));
            Ok(found.is_some())
        })?;
        Ok(match found {
            Some((id, row)) => self.witnessed(collection, id, &row),
            None => false,
        })
    }

    /// The row `id`, if it is a visible row of `collection` that satisfies `condition` with
    /// `variable` bound to it.
    fn satisfies(
        &self,
        collection: &str,
        variable: &str,
        condition: Option<&Expr>,
        id: RowId,
    ) -> Result<Option<Rc<RowState>>, StorageError> {
        let Some(row) = visible_row(self.world, &id, Use::Bound)? else { return Ok(None) };
        if row.collection != collection {
            return Ok(None);
        }
        let holds = match condition {
            None => true,
            Some(condition) => {
                let binding = Binding { variable, id, row: row.clone(), outer: self.bound };
                let inner = Scope { bound: Some(&binding), ..*self };
                truthy(&inner.evaluate(condition)?)
            }
        };
        Ok(holds.then_some(row))
    }

    /// Records the row that witnessed an `exists`, if the verdict names witnesses; true.
    fn witnessed(&self, collection: &str, id: RowId, row: &RowState) -> bool {
        if let Some(witnesses) = self.witnesses {
            witnesses.borrow_mut().push(Witness { collection: collection.into(), row: id, version: row.version.1 });
        }
        true
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
