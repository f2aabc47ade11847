// A schema with an error: the diagnostics `schemac check` prints, at the macro call.
mod broken {
    cairn::schema!("../../../../tests/ui/broken.schema");
}

fn main() {}
