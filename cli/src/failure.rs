//! How a command fails, and the exit code that says so: 0 only when everything it was asked
//! to do was done; 1 when it failed (a write refused, an op rejected); 2 when its input is not
//! what it reads at all (not an export, say; clap uses 2 for bad arguments too).

use crate::context::Context;

/// A command's failure.
#[derive(Debug)]
pub enum Failure {
    /// The command failed: the error is printed, and the exit code is 1.
    Error(Box<dyn std::error::Error>),
    /// The input is not what the command reads: printed, exit code 2.
    Unreadable(Box<dyn std::error::Error>),
    /// The command printed what went wrong in its own report: exit code 1, nothing more.
    Reported,
}

/// Any error (or message) is a failure with exit code 1.
impl<E: Into<Box<dyn std::error::Error>>> From<E> for Failure {
    fn from(error: E) -> Failure {
        Failure::Error(error.into())
    }
}

impl Failure {
    /// Prints the failure to the command's stderr and gives the exit code. A reader that stopped
    /// early (`cairn log | head`) is not a failure.
    pub fn exit_code(self, cx: &Context) -> u8 {
        let (error, code) = match self {
            Failure::Reported => return 1,
            Failure::Error(error) => (error, 1),
            Failure::Unreadable(error) => (error, 2),
        };
        let broken_pipe =
            error.downcast_ref::<std::io::Error>().is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe);
        if broken_pipe {
            return 0;
        }
        cx.note(&format!("error: {error}"));
        code
    }
}
