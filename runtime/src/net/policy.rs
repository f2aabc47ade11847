//! Who may sync with a node: a fixed list of identities, or the identities a field of the
//! database's own effective rows names (the members of a collection, say), evaluated when each
//! connection opens, so a member removed by an effective op is refused from then on.

use crate::error::QueryError;
use crate::ids::Identity;
use crate::replica::Replica;
use std::collections::BTreeSet;

/// Who may sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerPolicy {
    /// These identities, and no other.
    Allow(BTreeSet<Identity>),
    /// The identities held by `field` (an `identity` field) of the visible rows of
    /// `collection`: `Membership.member`, say.
    Members {
        /// The collection.
        collection: String,
        /// Its `identity` field.
        field: String,
    },
    /// A peer that any of these allows.
    AnyOf(Vec<PeerPolicy>),
}

impl PeerPolicy {
    /// Whether `peer` may sync with `replica` now.
    pub fn allows(&self, replica: &Replica, peer: &Identity) -> Result<bool, QueryError> {
        match self {
            PeerPolicy::Allow(identities) => Ok(identities.contains(peer)),
            PeerPolicy::Members { collection, field } => {
                Ok(replica.query(collection).filter(field, *peer).first()?.is_some())
            }
            PeerPolicy::AnyOf(policies) => {
                for policy in policies {
                    if policy.allows(replica, peer)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }
}
