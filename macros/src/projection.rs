//! `#[derive(Projection)]`: an app struct read from rows of one collection. Every field is
//! looked up in the schema (a missing one is an error on the field, with the closest name), and
//! its Rust type is asserted to hold the schema type (`Holds<kind>`, spanned on the type, so a
//! wrong type is an error there).

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

/// `#[cairn(schema = "…", collection = "…")]` on the struct.
struct Target {
    schema: syn::LitStr,
    collection: syn::LitStr,
}

fn target(input: &syn::DeriveInput) -> syn::Result<Target> {
    let mut schema = None;
    let mut collection = None;
    for attribute in input.attrs.iter().filter(|attribute| attribute.path().is_ident("cairn")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("schema") {
                schema = Some(meta.value()?.parse::<syn::LitStr>()?);
            } else if meta.path.is_ident("collection") {
                collection = Some(meta.value()?.parse::<syn::LitStr>()?);
            } else {
                return Err(meta.error("expected `schema = \"…\"` or `collection = \"…\"`"));
            }
            Ok(())
        })?;
    }
    match (schema, collection) {
        (Some(schema), Some(collection)) => Ok(Target { schema, collection }),
        _ => Err(syn::Error::new(
            input.ident.span(),
            "#[derive(Projection)] needs #[cairn(schema = \"path/to/file.schema\", collection = \"Name\")]",
        )),
    }
}

/// The schema field a struct field reads: `#[cairn(field = "…")]`, or its own name.
fn field_name(field: &syn::Field) -> syn::Result<String> {
    let mut renamed = None;
    for attribute in field.attrs.iter().filter(|attribute| attribute.path().is_ident("cairn")) {
        attribute.parse_nested_meta(|meta| {
            if meta.path.is_ident("field") {
                renamed = Some(meta.value()?.parse::<syn::LitStr>()?.value());
                Ok(())
            } else {
                Err(meta.error("expected `field = \"…\"`"))
            }
        })?;
    }
    let own = field.ident.as_ref().map(|ident| ident.to_string().trim_start_matches("r#").to_owned());
    Ok(renamed.or(own).unwrap_or_default())
}

pub fn expand(input: &syn::DeriveInput) -> syn::Result<TokenStream> {
    let target = target(input)?;
    let syn::Data::Struct(syn::DataStruct { fields: syn::Fields::Named(fields), .. }) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "#[derive(Projection)] reads rows into a struct with named fields",
        ));
    };
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(input.generics.span(), "#[derive(Projection)] does not take generic parameters"));
    }
    let loaded = super::load(&target.schema.value(), target.schema.span())?;
    let collection_name = target.collection.value();
    let Some(collection) = loaded.ir.collections.get(&collection_name) else {
        let hint =
            schemac::diagnostics::closest_name(&collection_name, loaded.ir.collections.keys().map(String::as_str))
                .map(|name| format!(" (did you mean `{name}`?)"))
                .unwrap_or_default();
        return Err(syn::Error::new(
            target.collection.span(),
            format!("the schema `{}` has no collection `{collection_name}`{hint}", loaded.ir.name),
        ));
    };
    let rt = quote!(::cairn);
    let mut reads = Vec::new();
    let mut assertions = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for field in &fields.named {
        let Some(member) = field.ident.clone() else {
            return Err(syn::Error::new_spanned(field, "a projection's fields must be named"));
        };
        let name = field_name(field)?;
        let ty = &field.ty;
        if name == "id" {
            assertions.push(
                quote_spanned!(ty.span()=> const _: () = #rt::typed::assert_holds::<#ty, #rt::typed::kinds::Ref>();),
            );
            reads.push(quote!(#member: ::core::convert::From::from(row.id)));
            continue;
        }
        let Some(schema_field) = collection.field(&name) else {
            let hint =
                schemac::diagnostics::closest_name(&name, collection.fields.iter().map(|field| field.name.as_str()))
                    .map(|name| format!(" (did you mean `{name}`?)"))
                    .unwrap_or_default();
            let error = syn::Error::new(member.span(), format!("`{collection_name}` has no field `{name}`{hint}"));
            match &mut errors {
                Some(errors) => errors.combine(error),
                None => errors = Some(error),
            }
            continue;
        };
        let kind = holds_kind(&rt, &schema_field.ty);
        assertions.push(quote_spanned!(ty.span()=> const _: () = #rt::typed::assert_holds::<#ty, #kind>();));
        reads.push(quote!(#member: #rt::typed::field(row, #name)?));
    }
    if let Some(errors) = errors {
        return Err(errors);
    }
    let ident = &input.ident;
    let watch = super::watch(&loaded);
    Ok(quote! {
        const _: () = {
            #watch
            #(#assertions)*

            impl #rt::Projection for #ident {
                const COLLECTION: &'static str = #collection_name;

                fn from_row(row: &#rt::Row) -> ::core::result::Result<Self, #rt::RowDecodeError> {
                    #rt::typed::expect_collection(row, #collection_name)?;
                    ::core::result::Result::Ok(#ident { #(#reads,)* })
                }
            }
        };
    })
}

/// The marker of `cairn::typed::kinds` for a schema type, which the field's Rust type must hold.
fn holds_kind(rt: &TokenStream, ty: &schemac::ir::Type) -> TokenStream {
    use schemac::ir::Type;
    let kinds = quote!(#rt::typed::kinds);
    match ty {
        Type::Bool => quote!(#kinds::Bool),
        Type::Int => quote!(#kinds::Int),
        Type::Counter => quote!(#kinds::Counter),
        Type::Float => quote!(#kinds::Float),
        Type::String => quote!(#kinds::Text),
        Type::Bytes => quote!(#kinds::Bytes),
        Type::Timestamp => quote!(#kinds::Timestamp),
        Type::Identity => quote!(#kinds::Identity),
        Type::Ref(_) => quote!(#kinds::Ref),
        Type::Enum(_) => quote!(#kinds::Enum),
        Type::Record(_) => quote!(#kinds::Record),
        Type::Optional(inner) => {
            let inner = holds_kind(rt, inner);
            quote!(#kinds::Optional<#inner>)
        }
        Type::List(inner) => {
            let inner = holds_kind(rt, inner);
            quote!(#kinds::List<#inner>)
        }
        Type::Set(inner) => {
            let inner = holds_kind(rt, inner);
            quote!(#kinds::Set<#inner>)
        }
        Type::Map(inner) => {
            let inner = holds_kind(rt, inner);
            quote!(#kinds::Map<#inner>)
        }
    }
}
