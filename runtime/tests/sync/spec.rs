//! docs/SPEC.md §5's test vectors stay true: each message encodes to the bytes shown and
//! decodes back to itself, and the fingerprint example gives the fingerprint shown.

use cairn::sync::{Hello, Message, MessageLimits, Range, RangeContent};
use cairn::{Bound, DatabaseId, OpHash};

fn vectors() -> Vec<(&'static str, Message)> {
    let database = DatabaseId([0x11; 32]);
    let first = OpHash([0xaa; 32]);
    let second = OpHash([0xbb; 32]);
    vec![
        ("sync-hello", Message::Hello(Hello { versions: (1, 1), database, count: 3, fingerprint: [0x22; 16] })),
        ("sync-heads", Message::Heads(vec![first])),
        (
            "sync-ranges",
            Message::Ranges(vec![
                Range { lower: Bound::START, upper: Bound::new(2), content: RangeContent::Fingerprint([0x33; 16]) },
                Range {
                    lower: Bound::new(2),
                    upper: Bound {
                        depth: 2,
                        hash: {
                            let mut hash = [0; 32];
                            hash[0] = 0xb0;
                            hash
                        },
                    },
                    content: RangeContent::Ops(vec![first]),
                },
                Range {
                    lower: Bound {
                        depth: 2,
                        hash: {
                            let mut hash = [0; 32];
                            hash[0] = 0xb0;
                            hash
                        },
                    },
                    upper: Bound::END,
                    content: RangeContent::Ops(vec![]),
                },
            ]),
        ),
        ("sync-want", Message::Want(vec![second])),
        ("sync-ops", Message::Ops(vec![vec![0x8a, 0x01]])),
        ("sync-ack", Message::Ack(1)),
        ("sync-done", Message::Done),
        ("sync-bye", Message::Bye("bye".into())),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn documented(spec: &str, name: &str) -> Option<(String, String)> {
    let marker = format!("<!-- vector:{name} -->");
    let start = spec.find(&marker)?;
    let block = &spec[start + marker.len()..];
    let open = block.find("```hex\n")? + "```hex\n".len();
    let close = open + block[open..].find("```")?;
    let bytes: String = block[open..close].chars().filter(char::is_ascii_hexdigit).collect();
    let after = block[close..].lines().nth(1).unwrap_or_default().to_owned();
    Some((bytes, after))
}

#[test]
fn spec_message_vectors_match_the_implementation() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SPEC.md")).expect("docs/SPEC.md");
    for (name, message) in vectors() {
        let encoded = message.encode();
        let Some((bytes, _)) = documented(&spec, name) else {
            panic!("SPEC.md has no vector `{name}`; the implementation gives:\n{}", hex(&encoded));
        };
        assert_eq!(bytes, hex(&encoded), "vector `{name}`");
        assert_eq!(Message::decode(&encoded, &MessageLimits::default()).expect("decodes"), message, "vector `{name}`");
    }
}

#[test]
fn spec_fingerprint_example_matches_the_implementation() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SPEC.md")).expect("docs/SPEC.md");
    let fingerprint = cairn::sync::fingerprint(&[OpHash([0xff; 32]), OpHash([0x01; 32])]);
    let Some((bytes, _)) = documented(&spec, "sync-fingerprint") else {
        panic!("SPEC.md has no fingerprint example; the implementation gives:\n{}", hex(&fingerprint));
    };
    assert_eq!(bytes, hex(&fingerprint));
}
