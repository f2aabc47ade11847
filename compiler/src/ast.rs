//! The spanned syntax tree of one `.schema` file, exactly as written.
//!
//! The parser builds it, the formatter prints it back, and the checker lowers it to the IR.
//! Nothing here is resolved or type-checked: names are plain strings with the span they came
//! from, and parentheses are kept so the formatter can print what the author wrote.

use std::ops::Range;

/// A byte range in the source text.
pub type Span = Range<usize>;

/// A name and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A whole file: the `schema` header and the top-level items in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub docs: Docs,
    pub name: Name,
    /// The span of the `schema name;` header.
    pub header_span: Span,
    pub items: Vec<Item>,
}

/// `///` lines attached to the item below them, without the slashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Docs {
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Enum(EnumDecl),
    Record(RecordDecl),
    Collection(CollectionDecl),
    Migration(MigrationDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Enum(item) => item.span.clone(),
            Item::Record(item) => item.span.clone(),
            Item::Collection(item) => item.span.clone(),
            Item::Migration(item) => item.span.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumDecl {
    pub docs: Docs,
    pub name: Name,
    pub variants: Vec<EnumVariant>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumVariant {
    pub docs: Docs,
    pub name: Name,
}

/// `type Name { field, … }`: a record type, stored inline in the row that holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDecl {
    pub docs: Docs,
    pub name: Name,
    pub fields: Vec<Field>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectionDecl {
    pub docs: Docs,
    pub name: Name,
    pub members: Vec<Member>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    Field(Field),
    Rule(Rule),
    Collection(CollectionDecl),
}

impl Member {
    pub fn span(&self) -> Span {
        match self {
            Member::Field(field) => field.span.clone(),
            Member::Rule(rule) => rule.span.clone(),
            Member::Collection(collection) => collection.span.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub docs: Docs,
    pub name: Name,
    pub ty: TypeExpr,
    pub modifiers: Vec<FieldModifier>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldModifier {
    Readonly(Span),
    /// `indexed`: queries look the field up by value through an index.
    Indexed(Span),
    Default(Expr),
    Check(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeExprKind,
    pub optional: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeExprKind {
    /// A builtin scalar (`int`, `string`, …), `counter`, or an enum or record type name.
    Named(Name),
    Ref(Name),
    List(Box<TypeExpr>),
    Set(Box<TypeExpr>),
    Map(Box<TypeExpr>, Box<TypeExpr>),
}

/// `allow <actions> if <condition>;`
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub docs: Docs,
    pub actions: Vec<Action>,
    pub condition: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Insert,
    /// `update` alone (`None`) or `update(f, g)` restricted to the named fields.
    Update(Option<Vec<Name>>),
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Equal => "=",
            CompareOp::NotEqual => "!=",
            CompareOp::Less => "<",
            CompareOp::LessOrEqual => "<=",
            CompareOp::Greater => ">",
            CompareOp::GreaterOrEqual => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Null,
    /// A dotted name: `owner`, `m.role`, `op.author`, `old.body`, `Role.admin`, `self`.
    Path(Vec<Name>),
    Call {
        function: Name,
        argument: Box<Expr>,
    },
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare {
        op: CompareOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    In {
        value: Box<Expr>,
        options: Vec<Expr>,
    },
    Exists {
        collection: Name,
        variable: Name,
        condition: Option<Box<Expr>>,
    },
    Paren(Box<Expr>),
}

/// `migrate from "blake3:…" { steps }`
#[derive(Debug, Clone, PartialEq)]
pub struct MigrationDecl {
    pub docs: Docs,
    /// The hash text as written, without quotes.
    pub from: String,
    pub from_span: Span,
    pub steps: Vec<MigrationStep>,
    pub span: Span,
}

/// `Collection` or `Collection.field` in a migration step.
#[derive(Debug, Clone, PartialEq)]
pub struct QualifiedName {
    pub collection: Name,
    pub field: Option<Name>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MigrationStepKind {
    /// `add C.f = value;`, or `add C.f;` for a field that starts empty (optional, set, map,
    /// list, counter).
    Add {
        target: QualifiedName,
        value: Option<Expr>,
    },
    Rename {
        target: QualifiedName,
        new_name: Name,
    },
    Drop {
        target: QualifiedName,
    },
    Set {
        target: QualifiedName,
        value: Expr,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MigrationStep {
    pub kind: MigrationStepKind,
    pub span: Span,
}
