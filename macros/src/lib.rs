//! Procedural macros for Cairn, re-exported by the `cairn` crate: `schema!` generates a
//! schema's typed module where it is called (what `schemac gen rust` writes to a file), and
//! `#[derive(Projection)]` reads rows into an app's own struct, checked against the schema at
//! compile time. Both read the schema file at compile time and make the crate rebuild when it
//! changes; a schema error is a compile error with the diagnostics `schemac check` prints.

mod projection;

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use std::path::PathBuf;

/// Generates the typed module of a schema file (a path relative to the crate's
/// `Cargo.toml`): `mod chat { cairn::schema!("schemas/chat.schema"); }`.
#[proc_macro]
pub fn schema(input: TokenStream) -> TokenStream {
    let path = syn::parse_macro_input!(input as syn::LitStr);
    expand_schema(&path).unwrap_or_else(|error| error.to_compile_error()).into()
}

/// Reads rows of one collection into a struct: `#[derive(cairn::Projection)]
/// #[cairn(schema = "schemas/chat.schema", collection = "Message")]`. Each field must be a field
/// of the collection (or `id`, the row's id) with a Rust type that holds it; a mistake is a
/// compile error on that field. `#[cairn(field = "name")]` reads a field under another name.
#[proc_macro_derive(Projection, attributes(cairn))]
pub fn derive_projection(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    projection::expand(&input).unwrap_or_else(|error| error.to_compile_error()).into()
}

/// A schema file read and checked, with the files the build must watch.
struct Loaded {
    ir: schemac::ir::Schema,
    watched: Vec<PathBuf>,
}

/// Reads the schema at `path` (relative to `CARGO_MANIFEST_DIR`); errors point at `span`.
fn load(path: &str, span: Span) -> syn::Result<Loaded> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    let full = normalize(&manifest.join(path));
    let ir = schemac::files::load(&full).map_err(|error| syn::Error::new(span, error.to_string()))?;
    let mut watched = vec![full.clone()];
    watched.extend(
        schemac::files::migration_sources(&full, &ir, &[]).map_err(|error| syn::Error::new(span, error.to_string()))?,
    );
    Ok(Loaded { ir, watched })
}

/// `a/b/../c` → `a/c`, so that diagnostics name the file plainly (no file-system access:
/// the path may not exist).
fn normalize(path: &std::path::Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Makes the crate rebuild when a watched file changes (rustc tracks `include_bytes!`).
fn watch(loaded: &Loaded) -> proc_macro2::TokenStream {
    let paths = loaded.watched.iter().map(|path| path.display().to_string());
    quote!(#(const _: &[u8] = include_bytes!(#paths);)*)
}

fn expand_schema(path: &syn::LitStr) -> syn::Result<proc_macro2::TokenStream> {
    let loaded = load(&path.value(), path.span())?;
    let module = schemac::gen::tokens(&loaded.ir, &schemac::gen::GenOptions::default())
        .map_err(|error| syn::Error::new(path.span(), error.to_string()))?;
    let watch = watch(&loaded);
    // As `include_schema!`: an app uses part of the API, the rest is not dead code to report.
    Ok(quote! {
        #watch
        #[allow(dead_code)]
        mod __cairn_generated {
            #module
        }
        pub use __cairn_generated::*;
    })
}
