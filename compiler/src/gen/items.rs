//! The data types of a generated module: an enum per schema enum, a struct per record, and per
//! collection its id, its row struct (read from rows), its insert struct (with the defaults and
//! the compiled checks) and its changes struct (an update's new values, in events).

use super::checks::check_calls;
use super::names::{self, ident, Names};
use super::types::{has_float, id_ident, new_type, row_type, starts_empty};
use super::{docs, Context, GenError};
use crate::ir;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

/// The derives for serde, through the runtime's re-export.
fn serde_derives(cx: &Context) -> (TokenStream, TokenStream) {
    let rt = &cx.rt;
    let path = format!("{}::__serde", cx.options.runtime_path);
    (quote!(#rt::__serde::Serialize, #rt::__serde::Deserialize), quote!(#[serde(crate = #path)]))
}

pub fn generate(cx: &Context, names: &mut Names) -> Result<TokenStream, GenError> {
    let mut out = TokenStream::new();
    for (name, definition) in &cx.schema.enums {
        if cx.options.extern_types.contains_key(name) {
            continue;
        }
        names.take(name, format!("enum {name}"))?;
        out.extend(enumeration(cx, name, definition)?);
    }
    for (name, record) in &cx.schema.records {
        if cx.options.extern_types.contains_key(name) {
            continue;
        }
        names.take(name, format!("record {name}"))?;
        out.extend(record_struct(cx, name, record)?);
    }
    for (name, collection) in &cx.schema.collections {
        for (generated, purpose) in [
            (name.clone(), "row struct"),
            (format!("{name}Id"), "id"),
            (format!("New{name}"), "insert struct"),
            (format!("{name}Changes"), "changes struct"),
        ] {
            names.take(&generated, format!("the {purpose} of collection {name}"))?;
        }
        if collection.fields.iter().any(|field| field.name == "id") {
            return Err(GenError::NameClash {
                name: format!("{name}.id"),
                first: "the row's id".into(),
                second: format!("a field of collection {name}"),
            });
        }
        out.extend(id_type(cx, name));
        out.extend(row_struct(cx, name, collection)?);
        out.extend(insert_struct(cx, name, collection)?);
        out.extend(changes_struct(cx, name, collection)?);
    }
    Ok(out)
}

fn enumeration(cx: &Context, name: &str, definition: &ir::Enum) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let type_name = ident(name);
    let (derives, serde_crate) = serde_derives(cx);
    let mut variants = Names::default();
    let mut idents = Vec::new();
    for variant in &definition.variants {
        let generated = names::variant(variant)?;
        variants.take(&generated.to_string(), format!("variant {variant} of enum {name}"))?;
        idents.push(generated);
    }
    let schema_names = &definition.variants;
    let count = proc_macro2::Literal::usize_unsuffixed(definition.variants.len());
    let documentation = docs(&definition.docs, format!("The schema's enum `{name}`."));
    let attributes = cx.type_attributes(name)?;
    let variant_docs = schema_names.iter().map(|variant| format!(" `{variant}`."));
    let expected = format!("a {name}");
    Ok(quote! {
        #documentation
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, #derives)]
        #serde_crate
        #attributes
        pub enum #type_name {
            #(#[doc = #variant_docs] #[serde(rename = #schema_names)] #idents,)*
        }

        impl #type_name {
            /// Every variant, in the schema's order.
            pub const ALL: [#type_name; #count] = [#(#type_name::#idents),*];

            /// The variant's name in the schema.
            pub fn as_str(&self) -> &'static str {
                match self {
                    #(#type_name::#idents => #schema_names,)*
                }
            }
        }

        impl ::core::fmt::Display for #type_name {
            fn fmt(&self, formatter: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl #rt::FieldValue for #type_name {
            fn into_value(self) -> #rt::Value {
                #rt::Value::Text(String::from(self.as_str()))
            }

            fn from_value(value: &#rt::Value) -> Result<Self, #rt::typed::ValueMismatch> {
                let found = match value {
                    #rt::Value::Text(text) => match text.as_str() {
                        #(#schema_names => return Ok(#type_name::#idents),)*
                        _ => "another name",
                    },
                    other => #rt::typed::describe(other),
                };
                Err(#rt::typed::ValueMismatch { expected: #expected, found })
            }
        }

        impl #rt::typed::Holds<#rt::typed::kinds::Enum> for #type_name {}
    })
}

/// `pub name: Type,` with its docs and attributes, for each field.
fn field_list(
    cx: &Context,
    owner: &str,
    fields: &[ir::Field],
    ty: impl Fn(&ir::Field) -> Result<TokenStream, GenError>,
) -> Result<TokenStream, GenError> {
    let mut out = TokenStream::new();
    for field in fields {
        let name = ident(&field.name);
        let documentation = docs(&field.docs, format!("The `{}` field.", field.name));
        let attributes = cx.field_attributes(owner, &field.name)?;
        let ty = ty(field)?;
        out.extend(quote!(#documentation #attributes pub #name: #ty,));
    }
    Ok(out)
}

fn eq_derive(cx: &Context, fields: &[ir::Field]) -> TokenStream {
    if fields.iter().any(|field| has_float(cx, &field.ty)) {
        quote!()
    } else {
        quote!(Eq,)
    }
}

fn record_struct(cx: &Context, name: &str, record: &ir::Record) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let type_name = ident(name);
    let (derives, serde_crate) = serde_derives(cx);
    let documentation = docs(&record.docs, format!("The schema's record `{name}`."));
    let attributes = cx.type_attributes(name)?;
    let fields = field_list(cx, name, &record.fields, |field| row_type(cx, &field.ty))?;
    let eq = eq_derive(cx, &record.fields);
    let idents: Vec<_> = record.fields.iter().map(|field| ident(&field.name)).collect();
    let names: Vec<&String> = record.fields.iter().map(|field| &field.name).collect();
    Ok(quote! {
        #documentation
        #[derive(Debug, Clone, PartialEq, #eq #derives)]
        #serde_crate
        #attributes
        pub struct #type_name { #fields }

        impl #rt::FieldValue for #type_name {
            fn into_value(self) -> #rt::Value {
                #rt::Value::Map(::std::vec![
                    #((String::from(#names), #rt::FieldValue::into_value(self.#idents)),)*
                ])
            }

            fn from_value(value: &#rt::Value) -> Result<Self, #rt::typed::ValueMismatch> {
                Ok(#type_name { #(#idents: #rt::typed::record_field(value, #names)?,)* })
            }
        }

        impl #rt::typed::Holds<#rt::typed::kinds::Record> for #type_name {}
    })
}

fn id_type(cx: &Context, collection: &str) -> TokenStream {
    let rt = &cx.rt;
    let id = id_ident(collection);
    let row = ident(collection);
    let documentation = format!(" The id of a `{collection}` row.");
    quote! {
        #[doc = #documentation]
        pub type #id = #rt::typed::Id<#row>;
    }
}

fn row_struct(cx: &Context, name: &str, collection: &ir::Collection) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let type_name = ident(name);
    let id = id_ident(name);
    let (derives, serde_crate) = serde_derives(cx);
    let documentation = docs(&collection.docs, format!("A row of the collection `{name}`."));
    let attributes = cx.type_attributes(name)?;
    let fields = field_list(cx, name, &collection.fields, |field| row_type(cx, &field.ty))?;
    let eq = eq_derive(cx, &collection.fields);
    let idents: Vec<_> = collection.fields.iter().map(|field| ident(&field.name)).collect();
    let names: Vec<&String> = collection.fields.iter().map(|field| &field.name).collect();
    let checks = check_calls(cx, name, collection, false)?;
    let mutable = (!collection.fields.is_empty()).then(|| quote!(mut));
    Ok(quote! {
        #documentation
        #[derive(Debug, Clone, PartialEq, #eq #derives)]
        #serde_crate
        #attributes
        pub struct #type_name {
            /// The row's id.
            pub id: #id,
            #fields
        }

        impl #rt::Projection for #type_name {
            const COLLECTION: &'static str = #name;

            fn from_row(row: &#rt::Row) -> Result<Self, #rt::RowDecodeError> {
                #rt::typed::expect_collection(row, #name)?;
                Ok(#type_name {
                    id: #id::from(row.id),
                    #(#idents: #rt::typed::field(row, #names)?,)*
                })
            }

            fn from_owned_row(#mutable row: #rt::Row) -> Result<Self, #rt::RowDecodeError> {
                #rt::typed::expect_collection(&row, #name)?;
                Ok(#type_name {
                    id: #id::from(row.id),
                    #(#idents: #rt::typed::take(&mut row, #names)?,)*
                })
            }
        }

        impl #type_name {
            /// The schema's `check` constraints, compiled: the first field whose check fails.
            pub fn check(&self) -> Result<(), &'static str> {
                #checks
                Ok(())
            }
        }
    })
}

fn insert_struct(cx: &Context, name: &str, collection: &ir::Collection) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let type_name = format_ident!("New{}", name);
    let id = id_ident(name);
    let struct_name = format!("New{name}");
    let documentation =
        format!(" A new `{name}` row, to insert. `None` in a field the schema gives a default takes it.");
    let fields = field_list(cx, &struct_name, &collection.fields, |field| {
        let ty = new_type(cx, &field.ty)?;
        Ok(if field.default.is_some() { quote!(Option<#ty>) } else { ty })
    })?;
    let mut parameters = Vec::new();
    let mut initial = Vec::new();
    let mut always = Vec::new();
    let mut defaulted = Vec::new();
    for field in &collection.fields {
        let field_ident = ident(&field.name);
        let field_name = &field.name;
        if field.default.is_some() {
            initial.push(quote!(#field_ident: None));
            defaulted.push(quote!(self.#field_ident.map(|value| (#field_name, #rt::FieldValue::into_value(value)))));
        } else {
            if starts_empty(&field.ty) {
                initial.push(quote!(#field_ident: Default::default()));
            } else {
                let ty = new_type(cx, &field.ty)?;
                parameters.push(quote!(#field_ident: impl Into<#ty>));
                initial.push(quote!(#field_ident: #field_ident.into()));
            }
            always.push(quote!((#field_name, #rt::FieldValue::into_value(self.#field_ident))));
        }
    }
    let checks = check_calls(cx, name, collection, true)?;
    let into_fields = if defaulted.is_empty() {
        quote!(::std::vec![#(#always),*])
    } else {
        // Fields left to their default are left out, and the runtime fills them in.
        quote! {
            [#(Some(#always),)* #(#defaulted,)*].into_iter().flatten().collect()
        }
    };
    let new_docs = format!(
        " A new `{name}` row with the fields that have no default; the others start empty or take their default."
    );
    let many = (parameters.len() > 6).then(|| quote!(#[allow(clippy::too_many_arguments)]));
    Ok(quote! {
        #[doc = #documentation]
        #[derive(Debug, Clone)]
        pub struct #type_name { #fields }

        impl #type_name {
            #[doc = #new_docs]
            #many
            pub fn new(#(#parameters),*) -> #type_name {
                #type_name { #(#initial,)* }
            }
        }

        impl #rt::typed::Insert for #type_name {
            const COLLECTION: &'static str = #name;
            type Id = #id;

            fn check(&self) -> Result<(), &'static str> {
                #checks
                Ok(())
            }

            fn into_fields(self) -> Vec<(&'static str, #rt::Value)> {
                #into_fields
            }
        }
    })
}

fn changes_struct(cx: &Context, name: &str, collection: &ir::Collection) -> Result<TokenStream, GenError> {
    let rt = &cx.rt;
    let type_name = format_ident!("{}Changes", name);
    let changeable: Vec<&ir::Field> = collection.fields.iter().filter(|field| !field.readonly).collect();
    let mut fields = TokenStream::new();
    for field in &changeable {
        let field_ident = ident(&field.name);
        let ty = row_type(cx, &field.ty)?;
        let documentation = format!(" The new `{}`, if the update changed it.", field.name);
        fields.extend(quote!(#[doc = #documentation] pub #field_ident: Option<#ty>,));
    }
    let idents = changeable.iter().map(|field| ident(&field.name));
    let names = changeable.iter().map(|field| &field.name);
    let documentation = format!(" The fields of a `{name}` row that an update changed, with their new values.");
    let eq = if changeable.iter().any(|field| has_float(cx, &field.ty)) { quote!() } else { quote!(Eq,) };
    let row = if changeable.is_empty() { quote!(_row) } else { quote!(row) };
    Ok(quote! {
        #[doc = #documentation]
        #[derive(Debug, Clone, PartialEq, #eq Default)]
        pub struct #type_name { #fields }

        impl #type_name {
            /// Reads the changed fields of an update event's row.
            pub fn from_row(#row: &#rt::Row) -> Result<Self, #rt::RowDecodeError> {
                Ok(#type_name { #(#idents: #rt::typed::changed(row, #names)?,)* })
            }
        }
    })
}
