// No #[cairn(schema = …, collection = …)].
#[derive(cairn::Projection)]
struct Post {
    body: String,
}

fn main() {}
