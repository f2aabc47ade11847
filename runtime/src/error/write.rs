//! What a local write or a read can meet: a payload that does not fit the schema, a change no
//! rule allows, a name the schema does not have.

use super::{did_you_mean, StorageError};
use crate::ids::{Identity, RowId};

/// Why a local write was refused. Nothing was stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The changes do not fit the schema.
    #[error(transparent)]
    Payload(#[from] PayloadError),
    /// No rule allows a change (the denial names it, the rule and its failing clause).
    #[error("denied: {0}")]
    Denied(Box<Denial>),
    /// This replica has not received its database's genesis op yet.
    #[error("this replica has not received its database's genesis op yet")]
    NoGenesis,
    /// The key signed two different ops with one sequence number: it was used on two replicas.
    #[error(
        "the key {author} signed two different ops with sequence number {seq}: it has been used on two replicas at \
         once. Every op it signs from there on is void on every replica, so this write is refused. Write with a new \
         key (`cairn key new`) and have its rights granted again; a key belongs to one replica"
    )]
    Equivocated {
        /// The key's identity.
        author: Identity,
        /// The sequence number both ops carry (the lowest, if there are several).
        seq: u64,
    },
    /// The op would be `size` bytes, over the limit of `limit` that peers accept; split the batch.
    #[error("the op would be {size} bytes, over the limit of {limit} that peers accept; split the batch")]
    TooLarge {
        /// The size, in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a change is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("change {change} ({action} in {collection}): {reason}")]
pub struct Denial {
    /// The change's index in the op.
    pub change: u32,
    /// The collection the change names.
    pub collection: String,
    /// `insert`, `update` or `delete`.
    pub action: &'static str,
    /// Why no rule allows it.
    pub reason: DenialReason,
}

/// What kept a change from being allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DenialReason {
    /// The schema has no collection of this name.
    #[error("the schema has no collection `{0}`")]
    UnknownCollection(String),
    /// The row the change names is not a visible row of its collection.
    #[error("row {0} is not a visible row of this collection")]
    NoSuchRow(RowId),
    /// A nested row's parent is not a visible row of the parent collection (named).
    #[error("the parent row is not a visible row of `{0}`")]
    NoParent(String),
    /// The check on field `field` does not hold: `check`.
    #[error("the check on field `{field}` does not hold: {check}")]
    CheckFailed {
        /// The field, as it was named.
        field: String,
        /// The check, as the schema writes it.
        check: String,
    },
    /// A field refers to a row that is not a visible row of the collection its type names, in
    /// the state the op's author saw.
    #[error("`{field}` refers to {row}, which is not a visible row of `{collection}`")]
    DanglingReference {
        /// The field holding the reference.
        field: String,
        /// The collection its type names (`ref C`).
        collection: String,
        /// The row it names.
        row: RowId,
    },
    /// No rule allows it.
    #[error("no rule allows it")]
    NoRule,
    /// .
    #[error("{}", describe_failed_rules(.0))]
    RulesFailed(Vec<FailedRule>),
}

/// A rule that covered a change but did not hold, and the first clause of it that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRule {
    /// The rule's index among its collection's rules.
    pub rule: u32,
    /// The rule as the schema says it.
    pub text: String,
    /// Its first failing clause: descending into `and`, the first operand that is false.
    pub clause: String,
}

fn describe_failed_rules(rules: &[FailedRule]) -> String {
    rules
        .iter()
        .map(|failed| format!("rule #{} `{}` fails at `{}`", failed.rule, failed.text, failed.clause))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What is wrong with a change, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// Change `change`: unknown collection `collection`.
    #[error("change {change}: unknown collection `{collection}`{}", did_you_mean(.suggestion))]
    UnknownCollection {
        /// The change's index in the op.
        change: usize,
        /// The collection, as it was named.
        collection: String,
        /// The closest name the schema has, if one is close enough to be a typo.
        suggestion: Option<String>,
    },
    /// Change `change`: `collection` has no field `field`.
    #[error("change {change}: `{collection}` has no field `{field}`{}", did_you_mean(.suggestion))]
    UnknownField {
        /// The change's index in the op.
        change: usize,
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
        /// The closest name the schema has, if one is close enough to be a typo.
        suggestion: Option<String>,
    },
    /// Change `change`: `collection.field` is required but missing.
    #[error("change {change}: `{collection}.{field}` is required but missing")]
    MissingField {
        /// The change's index in the op.
        change: usize,
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
    },
    /// Change `change`: `collection.field` expects `expected`: `problem`.
    #[error("change {change}: `{collection}.{field}` expects {expected}: {problem}")]
    WrongType {
        /// The change's index in the op.
        change: usize,
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
        /// What this replica expected.
        expected: String,
        /// What is wrong.
        problem: String,
    },
    /// Change `change`: `collection.field` is readonly.
    #[error("change {change}: `{collection}.{field}` is readonly")]
    Readonly {
        /// The change's index in the op.
        change: usize,
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
    },
    /// Change `change`: `edit` does not apply to `collection.field` of type `ty`.
    #[error("change {change}: `{edit}` does not apply to `{collection}.{field}` of type {ty}")]
    WrongEdit {
        /// The change's index in the op.
        change: usize,
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
        /// The edit's kind: `set`, `add`, `remove`, `put`, `unset` or `increment`.
        edit: &'static str,
        /// The field's type, as the schema writes it.
        ty: String,
    },
    /// Change `change`: the check on `collection.field` fails.
    #[error("change {change}: the check on `{collection}.{field}` fails")]
    CheckFailed {
        /// The change's index in the op.
        change: usize,
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
    },
    /// Change `change`: a value of `collection.field` is `size` bytes, over the limit of `limit`.
    #[error("change {change}: a value of `{collection}.{field}` is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The change's index in the op.
        change: usize,
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
        /// The size, in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A field names "the row inserted by change `target`" of the op, which is not an earlier
    /// insert into the collection the field refers to.
    #[error(
        "change {change}: `{collection}.{field}` names change {target} of the op, which is not an earlier insert into \
         `{expected}`"
    )]
    ChangeReference {
        /// The change's index in the op.
        change: usize,
        /// The collection the change writes.
        collection: String,
        /// The field holding the reference.
        field: String,
        /// The change index it names.
        target: u32,
        /// The collection the field refers to.
        expected: String,
    },
    /// The op has `count` changes, over the limit of `limit`.
    #[error("the op has {count} changes, over the limit of {limit}")]
    TooManyChanges {
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An op must change at least one row.
    #[error("an op must change at least one row")]
    Empty,
}

/// A read that names what the schema does not have.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// Unknown collection `collection`.
    #[error("unknown collection `{collection}`{}", did_you_mean(.suggestion))]
    UnknownCollection {
        /// The collection, as it was named.
        collection: String,
        /// The closest name the schema has, if one is close enough to be a typo.
        suggestion: Option<String>,
    },
    /// `collection` has no field `field`.
    #[error("`{collection}` has no field `{field}`{}", did_you_mean(.suggestion))]
    UnknownField {
        /// The collection, as it was named.
        collection: String,
        /// The field, as it was named.
        field: String,
        /// The closest name the schema has, if one is close enough to be a typo.
        suggestion: Option<String>,
    },
    /// A row does not fit the Rust type it is read into.
    #[error(transparent)]
    Row(#[from] super::RowDecodeError),
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
