// A Rust type that cannot hold the schema's type: an error on the type.
#[derive(cairn::Projection)]
#[cairn(schema = "../../../../schemas/chat.schema", collection = "Message")]
struct Post {
    body: i64,
    likes: String,
}

fn main() {}
