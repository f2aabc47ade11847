//! docs/SPEC.md §2's test vectors stay true: each hex op decodes to the fields shown, hashes to
//! the hash shown, carries a valid signature, and re-encodes to the same bytes.

use cairn::op::{Change, Op, Payload, VerifiedOp};
use cairn::Value;
use cairn::{CryptoSuite, SecretKey};
use cairn::{DatabaseId, Ed25519Blake3, Keypair};

/// The vectors as the implementation produces them: a genesis and a first insert, by the key
/// with seed 0x01 × 32, over the worked-example schema of §1.
fn vectors() -> Vec<(&'static str, Vec<u8>, String)> {
    let suite = Ed25519Blake3;
    let key = Keypair::from_secret(&suite, SecretKey([1; 32]));
    let schema = schemac::check_source(TINY, Some(&schemac::Priors::new())).ir.expect("tiny compiles");
    let schema_hash = schemac::schema_hash(&schema).0;
    let genesis = Op {
        database: None,
        schema: schema_hash,
        author: key.identity,
        seq: 1,
        parents: vec![],
        depth: 1,
        payload: Payload::Genesis { nonce: [0; 16] },
        attestations: Default::default(),
        signature: [0; 64],
    }
    .sign(&suite, &key.secret);
    let insert = Op {
        database: Some(DatabaseId(genesis.hash().0)),
        schema: schema_hash,
        author: key.identity,
        seq: 2,
        parents: vec![genesis.hash()],
        depth: 2,
        payload: Payload::Changes(vec![Change::Insert {
            collection: "Tag".into(),
            fields: vec![("name".into(), Value::Text("urgent".into())), ("color".into(), Value::Text("red".into()))],
        }]),
        attestations: Default::default(),
        signature: [0; 64],
    }
    .sign(&suite, &key.secret);
    let (pair_genesis, related) = related_vectors(&key);
    vec![
        ("genesis", genesis.bytes().to_vec(), genesis.hash().to_string()),
        ("insert", insert.bytes().to_vec(), insert.hash().to_string()),
        ("pair-genesis", pair_genesis.bytes().to_vec(), pair_genesis.hash().to_string()),
        ("related", related.bytes().to_vec(), related.hash().to_string()),
    ]
}

const PAIR: &str = "schema pair;\n\ncollection Folder {\n    name: string,\n\n    allow insert if true;\n}\n\ncollection Note {\n    folder: ref Folder,\n\n    allow insert if true;\n}\n";

/// §2.5's second pair of vectors: a database of the `pair` schema, and one op that inserts a
/// folder and a note whose `folder` is `[0]`, the row change 0 inserts.
fn related_vectors(key: &Keypair) -> (VerifiedOp, VerifiedOp) {
    let suite = Ed25519Blake3;
    let schema = schemac::check_source(PAIR, Some(&schemac::Priors::new())).ir.expect("pair compiles");
    let schema_hash = schemac::schema_hash(&schema).0;
    let genesis = Op {
        database: None,
        schema: schema_hash,
        author: key.identity,
        seq: 1,
        parents: vec![],
        depth: 1,
        payload: Payload::Genesis { nonce: [0; 16] },
        attestations: Default::default(),
        signature: [0; 64],
    }
    .sign(&suite, &key.secret);
    let related = Op {
        database: Some(DatabaseId(genesis.hash().0)),
        schema: schema_hash,
        author: key.identity,
        seq: 2,
        parents: vec![genesis.hash()],
        depth: 2,
        payload: Payload::Changes(vec![
            Change::Insert { collection: "Folder".into(), fields: vec![("name".into(), Value::Text("inbox".into()))] },
            Change::Insert {
                collection: "Note".into(),
                fields: vec![("folder".into(), Value::Array(vec![Value::Int(0)]))],
            },
        ]),
        attestations: Default::default(),
        signature: [0; 64],
    }
    .sign(&suite, &key.secret);
    (genesis, related)
}

#[test]
fn the_related_rows_vector_resolves_its_reference() {
    let key = Keypair::from_secret(&Ed25519Blake3, SecretKey([1; 32]));
    let (genesis, related) = related_vectors(&key);
    let schema = schemac::check_source(PAIR, Some(&schemac::Priors::new())).ir.expect("pair compiles");
    let replica = cairn::Replica::join(cairn::Storage::Memory, DatabaseId(genesis.hash().0), schema).expect("join");
    replica.ingest(genesis.bytes()).expect("the genesis");
    replica.ingest(related.bytes()).expect("the related rows");
    let folder = replica.row_id(&related.hash(), 0);
    let note = replica.get("Note", &replica.row_id(&related.hash(), 1)).expect("reads").expect("visible");
    assert_eq!(note["folder"].as_row_id(), Some(folder));
}

const TINY: &str = "schema tiny;\n\nenum Color { red, green }\n\ncollection Tag {\n    name: string check (len(name) >= 1),\n    color: Color default red,\n\n    allow insert if op.author = db.founder;\n}\n";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|character| character.is_ascii_hexdigit()).collect();
    (0..text.len() / 2).map(|index| u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).expect("hex")).collect()
}

#[test]
fn spec_vectors_match_the_implementation() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SPEC.md")).expect("docs/SPEC.md");
    let suite = Ed25519Blake3;
    for (name, bytes, hash) in vectors() {
        let marker = format!("<!-- vector:{name} -->");
        let Some(start) = spec.find(&marker) else {
            panic!("SPEC.md has no vector `{name}`; the implementation gives:\n{}\n{hash}", hex(&bytes));
        };
        let block = &spec[start + marker.len()..];
        let open = block.find("```hex\n").expect("a hex block") + "```hex\n".len();
        let close = open + block[open..].find("```").expect("end of block");
        let documented = unhex(&block[open..close]);
        assert_eq!(hex(&documented), hex(&bytes), "vector `{name}`: the bytes in SPEC.md differ");
        let hash_line = block[close..].lines().find(|line| line.contains("blake3:")).expect("a hash line");
        assert!(hash_line.contains(&hash), "vector `{name}`: SPEC.md says {hash_line}, the hash is {hash}");
        let op = Op::decode(&documented).expect("the vector decodes");
        assert_eq!(op.encode(), documented, "vector `{name}` re-encodes to itself");
        let verified = cairn::op::verify(&suite, vec![(op, documented.clone())]).pop().expect("one");
        assert_eq!(verified.expect("the signature verifies").hash().to_string(), hash);
        assert!(suite.name().contains("zip215"));
    }
}

/// SPEC §3's digest example: the state after the two vectors, one `Tag` row.
#[test]
fn spec_digest_example_matches_the_implementation() {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SPEC.md")).expect("docs/SPEC.md");
    let schema = schemac::check_source(TINY, Some(&schemac::Priors::new())).ir.expect("tiny compiles");
    let ops = vectors();
    let database = DatabaseId(ops[0].2.parse::<cairn::OpHash>().expect("hash").0);
    let replica = cairn::Replica::join(cairn::Storage::Memory, database, schema).expect("join");
    for (_, bytes, _) in ops.iter().take(2) {
        replica.ingest(bytes).expect("the vectors are accepted");
    }
    let insert = ops[1].2.parse::<cairn::OpHash>().expect("hash");
    let row = replica.row_id(&insert, 0);
    let fields =
        vec![("name".to_owned(), Value::Text("urgent".into())), ("color".to_owned(), Value::Text("red".into()))];
    let item = Value::Array(vec![Value::Text("Tag".into()), Value::Bytes(row.0.to_vec()), Value::Map(fields)]).encode();
    let digest = replica.digest().expect("digest").to_string();
    assert_eq!(digest, format!("blake3:{}", hex(blake3::hash(&item).as_bytes())));
    let marker = "<!-- vector:digest -->";
    let Some(start) = spec.find(marker) else {
        panic!("SPEC.md has no digest example; the implementation gives:\n{}\n{digest}\nrow {row}", hex(&item));
    };
    let block = &spec[start + marker.len()..];
    let open = block.find("```hex\n").expect("a hex block") + "```hex\n".len();
    let close = open + block[open..].find("```").expect("end of block");
    assert_eq!(hex(&unhex(&block[open..close])), hex(&item), "the row's encoding in SPEC.md differs");
    let digest_line = block[close..].lines().find(|line| line.contains("blake3:")).expect("a digest line");
    assert!(digest_line.contains(&digest), "SPEC.md says {digest_line}, the digest is {digest}");
}
