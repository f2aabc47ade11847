//! The signature criterion is ZIP-215 on every path: single and batch verification accept
//! exactly the same signatures, including the edge cases where ed25519 implementations differ.

use cairn::{CryptoSuite, SignedMessage};
use cairn::{Ed25519Blake3, Identity, Keypair};

/// Encodings of the identity point: canonical (y = 1) and non-canonical (y = p + 1).
const IDENTITY_CANONICAL: [u8; 32] = {
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    bytes
};
const IDENTITY_NON_CANONICAL: [u8; 32] = {
    let mut bytes = [0xff; 32];
    bytes[0] = 0xee;
    bytes[31] = 0x7f;
    bytes
};

fn signature(r: [u8; 32], s: [u8; 32]) -> [u8; 64] {
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(&r);
    signature[32..].copy_from_slice(&s);
    signature
}

/// (public key, signature, valid under ZIP-215)
fn vectors() -> Vec<([u8; 32], [u8; 64], bool)> {
    vec![
        // A small-order key with R = identity and s = 0: valid for every message under the
        // cofactored ZIP-215 equation, though `verify_strict` rejects it.
        (IDENTITY_CANONICAL, signature(IDENTITY_CANONICAL, [0; 32]), true),
        // The same with non-canonical encodings of A and R: ZIP-215 accepts them too.
        (IDENTITY_NON_CANONICAL, signature(IDENTITY_NON_CANONICAL, [0; 32]), true),
        (IDENTITY_CANONICAL, signature(IDENTITY_NON_CANONICAL, [0; 32]), true),
        // s not reduced modulo the group order: rejected by ZIP-215.
        (IDENTITY_CANONICAL, signature(IDENTITY_CANONICAL, [0xff; 32]), false),
        // A key that is not a point at all.
        ([0xff; 32], signature(IDENTITY_CANONICAL, [0; 32]), false),
    ]
}

#[test]
fn single_and_batch_verification_agree_on_edge_cases() {
    let suite = Ed25519Blake3;
    let message = b"any message";
    let vectors = vectors();
    let identities: Vec<Identity> = vectors.iter().map(|(key, _, _)| Identity(*key)).collect();
    let items: Vec<SignedMessage> = vectors
        .iter()
        .zip(&identities)
        .map(|((_, signature, _), signer)| SignedMessage { signer, message, signature })
        .collect();
    for ((_, _, valid), item) in vectors.iter().zip(&items) {
        assert_eq!(suite.verify(*item), *valid, "single verification of {:?}", item.signature);
        assert_eq!(suite.verify_batch(&[*item]), vec![*valid], "batch of one: {:?}", item.signature);
    }
    let expected: Vec<bool> = vectors.iter().map(|(_, _, valid)| *valid).collect();
    assert_eq!(
        suite.verify_batch(&items),
        expected,
        "a mixed batch reports each signature as single verification does"
    );
}

#[test]
fn real_signatures_verify_and_tampering_is_caught_in_batches() {
    let suite = Ed25519Blake3;
    let keys: Vec<Keypair> = (0..8).map(|_| Keypair::generate(&suite)).collect();
    let messages: Vec<Vec<u8>> = (0..8u8).map(|index| vec![index; 40]).collect();
    let mut signatures: Vec<[u8; 64]> =
        keys.iter().zip(&messages).map(|(key, message)| suite.sign(&key.secret, message)).collect();
    signatures[3][10] ^= 1;
    let items: Vec<SignedMessage> = keys
        .iter()
        .zip(&messages)
        .zip(&signatures)
        .map(|((key, message), signature)| SignedMessage { signer: &key.identity, message, signature })
        .collect();
    let results = suite.verify_batch(&items);
    assert_eq!(results, (0..8).map(|index| index != 3).collect::<Vec<_>>());
}
