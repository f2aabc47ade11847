//! The op log's tests, in one binary: encoding, every ingest check, convergence under random
//! delivery orders, the crypto seam, and crash safety.

mod crash;
mod crypto;
mod deferred;
mod encoding;
mod ingest;
mod spec;
mod store_files;
mod support;
