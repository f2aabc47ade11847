//! The checked, resolved intermediate representation of a schema: the contract between the
//! compiler and the runtime.
//!
//! Everything in it has been resolved and type-checked. Top-level declarations live in sorted
//! maps, so the IR (and therefore the hash) does not depend on the order they were written in.
//! It serializes with serde; `schemac ir` prints it as JSON and [`crate::hash`] encodes it as
//! deterministic CBOR. Bump [`IR_VERSION`] on any change to its shape.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the IR's shape. Readers reject versions they do not know.
pub const IR_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub ir_version: u32,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    pub enums: BTreeMap<String, Enum>,
    pub records: BTreeMap<String, Record>,
    /// Every collection, nested ones included, by their (globally unique) name.
    pub collections: BTreeMap<String, Collection>,
    /// Migrations this schema declares, sorted by the hash they upgrade from.
    pub migrations: Vec<Migration>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enum {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    /// Variants in declaration order; the order is part of the schema.
    pub variants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    pub fields: Vec<Field>,
}

impl Record {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    /// For a nested collection, the collection its rows belong to. Such a collection also has a
    /// readonly `parent: ref <Parent>` field, first in `fields`.
    pub parent: Option<String>,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
    pub rules: Vec<Rule>,
}

impl Collection {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|field| field.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    #[serde(rename = "type")]
    pub ty: Type,
    pub readonly: bool,
    /// The value a row gets when an insert leaves the field out.
    pub default: Option<Default>,
    /// A stateless constraint on the row after the op; a `bool` expression over its fields.
    pub check: Option<Expr>,
}

/// A field's type. Optional fields are `Optional(inner)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Timestamp,
    Identity,
    /// The id of a row in the named collection.
    Ref(String),
    Enum(String),
    Record(String),
    Optional(Box<Type>),
    /// A list replaced as a whole value (last writer wins).
    List(Box<Type>),
    /// An observed-remove set.
    Set(Box<Type>),
    /// A map from string keys to values, each key its own last-writer-wins register.
    Map(Box<Type>),
    /// A counter that merges by adding increments.
    Counter,
}

impl Type {
    /// The type as written in a schema (`ref Channel`, `set<string>`, `int?`).
    pub fn display(&self) -> String {
        match self {
            Type::Bool => "bool".into(),
            Type::Int => "int".into(),
            Type::Float => "float".into(),
            Type::String => "string".into(),
            Type::Bytes => "bytes".into(),
            Type::Timestamp => "timestamp".into(),
            Type::Identity => "identity".into(),
            Type::Counter => "counter".into(),
            Type::Ref(collection) => format!("ref {collection}"),
            Type::Enum(name) | Type::Record(name) => name.clone(),
            Type::Optional(inner) => format!("{}?", inner.display()),
            Type::List(inner) => format!("list<{}>", inner.display()),
            Type::Set(inner) => format!("set<{}>", inner.display()),
            Type::Map(inner) => format!("map<string, {}>", inner.display()),
        }
    }
}

/// A field default: a constant, or the author of the inserting op.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Default {
    Value(Value),
    OpAuthor,
}

/// A constant value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    EnumVariant { r#enum: String, variant: String },
}

/// `allow <actions> if <condition>;`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docs: Option<String>,
    pub actions: Vec<Action>,
    pub condition: Expr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Insert,
    /// An update; `fields: None` allows any field, `Some` only the listed ones.
    Update {
        fields: Option<Vec<String>>,
    },
    Delete,
}

/// Which row a field access reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowRef {
    /// The row being written, as it is after the op (as it was, for a delete).
    Subject,
    /// The row before an update (`old.f`).
    Old,
    /// The row after an insert or update (`new.f`).
    New,
    /// The row bound by the enclosing `exists C name`.
    Bound(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// A resolved, type-checked expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    Literal(Value),
    /// A field of a row, followed through record fields: `m.address.city` is
    /// `{ row: Bound("m"), path: ["address", "city"] }`.
    Field {
        row: RowRef,
        path: Vec<String>,
    },
    /// The id of a row: `self`, or a bound variable used as a value (`c = channel`).
    RowId(RowRef),
    OpAuthor,
    DbFounder,
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare {
        op: Comparison,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    In {
        value: Box<Expr>,
        options: Vec<Expr>,
    },
    Len(Box<Expr>),
    /// `exists collection variable where condition`; no condition means "any row".
    Exists {
        collection: String,
        variable: String,
        condition: Option<Box<Expr>>,
    },
}

/// `migrate from "<hash>" { … }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    /// The `blake3:<hex>` hash of the schema this one upgrades.
    pub from: String,
    pub steps: Vec<MigrationStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationStep {
    /// A new field, filled with `value` in every existing row; without a value, the field
    /// starts empty (null, an empty set, list or map, a zero counter).
    AddField {
        collection: String,
        field: String,
        value: Option<Value>,
    },
    RenameField {
        collection: String,
        field: String,
        new_name: String,
    },
    DropField {
        collection: String,
        field: String,
    },
    DropCollection {
        collection: String,
    },
    /// Overwrite a field in every existing row (also how a field changes type).
    SetField {
        collection: String,
        field: String,
        value: Value,
    },
}
