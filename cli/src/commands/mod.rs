//! One module per command or group of commands; each takes its parsed arguments and prints
//! its result.

pub mod demo;
pub mod events;
pub mod explain;
pub mod init;
pub mod key;
pub mod log;
pub mod read;
pub mod sync;
pub mod transfer;
pub mod write;
