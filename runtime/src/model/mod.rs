//! The data model, pure: rows and how effective ops fold into them, payload checks against the
//! IR, field values as JSON, the rule judge over an abstract [`world::World`], the state
//! digest, events, and the reference evaluator. Nothing here opens a store or names redb; the
//! engine gives the judge a world backed by the store, the reference evaluator one in memory.

pub(crate) mod check;
pub(crate) mod digest;
pub(crate) mod event;
pub mod json;
pub mod reference;
pub(crate) mod refs;
pub(crate) mod row;
mod row_encoding;
pub(crate) mod rules;
mod scope;
pub(crate) mod validate;
pub(crate) mod world;
