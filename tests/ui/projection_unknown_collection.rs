// A collection the schema does not have.
#[derive(cairn::Projection)]
#[cairn(schema = "../../../../schemas/chat.schema", collection = "Mesage")]
struct Post {
    body: String,
}

fn main() {}
