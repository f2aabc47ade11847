//! Typed identifiers and their one text form each.
//!
//! | type | text form |
//! | --- | --- |
//! | [`OpHash`], [`DatabaseId`] | `blake3:<64 hex>` (a database id is its genesis op's hash) |
//! | [`Identity`] | `ed25519:<64 hex>` (an author's public key) |
//! | [`RowId`] | `row:<64 hex>` |
//! | [`StateDigest`] | `blake3:<64 hex>` |
//!
//! Hex is lowercase; parsing rejects anything else, so each value has exactly one text form.

use std::fmt;
use std::str::FromStr;

/// A text form that does not parse, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid {kind} (expected `{prefix}` and 64 lowercase hex digits)")]
pub struct ParseIdError {
    /// What was being parsed: `op hash`, `identity`, `row id`, …
    pub kind: &'static str,
    /// The prefix its text form starts with.
    pub prefix: &'static str,
    /// The text that does not parse.
    pub text: String,
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[(byte >> 4) as usize] as char);
        text.push(DIGITS[(byte & 15) as usize] as char);
    }
    text
}

pub(crate) fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != N * 2 {
        return None;
    }
    let digit = |byte: u8| match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0u8; N];
    for (index, pair) in hex.as_bytes().chunks(2).enumerate() {
        bytes[index] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(bytes)
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(
            /// The 32 bytes.
            pub [u8; 32],
        );

        impl $name {
            /// The prefix of the text form.
            pub const PREFIX: &'static str = $prefix;

            /// The 32 bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(formatter, "{}{}", $prefix, to_hex(&self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, formatter)
            }
        }

        /// Serialized as its text form.
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(text: &str) -> Result<$name, ParseIdError> {
                text.strip_prefix($prefix)
                    .and_then(from_hex::<32>)
                    .map($name)
                    .ok_or_else(|| ParseIdError { kind: $kind, prefix: $prefix, text: text.to_owned() })
            }
        }
    };
}

id_type!(
    /// The hash of an op's canonical encoding without its signature.
    OpHash, "op hash", "blake3:"
);
id_type!(
    /// A database: the hash of its genesis op.
    DatabaseId, "database id", "blake3:"
);
id_type!(
    /// An author: an ed25519 public key.
    Identity, "identity", "ed25519:"
);
id_type!(
    /// The digest of an effective state (docs/SPEC.md §3).
    StateDigest, "state digest", "blake3:"
);
id_type!(
    /// A row: derived from the op that inserted it and the insert's position in that op.
    RowId, "row id", "row:"
);

impl From<OpHash> for DatabaseId {
    fn from(hash: OpHash) -> DatabaseId {
        DatabaseId(hash.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_reject_variants() {
        let identity = Identity([0xab; 32]);
        let text = identity.to_string();
        assert_eq!(text, format!("ed25519:{}", "ab".repeat(32)));
        assert_eq!(text.parse::<Identity>(), Ok(identity));
        assert!(text.to_uppercase().parse::<Identity>().is_err());
        assert!(text[..text.len() - 2].parse::<Identity>().is_err());
        assert!(format!("blake3:{}", "ab".repeat(32)).parse::<Identity>().is_err());
        let row = RowId([1; 32]);
        assert_eq!(row.to_string().parse::<RowId>(), Ok(row));
    }
}
