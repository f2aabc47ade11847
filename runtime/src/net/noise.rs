//! Channels over TCP, encrypted and authenticated with Noise XX (the `snow` crate), each side's
//! Noise key bound to its replica identity (docs/SPEC.md §5.5).
//!
//! Each side makes a fresh X25519 key for the connection. In the handshake's second and third
//! messages (encrypted, so only the peer reads them) each side sends its identity and its
//! signature, by the identity's key, over `"cairn-noise-identity-v1"` and its X25519 public key.
//! Noise proves that the peer holds the X25519 key; the signature proves that the holder of the
//! identity chose that key; so a peer cannot claim an identity whose secret it lacks. Frames are
//! then sent as Noise transport messages of at most 65,535 bytes: a frame is its length (4 bytes,
//! big-endian) and its bytes, cut into chunks, each sent as its ciphertext's length (2 bytes) and
//! the ciphertext.

use super::{Channel, FrameReceiver, FrameSender};
use crate::crypto::{CryptoSuite, SignedMessage};
use crate::error::ChannelError;
use crate::ids::Identity;
use crate::keys::Keypair;
use snow::{Builder, StatelessTransportState};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};

const PATTERN: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";
const PROLOGUE: &[u8] = b"cairn-sync-v1";
const IDENTITY_DOMAIN: &[u8] = b"cairn-noise-identity-v1";
/// The largest Noise message, and the room its authentication tag leaves for plaintext.
const MAX_NOISE_MESSAGE: usize = 65_535;
const MAX_CHUNK: usize = MAX_NOISE_MESSAGE - 16;
/// How long a handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A channel over TCP with Noise.
pub struct NoiseChannel {
    peer: Identity,
    stream: TcpStream,
    transport: StatelessTransportState,
    max_frame: usize,
}

impl std::fmt::Debug for NoiseChannel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("NoiseChannel").field("peer", &self.peer).finish()
    }
}

fn handshake_error(error: impl std::fmt::Display) -> ChannelError {
    ChannelError::Handshake(error.to_string())
}

/// Connects to a peer and runs the handshake as the initiator. With `expected`, a peer with
/// another identity is refused.
pub async fn connect(
    address: impl ToSocketAddrs,
    keypair: &Keypair,
    suite: &dyn CryptoSuite,
    expected: Option<Identity>,
    max_frame: usize,
) -> Result<NoiseChannel, ChannelError> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let channel = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, keypair, suite, true, max_frame))
        .await
        .map_err(|_| handshake_error("the peer did not complete the handshake in time"))??;
    if let Some(expected) = expected {
        if channel.peer != expected {
            return Err(handshake_error(format!("the peer is {}, not {expected}", channel.peer)));
        }
    }
    Ok(channel)
}

/// Runs the handshake as the responder on an accepted connection.
pub async fn accept(
    stream: TcpStream,
    keypair: &Keypair,
    suite: &dyn CryptoSuite,
    max_frame: usize,
) -> Result<NoiseChannel, ChannelError> {
    stream.set_nodelay(true)?;
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(stream, keypair, suite, false, max_frame))
        .await
        .map_err(|_| handshake_error("the peer did not complete the handshake in time"))?
}

/// The identity payload: the identity, and its signature over the domain and the Noise key.
fn identity_proof(keypair: &Keypair, suite: &dyn CryptoSuite, noise_public: &[u8]) -> Vec<u8> {
    let signature = suite.sign(&keypair.secret, &[IDENTITY_DOMAIN, noise_public].concat());
    [keypair.identity.0.as_slice(), signature.as_slice()].concat()
}

fn check_proof(payload: &[u8], suite: &dyn CryptoSuite, noise_public: Option<&[u8]>) -> Result<Identity, ChannelError> {
    let noise_public = noise_public.ok_or_else(|| handshake_error("the peer sent no Noise key"))?;
    let (identity, signature) = match payload.split_at_checked(32) {
        Some((identity, signature)) if signature.len() == 64 => (identity, signature),
        _ => return Err(handshake_error("the peer's identity proof is malformed")),
    };
    let identity = Identity(identity.try_into().map_err(handshake_error)?);
    let signature: [u8; 64] = signature.try_into().map_err(handshake_error)?;
    let message = [IDENTITY_DOMAIN, noise_public].concat();
    if !suite.verify(SignedMessage { signer: &identity, message: &message, signature: &signature }) {
        return Err(handshake_error(format!("the peer could not prove it is {identity}")));
    }
    Ok(identity)
}

async fn write_noise(stream: &mut TcpStream, message: &[u8]) -> Result<(), ChannelError> {
    let length = u16::try_from(message.len()).map_err(handshake_error)?;
    stream.write_all(&[&length.to_be_bytes()[..], message].concat()).await?;
    Ok(())
}

async fn read_noise(stream: &mut TcpStream) -> Result<Vec<u8>, ChannelError> {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).await.map_err(closed_or_io)?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut message).await.map_err(closed_or_io)?;
    Ok(message)
}

fn closed_or_io(error: std::io::Error) -> ChannelError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        ChannelError::Closed
    } else {
        ChannelError::Io(error)
    }
}

async fn handshake(
    mut stream: TcpStream,
    keypair: &Keypair,
    suite: &dyn CryptoSuite,
    initiator: bool,
    max_frame: usize,
) -> Result<NoiseChannel, ChannelError> {
    let params = PATTERN.parse().map_err(handshake_error)?;
    let builder = Builder::new(params);
    let noise_key = builder.generate_keypair().map_err(handshake_error)?;
    let builder = Builder::new(PATTERN.parse().map_err(handshake_error)?)
        .local_private_key(&noise_key.private)
        .map_err(handshake_error)?
        .prologue(PROLOGUE)
        .map_err(handshake_error)?;
    let mut state =
        if initiator { builder.build_initiator() } else { builder.build_responder() }.map_err(handshake_error)?;
    let proof = identity_proof(keypair, suite, &noise_key.public);
    let mut buffer = vec![0u8; MAX_NOISE_MESSAGE];
    let mut payload = vec![0u8; MAX_NOISE_MESSAGE];
    let peer = if initiator {
        // -> e
        let length = state.write_message(&[], &mut buffer).map_err(handshake_error)?;
        write_noise(&mut stream, &buffer[..length]).await?;
        // <- e, ee, s, es, and the responder's proof
        let message = read_noise(&mut stream).await?;
        let length = state.read_message(&message, &mut payload).map_err(handshake_error)?;
        let peer = check_proof(&payload[..length], suite, state.get_remote_static())?;
        // -> s, se, and our proof
        let length = state.write_message(&proof, &mut buffer).map_err(handshake_error)?;
        write_noise(&mut stream, &buffer[..length]).await?;
        peer
    } else {
        let message = read_noise(&mut stream).await?;
        state.read_message(&message, &mut payload).map_err(handshake_error)?;
        let length = state.write_message(&proof, &mut buffer).map_err(handshake_error)?;
        write_noise(&mut stream, &buffer[..length]).await?;
        let message = read_noise(&mut stream).await?;
        let length = state.read_message(&message, &mut payload).map_err(handshake_error)?;
        check_proof(&payload[..length], suite, state.get_remote_static())?
    };
    let transport = state.into_stateless_transport_mode().map_err(handshake_error)?;
    Ok(NoiseChannel { peer, stream, transport, max_frame })
}

/// The sending half of a [`NoiseChannel`].
pub struct NoiseSender {
    stream: OwnedWriteHalf,
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    max_frame: usize,
}

/// The receiving half of a [`NoiseChannel`].
pub struct NoiseReceiver {
    stream: OwnedReadHalf,
    transport: Arc<StatelessTransportState>,
    nonce: u64,
    max_frame: usize,
}

impl Channel for NoiseChannel {
    type Sender = NoiseSender;
    type Receiver = NoiseReceiver;

    fn peer(&self) -> Identity {
        self.peer
    }

    fn split(self) -> (NoiseSender, NoiseReceiver) {
        let (read, write) = self.stream.into_split();
        let transport = Arc::new(self.transport);
        (
            NoiseSender { stream: write, transport: transport.clone(), nonce: 0, max_frame: self.max_frame },
            NoiseReceiver { stream: read, transport, nonce: 0, max_frame: self.max_frame },
        )
    }
}

impl FrameSender for NoiseSender {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        if frame.len() > self.max_frame {
            return Err(ChannelError::FrameTooLarge { size: frame.len(), limit: self.max_frame });
        }
        let length = u32::try_from(frame.len())
            .map_err(|_| ChannelError::FrameTooLarge { size: frame.len(), limit: self.max_frame })?;
        let plaintext = [&length.to_be_bytes()[..], &frame].concat();
        let mut wire = Vec::with_capacity(plaintext.len() + (plaintext.len() / MAX_CHUNK + 1) * 18);
        let mut ciphertext = vec![0u8; MAX_NOISE_MESSAGE];
        for chunk in plaintext.chunks(MAX_CHUNK) {
            let written = self
                .transport
                .write_message(self.nonce, chunk, &mut ciphertext)
                .map_err(|error| ChannelError::Io(std::io::Error::other(error.to_string())))?;
            self.nonce += 1;
            wire.extend_from_slice(&(written as u16).to_be_bytes());
            wire.extend_from_slice(&ciphertext[..written]);
        }
        self.stream.write_all(&wire).await?;
        Ok(())
    }
}

impl NoiseReceiver {
    async fn chunk(&mut self, into: &mut Vec<u8>) -> Result<(), ChannelError> {
        let mut length = [0u8; 2];
        self.stream.read_exact(&mut length).await.map_err(closed_or_io)?;
        let mut ciphertext = vec![0u8; usize::from(u16::from_be_bytes(length))];
        self.stream.read_exact(&mut ciphertext).await.map_err(closed_or_io)?;
        let mut plaintext = vec![0u8; ciphertext.len()];
        let read = self
            .transport
            .read_message(self.nonce, &ciphertext, &mut plaintext)
            .map_err(|error| ChannelError::Io(std::io::Error::other(format!("a frame does not decrypt: {error}"))))?;
        self.nonce += 1;
        into.extend_from_slice(&plaintext[..read]);
        Ok(())
    }
}

impl FrameReceiver for NoiseReceiver {
    async fn receive(&mut self) -> Result<Vec<u8>, ChannelError> {
        let mut buffer = Vec::new();
        while buffer.len() < 4 {
            self.chunk(&mut buffer).await?;
        }
        let length = u32::from_be_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]) as usize;
        if length > self.max_frame {
            return Err(ChannelError::FrameTooLarge { size: length, limit: self.max_frame });
        }
        while buffer.len() < 4 + length {
            self.chunk(&mut buffer).await?;
        }
        if buffer.len() != 4 + length {
            return Err(ChannelError::Io(std::io::Error::other("a frame runs into the next")));
        }
        buffer.drain(..4);
        Ok(buffer)
    }
}
