//! What the runtime derives from a schema's IR once per replica: which fields rules read
//! ([`ReadFields`]), which `exists` lookups an index answers and under which key, and the
//! static footprints the engine uses to find the ops a new op may flip ([`Plan`]).
//!
//! Nothing here reads the store or evaluates a rule; the model and the engine consult it.

use crate::cbor::{Value, Writer};
use crate::ids::RowId;
use crate::op::Change;
use schemac::ir::{self, Expr, RowRef};
use std::collections::{BTreeMap, BTreeSet};

/// How a rule reads a row, which decides which of its writes matter (see [`ReadFields`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Use {
    /// The row a change writes, as its collection's rules and checks read it.
    Subject,
    /// A row an `exists` binds.
    Bound,
    /// A parent row, read only for whether it is visible.
    Visibility,
}

/// Which rows of a collection an `exists` needs to look at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Probe {
    /// At most these rows (`x = e`).
    Rows(Vec<RowId>),
    /// Rows whose fields equal these values (`x.f = e and x.g = e2`).
    Equal(Vec<(String, Value)>),
    /// Any row of the collection.
    All,
}

/// Where the rows a [`Probe`] may match are listed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    /// Exactly these rows.
    Rows(Vec<RowId>),
    /// A key of the rule index: every row ever inserted with these readonly values (or into
    /// the collection), whatever the view.
    RuleIndex([u8; 32]),
    /// A key of the query index: the rows whose current value of one field is this one.
    FieldIndex([u8; 32]),
}

/// The fields rules and checks read, per collection and per [`Use`]: as the row being written
/// (`f`, `old.f`, `new.f` in the collection's own rules and checks) and as a row bound by
/// `exists C x` (`x.f`). Writes to other fields cannot change any verdict, and a row's version
/// (what attestations name) moves only with writes that a bound use can see.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadFields {
    subject: BTreeMap<String, BTreeSet<String>>,
    bound: BTreeMap<String, BTreeSet<String>>,
}

impl ReadFields {
    pub fn new(schema: &ir::Schema) -> ReadFields {
        fn visit(expr: &Expr, subject: &str, bound: &[(&str, &str)], read: &mut ReadFields) {
            match expr {
                Expr::Field { row, path } => {
                    let Some(field) = path.first() else { return };
                    let (map, collection) = match row {
                        RowRef::Subject | RowRef::Old | RowRef::New => (&mut read.subject, Some(subject)),
                        RowRef::Bound(name) => (
                            &mut read.bound,
                            bound.iter().rev().find(|(variable, _)| variable == name).map(|(_, c)| *c),
                        ),
                    };
                    if let Some(collection) = collection {
                        map.entry(collection.to_owned()).or_default().insert(field.clone());
                    }
                }
                Expr::Exists { collection, variable, condition } => {
                    if let Some(condition) = condition {
                        let mut inner = bound.to_vec();
                        inner.push((variable.as_str(), collection.as_str()));
                        visit(condition, subject, &inner, read);
                    }
                }
                _ => expr.operands().for_each(|inner| visit(inner, subject, bound, read)),
            }
        }
        let mut read = ReadFields::default();
        for (name, collection) in &schema.collections {
            for rule in &collection.rules {
                visit(&rule.condition, name, &[], &mut read);
            }
            for check in collection.fields.iter().filter_map(|field| field.check.as_ref()) {
                visit(check, name, &[], &mut read);
            }
        }
        read
    }

    /// Whether a change can affect a row as `used` reads it: inserts and deletes always (a
    /// row's existence), updates when they write a field that use reads.
    pub fn relevant(&self, change: &Change, used: Use) -> bool {
        match change {
            Change::Insert { .. } | Change::Delete { .. } => true,
            Change::Update { collection, edits, .. } => {
                let fields = match used {
                    Use::Subject => self.subject.get(collection),
                    Use::Bound => self.bound.get(collection),
                    Use::Visibility => None,
                };
                edits.iter().any(|edit| fields.is_some_and(|fields| fields.contains(edit.field())))
            }
        }
    }

    /// Whether a change can affect any verdict.
    pub fn affects_verdicts(&self, change: &Change) -> bool {
        self.relevant(change, Use::Subject) || self.relevant(change, Use::Bound)
    }
}

/// What the engine derives from a schema once: indexes and footprints.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// For each collection, the readonly field sets its rule indexes key on.
    indexes: BTreeMap<String, Vec<Vec<String>>>,
    /// For each collection, the collections its rules' `exists` read.
    pub reads: BTreeMap<String, BTreeSet<String>>,
    /// For each collection, itself and its nested collections, transitively: what a change to
    /// one of its rows can make appear or vanish.
    pub scope: BTreeMap<String, BTreeSet<String>>,
    /// For each nested collection, the collections of its ancestors.
    pub ancestors: BTreeMap<String, Vec<String>>,
    /// For each collection, the fields the query index holds: those the schema declares
    /// `indexed`, and those rules compare by equality that are not readonly (readonly ones are
    /// in the rule index).
    queryable: BTreeMap<String, BTreeSet<String>>,
    /// The fields rules and checks read.
    pub read: ReadFields,
    /// Each collection's key in the rule index, computed once (see [`collection_key`]).
    collection_keys: BTreeMap<String, [u8; 32]>,
    /// For each collection, the rule-index keys of the collections a change to one of its rows
    /// has its verdict depend on (`reads` and `ancestors`), without repeats: what the reader
    /// runs note for every op.
    footprint_keys: BTreeMap<String, Vec<[u8; 32]>>,
}

impl Plan {
    pub fn new(schema: &ir::Schema) -> Plan {
        let mut plan = Plan {
            read: ReadFields::new(schema),
            collection_keys: schema.collections.keys().map(|name| (name.clone(), collection_key(name))).collect(),
            ..Plan::default()
        };
        for (collection, fields) in ir::walk::exists_equality_keys(schema) {
            let Some(definition) = schema.collections.get(&collection) else { continue };
            let mut keyed: Vec<Vec<String>> = Vec::new();
            let queryable = plan.queryable.entry(collection.clone()).or_default();
            for fields in fields {
                // Readonly fields never change after the insert, so an index entry written at
                // insert time stays exact in every view. The others are compared against the
                // current state through the query index.
                let (readonly, changing): (Vec<String>, Vec<String>) =
                    fields.into_iter().partition(|name| definition.field(name).is_some_and(|field| field.readonly));
                queryable.extend(
                    changing
                        .into_iter()
                        .filter(|name| definition.field(name).is_some_and(|field| field.ty.is_scalar())),
                );
                if !readonly.is_empty() && !keyed.contains(&readonly) {
                    keyed.push(readonly);
                }
            }
            plan.indexes.insert(collection, keyed);
        }
        for (name, definition) in &schema.collections {
            let read = definition.rules.iter().flat_map(|rule| rule.condition.exists_collections()).collect();
            plan.reads.insert(name.clone(), read);
            let mut ancestors = Vec::new();
            let mut parent = definition.parent.clone();
            while let Some(name) = parent {
                if ancestors.contains(&name) {
                    break;
                }
                parent = schema.collections.get(&name).and_then(|collection| collection.parent.clone());
                ancestors.push(name);
            }
            for ancestor in &ancestors {
                plan.scope.entry(ancestor.clone()).or_default().insert(name.clone());
            }
            plan.scope.entry(name.clone()).or_default().insert(name.clone());
            plan.ancestors.insert(name.clone(), ancestors);
            let mut keys: Vec<[u8; 32]> = Vec::new();
            for collection in plan.reads[name].iter().chain(&plan.ancestors[name]) {
                let key = plan.collection_key(collection);
                if !keys.contains(&key) {
                    keys.push(key);
                }
            }
            plan.footprint_keys.insert(name.clone(), keys);
            let declared = definition.fields.iter().filter(|field| field.indexed).map(|field| field.name.clone());
            plan.queryable.entry(name.clone()).or_default().extend(declared);
        }
        plan
    }

    /// The rule-index keys of the collections a change to a row of `collection` has its verdict
    /// depend on.
    pub fn footprint_keys(&self, collection: &str) -> &[[u8; 32]] {
        self.footprint_keys.get(collection).map_or(&[], Vec::as_slice)
    }

    /// The readonly field sets indexed for a collection.
    pub fn indexes(&self, collection: &str) -> &[Vec<String>] {
        self.indexes.get(collection).map_or(&[], Vec::as_slice)
    }

    pub fn is_queryable(&self, collection: &str, field: &str) -> bool {
        self.queryable.get(collection).is_some_and(|fields| fields.contains(field))
    }

    /// Where to find the candidates for a probe. The rule index holds every row ever inserted,
    /// so it serves every view; the query index holds current values, so it serves only
    /// `current` reads (the materialized state).
    pub fn lookup(&self, collection: &str, probe: &Probe, current: bool) -> Lookup {
        let equal = match probe {
            Probe::Rows(rows) => return Lookup::Rows(rows.clone()),
            Probe::All => return Lookup::RuleIndex(self.collection_key(collection)),
            Probe::Equal(equal) => equal,
        };
        if current {
            if let Some((name, value)) = equal.iter().find(|(name, _)| self.is_queryable(collection, name)) {
                return Lookup::FieldIndex(index_key(collection, [(name.as_str(), value)]));
            }
        }
        // The widest indexed field set that the probe gives values for.
        let indexed = self
            .indexes(collection)
            .iter()
            .filter(|fields| fields.iter().all(|field| equal.iter().any(|(name, _)| name == field)))
            .max_by_key(|fields| fields.len());
        match indexed {
            Some(fields) => {
                let values = fields.iter().filter_map(|field| {
                    equal.iter().find(|(name, _)| name == field).map(|(name, value)| (name.as_str(), value))
                });
                Lookup::RuleIndex(index_key(collection, values))
            }
            None => Lookup::RuleIndex(self.collection_key(collection)),
        }
    }

    /// The rule-index key of every row of a collection (see [`collection_key`]).
    pub fn collection_key(&self, collection: &str) -> [u8; 32] {
        self.collection_keys.get(collection).copied().unwrap_or_else(|| collection_key(collection))
    }
}

/// The key of every row ever inserted into a collection, in the rule index.
pub(crate) fn collection_key(collection: &str) -> [u8; 32] {
    let mut writer = Writer::new();
    writer.array(2).text("collection").text(collection);
    *blake3::hash(&writer.bytes).as_bytes()
}

/// The key of the rows of a collection whose fields have these values, in the rule index
/// (readonly fields) and the query index (one field).
pub(crate) fn index_key<'v>(collection: &str, fields: impl IntoIterator<Item = (&'v str, &'v Value)>) -> [u8; 32] {
    let fields: Vec<(&str, &Value)> = fields.into_iter().collect();
    // Sized for the usual key (a collection and an id or two) so it is allocated once.
    let mut writer = Writer::with_capacity(128);
    writer.array(2 + fields.len() * 2).text("index").text(collection);
    for (name, value) in fields {
        writer.text(name);
        // `-0.0 = 0.0` in rules and queries, so both get one key, wherever the zero is.
        if has_negative_zero(value) {
            writer.value(&positive_zeros(value));
        } else {
            writer.value(value);
        }
    }
    *blake3::hash(&writer.bytes).as_bytes()
}

fn has_negative_zero(value: &Value) -> bool {
    match value {
        Value::Float(float) => *float == 0.0 && float.is_sign_negative(),
        Value::Array(items) => items.iter().any(has_negative_zero),
        Value::Map(entries) => entries.iter().any(|(_, entry)| has_negative_zero(entry)),
        _ => false,
    }
}

fn positive_zeros(value: &Value) -> Value {
    match value {
        Value::Float(float) if *float == 0.0 => Value::Float(0.0),
        Value::Array(items) => Value::Array(items.iter().map(positive_zeros).collect()),
        Value::Map(entries) => {
            Value::Map(entries.iter().map(|(key, entry)| (key.clone(), positive_zeros(entry))).collect())
        }
        value => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{index_key, Plan};
    use crate::cbor::Value;

    #[test]
    fn values_equal_under_rules_get_one_index_key_whatever_their_zeros() {
        let record = |zero: f64| Value::Map(vec![("at".into(), Value::Array(vec![Value::Float(zero), Value::Int(1)]))]);
        let key = |value: &Value| index_key("Place", [("spot", value)]);
        assert_eq!(key(&Value::Float(-0.0)), key(&Value::Float(0.0)));
        assert_eq!(key(&record(-0.0)), key(&record(0.0)));
        assert_ne!(key(&record(0.5)), key(&record(0.0)));
    }

    #[test]
    fn the_query_index_holds_declared_fields_and_those_rules_compare() {
        let text = "schema s;\n\
            collection Team { name: string indexed, motto: string, allow insert if true; }\n\
            collection Member {\n\
                team: ref Team readonly,\n\
                who: identity,\n\
                note: string,\n\
                tags: set<string>,\n\
                allow insert if exists Member m where m.team = team and m.who = op.author;\n\
            }\n";
        let schema = schemac::check_source(text, None).ir.expect("the schema checks");
        let plan = Plan::new(&schema);
        assert!(plan.is_queryable("Team", "name"), "declared `indexed`");
        assert!(!plan.is_queryable("Team", "motto"), "neither declared nor compared");
        assert!(plan.is_queryable("Member", "who"), "compared by a rule, and it changes");
        assert!(!plan.is_queryable("Member", "team"), "readonly: the rule index holds it");
        assert!(!plan.is_queryable("Member", "note") && !plan.is_queryable("Member", "tags"));
        assert_eq!(plan.indexes("Member"), [vec!["team".to_owned()]]);
    }
}
