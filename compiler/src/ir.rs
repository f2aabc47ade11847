//! The checked, resolved intermediate representation of a schema: the contract between the
//! compiler and the runtime.
//!
//! Everything in it has been resolved and type-checked. Top-level declarations live in sorted
//! maps, so the IR (and therefore the hash) does not depend on the order they were written in.
//! It serializes with serde; `schemac ir` prints it as JSON and [`crate::hash`] encodes it as
//! deterministic CBOR. Bump [`IR_VERSION`] on any change to its shape.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod walk;

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
    /// Whether queries look the field up by value through an index (`indexed`). Left out of
    /// the encoding when false, so schemas without indexes keep their hashes.
    #[serde(default, skip_serializing_if = "is_false")]
    pub indexed: bool,
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
    /// Whether a field of this type holds a single value (optional or not): what an index
    /// keys and a query filters by equality. Lists, sets, maps, counters and records do not.
    pub fn is_scalar(&self) -> bool {
        match self {
            Type::Optional(inner) => inner.is_scalar(),
            Type::List(_) | Type::Set(_) | Type::Map(_) | Type::Counter | Type::Record(_) => false,
            _ => true,
        }
    }

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

/// Prints an expression in schema syntax, parenthesised where precedence needs it: what the
/// runtime shows when it names a rule's failing clause.
impl std::fmt::Display for Expr {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write_expr(formatter, self, 0)
    }
}

/// Binding strength: `or` 1, `and` 2, `not` 3, comparisons 4, atoms 5.
fn precedence(expr: &Expr) -> u8 {
    match expr {
        Expr::Or(..) => 1,
        Expr::And(..) => 2,
        Expr::Not(_) => 3,
        Expr::Compare { .. } | Expr::In { .. } => 4,
        // A `where` clause extends to the right as far as it can, so an `exists` binds loosest.
        Expr::Exists { condition: Some(_), .. } => 0,
        _ => 5,
    }
}

fn write_expr(formatter: &mut std::fmt::Formatter<'_>, expr: &Expr, context: u8) -> std::fmt::Result {
    let parenthesise = precedence(expr) < context;
    if parenthesise {
        formatter.write_str("(")?;
    }
    match expr {
        Expr::Literal(value) => match value {
            Value::Null => formatter.write_str("null")?,
            Value::Bool(value) => write!(formatter, "{value}")?,
            Value::Int(value) => write!(formatter, "{value}")?,
            Value::Float(value) => write!(formatter, "{value:?}")?,
            Value::String(value) => write!(formatter, "{value:?}")?,
            Value::EnumVariant { variant, .. } => formatter.write_str(variant)?,
        },
        Expr::Field { row, path } => {
            match row {
                RowRef::Subject => {}
                RowRef::Old => formatter.write_str("old.")?,
                RowRef::New => formatter.write_str("new.")?,
                RowRef::Bound(name) => write!(formatter, "{name}.")?,
            }
            formatter.write_str(&path.join("."))?;
        }
        Expr::RowId(row) => match row {
            RowRef::Bound(name) => formatter.write_str(name)?,
            _ => formatter.write_str("self")?,
        },
        Expr::OpAuthor => formatter.write_str("op.author")?,
        Expr::DbFounder => formatter.write_str("db.founder")?,
        Expr::Not(inner) => {
            formatter.write_str("not ")?;
            write_expr(formatter, inner, 3)?;
        }
        Expr::And(left, right) | Expr::Or(left, right) => {
            let (word, strength) = if matches!(expr, Expr::And(..)) { ("and", 2) } else { ("or", 1) };
            // `and` and `or` group to the left: `a and b and c` is `(a and b) and c`.
            write_expr(formatter, left, strength)?;
            write!(formatter, " {word} ")?;
            write_expr(formatter, right, strength + 1)?;
        }
        Expr::Compare { op, left, right } => {
            let symbol = match op {
                Comparison::Equal => "=",
                Comparison::NotEqual => "!=",
                Comparison::Less => "<",
                Comparison::LessOrEqual => "<=",
                Comparison::Greater => ">",
                Comparison::GreaterOrEqual => ">=",
            };
            write_expr(formatter, left, 5)?;
            write!(formatter, " {symbol} ")?;
            write_expr(formatter, right, 5)?;
        }
        Expr::In { value, options } => {
            write_expr(formatter, value, 5)?;
            formatter.write_str(" in (")?;
            for (index, option) in options.iter().enumerate() {
                if index > 0 {
                    formatter.write_str(", ")?;
                }
                write_expr(formatter, option, 0)?;
            }
            formatter.write_str(")")?;
        }
        Expr::Len(inner) => {
            formatter.write_str("len(")?;
            write_expr(formatter, inner, 0)?;
            formatter.write_str(")")?;
        }
        Expr::Exists { collection, variable, condition } => {
            write!(formatter, "exists {collection} {variable}")?;
            if let Some(condition) = condition {
                formatter.write_str(" where ")?;
                write_expr(formatter, condition, 0)?;
            }
        }
    }
    if parenthesise {
        formatter.write_str(")")?;
    }
    Ok(())
}

impl std::fmt::Display for Action {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Insert => formatter.write_str("insert"),
            Action::Update { fields: None } => formatter.write_str("update"),
            Action::Update { fields: Some(fields) } => write!(formatter, "update({})", fields.join(", ")),
            Action::Delete => formatter.write_str("delete"),
        }
    }
}

/// `allow <actions> if <condition>`, as the schema says it.
impl std::fmt::Display for Rule {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("allow ")?;
        for (index, action) in self.actions.iter().enumerate() {
            if index > 0 {
                formatter.write_str(", ")?;
            }
            write!(formatter, "{action}")?;
        }
        write!(formatter, " if {}", self.condition)
    }
}

fn is_false(value: &bool) -> bool {
    !*value
}
