//! Walks over checked expressions that every consumer of the IR needs: the runtime's rule judge
//! and planner, and code generation. They read the IR only; none of them evaluates anything.

use super::{Comparison, Expr, RowRef, Schema};
use std::collections::{BTreeMap, BTreeSet};

impl Expr {
    /// The expression's direct operands (an `exists`'s condition included), without allocating:
    /// rule judges walk these on every evaluation.
    pub fn operands(&self) -> impl Iterator<Item = &Expr> {
        let (first, second, rest): (Option<&Expr>, Option<&Expr>, &[Expr]) = match self {
            Expr::Not(inner) | Expr::Len(inner) => (Some(inner), None, &[]),
            Expr::And(left, right) | Expr::Or(left, right) | Expr::Compare { left, right, .. } => {
                (Some(left), Some(right), &[])
            }
            Expr::In { value, options } => (Some(value), None, options),
            Expr::Exists { condition, .. } => (condition.as_deref(), None, &[]),
            Expr::Literal(_) | Expr::Field { .. } | Expr::RowId(_) | Expr::OpAuthor | Expr::DbFounder => {
                (None, None, &[])
            }
        };
        first.into_iter().chain(second).chain(rest)
    }

    /// The operands of a chain of `and`: `a and (b and c)` gives `[a, b, c]`; anything else is
    /// a chain of one.
    pub fn conjuncts(&self) -> Vec<&Expr> {
        let mut into = Vec::new();
        flatten(self, true, &mut into);
        into
    }

    /// The operands of a chain of `or`, as [`Expr::conjuncts`] does for `and`.
    pub fn disjuncts(&self) -> Vec<&Expr> {
        let mut into = Vec::new();
        flatten(self, false, &mut into);
        into
    }

    /// Whether the expression reads the row bound to `variable` (its fields or its id).
    pub fn reads_variable(&self, variable: &str) -> bool {
        match self {
            Expr::Field { row: RowRef::Bound(name), .. } | Expr::RowId(RowRef::Bound(name)) => name == variable,
            _ => self.operands().any(|inner| inner.reads_variable(variable)),
        }
    }

    /// The collections the expression's `exists` (nested ones included) range over.
    pub fn exists_collections(&self) -> BTreeSet<String> {
        fn visit(expr: &Expr, into: &mut BTreeSet<String>) {
            if let Expr::Exists { collection, .. } = expr {
                into.insert(collection.clone());
            }
            expr.operands().for_each(|inner| visit(inner, into));
        }
        let mut into = BTreeSet::new();
        visit(self, &mut into);
        into
    }

    /// For a clause `x.f = e` (either way round) where `e` does not read `x`: the field `f`
    /// and the expression `e`. What an index on `f` can answer.
    pub fn bound_field_equality(&self, variable: &str) -> Option<(&str, &Expr)> {
        let Expr::Compare { op: Comparison::Equal, left, right } = self else { return None };
        [(left, right), (right, left)].into_iter().find_map(|(side, other)| match side.as_ref() {
            Expr::Field { row: RowRef::Bound(name), path }
                if name == variable && path.len() == 1 && !other.reads_variable(variable) =>
            {
                Some((path[0].as_str(), other.as_ref()))
            }
            _ => None,
        })
    }

    /// For a clause `x = e` (either way round) where `e` does not read `x`: the expression `e`,
    /// which names the bound row itself.
    pub fn bound_row_equality(&self, variable: &str) -> Option<&Expr> {
        let Expr::Compare { op: Comparison::Equal, left, right } = self else { return None };
        [(left, right), (right, left)].into_iter().find_map(|(side, other)| match side.as_ref() {
            Expr::RowId(RowRef::Bound(name)) if name == variable && !other.reads_variable(variable) => {
                Some(other.as_ref())
            }
            _ => None,
        })
    }
}

fn flatten<'e>(expr: &'e Expr, conjunction: bool, into: &mut Vec<&'e Expr>) {
    match (expr, conjunction) {
        (Expr::And(left, right), true) | (Expr::Or(left, right), false) => {
            flatten(left, conjunction, into);
            flatten(right, conjunction, into);
        }
        _ => into.push(expr),
    }
}

/// The `exists` lookups of a schema's rules that an index can answer: for each collection, the
/// sets of fields that the `x.f = e` clauses of one `or` branch of an `exists` key on together,
/// each set sorted, without repeats, in the order the rules first name them.
pub fn exists_equality_keys(schema: &Schema) -> BTreeMap<String, Vec<Vec<String>>> {
    fn visit(expr: &Expr, keys: &mut BTreeMap<String, Vec<Vec<String>>>) {
        if let Expr::Exists { collection, variable, condition: Some(condition) } = expr {
            for disjunct in condition.disjuncts() {
                let mut fields: Vec<String> = disjunct
                    .conjuncts()
                    .into_iter()
                    .filter_map(|conjunct| conjunct.bound_field_equality(variable))
                    .map(|(field, _)| field.to_owned())
                    .collect();
                fields.sort();
                fields.dedup();
                let entry = keys.entry(collection.clone()).or_default();
                if !fields.is_empty() && !entry.contains(&fields) {
                    entry.push(fields);
                }
            }
        }
        expr.operands().for_each(|inner| visit(inner, keys));
    }
    let mut keys = BTreeMap::new();
    for collection in schema.collections.values() {
        for rule in &collection.rules {
            visit(&rule.condition, &mut keys);
        }
    }
    keys
}
