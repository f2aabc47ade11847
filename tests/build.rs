//! Generates a module for every schema in `schemas/`, as an app's build script does: the
//! chat, task board and editor schemas into `OUT_DIR`, the other versions of chat and editor
//! (which declare the same schema names) into `OUT_DIR/versions`, and the compiler's corner
//! cases (`compiler/test_data/valid/`) into `OUT_DIR/corners`, so that they compile too; and
//! the task board once more with the Builder's options, into `OUT_DIR/custom`.

fn main() -> Result<(), schemac::build::BuildError> {
    let schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    schemac::compile(&[schemas.join("chat.schema"), schemas.join("taskboard.schema"), schemas.join("editor.schema")])?;
    let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").ok_or(schemac::build::BuildError::NoOutDir)?);
    schemac::Builder::new()
        .out_dir(out_dir.join("versions"))
        .compile(&[schemas.join("chat_v2.schema"), schemas.join("editor_v1.schema")])?;
    // The options an app has: attributes on types and fields, and its own type for a record.
    schemac::Builder::new()
        .out_dir(out_dir.join("custom"))
        .type_attribute("Board", "#[derive(Hash)]")
        .field_attribute("Board.title", "#[serde(rename = \"name\")]")
        .extern_type("Estimate", "crate::custom::Estimate")
        .compile(&[schemas.join("taskboard.schema")])?;
    let corners = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../compiler/test_data/valid");
    schemac::Builder::new().out_dir(out_dir.join("corners")).compile(&[
        corners.join("checks.schema"),
        corners.join("expressions.schema"),
        corners.join("literals.schema"),
        corners.join("nesting.schema"),
    ])?;
    Ok(())
}
