//! Sync between replicas: the protocol core driven in one thread (no sockets), over in-memory
//! channels and over loopback TCP with Noise; convergence, resumption, malicious peers, limits.

mod convergence;
mod core;
mod net;
mod peers;
mod spec;

use cairn::sync::{Role, Session, SessionOptions, SyncStats};
use cairn::{Ed25519Blake3, Keypair, Replica, Storage, Value};

pub const NOTES: &str = "schema notes;\n\ncollection Note {\n    text: string,\n    stars: counter,\n\n    allow insert, update, delete if true;\n}\n";

pub fn schema() -> cairn::Schema {
    schemac::check_source(NOTES, Some(&schemac::Priors::new())).ir.expect("the notes schema compiles")
}

/// A new database in memory and its founder.
pub fn database() -> (Replica, Keypair) {
    let founder = Keypair::generate(&Ed25519Blake3);
    (Replica::create(Storage::Memory, &founder, schema()).expect("create"), founder)
}

/// An empty replica of the same database.
pub fn join(replica: &Replica) -> Replica {
    Replica::join(Storage::Memory, replica.id(), schema()).expect("join")
}

/// Writes `count` notes as `author`, one op each.
pub fn write_notes(replica: &Replica, author: &Keypair, count: usize, label: &str) {
    for index in 0..count {
        replica
            .transaction(author, |tx| {
                tx.insert("Note", [("text", Value::from(format!("{label} {index}")))]);
            })
            .expect("write");
    }
}

/// What two sessions driven in lockstep did: each side's stats and how many one-way flights it
/// took until both were complete.
pub struct Lockstep {
    pub initiator: SyncStats,
    pub acceptor: SyncStats,
    pub flights: u64,
}

/// Drives two sessions in one thread: every step delivers everything each side has to send.
pub fn lockstep(initiator: &Replica, acceptor: &Replica, options: SessionOptions) -> Lockstep {
    let mut left = Session::new(initiator, Role::Initiator, options);
    let mut right = Session::new(acceptor, Role::Acceptor, options);
    left.start().expect("start");
    right.start().expect("start");
    for flights in 0..10_000 {
        let from_left = drain(&mut left);
        let from_right = drain(&mut right);
        if from_left.is_empty() && from_right.is_empty() {
            assert!(left.is_complete() && right.is_complete(), "the sessions stalled");
            return Lockstep { initiator: left.stats().clone(), acceptor: right.stats().clone(), flights };
        }
        for frame in from_left {
            right.receive(&frame).expect("the acceptor takes the frame");
        }
        for frame in from_right {
            left.receive(&frame).expect("the initiator takes the frame");
        }
    }
    panic!("the sessions did not converge in 10,000 steps");
}

pub fn drain(session: &mut Session) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    while let Some(frame) = session.poll_transmit().expect("transmit") {
        frames.push(frame);
    }
    frames
}

/// Asserts that two replicas hold the same ops and the same state.
pub fn assert_converged(left: &Replica, right: &Replica) {
    assert_eq!(left.op_count().expect("count"), right.op_count().expect("count"));
    assert_eq!(left.heads().expect("heads"), right.heads().expect("heads"));
    assert_eq!(left.digest().expect("digest"), right.digest().expect("digest"));
}
