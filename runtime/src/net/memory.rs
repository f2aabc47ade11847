//! Channels inside one process: two halves joined by queues, each side told the other's
//! identity (tests, and many replicas in one program, trust the process they run in).

use super::{Channel, FrameReceiver, FrameSender};
use crate::error::ChannelError;
use crate::ids::Identity;
use tokio::sync::mpsc;

/// One end of an in-memory channel.
#[derive(Debug)]
pub struct MemoryChannel {
    peer: Identity,
    sender: mpsc::Sender<Vec<u8>>,
    receiver: mpsc::Receiver<Vec<u8>>,
}

/// Two connected ends: the first is `left`'s (its peer is `right`), the second `right`'s.
/// Each direction buffers up to `capacity` frames.
pub fn pair(left: Identity, right: Identity, capacity: usize) -> (MemoryChannel, MemoryChannel) {
    let (to_right, from_left) = mpsc::channel(capacity.max(1));
    let (to_left, from_right) = mpsc::channel(capacity.max(1));
    (
        MemoryChannel { peer: right, sender: to_right, receiver: from_right },
        MemoryChannel { peer: left, sender: to_left, receiver: from_left },
    )
}

/// The sending half of a [`MemoryChannel`].
#[derive(Debug)]
pub struct MemorySender(mpsc::Sender<Vec<u8>>);

/// The receiving half of a [`MemoryChannel`].
#[derive(Debug)]
pub struct MemoryReceiver(mpsc::Receiver<Vec<u8>>);

impl Channel for MemoryChannel {
    type Sender = MemorySender;
    type Receiver = MemoryReceiver;

    fn peer(&self) -> Identity {
        self.peer
    }

    fn split(self) -> (MemorySender, MemoryReceiver) {
        (MemorySender(self.sender), MemoryReceiver(self.receiver))
    }
}

impl FrameSender for MemorySender {
    async fn send(&mut self, frame: Vec<u8>) -> Result<(), ChannelError> {
        self.0.send(frame).await.map_err(|_| ChannelError::Closed)
    }
}

impl FrameReceiver for MemoryReceiver {
    async fn receive(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.0.recv().await.ok_or(ChannelError::Closed)
    }
}
