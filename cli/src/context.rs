//! Where a command runs: its output (a terminal, or the control connection of a running node),
//! its input, and the replica it works on (opened from its directory, or the running node's,
//! which holds the store's lock while it serves).

use crate::node;
use crate::Failure;
use cairn::Replica;
use serde_json::Value as Json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A replica a running node holds open, with the directory it lives in.
#[derive(Clone)]
pub struct Hosted {
    pub dir: PathBuf,
    pub replica: Arc<Replica>,
}

/// A command's surroundings.
pub struct Context {
    /// Print JSON instead of text.
    pub json: bool,
    out: Mutex<Box<dyn Write + Send>>,
    err: Mutex<Box<dyn Write + Send>>,
    /// Standard input, when the command runs on behalf of another process.
    input: Mutex<Option<Vec<u8>>>,
    /// Whether a person watches the output (progress bars).
    pub interactive: bool,
    hosted: Option<Hosted>,
}

impl Context {
    /// A command run from a terminal, on its own process's stdio.
    pub fn terminal(json: bool) -> Context {
        Context {
            json,
            out: Mutex::new(Box::new(std::io::stdout())),
            err: Mutex::new(Box::new(std::io::stderr())),
            input: Mutex::new(None),
            interactive: std::io::IsTerminal::is_terminal(&std::io::stderr()),
            hosted: None,
        }
    }

    /// A command a running node runs for another process: output to `out` and `err`, `input`
    /// as its stdin, the node's replica for the node's directory.
    pub fn hosted(
        json: bool,
        out: Box<dyn Write + Send>,
        err: Box<dyn Write + Send>,
        input: Vec<u8>,
        hosted: Hosted,
    ) -> Context {
        Context {
            json,
            out: Mutex::new(out),
            err: Mutex::new(err),
            input: Mutex::new(Some(input)),
            interactive: false,
            hosted: Some(hosted),
        }
    }

    /// The same surroundings for another replica: a node hosting the one in `hosted`.
    pub fn hosting(self, hosted: Hosted) -> Context {
        Context { hosted: Some(hosted), ..self }
    }

    /// Standard output.
    pub fn out(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.out.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Prints `value` with `--json`, `text` otherwise, as one line.
    pub fn print(&self, value: Json, text: String) -> Result<(), Failure> {
        let mut out = self.out();
        if self.json {
            writeln!(out, "{value}")?;
        } else {
            writeln!(out, "{text}")?;
        }
        out.flush()?;
        Ok(())
    }

    /// A line on standard error: notes and warnings beside the result.
    pub fn note(&self, text: &str) {
        let mut err = self.err.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let _ = writeln!(err, "{text}");
    }

    /// All of standard input.
    pub fn stdin(&self) -> Result<Vec<u8>, Failure> {
        let given = self.input.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        match given {
            Some(input) => Ok(input),
            None => {
                let mut input = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut input)?;
                Ok(input)
            }
        }
    }

    /// The replica in `dir`: the running node's, or opened from the store.
    pub fn replica(&self, dir: &Path) -> Result<Arc<Replica>, Failure> {
        if let Some(hosted) = &self.hosted {
            if same_dir(&hosted.dir, dir) {
                return Ok(hosted.replica.clone());
            }
        }
        Ok(Arc::new(node::open(dir)?))
    }
}

fn same_dir(left: &Path, right: &Path) -> bool {
    match (left.canonicalize(), right.canonicalize()) {
        (Ok(left), Ok(right)) => left == right,
        _ => false,
    }
}
