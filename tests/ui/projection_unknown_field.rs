// A field the collection does not have: an error on the field, with the closest name.
#[derive(cairn::Projection)]
#[cairn(schema = "../../../../schemas/chat.schema", collection = "Message")]
struct Post {
    bdy: String,
}

fn main() {}
