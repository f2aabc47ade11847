//! Keypairs and key files.
//!
//! A key file is text, written with permissions 0600 and refused if others can read it:
//!
//! ```text
//! # Cairn secret key. Anyone holding this file can write as ed25519:….
//! suite ed25519-zip215+blake3
//! secret <64 lowercase hex digits>
//! ```

use crate::crypto::{CryptoSuite, SecretKey};
use crate::error::KeyFileError;
use crate::ids::{from_hex, to_hex, Identity};
use std::path::Path;

/// A secret key and the identity it signs as.
#[derive(Debug, Clone)]
pub struct Keypair {
    /// The secret key; keep it to one replica (docs/semantics.md §1: an author who signs two
    /// ops with one sequence number loses every op from there on).
    pub secret: SecretKey,
    /// The public identity it signs as: `op.author` in rules.
    pub identity: Identity,
}

impl Keypair {
    /// A new random keypair.
    pub fn generate(suite: &dyn CryptoSuite) -> Keypair {
        Keypair::from_secret(suite, suite.generate_secret())
    }

    /// The keypair of a secret key.
    pub fn from_secret(suite: &dyn CryptoSuite, secret: SecretKey) -> Keypair {
        let identity = suite.identity(&secret);
        Keypair { secret, identity }
    }
}

/// Writes a new key file with permissions 0600; never overwrites an existing file.
pub fn save_key(path: &Path, suite: &dyn CryptoSuite, keypair: &Keypair) -> Result<(), KeyFileError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => KeyFileError::Exists { path: path.to_owned() },
        _ => KeyFileError::Write { path: path.to_owned(), source },
    })?;
    let text = format!(
        "# Cairn secret key. Anyone holding this file can write as {}.\nsuite {}\nsecret {}\n",
        keypair.identity,
        suite.name(),
        to_hex(&keypair.secret.0)
    );
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|source| KeyFileError::Write { path: path.to_owned(), source })
}

/// Reads a key file written by [`save_key`].
pub fn load_key(path: &Path, suite: &dyn CryptoSuite) -> Result<Keypair, KeyFileError> {
    let read_error = |source| KeyFileError::Read { path: path.to_owned(), source };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(read_error)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::TooOpen { path: path.to_owned(), mode });
        }
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let malformed = |reason| KeyFileError::Malformed { path: path.to_owned(), reason };
    let mut suite_name = None;
    let mut secret = None;
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
        match line.split_once(' ') {
            Some(("suite", name)) => suite_name = Some(name.trim()),
            Some(("secret", hex)) => {
                secret = Some(
                    from_hex::<32>(hex.trim()).ok_or_else(|| malformed("the secret is not 64 lowercase hex digits"))?,
                )
            }
            _ => return Err(malformed("unexpected line")),
        }
    }
    let suite_name = suite_name.ok_or_else(|| malformed("no `suite` line"))?;
    if suite_name != suite.name() {
        return Err(KeyFileError::WrongSuite {
            path: path.to_owned(),
            found: suite_name.to_owned(),
            expected: suite.name(),
        });
    }
    let secret = secret.ok_or_else(|| malformed("no `secret` line"))?;
    Ok(Keypair::from_secret(suite, SecretKey(secret)))
}
