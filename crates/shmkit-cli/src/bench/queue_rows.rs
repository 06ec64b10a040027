//! shmkit's own queue as benchmark rows: round trips through two SPSC
//! queues (one each way) with each wait strategy, and streaming through one.

use std::process::{Child, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{Options, Wait};
use shmkit::Error;

use super::run::Peer;
use super::transports::{Class, Link, Sink, Stream, Transport};

/// How long either side waits for the other before declaring it gone.
const PEER_TIMEOUT: Duration = Duration::from_secs(20);

/// A queue that holds a few messages of `size` bytes.
fn capacity(size: usize) -> usize {
    (4 * (size + 16)).max(4096)
}

/// Two queue names (parent to peer, peer to parent) no other run uses.
fn names() -> (String, String) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = format!("skq{}-{n}", std::process::id());
    (format!("{base}-down"), format!("{base}-up"))
}

/// Round trips through shmkit's SPSC queue: the parent sends a message of
/// the row's size, the peer reads it out and sends it back.
pub struct ShmkitQueue {
    name: &'static str,
    wait: Wait,
}

/// Busy-spinning both ways: the lowest latency, a CPU each.
pub static QUEUE_SPIN: ShmkitQueue = ShmkitQueue {
    name: "shmkit-queue-spin",
    wait: Wait::Spin,
};
/// Spin briefly, then sleep on a shared futex (the default).
pub static QUEUE_SPIN_BLOCK: ShmkitQueue = ShmkitQueue {
    name: "shmkit-queue-spin-block",
    wait: Wait::SpinThenBlock,
};
/// Sleep at once.
pub static QUEUE_BLOCK: ShmkitQueue = ShmkitQueue {
    name: "shmkit-queue-block",
    wait: Wait::Block,
};

struct QueueLink {
    tx: Producer,
    rx: Consumer,
    msg: Vec<u8>,
    back: Vec<u8>,
    child: Child,
    name: &'static str,
}

impl Link for QueueLink {
    fn round_trip(&mut self) -> Result<()> {
        self.tx.send(&self.msg)?;
        let m = match self.rx.read_timeout(PEER_TIMEOUT) {
            Ok(m) => m,
            Err(e) => {
                let _ = self.child.try_wait();
                bail!("the {} peer did not answer: {e}", self.name);
            }
        };
        ensure!(
            m.len() == self.back.len(),
            "the {} peer answered {} bytes, not {}",
            self.name,
            m.len(),
            self.back.len()
        );
        m.read_at(0, &mut self.back)?;
        m.release();
        Ok(())
    }

    fn close(self: Box<Self>) -> Result<()> {
        let QueueLink {
            tx,
            rx,
            mut child,
            name,
            ..
        } = *self;
        // Closing our ends tells the peer to stop.
        drop(tx);
        let status = child
            .wait()
            .with_context(|| format!("waiting for the {name} peer"))?;
        drop(rx);
        ensure!(status.success(), "the {name} peer failed ({status})");
        Ok(())
    }
}

impl Transport for ShmkitQueue {
    fn name(&self) -> &'static str {
        self.name
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn busy_spins(&self) -> bool {
        self.wait == Wait::Spin
    }
    fn sized(&self) -> bool {
        true
    }
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
        let opts = Options::default().wait(self.wait);
        let (down, up) = names();
        let tx = Producer::create_with(&down, capacity(size), &opts)?;
        let rx = Consumer::create_with(&up, capacity(size), &opts)?;
        let args = [down.clone(), up.clone(), size.to_string()];
        let child = peer.spawn(self.name, &args, Stdio::null(), Stdio::null())?;
        Ok(Box::new(QueueLink {
            tx,
            rx,
            msg: vec![0x5a; size],
            back: vec![0; size],
            child,
            name: self.name,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let [down, up, size] = args else {
            bail!("expected two queue names and a size");
        };
        let size: usize = size.parse().context("bad size")?;
        let opts = Options::default().wait(self.wait);
        let mut rx = Consumer::open_with(down, &opts)?;
        let mut tx = Producer::open_with(up, &opts)?;
        let mut buf = vec![0u8; size];
        loop {
            match rx.read_timeout(PEER_TIMEOUT) {
                Ok(m) => {
                    let len = m.len().min(buf.len());
                    m.read_at(0, &mut buf[..len])?;
                    m.release();
                    tx.send(&buf[..len])?;
                }
                Err(Error::Closed { .. } | Error::PeerDied { .. }) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Streaming through shmkit's SPSC queue by copy (`send(&[u8])`), the
/// default wait strategy; the peer acknowledges each batch on a second queue.
pub struct ShmkitQueueStream;

struct QueueSink {
    tx: Producer,
    acks: Consumer,
    child: Child,
}

impl Sink for QueueSink {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        Ok(self.tx.send(msg)?)
    }
    fn wait_ack(&mut self) -> Result<()> {
        let m = self.acks.read_timeout(PEER_TIMEOUT)?;
        m.release();
        Ok(())
    }
    fn close(self: Box<Self>) -> Result<()> {
        let QueueSink {
            tx,
            acks,
            mut child,
        } = *self;
        drop(tx);
        let status = child.wait().context("waiting for the shmkit-queue peer")?;
        drop(acks);
        ensure!(status.success(), "the shmkit-queue peer failed ({status})");
        Ok(())
    }
}

impl Stream for ShmkitQueueStream {
    fn name(&self) -> &'static str {
        "shmkit-queue"
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn connect(&self, peer: &Peer, size: usize, batches: &[usize]) -> Result<Box<dyn Sink>> {
        let opts = Options::default();
        let (down, up) = names();
        // Room for many messages in flight, as a socket buffer has.
        let cap = (size + 16).saturating_mul(16).clamp(1 << 16, 1 << 26);
        let tx = Producer::create_with(&down, cap, &opts)?;
        let acks = Consumer::create_with(&up, 4096, &opts)?;
        let args: Vec<String> = ["sink".to_owned(), down, up, size.to_string()]
            .into_iter()
            .chain(batches.iter().map(|n| n.to_string()))
            .collect();
        let child = peer.spawn(self.name(), &args, Stdio::null(), Stdio::null())?;
        Ok(Box::new(QueueSink { tx, acks, child }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        let [down, up, size, batches @ ..] = args else {
            bail!("expected two queue names, a size and batch counts");
        };
        let size: usize = size.parse().context("bad size")?;
        let mut rx = Consumer::open(down)?;
        let mut acks = Producer::open(up)?;
        let mut buf = vec![0u8; size];
        for batch in batches {
            let n: usize = batch.parse().context("bad batch count")?;
            for _ in 0..n {
                let m = rx.read_timeout(PEER_TIMEOUT)?;
                let len = m.len().min(buf.len());
                m.read_at(0, &mut buf[..len])?;
                m.release();
            }
            acks.send(&[1])?;
        }
        Ok(())
    }
}
