//! Shared fixtures: a small schema, a second crypto suite, and hand-built ops.

use cairn::op::{Change, Op, Payload, VerifiedOp};
use cairn::Value;
use cairn::{CryptoSuite, SecretKey, Signature, SignedMessage};
use cairn::{DatabaseId, Identity, Keypair, OpHash, Options, Replica, Storage};
use std::sync::Arc;

pub const SCHEMA: &str = r#"
schema notes;

collection Note {
    text: string check (len(text) <= 100),
    tags: set<string>,
    stars: counter,

    allow insert, update, delete if true;
}
"#;

pub fn schema() -> schemac::ir::Schema {
    let checked = schemac::check_source(SCHEMA, Some(&schemac::Priors::new()));
    checked.ir.unwrap_or_else(|| panic!("the test schema compiles: {:?}", checked.diagnostics))
}

pub fn schema_hash() -> [u8; 32] {
    schemac::schema_hash(&schema()).0
}

/// A suite that is not ed25519 or plain blake3, to prove the op log depends only on the trait.
/// Its "signatures" are keyed hashes anyone can forge: it is for tests of the seam, nothing else.
#[derive(Debug, Default)]
pub struct KeyedHashSuite;

impl CryptoSuite for KeyedHashSuite {
    fn name(&self) -> &'static str {
        "test-keyed-blake3"
    }

    fn hash(&self, bytes: &[u8]) -> [u8; 32] {
        blake3::derive_key("cairn test suite op hash", bytes)
    }

    fn generate_secret(&self) -> SecretKey {
        use rand_core::RngCore;
        let mut secret = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut secret);
        SecretKey(secret)
    }

    fn identity(&self, secret: &SecretKey) -> Identity {
        Identity(*blake3::hash(&secret.0).as_bytes())
    }

    fn sign(&self, secret: &SecretKey, message: &[u8]) -> Signature {
        let identity = self.identity(secret);
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(blake3::keyed_hash(&identity.0, message).as_bytes());
        signature
    }

    fn verify(&self, item: SignedMessage<'_>) -> bool {
        item.signature[..32] == *blake3::keyed_hash(&item.signer.0, item.message).as_bytes()
            && item.signature[32..] == [0u8; 32]
    }
}

pub fn suites() -> Vec<Arc<dyn CryptoSuite>> {
    vec![Arc::new(cairn::Ed25519Blake3), Arc::new(KeyedHashSuite)]
}

/// A database in memory, with its founder.
pub struct Fixture {
    pub suite: Arc<dyn CryptoSuite>,
    pub replica: Replica,
}

impl Fixture {
    pub fn new(suite: Arc<dyn CryptoSuite>) -> Fixture {
        let founder = Keypair::generate(suite.as_ref());
        let replica =
            Options::default().suite(suite.clone()).create(Storage::Memory, &founder, schema()).expect("create");
        Fixture { suite, replica }
    }

    pub fn genesis(&self) -> OpHash {
        OpHash(self.replica.id().0)
    }

    /// The options the fixture's replicas use: its suite.
    pub fn options(&self) -> Options {
        Options::default().suite(self.suite.clone())
    }

    /// An empty replica of the same database.
    pub fn join(&self) -> Replica {
        self.options().join(Storage::Memory, self.replica.id(), schema()).expect("join")
    }

    pub fn keypair(&self) -> Keypair {
        Keypair::generate(self.suite.as_ref())
    }
}

pub fn insert(text: &str) -> Change {
    Change::Insert { collection: "Note".into(), fields: vec![("text".into(), Value::Text(text.into()))] }
}

/// An op built by hand, so tests can get any field wrong on purpose.
#[derive(Clone)]
pub struct Draft {
    pub database: Option<DatabaseId>,
    pub schema: [u8; 32],
    pub seq: u64,
    pub parents: Vec<OpHash>,
    pub depth: u64,
    pub payload: Payload,
}

impl Draft {
    pub fn new(database: DatabaseId, seq: u64, parents: Vec<OpHash>, depth: u64) -> Draft {
        let mut parents = parents;
        parents.sort();
        Draft {
            database: Some(database),
            schema: schema_hash(),
            seq,
            parents,
            depth,
            payload: Payload::Changes(vec![insert("hello")]),
        }
    }

    pub fn sign(self, suite: &dyn CryptoSuite, key: &Keypair) -> VerifiedOp {
        Op {
            database: self.database,
            schema: self.schema,
            author: key.identity,
            seq: self.seq,
            parents: self.parents,
            depth: self.depth,
            payload: self.payload,
            attestations: Default::default(),
            signature: [0; 64],
        }
        .sign(suite, &key.secret)
    }
}

/// A small deterministic generator for test decisions (xorshift), seeded by proptest.
pub struct Dice(pub u64);

impl Dice {
    pub fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound.max(1) as u64) as usize
    }
}
