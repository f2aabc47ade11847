// A schema file that does not exist.
mod missing {
    cairn::schema!("../../../../tests/ui/no_such.schema");
}

fn main() {}
