//! The op encoding: round trips, rejection of every non-canonical form we can build, and no
//! panic on arbitrary or mangled bytes.

use crate::support::*;
use cairn::error::OpDecodeError;
use cairn::op::{Attestation, Change, Edit, Op, Payload, Witness};
use cairn::Ed25519Blake3;
use cairn::Value;
use cairn::{DatabaseId, Identity, OpHash, RowId};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_map(Value::Float),
        ".{0,12}".prop_map(Value::Text),
        proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,6}", inner, 0..4)
                .prop_map(|map| Value::Map(map.into_iter().collect())),
        ]
    })
}

fn change() -> impl Strategy<Value = Change> {
    let name = "[A-Za-z]{1,8}";
    prop_oneof![
        (name, proptest::collection::btree_map("[a-z]{1,6}", value(), 0..4))
            .prop_map(|(collection, fields)| Change::Insert { collection, fields: fields.into_iter().collect() }),
        (name, any::<[u8; 32]>(), proptest::collection::vec(edit(), 0..4))
            .prop_map(|(collection, row, edits)| Change::Update { collection, row: RowId(row), edits }),
        (name, any::<[u8; 32]>()).prop_map(|(collection, row)| Change::Delete { collection, row: RowId(row) }),
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    let field = "[a-z]{1,6}";
    prop_oneof![
        (field, value()).prop_map(|(field, value)| Edit::Set { field, value }),
        (field, proptest::collection::vec(value(), 0..3)).prop_map(|(field, elements)| Edit::Add { field, elements }),
        (field, proptest::collection::vec(value(), 0..3))
            .prop_map(|(field, elements)| Edit::Remove { field, elements }),
        (field, "[a-z]{0,6}", value()).prop_map(|(field, key, value)| Edit::Put { field, key, value }),
        (field, "[a-z]{0,6}").prop_map(|(field, key)| Edit::Unset { field, key }),
        (field, any::<i64>()).prop_map(|(field, amount)| Edit::Increment { field, amount }),
    ]
}

prop_compose! {
    fn op()(
        database in proptest::option::of(any::<[u8; 32]>()),
        schema in any::<[u8; 32]>(),
        author in any::<[u8; 32]>(),
        seq in any::<u64>(),
        parents in proptest::collection::btree_set(any::<[u8; 32]>(), 0..5),
        depth in any::<u64>(),
        genesis in any::<Option<[u8; 16]>>(),
        changes in proptest::collection::vec(change(), 0..4),
        // Collection names longer than a SmolStr holds inline (23 bytes), and more than one
        // attestation or witness, leave the inline storage of a decoded op.
        attestations in proptest::collection::vec(
            (any::<u32>(), any::<u32>(), proptest::collection::vec(("[A-Z][a-z]{0,30}", any::<[u8; 32]>(), any::<[u8; 32]>()), 0..3)),
            0..3,
        ),
        signature in proptest::collection::vec(any::<u8>(), 64),
    ) -> Op {
        let payload = match genesis {
            Some(nonce) => Payload::Genesis { nonce },
            None => Payload::Changes(changes),
        };
        let attestations = attestations
            .into_iter()
            .map(|(change, rule, witnesses)| Attestation {
                change,
                rule,
                witnesses: witnesses
                    .into_iter()
                    .map(|(collection, row, version)| Witness { collection: collection.into(), row: RowId(row), version: OpHash(version) })
                    .collect(),
            })
            .collect();
        let mut signature_bytes = [0u8; 64];
        signature_bytes.copy_from_slice(&signature);
        Op {
            database: database.map(DatabaseId),
            schema,
            author: Identity(author),
            seq,
            parents: parents.into_iter().map(OpHash).collect(),
            depth,
            payload,
            attestations,
            signature: signature_bytes,
        }
    }
}

/// Floats compare by bits here: NaN round-trips as NaN.
fn same(left: &Op, right: &Op) -> bool {
    left.encode() == right.encode()
}

proptest! {
    #[test]
    fn decode_then_encode_is_the_identity(op in op()) {
        let bytes = op.encode();
        let decoded = Op::decode(&bytes).expect("a canonical op decodes");
        prop_assert!(same(&decoded, &op));
        prop_assert_eq!(decoded.encode(), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Op::decode(&bytes);
        let fixture = Fixture::new(std::sync::Arc::new(Ed25519Blake3));
        let _ = fixture.replica.ingest(&bytes);
    }

    #[test]
    fn mangled_ops_are_refused_without_panicking(op in op(), position in any::<usize>(), byte in any::<u8>(), cut in any::<bool>()) {
        let mut bytes = op.encode();
        let position = position % bytes.len();
        if cut {
            bytes.truncate(position);
        } else if bytes[position] != byte {
            bytes[position] = byte;
        } else {
            return Ok(());
        }
        // Whatever decodes must be canonical: re-encoding gives back exactly the input.
        if let Ok(decoded) = Op::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }
}

#[test]
fn non_canonical_encodings_are_rejected() {
    let fixture = Fixture::new(std::sync::Arc::new(Ed25519Blake3));
    let op = Draft::new(fixture.replica.id(), 1, vec![fixture.genesis()], 2)
        .sign(fixture.suite.as_ref(), &fixture.keypair());
    let bytes = op.bytes().to_vec();
    assert_eq!(bytes[0], 0x8a, "an op is a 10-item array");
    // The array length with a longer head than needed.
    let mut long_head = vec![0x98, 0x0a];
    long_head.extend_from_slice(&bytes[1..]);
    assert!(matches!(Op::decode(&long_head), Err(OpDecodeError::Cbor(_))));
    // The version number 1 written in two bytes.
    let mut long_version = vec![0x8a, 0x18, 0x01];
    long_version.extend_from_slice(&bytes[2..]);
    assert!(matches!(Op::decode(&long_version), Err(OpDecodeError::Cbor(_))));
    // An indefinite-length array.
    let mut indefinite = vec![0x9f];
    indefinite.extend_from_slice(&bytes[1..]);
    indefinite.push(0xff);
    assert!(Op::decode(&indefinite).is_err());
    // Trailing bytes.
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Op::decode(&trailing).is_err());
    // Parents out of order.
    let mut unsorted = op.op().clone();
    unsorted.parents = vec![OpHash([2; 32]), OpHash([1; 32])];
    assert!(matches!(Op::decode(&unsorted.encode()), Err(OpDecodeError::Structure { .. })));
    // The canonical bytes themselves decode.
    assert!(Op::decode(&bytes).is_ok());
}
