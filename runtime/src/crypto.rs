//! Hashing and signatures behind one trait, so the op log does not depend on a scheme.
//!
//! [`Ed25519Blake3`] is the default suite. Signatures are verified by the ZIP-215 rules
//! (ed25519-consensus), in single and batch verification alike: which ops are valid must never
//! depend on how they were verified, or two replicas could disagree about one op.

use crate::ids::Identity;

/// A 32-byte secret key seed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(pub [u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SecretKey(…)")
    }
}

/// A 64-byte signature.
pub type Signature = [u8; 64];

/// One signature to check: who signed, what, and the signature.
#[derive(Debug, Clone, Copy)]
pub struct SignedMessage<'a> {
    /// Who claims to have signed.
    pub signer: &'a Identity,
    /// The signed bytes.
    pub message: &'a [u8],
    /// The signature over them.
    pub signature: &'a Signature,
}

/// A hash function and a signature scheme.
pub trait CryptoSuite: Send + Sync + std::fmt::Debug {
    /// A short name recorded with each database, so a replica never mixes suites.
    fn name(&self) -> &'static str;

    /// The hash ops, rows and digests are named by.
    fn hash(&self, bytes: &[u8]) -> [u8; 32];

    /// A new random secret key.
    fn generate_secret(&self) -> SecretKey;

    /// The public identity of a secret key.
    fn identity(&self, secret: &SecretKey) -> Identity;

    /// Signs a message.
    fn sign(&self, secret: &SecretKey, message: &[u8]) -> Signature;

    /// Whether a signature is valid.
    fn verify(&self, item: SignedMessage<'_>) -> bool;

    /// Checks many signatures; the result says which are valid. A suite with a faster batch
    /// check must accept exactly the signatures that [`CryptoSuite::verify`] accepts.
    fn verify_batch(&self, items: &[SignedMessage<'_>]) -> Vec<bool> {
        items.iter().map(|item| self.verify(*item)).collect()
    }
}

/// ed25519 signatures (ZIP-215 validation) and blake3 hashes: the default suite.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ed25519Blake3;

impl CryptoSuite for Ed25519Blake3 {
    fn name(&self) -> &'static str {
        "ed25519-zip215+blake3"
    }

    fn hash(&self, bytes: &[u8]) -> [u8; 32] {
        *blake3::hash(bytes).as_bytes()
    }

    fn generate_secret(&self) -> SecretKey {
        SecretKey(ed25519_consensus::SigningKey::new(rand_core::OsRng).to_bytes())
    }

    fn identity(&self, secret: &SecretKey) -> Identity {
        Identity(ed25519_consensus::SigningKey::from(secret.0).verification_key().to_bytes())
    }

    fn sign(&self, secret: &SecretKey, message: &[u8]) -> Signature {
        ed25519_consensus::SigningKey::from(secret.0).sign(message).to_bytes()
    }

    fn verify(&self, item: SignedMessage<'_>) -> bool {
        let Ok(key) = ed25519_consensus::VerificationKey::try_from(item.signer.0) else {
            return false;
        };
        key.verify(&ed25519_consensus::Signature::from(*item.signature), item.message).is_ok()
    }

    fn verify_batch(&self, items: &[SignedMessage<'_>]) -> Vec<bool> {
        let mut verifier = ed25519_consensus::batch::Verifier::new();
        for item in items {
            let key = ed25519_consensus::VerificationKeyBytes::from(item.signer.0);
            verifier.queue((key, ed25519_consensus::Signature::from(*item.signature), item.message));
        }
        if verifier.verify(rand_core::OsRng).is_ok() {
            return vec![true; items.len()];
        }
        // Some signature is bad: find which, one by one (same ZIP-215 rules).
        items.iter().map(|item| self.verify(*item)).collect()
    }
}
