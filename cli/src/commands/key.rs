//! `cairn key new FILE` (a new secret key, written with mode 0600) and `cairn key show FILE`
//! (the identity a key file signs as).

use crate::context::Context;
use crate::Failure;
use cairn::{load_key, save_key, Ed25519Blake3, Keypair};
use serde_json::json;
use std::path::Path;

pub fn new(cx: &Context, file: &Path) -> Result<(), Failure> {
    let keypair = Keypair::generate(&Ed25519Blake3);
    save_key(file, &Ed25519Blake3, &keypair)?;
    cx.print(json!({ "identity": keypair.identity.to_string() }), keypair.identity.to_string())?;
    Ok(())
}

pub fn show(cx: &Context, file: &Path) -> Result<(), Failure> {
    let keypair = load_key(file, &Ed25519Blake3)?;
    cx.print(json!({ "identity": keypair.identity.to_string() }), keypair.identity.to_string())?;
    Ok(())
}
