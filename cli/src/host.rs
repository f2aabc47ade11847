//! A running node (`serve`, `sync --live`) holds its store's lock; the other `cairn` commands on
//! the same directory reach it through a control socket in the directory, `cairn.sock`. The
//! command runs inside the node, on the node's replica (so a `put` reaches live peers at once),
//! and its output streams back.
//!
//! Protocol, on a Unix socket: the client sends one request, its length (4 bytes, big-endian)
//! then JSON `{"args": [...], "cwd": "...", "stdin": "<hex>"}`; the node answers with chunks,
//! each a kind byte (1 stdout, 2 stderr, 3 exit code), a length (4 bytes) and the bytes.

use crate::context::{Context, Hosted};
use crate::{dispatch, Cli};
use clap::Parser;
use serde_json::{json, Value as Json};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const EXIT: u8 = 3;
/// The largest request (its stdin included) a node reads.
const MAX_REQUEST: usize = 256 << 20;

/// The control socket of a node directory.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("cairn.sock")
}

/// A node's control socket, served on a thread; removed when dropped.
pub struct Host {
    path: PathBuf,
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Host {
    /// Serves the control socket of `dir` for `replica`.
    pub fn start(dir: &Path, replica: Arc<cairn::Replica>) -> std::io::Result<Host> {
        let path = socket_path(dir);
        // A socket left by a node that died is stale: nobody answers it.
        if path.exists() && UnixStream::connect(&path).is_err() {
            std::fs::remove_file(&path)?;
        }
        let listener = UnixListener::bind(&path)?;
        let hosted = Hosted { dir: dir.to_owned(), replica };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let hosted = hosted.clone();
                std::thread::spawn(move || {
                    let _ = answer(stream, hosted);
                });
            }
        });
        Ok(Host { path })
    }
}

/// Writes one kind of output to the control connection, as chunks.
struct Chunks {
    stream: Arc<Mutex<UnixStream>>,
    kind: u8,
}

impl Write for Chunks {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut stream = self.stream.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        send_chunk(&mut stream, self.kind, bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn send_chunk(stream: &mut UnixStream, kind: u8, bytes: &[u8]) -> std::io::Result<()> {
    let length = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
    stream.write_all(&[&[kind][..], &length.to_be_bytes(), bytes].concat())
}

/// Runs one forwarded command on the node.
fn answer(mut stream: UnixStream, hosted: Hosted) -> std::io::Result<()> {
    let mut length = [0u8; 4];
    stream.read_exact(&mut length)?;
    let length = u32::from_be_bytes(length) as usize;
    if length > MAX_REQUEST {
        return Err(std::io::Error::other("the request is too large"));
    }
    let mut request = vec![0u8; length];
    stream.read_exact(&mut request)?;
    let shared = Arc::new(Mutex::new(stream.try_clone()?));
    let out = Box::new(Chunks { stream: shared.clone(), kind: STDOUT });
    let err = Box::new(Chunks { stream: shared.clone(), kind: STDERR });
    let code = match parse_request(&request) {
        Ok((cli, stdin)) => {
            let cx = Context::hosted(cli.json, out, err, stdin, hosted);
            match dispatch(&cli.command, &cx) {
                Ok(()) => 0,
                Err(failure) => failure.exit_code(&cx),
            }
        }
        Err(message) => {
            let mut err = Chunks { stream: shared.clone(), kind: STDERR };
            let _ = err.write_all(format!("error: {message}\n").as_bytes());
            2
        }
    };
    let mut stream = shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    send_chunk(&mut stream, EXIT, &[code])
}

/// The command a client forwarded, with its paths made absolute against the client's working
/// directory, and its standard input.
fn parse_request(request: &[u8]) -> Result<(Cli, Vec<u8>), String> {
    let request: Json = serde_json::from_slice(request).map_err(|error| error.to_string())?;
    let args: Vec<String> = request["args"]
        .as_array()
        .ok_or("a request has arguments")?
        .iter()
        .map(|arg| arg.as_str().map(str::to_owned).ok_or("arguments are text"))
        .collect::<Result<_, _>>()?;
    let cwd = PathBuf::from(request["cwd"].as_str().ok_or("a request has a working directory")?);
    let stdin = match request["stdin"].as_str() {
        Some(hex) => decode_hex(hex).ok_or("stdin is not hex")?,
        None => Vec::new(),
    };
    let mut cli = Cli::try_parse_from(args).map_err(|error| error.to_string())?;
    cli.command.resolve_paths(&cwd);
    Ok((cli, stdin))
}

/// Forwards a command to the node serving `dir`, if one is running: prints what the node
/// prints and returns its exit code. `None` when no node answers.
pub fn forward(dir: &Path, args: &[String], stdin: Option<&[u8]>) -> Option<u8> {
    let mut stream = UnixStream::connect(socket_path(dir)).ok()?;
    let cwd = std::env::current_dir().ok()?;
    let request = json!({
        "args": args,
        "cwd": cwd.to_string_lossy(),
        "stdin": stdin.map(encode_hex),
    })
    .to_string();
    let length = u32::try_from(request.len()).ok()?;
    stream.write_all(&[&length.to_be_bytes()[..], request.as_bytes()].concat()).ok()?;
    let (mut stdout, mut stderr) = (std::io::stdout(), std::io::stderr());
    loop {
        let mut head = [0u8; 5];
        if stream.read_exact(&mut head).is_err() {
            // The node went away mid-command.
            let _ = writeln!(stderr, "error: the node serving {} stopped answering", dir.display());
            return Some(1);
        }
        let length = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut bytes = vec![0u8; length];
        stream.read_exact(&mut bytes).ok()?;
        match head[0] {
            STDOUT => {
                if stdout.write_all(&bytes).and_then(|()| stdout.flush()).is_err() {
                    return Some(0);
                }
            }
            STDERR => {
                let _ = stderr.write_all(&bytes);
            }
            EXIT => return Some(bytes.first().copied().unwrap_or(1)),
            _ => return Some(1),
        }
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len() / 2).map(|index| u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()).collect()
}
