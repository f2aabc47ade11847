//! The database handle of a generated module: `Db` (create, open, join, one accessor per
//! collection, transactions, explain, events), per collection the accessors `ThreadTable`
//! (`db.thread()`) and `ThreadTx` (`tx.thread()`), the update builder `ThreadUpdate`, the
//! query `ThreadQuery` with `ThreadField`, and the `Event` enum. Each is a thin typed face on
//! `cairn::typed`, which calls the dynamic API.

use super::names::{self, ident, snake, Names};
use super::types::{id_type, new_type, row_type};
use super::{close_block, string_literal, Context, GenError};
use crate::ir::{self, Type};

pub fn generate(cx: &Context, names: &mut Names, out: &mut String) -> Result<(), GenError> {
    for (fixed, purpose) in [
        ("Db", "the database handle"),
        ("Tx", "the transaction handle"),
        ("Event", "the event enum"),
        ("Consumer", "the event consumer"),
        ("SCHEMA_HASH", "the schema hash"),
        ("SCHEMA_IR", "the embedded schema"),
    ] {
        names.take(fixed, purpose)?;
    }
    let mut accessors = Names::default();
    for fixed in [
        "create",
        "create_in_memory",
        "join",
        "join_in_memory",
        "open",
        "from_replica",
        "replica",
        "id",
        "author",
        "transaction",
        "explain",
        "events_after",
        "consumer",
    ] {
        accessors.take(fixed, format!("the method Db::{fixed}"))?;
    }
    let mut db_methods = String::new();
    let mut tx_methods = String::new();
    for (name, collection) in &cx.schema.collections {
        for suffix in ["Table", "Tx", "Update", "Query", "Field"] {
            names.take(&format!("{name}{suffix}"), format!("a handle of collection {name}"))?;
        }
        let accessor = snake(name);
        accessors.take(&accessor, format!("the accessor of collection {name}"))?;
        let accessor = ident(&accessor);
        item!(
            &mut db_methods,
            "    /// The `{name}` rows.
    pub fn {accessor}(&self) -> {name}Table<'_> {{
        {name}Table {{ db: &self.inner }}
    }}
"
        );
        item!(
            &mut tx_methods,
            "    /// The `{name}` rows.
    pub fn {accessor}(&mut self) -> {name}Tx<'_> {{
        {name}Tx {{ inner: &mut *self.inner }}
    }}
"
        );
        accessors_of(cx, name, out);
        update(cx, name, collection, out)?;
        query(cx, name, collection, out)?;
    }
    database(cx, &db_methods, &tx_methods, out);
    events(cx, out)
}

fn database(cx: &Context, db_methods: &str, tx_methods: &str, out: &mut String) {
    let rt = &cx.rt;
    let schema_name = &cx.schema.name;
    item!(
        out,
        "\
/// The `{schema_name}` database, as one author writes it.
#[derive(Debug)]
pub struct Db {{
    inner: {rt}::typed::Database,
}}

impl Db {{
    /// Creates a new database in a store file at `path`; `key` founds it (signs its
    /// genesis op) and writes as its author.
    pub fn create(
        path: impl AsRef<::std::path::Path>,
        key: {rt}::Keypair,
    ) -> Result<Db, {rt}::OpenError> {{
        let replica = {rt}::Replica::create({rt}::Storage::File(path.as_ref()), &key, schema()?)?;
        Db::from_replica(replica, key)
    }}

    /// Creates a new database in memory (tests, caches).
    pub fn create_in_memory(key: {rt}::Keypair) -> Result<Db, {rt}::OpenError> {{
        let replica = {rt}::Replica::create({rt}::Storage::Memory, &key, schema()?)?;
        Db::from_replica(replica, key)
    }}

    /// Joins the database `id` with an empty store at `path`, to be filled by sync or
    /// import; `key` writes.
    pub fn join(
        path: impl AsRef<::std::path::Path>,
        id: {rt}::DatabaseId,
        key: {rt}::Keypair,
    ) -> Result<Db, {rt}::OpenError> {{
        let replica = {rt}::Replica::join({rt}::Storage::File(path.as_ref()), id, schema()?)?;
        Db::from_replica(replica, key)
    }}

    /// Joins the database `id` in memory.
    pub fn join_in_memory(id: {rt}::DatabaseId, key: {rt}::Keypair) -> Result<Db, {rt}::OpenError> {{
        let replica = {rt}::Replica::join({rt}::Storage::Memory, id, schema()?)?;
        Db::from_replica(replica, key)
    }}

    /// Opens a store; refused if it holds another schema than this module's.
    pub fn open(
        path: impl AsRef<::std::path::Path>,
        key: {rt}::Keypair,
    ) -> Result<Db, {rt}::OpenError> {{
        Db::from_replica({rt}::Replica::open({rt}::Storage::File(path.as_ref()))?, key)
    }}

    /// Wraps a replica; refused if it holds another schema than this module's.
    pub fn from_replica(replica: {rt}::Replica, key: {rt}::Keypair) -> Result<Db, {rt}::OpenError> {{
        Ok(Db {{ inner: {rt}::typed::Database::new(replica, key, SCHEMA_HASH)? }})
    }}

    /// The replica underneath: sync, export, the dynamic API.
    pub fn replica(&self) -> &{rt}::Replica {{
        self.inner.replica()
    }}

    /// The database's id.
    pub fn id(&self) -> {rt}::DatabaseId {{
        self.inner.replica().id()
    }}

    /// The identity this handle writes as.
    pub fn author(&self) -> {rt}::Identity {{
        self.inner.author().identity
    }}

{db_methods}
    /// Writes the changes `build` makes as one op: all take effect or none. Returns the
    /// op (with the ids of the rows it inserted) and what `build` returned.
    pub fn transaction<T>(
        &self,
        build: impl FnOnce(&mut Tx<'_>) -> T,
    ) -> Result<({rt}::typed::Committed, T), {rt}::WriteError> {{
        self.inner.transaction(|inner| build(&mut Tx {{ inner }}))
    }}

    /// Why an op is or is not effective.
    pub fn explain(
        &self,
        op: &{rt}::OpHash,
    ) -> Result<Option<{rt}::Explanation>, {rt}::StorageError> {{
        self.inner.explain(op)
    }}

    /// Up to `limit` events after event number `after`, with their numbers.
    pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Event)>, {rt}::QueryError> {{
        self.inner.events_after(after, limit)
    }}

    /// A named, durable reader of the event stream: it resumes after the last event
    /// it committed.
    pub fn consumer(&self, name: &str) -> Result<Consumer<'_>, {rt}::StorageError> {{
        self.inner.consumer(name)
    }}
}}

/// The changes of one op: `db.transaction(|tx| …)`.
#[derive(Debug)]
pub struct Tx<'t> {{
    inner: &'t mut {rt}::typed::TypedTransaction,
}}

impl Tx<'_> {{
{tx_methods}}}

/// A named, durable reader of the typed event stream.
pub type Consumer<'d> = {rt}::typed::TypedConsumer<'d, Event>;
"
    );
}

fn accessors_of(cx: &Context, name: &str, out: &mut String) {
    let rt = &cx.rt;
    let row = ident(name);
    let id = id_type(name);
    let accessor = snake(name);
    let literal = string_literal(name);
    item!(
        out,
        "\
/// The `{name}` rows: `db.{accessor}()`.
#[derive(Debug, Clone, Copy)]
pub struct {name}Table<'d> {{
    db: &'d {rt}::typed::Database,
}}

impl<'d> {name}Table<'d> {{
    /// Inserts a row as one op; returns its id.
    pub fn insert(&self, row: New{name}) -> Result<{id}, {rt}::WriteError> {{
        self.db.insert(row)
    }}

    /// A visible row, by id.
    pub fn get(&self, id: {id}) -> Result<Option<{row}>, {rt}::QueryError> {{
        self.db.get(id.row())
    }}

    /// Starts an update of a row: set fields, then `apply()` writes it as one op.
    pub fn update(&self, id: {id}) -> {name}Update<&'d {rt}::typed::Database> {{
        {name}Update {{ sink: self.db, id, edits: Vec::new() }}
    }}

    /// Deletes a row (and the rows nested in it) as one op.
    pub fn delete(&self, id: {id}) -> Result<{rt}::VerifiedOp, {rt}::WriteError> {{
        self.db.delete({literal}, id.row())
    }}

    /// A query over the visible rows.
    pub fn query(&self) -> {name}Query<'d> {{
        {name}Query {{ query: self.db.query() }}
    }}

    /// Every visible row, in the order they were inserted.
    pub fn all(&self) -> Result<Vec<{row}>, {rt}::QueryError> {{
        self.db.query().rows()
    }}
}}

/// The `{name}` rows in a transaction: `tx.{accessor}()`.
#[derive(Debug)]
pub struct {name}Tx<'t> {{
    inner: &'t mut {rt}::typed::TypedTransaction,
}}

impl<'t> {name}Tx<'t> {{
    /// Inserts a row; returns it for the `ref` fields of later changes (its id is known
    /// once the transaction is written: `Committed::row`).
    pub fn insert(self, row: New{name}) -> {rt}::typed::New<{id}> {{
        self.inner.insert(row)
    }}

    /// Starts an update of a row: set fields, then `apply()` adds it to the transaction.
    pub fn update(self, id: {id}) -> {name}Update<&'t mut {rt}::typed::TypedTransaction> {{
        {name}Update {{ sink: self.inner, id, edits: Vec::new() }}
    }}

    /// Deletes a row (and the rows nested in it).
    pub fn delete(self, id: {id}) {{
        self.inner.delete({literal}, id.row())
    }}
}}
"
    );
}

/// One edit method of an update builder: its docs, name, parameters and the edit it pushes.
fn setter(out: &mut String, documentation: &str, method: &str, parameters: &str, edit: &str) {
    item!(
        out,
        "    /// {documentation}
    pub fn {method}(mut self{parameters}) -> Self {{
        self.edits.push({edit});
        self
    }}
"
    );
}

fn update(cx: &Context, name: &str, collection: &ir::Collection, out: &mut String) -> Result<(), GenError> {
    let rt = &cx.rt;
    let id = id_type(name);
    item!(
        out,
        "\
/// An update of a `{name}` row: set fields, then `apply()`.
#[derive(Debug)]
#[must_use = \"an update does nothing until it is applied\"]
pub struct {name}Update<Sink> {{
    sink: Sink,
    id: {id},
    edits: Vec<{rt}::Edit>,
}}

impl<Sink: {rt}::typed::EditSink> {name}Update<Sink> {{
"
    );
    let mut methods = Names::default();
    methods.take("apply", "the method apply")?;
    for field in collection.fields.iter().filter(|field| !field.readonly) {
        let field_name = &field.name;
        let key = string_literal(field_name);
        let mut take = |method: &str| methods.take(method, format!("an edit of field {name}.{field_name}"));
        match &field.ty {
            Type::Set(element) => {
                let element = row_type(cx, element);
                let parameters = format!(", elements: impl IntoIterator<Item = {element}>");
                let (add, remove) = (format!("add_{field_name}"), format!("remove_{field_name}"));
                take(&add)?;
                take(&remove)?;
                let (add_docs, remove_docs) =
                    (format!("Adds elements to `{field_name}`."), format!("Removes elements from `{field_name}`."));
                setter(out, &add_docs, &add, &parameters, &format!("{rt}::typed::add({key}, elements)"));
                setter(out, &remove_docs, &remove, &parameters, &format!("{rt}::typed::remove({key}, elements)"));
            }
            Type::Map(value) => {
                let value = row_type(cx, value);
                let (put, unset) = (format!("put_{field_name}"), format!("unset_{field_name}"));
                take(&put)?;
                take(&unset)?;
                let (put_docs, unset_docs) =
                    (format!("Sets one key of `{field_name}`."), format!("Removes one key of `{field_name}`."));
                let put_edit = format!("{rt}::typed::put({key}, key, value.into())");
                setter(out, &put_docs, &put, &format!(", key: &str, value: impl Into<{value}>"), &put_edit);
                setter(out, &unset_docs, &unset, ", key: &str", &format!("{rt}::Edit::unset({key}, key)"));
            }
            Type::Counter => {
                let increment = format!("increment_{field_name}");
                take(&increment)?;
                let documentation = format!("Adds `amount` (negative to subtract) to `{field_name}`.");
                let edit = format!("{rt}::Edit::increment({key}, amount)");
                setter(out, &documentation, &increment, ", amount: i64", &edit);
            }
            Type::Optional(inner) => {
                let clear = format!("clear_{field_name}");
                take(field_name)?;
                take(&clear)?;
                let (set_docs, clear_docs) =
                    (format!("Sets `{field_name}`."), format!("Empties `{field_name}` (sets it to null)."));
                let parameters = format!(", value: impl Into<{}>", new_type(cx, inner));
                let set_edit = format!("{rt}::typed::set({key}, Some(value.into()))");
                setter(out, &set_docs, &ident(field_name), &parameters, &set_edit);
                setter(out, &clear_docs, &clear, "", &format!("{rt}::typed::set({key}, {rt}::Value::Null)"));
            }
            ty => {
                take(field_name)?;
                // A `ref` may name a row this transaction inserts.
                let parameters = format!(", value: impl Into<{}>", new_type(cx, ty));
                let edit = format!("{rt}::typed::set({key}, value.into())");
                setter(out, &format!("Sets `{field_name}`."), &ident(field_name), &parameters, &edit);
            }
        }
    }
    let literal = string_literal(name);
    item!(
        out,
        "    /// Applies the edits: as one op (from `db`), or as part of the transaction (from `tx`).
    pub fn apply(self) -> Sink::Output {{
        self.sink.apply_edits({literal}, self.id.row(), self.edits)
    }}
}}
"
    );
    Ok(())
}

fn query(cx: &Context, name: &str, collection: &ir::Collection, out: &mut String) -> Result<(), GenError> {
    let rt = &cx.rt;
    let row = ident(name);
    item!(
        out,
        "\
/// A query over the visible `{name}` rows.
#[derive(Debug, Clone)]
pub struct {name}Query<'d> {{
    query: {rt}::typed::TypedQuery<'d, {row}>,
}}

impl {name}Query<'_> {{
"
    );
    let mut methods = Names::default();
    for fixed in ["order_by", "order_by_descending", "order", "limit", "rows", "first", "count"] {
        methods.take(fixed, format!("the method {fixed}"))?;
    }
    let mut variants = Names::default();
    let mut orderable = Vec::new();
    for field in &collection.fields {
        let field_name = &field.name;
        if field.ty.is_scalar() {
            let method = format!("where_{field_name}");
            methods.take(&method, format!("the filter on {name}.{field_name}"))?;
            let (ty, key) = (row_type(cx, &field.ty), string_literal(field_name));
            item!(
                out,
                "    /// Keeps the rows whose `{field_name}` equals `value`.
    pub fn {method}(mut self, value: impl Into<{ty}>) -> Self {{
        self.query = self.query.filter({key}, value.into());
        self
    }}
"
            );
        }
        if field.ty.is_scalar() || matches!(field.ty, Type::Counter) {
            let variant = names::variant(field_name)?;
            variants.take(&variant, format!("the field {name}.{field_name}"))?;
            orderable.push((variant, field_name));
        }
    }
    if !orderable.is_empty() {
        item!(
            out,
            "    /// Orders by a field, smallest first.
    pub fn order_by(mut self, field: {name}Field) -> Self {{
        self.query = self.query.order({rt}::Order::by(field.as_str()));
        self
    }}

    /// Orders by a field, largest first.
    pub fn order_by_descending(mut self, field: {name}Field) -> Self {{
        self.query = self.query.order({rt}::Order::by_descending(field.as_str()));
        self
    }}
"
        );
    }
    item!(
        out,
        "    /// Orders the rows (the default is the order they were inserted in).
    pub fn order(mut self, order: {rt}::Order) -> Self {{
        self.query = self.query.order(order);
        self
    }}

    /// Returns at most `limit` rows.
    pub fn limit(mut self, limit: usize) -> Self {{
        self.query = self.query.limit(limit);
        self
    }}

    /// The matching rows, in order.
    pub fn rows(&self) -> Result<Vec<{row}>, {rt}::QueryError> {{
        self.query.rows()
    }}

    /// The first matching row, in order.
    pub fn first(&self) -> Result<Option<{row}>, {rt}::QueryError> {{
        self.query.first()
    }}

    /// How many rows match.
    pub fn count(&self) -> Result<usize, {rt}::QueryError> {{
        self.query.count()
    }}
}}

/// The fields of `{name}` a query can order by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum {name}Field {{
"
    );
    for (variant, field_name) in &orderable {
        emit!(out, "    /// `{field_name}`.\n    {variant},\n");
    }
    close_block(out, "", '}');
    if orderable.is_empty() {
        return Ok(());
    }
    emit!(
        out,
        "
impl {name}Field {{
    /// The field's name in the schema.
    pub fn as_str(&self) -> &'static str {{
        match self {{
"
    );
    for (variant, field_name) in &orderable {
        emit!(out, "            {name}Field::{variant} => {},\n", string_literal(field_name));
    }
    out.push_str("        }\n    }\n}\n");
    Ok(())
}

fn events(cx: &Context, out: &mut String) -> Result<(), GenError> {
    let rt = &cx.rt;
    let mut variants = Names::default();
    variants.take("OpRolledBack", "the rollback event")?;
    variants.take("OpReinstated", "the reinstatement event")?;
    item!(
        out,
        "\
/// An effect on the state, typed: rows that appeared, changed or vanished, and ops that
/// stopped or started being effective.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Event {{
"
    );
    let why = format!(
        "        /// The op whose effect (or whose undoing) it is.
        op: {rt}::OpHash,
        /// Why: the op was written, rolled back or reinstated.
        cause: {rt}::Cause,
"
    );
    let mut arms = String::new();
    for name in cx.schema.collections.keys() {
        let (row, id, literal) = (ident(name), id_type(name), string_literal(name));
        for event in ["Inserted", "Updated", "Deleted"] {
            variants.take(&format!("{name}{event}"), format!("an event of collection {name}"))?;
        }
        emit!(
            out,
            "    /// A `{name}` row became visible.
    {name}Inserted {{
{why}        /// The row.
        row: {row},
    }},
    /// Fields of a `{name}` row changed.
    {name}Updated {{
{why}        /// The row.
        id: {id},
        /// The fields that changed, with their new values.
        changes: {name}Changes,
    }},
    /// A `{name}` row stopped being visible.
    {name}Deleted {{
{why}        /// The row.
        id: {id},
    }},
"
        );
        emit!(
            &mut arms,
            "            ({rt}::EventKind::RowInserted, {literal}) => Event::{name}Inserted {{
                op,
                cause,
                row: <{row} as {rt}::Projection>::from_row(&row)?,
            }},
            ({rt}::EventKind::RowUpdated, {literal}) => Event::{name}Updated {{
                op,
                cause,
                id: {id}::from(row.id),
                changes: {name}Changes::from_row(&row)?,
            }},
            ({rt}::EventKind::RowDeleted, {literal}) => Event::{name}Deleted {{
                op,
                cause,
                id: {id}::from(row.id),
            }},
"
        );
    }
    emit!(
        out,
        "    /// An op that was effective stopped being so: a concurrent op defeated its rules.
    OpRolledBack {{
        /// The op.
        op: {rt}::OpHash,
        /// An op whose arrival defeated it.
        by: Option<{rt}::OpHash>,
        /// The rows it writes, with their collections.
        rows: Vec<(String, {rt}::RowId)>,
    }},
    /// An op that was not effective became so again.
    OpReinstated {{
        /// The op.
        op: {rt}::OpHash,
        /// The op whose arrival reinstated it.
        by: Option<{rt}::OpHash>,
        /// The rows it writes, with their collections.
        rows: Vec<(String, {rt}::RowId)>,
    }},
}}

impl {rt}::typed::TypedEvent for Event {{
    fn from_event(event: {rt}::Event) -> Result<Event, {rt}::RowDecodeError> {{
        let (op, cause) = (event.op, event.cause);
        match event.kind {{
            {rt}::EventKind::OpRolledBack => {{
                return Ok(Event::OpRolledBack {{ op, by: event.by, rows: event.rows }});
            }}
            {rt}::EventKind::OpReinstated => {{
                return Ok(Event::OpReinstated {{ op, by: event.by, rows: event.rows }});
            }}
            _ => {{}}
        }}
        let row = {rt}::typed::event_row(&event)?;
        Ok(match (event.kind, row.collection.as_str()) {{
{arms}            (_, other) => return Err({rt}::RowDecodeError::UnknownCollection(String::from(other))),
        }})
    }}
}}
"
    );
    Ok(())
}
