//! Generates the chat module into OUT_DIR; Cargo reruns this when the schema changes.

fn main() -> Result<(), schemac::build::BuildError> {
    schemac::compile(&["../../schemas/chat.schema"])
}
