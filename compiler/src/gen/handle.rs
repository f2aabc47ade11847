//! The database handle of a generated module: `Db` (create, open, join, one accessor per
//! collection, transactions, explain, events), per collection the accessors `ThreadTable`
//! (`db.thread()`) and `ThreadTx` (`tx.thread()`), the update builder `ThreadUpdate`, the
//! query `ThreadQuery` with `ThreadField`, and the `Event` enum. Each is a thin typed face on
//! `cairn::typed`, which calls the dynamic API.

use super::names::{self, ident, snake, Names};
use super::types::{id_ident, is_filterable, new_type, row_type};
use super::{Context, GenError};
use crate::ir::{self, Type};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

pub fn generate(cx: &Context, names: &mut Names) -> Result<TokenStream, GenError> {
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
    let mut out = TokenStream::new();
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
    let mut db_methods = TokenStream::new();
    let mut tx_methods = TokenStream::new();
    for (name, collection) in &cx.schema.collections {
        for suffix in ["Table", "Tx", "Update", "Query", "Field"] {
            names.take(&format!("{name}{suffix}"), format!("a handle of collection {name}"))?;
        }
        let accessor = snake(name);
        accessors.take(&accessor, format!("the accessor of collection {name}"))?;
        let accessor = ident(&accessor);
        let table = format_ident!("{}Table", name);
        let tx = format_ident!("{}Tx", name);
        let documentation = format!(" The `{name}` rows.");
        db_methods.extend(quote! {
            #[doc = #documentation]
            pub fn #accessor(&self) -> #table<'_> {
                #table { db: &self.inner }
            }
        });
        tx_methods.extend(quote! {
            #[doc = #documentation]
            pub fn #accessor(&mut self) -> #tx<'_> {
                #tx { inner: &mut *self.inner }
            }
        });
        out.extend(accessors_of(cx, name));
        out.extend(update(cx, name, collection)?);
        out.extend(query(cx, name, collection)?);
    }
    out.extend(database(cx, db_methods, tx_methods));
    out.extend(events(cx)?);
    Ok(out)
}

fn database(cx: &Context, db_methods: TokenStream, tx_methods: TokenStream) -> TokenStream {
    let rt = &cx.rt;
    let documentation = format!(" The `{}` database, as one author writes it.", cx.schema.name);
    quote! {
        #[doc = #documentation]
        #[derive(Debug)]
        pub struct Db {
            inner: #rt::typed::Database,
        }

        impl Db {
            /// Creates a new database in a store file at `path`; `key` founds it (signs its
            /// genesis op) and writes as its author.
            pub fn create(path: impl AsRef<::std::path::Path>, key: #rt::Keypair) -> Result<Db, #rt::OpenError> {
                let replica = #rt::Replica::create(#rt::Storage::File(path.as_ref()), &key, schema()?)?;
                Db::from_replica(replica, key)
            }

            /// Creates a new database in memory (tests, caches).
            pub fn create_in_memory(key: #rt::Keypair) -> Result<Db, #rt::OpenError> {
                let replica = #rt::Replica::create(#rt::Storage::Memory, &key, schema()?)?;
                Db::from_replica(replica, key)
            }

            /// Joins the database `id` with an empty store at `path`, to be filled by sync or
            /// import; `key` writes.
            pub fn join(path: impl AsRef<::std::path::Path>, id: #rt::DatabaseId, key: #rt::Keypair) -> Result<Db, #rt::OpenError> {
                let replica = #rt::Replica::join(#rt::Storage::File(path.as_ref()), id, schema()?)?;
                Db::from_replica(replica, key)
            }

            /// Joins the database `id` in memory.
            pub fn join_in_memory(id: #rt::DatabaseId, key: #rt::Keypair) -> Result<Db, #rt::OpenError> {
                let replica = #rt::Replica::join(#rt::Storage::Memory, id, schema()?)?;
                Db::from_replica(replica, key)
            }

            /// Opens a store; refused if it holds another schema than this module's.
            pub fn open(path: impl AsRef<::std::path::Path>, key: #rt::Keypair) -> Result<Db, #rt::OpenError> {
                Db::from_replica(#rt::Replica::open(#rt::Storage::File(path.as_ref()))?, key)
            }

            /// Wraps a replica; refused if it holds another schema than this module's.
            pub fn from_replica(replica: #rt::Replica, key: #rt::Keypair) -> Result<Db, #rt::OpenError> {
                Ok(Db { inner: #rt::typed::Database::new(replica, key, SCHEMA_HASH)? })
            }

            /// The replica underneath: sync, export, the dynamic API.
            pub fn replica(&self) -> &#rt::Replica {
                self.inner.replica()
            }

            /// The database's id.
            pub fn id(&self) -> #rt::DatabaseId {
                self.inner.replica().id()
            }

            /// The identity this handle writes as.
            pub fn author(&self) -> #rt::Identity {
                self.inner.author().identity
            }

            #db_methods

            /// Writes the changes `build` makes as one op: all take effect or none. Returns the
            /// op (with the ids of the rows it inserted) and what `build` returned.
            pub fn transaction<T>(&self, build: impl FnOnce(&mut Tx<'_>) -> T) -> Result<(#rt::typed::Committed, T), #rt::WriteError> {
                self.inner.transaction(|inner| build(&mut Tx { inner }))
            }

            /// Why an op is or is not effective.
            pub fn explain(&self, op: &#rt::OpHash) -> Result<Option<#rt::Explanation>, #rt::StorageError> {
                self.inner.explain(op)
            }

            /// Up to `limit` events after event number `after`, with their numbers.
            pub fn events_after(&self, after: u64, limit: usize) -> Result<Vec<(u64, Event)>, #rt::QueryError> {
                self.inner.events_after(after, limit)
            }

            /// A named, durable reader of the event stream: it resumes after the last event
            /// it committed.
            pub fn consumer(&self, name: &str) -> Result<Consumer<'_>, #rt::StorageError> {
                self.inner.consumer(name)
            }
        }

        /// The changes of one op: `db.transaction(|tx| …)`.
        #[derive(Debug)]
        pub struct Tx<'t> {
            inner: &'t mut #rt::typed::TypedTransaction,
        }

        impl Tx<'_> {
            #tx_methods
        }

        /// A named, durable reader of the typed event stream.
        pub type Consumer<'d> = #rt::typed::TypedConsumer<'d, Event>;
    }
}

fn accessors_of(cx: &Context, name: &str) -> TokenStream {
    let rt = &cx.rt;
    let row = ident(name);
    let id = id_ident(name);
    let new = format_ident!("New{}", name);
    let table = format_ident!("{}Table", name);
    let tx = format_ident!("{}Tx", name);
    let update = format_ident!("{}Update", name);
    let query = format_ident!("{}Query", name);
    let table_docs = format!(" The `{name}` rows: `db.{}()`.", snake(name));
    let tx_docs = format!(" The `{name}` rows in a transaction: `tx.{}()`.", snake(name));
    quote! {
        #[doc = #table_docs]
        #[derive(Debug, Clone, Copy)]
        pub struct #table<'d> {
            db: &'d #rt::typed::Database,
        }

        impl<'d> #table<'d> {
            /// Inserts a row as one op; returns its id.
            pub fn insert(&self, row: #new) -> Result<#id, #rt::WriteError> {
                self.db.insert(row)
            }

            /// A visible row, by id.
            pub fn get(&self, id: #id) -> Result<Option<#row>, #rt::QueryError> {
                self.db.get(id.row())
            }

            /// Starts an update of a row: set fields, then `apply()` writes it as one op.
            pub fn update(&self, id: #id) -> #update<&'d #rt::typed::Database> {
                #update { sink: self.db, id, edits: Vec::new() }
            }

            /// Deletes a row (and the rows nested in it) as one op.
            pub fn delete(&self, id: #id) -> Result<#rt::VerifiedOp, #rt::WriteError> {
                self.db.delete(#name, id.row())
            }

            /// A query over the visible rows.
            pub fn query(&self) -> #query<'d> {
                #query { query: self.db.query() }
            }

            /// Every visible row, in the order they were inserted.
            pub fn all(&self) -> Result<Vec<#row>, #rt::QueryError> {
                self.db.query().rows()
            }
        }

        #[doc = #tx_docs]
        #[derive(Debug)]
        pub struct #tx<'t> {
            inner: &'t mut #rt::typed::TypedTransaction,
        }

        impl<'t> #tx<'t> {
            /// Inserts a row; returns it for the `ref` fields of later changes (its id is known
            /// once the transaction is written: `Committed::row`).
            pub fn insert(self, row: #new) -> #rt::typed::New<#id> {
                self.inner.insert(row)
            }

            /// Starts an update of a row: set fields, then `apply()` adds it to the transaction.
            pub fn update(self, id: #id) -> #update<&'t mut #rt::typed::TypedTransaction> {
                #update { sink: self.inner, id, edits: Vec::new() }
            }

            /// Deletes a row (and the rows nested in it).
            pub fn delete(self, id: #id) {
                self.inner.delete(#name, id.row())
            }
        }
    }
}

fn update(cx: &Context, name: &str, collection: &ir::Collection) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let update = format_ident!("{}Update", name);
    let mut methods = Names::default();
    methods.take("apply", "the method apply")?;
    let mut setters = TokenStream::new();
    for field in collection.fields.iter().filter(|field| !field.readonly) {
        let field_name = &field.name;
        let mut take = |method: String| methods.take(&method, format!("an edit of field {name}.{field_name}"));
        setters.extend(match &field.ty {
            Type::Set(element) => {
                let element = row_type(cx, element)?;
                let (add, remove) = (format!("add_{field_name}"), format!("remove_{field_name}"));
                take(add.clone())?;
                take(remove.clone())?;
                let (add, remove) = (format_ident!("{}", add), format_ident!("{}", remove));
                let (add_docs, remove_docs) =
                    (format!(" Adds elements to `{field_name}`."), format!(" Removes elements from `{field_name}`."));
                quote! {
                    #[doc = #add_docs]
                    pub fn #add(mut self, elements: impl IntoIterator<Item = #element>) -> Self {
                        self.edits.push(#rt::typed::add(#field_name, elements));
                        self
                    }

                    #[doc = #remove_docs]
                    pub fn #remove(mut self, elements: impl IntoIterator<Item = #element>) -> Self {
                        self.edits.push(#rt::typed::remove(#field_name, elements));
                        self
                    }
                }
            }
            Type::Map(value) => {
                let value = row_type(cx, value)?;
                let (put, unset) = (format!("put_{field_name}"), format!("unset_{field_name}"));
                take(put.clone())?;
                take(unset.clone())?;
                let (put, unset) = (format_ident!("{}", put), format_ident!("{}", unset));
                let (put_docs, unset_docs) =
                    (format!(" Sets one key of `{field_name}`."), format!(" Removes one key of `{field_name}`."));
                quote! {
                    #[doc = #put_docs]
                    pub fn #put(mut self, key: &str, value: impl Into<#value>) -> Self {
                        self.edits.push(#rt::typed::put(#field_name, key, value.into()));
                        self
                    }

                    #[doc = #unset_docs]
                    pub fn #unset(mut self, key: &str) -> Self {
                        self.edits.push(#rt::Edit::unset(#field_name, key));
                        self
                    }
                }
            }
            Type::Counter => {
                let increment = format!("increment_{field_name}");
                take(increment.clone())?;
                let increment = format_ident!("{}", increment);
                let documentation = format!(" Adds `amount` (negative to subtract) to `{field_name}`.");
                quote! {
                    #[doc = #documentation]
                    pub fn #increment(mut self, amount: i64) -> Self {
                        self.edits.push(#rt::Edit::increment(#field_name, amount));
                        self
                    }
                }
            }
            Type::Optional(inner) => {
                let clear = format!("clear_{field_name}");
                take(field_name.clone())?;
                take(clear.clone())?;
                let (setter, clear) = (ident(field_name), format_ident!("{}", clear));
                let inner = new_type(cx, inner)?;
                let (set_docs, clear_docs) =
                    (format!(" Sets `{field_name}`."), format!(" Empties `{field_name}` (sets it to null)."));
                quote! {
                    #[doc = #set_docs]
                    pub fn #setter(mut self, value: impl Into<#inner>) -> Self {
                        self.edits.push(#rt::typed::set(#field_name, Some(value.into())));
                        self
                    }

                    #[doc = #clear_docs]
                    pub fn #clear(mut self) -> Self {
                        self.edits.push(#rt::typed::set(#field_name, #rt::Value::Null));
                        self
                    }
                }
            }
            ty => {
                take(field_name.clone())?;
                let setter = ident(field_name);
                // A `ref` may name a row this transaction inserts.
                let ty = new_type(cx, ty)?;
                let documentation = format!(" Sets `{field_name}`.");
                quote! {
                    #[doc = #documentation]
                    pub fn #setter(mut self, value: impl Into<#ty>) -> Self {
                        self.edits.push(#rt::typed::set(#field_name, value.into()));
                        self
                    }
                }
            }
        });
    }
    let id = id_ident(name);
    let documentation = format!(" An update of a `{name}` row: set fields, then `apply()`.");
    Ok(quote! {
        #[doc = #documentation]
        #[derive(Debug)]
        #[must_use = "an update does nothing until it is applied"]
        pub struct #update<Sink> {
            sink: Sink,
            id: #id,
            edits: Vec<#rt::Edit>,
        }

        impl<Sink: #rt::typed::EditSink> #update<Sink> {
            #setters

            /// Applies the edits: as one op (from `db`), or as part of the transaction (from `tx`).
            pub fn apply(self) -> Sink::Output {
                self.sink.apply_edits(#name, self.id.row(), self.edits)
            }
        }
    })
}

fn query(cx: &Context, name: &str, collection: &ir::Collection) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let row = ident(name);
    let query = format_ident!("{}Query", name);
    let field_enum = format_ident!("{}Field", name);
    let mut methods = Names::default();
    for fixed in ["order_by", "order_by_descending", "order", "limit", "rows", "first", "count"] {
        methods.take(fixed, format!("the method {fixed}"))?;
    }
    let mut filters = TokenStream::new();
    let mut variants = Names::default();
    let mut orderable = Vec::new();
    for field in &collection.fields {
        let field_name = &field.name;
        if is_filterable(&field.ty) {
            let method = format!("where_{field_name}");
            methods.take(&method, format!("the filter on {name}.{field_name}"))?;
            let method = format_ident!("{}", method);
            let ty = row_type(cx, &field.ty)?;
            let documentation = format!(" Keeps the rows whose `{field_name}` equals `value`.");
            filters.extend(quote! {
                #[doc = #documentation]
                pub fn #method(mut self, value: impl Into<#ty>) -> Self {
                    self.query = self.query.filter(#field_name, value.into());
                    self
                }
            });
        }
        if is_filterable(&field.ty) || matches!(field.ty, Type::Counter) {
            let variant = names::variant(field_name)?;
            variants.take(&variant.to_string(), format!("the field {name}.{field_name}"))?;
            orderable.push((variant, field_name.clone()));
        }
    }
    let variant_idents: Vec<_> = orderable.iter().map(|(variant, _)| variant).collect();
    let variant_names: Vec<_> = orderable.iter().map(|(_, field)| field).collect();
    let variant_docs = variant_names.iter().map(|field| format!(" `{field}`."));
    let query_docs = format!(" A query over the visible `{name}` rows.");
    let field_docs = format!(" The fields of `{name}` a query can order by.");
    let order = if orderable.is_empty() {
        quote!()
    } else {
        quote! {
            /// Orders by a field, smallest first.
            pub fn order_by(mut self, field: #field_enum) -> Self {
                self.query = self.query.order(#rt::Order::by(field.as_str()));
                self
            }

            /// Orders by a field, largest first.
            pub fn order_by_descending(mut self, field: #field_enum) -> Self {
                self.query = self.query.order(#rt::Order::by_descending(field.as_str()));
                self
            }
        }
    };
    let field_type = if orderable.is_empty() {
        quote! {
            #[doc = #field_docs]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum #field_enum {}
        }
    } else {
        quote! {
            #[doc = #field_docs]
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub enum #field_enum {
                #(#[doc = #variant_docs] #variant_idents,)*
            }

            impl #field_enum {
                /// The field's name in the schema.
                pub fn as_str(&self) -> &'static str {
                    match self {
                        #(#field_enum::#variant_idents => #variant_names,)*
                    }
                }
            }
        }
    };
    Ok(quote! {
        #[doc = #query_docs]
        #[derive(Debug, Clone)]
        pub struct #query<'d> {
            query: #rt::typed::TypedQuery<'d, #row>,
        }

        impl #query<'_> {
            #filters
            #order

            /// Orders the rows (the default is the order they were inserted in).
            pub fn order(mut self, order: #rt::Order) -> Self {
                self.query = self.query.order(order);
                self
            }

            /// Returns at most `limit` rows.
            pub fn limit(mut self, limit: usize) -> Self {
                self.query = self.query.limit(limit);
                self
            }

            /// The matching rows, in order.
            pub fn rows(&self) -> Result<Vec<#row>, #rt::QueryError> {
                self.query.rows()
            }

            /// The first matching row, in order.
            pub fn first(&self) -> Result<Option<#row>, #rt::QueryError> {
                self.query.first()
            }

            /// How many rows match.
            pub fn count(&self) -> Result<usize, #rt::QueryError> {
                self.query.count()
            }
        }

        #field_type
    })
}

fn events(cx: &Context) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let mut variants = Names::default();
    variants.take("OpRolledBack", "the rollback event")?;
    variants.take("OpReinstated", "the reinstatement event")?;
    let mut declarations = TokenStream::new();
    let mut arms = TokenStream::new();
    for name in cx.schema.collections.keys() {
        let row = ident(name);
        let id = id_ident(name);
        let changes = format_ident!("{}Changes", name);
        let (inserted, updated, deleted) =
            (format!("{name}Inserted"), format!("{name}Updated"), format!("{name}Deleted"));
        for variant in [&inserted, &updated, &deleted] {
            variants.take(variant, format!("an event of collection {name}"))?;
        }
        let (inserted, updated, deleted) =
            (format_ident!("{}", inserted), format_ident!("{}", updated), format_ident!("{}", deleted));
        let (inserted_docs, updated_docs, deleted_docs) = (
            format!(" A `{name}` row became visible."),
            format!(" Fields of a `{name}` row changed."),
            format!(" A `{name}` row stopped being visible."),
        );
        declarations.extend(quote! {
            #[doc = #inserted_docs]
            #inserted {
                /// The op whose effect (or whose undoing) it is.
                op: #rt::OpHash,
                /// Why: the op was written, rolled back or reinstated.
                cause: #rt::Cause,
                /// The row.
                row: #row,
            },
            #[doc = #updated_docs]
            #updated {
                /// The op whose effect (or whose undoing) it is.
                op: #rt::OpHash,
                /// Why: the op was written, rolled back or reinstated.
                cause: #rt::Cause,
                /// The row.
                id: #id,
                /// The fields that changed, with their new values.
                changes: #changes,
            },
            #[doc = #deleted_docs]
            #deleted {
                /// The op whose effect (or whose undoing) it is.
                op: #rt::OpHash,
                /// Why: the op was written, rolled back or reinstated.
                cause: #rt::Cause,
                /// The row.
                id: #id,
            },
        });
        arms.extend(quote! {
            (#rt::EventKind::RowInserted, #name) => Event::#inserted { op, cause, row: <#row as #rt::Projection>::from_row(&row)? },
            (#rt::EventKind::RowUpdated, #name) => Event::#updated { op, cause, id: #id::from(row.id), changes: #changes::from_row(&row)? },
            (#rt::EventKind::RowDeleted, #name) => Event::#deleted { op, cause, id: #id::from(row.id) },
        });
    }
    Ok(quote! {
        /// An effect on the state, typed: rows that appeared, changed or vanished, and ops that
        /// stopped or started being effective.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum Event {
            #declarations
            /// An op that was effective stopped being so: a concurrent op defeated its rules.
            OpRolledBack {
                /// The op.
                op: #rt::OpHash,
                /// An op whose arrival defeated it.
                by: Option<#rt::OpHash>,
                /// The rows it writes, with their collections.
                rows: Vec<(String, #rt::RowId)>,
            },
            /// An op that was not effective became so again.
            OpReinstated {
                /// The op.
                op: #rt::OpHash,
                /// The op whose arrival reinstated it.
                by: Option<#rt::OpHash>,
                /// The rows it writes, with their collections.
                rows: Vec<(String, #rt::RowId)>,
            },
        }

        impl #rt::typed::TypedEvent for Event {
            fn from_event(event: #rt::Event) -> Result<Event, #rt::RowDecodeError> {
                let (op, cause) = (event.op, event.cause);
                match event.kind {
                    #rt::EventKind::OpRolledBack => return Ok(Event::OpRolledBack { op, by: event.by, rows: event.rows }),
                    #rt::EventKind::OpReinstated => return Ok(Event::OpReinstated { op, by: event.by, rows: event.rows }),
                    _ => {}
                }
                let row = #rt::typed::event_row(&event)?;
                Ok(match (event.kind, row.collection.as_str()) {
                    #arms
                    (_, other) => return Err(#rt::RowDecodeError::UnknownCollection(String::from(other))),
                })
            }
        }
    })
}
