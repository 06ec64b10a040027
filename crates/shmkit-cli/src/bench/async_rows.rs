//! Async rows: round trips awaited under a tokio current-thread runtime in
//! the parent, against a blocking peer. `shmkit-async-tokio` spins briefly
//! before it lends its queue to the reactor (the default, compare it with
//! `shmkit-queue-spin-block`); `shmkit-async-idle` lends at once and its
//! peer blocks at once, so every answer is an idle awaited `recv` woken by
//! the reactor (compare it with `bare-futex`); `tokio-uds` is tokio's own
//! `UnixStream` ping-pong, for scale.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use shmkit::aio::{AsyncConsumer, AsyncProducer};
use shmkit::queue::spsc::{Consumer, Producer};
use shmkit::queue::{Options, Wait};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::run::Peer;
use super::shmkit_rows::{names, QUEUE_BLOCK, QUEUE_SPIN_BLOCK};
use super::transports::{Class, Link, Transport};

/// An async round trip through two SPSC queues.
pub struct ShmkitAsync {
    name: &'static str,
    /// Tries before lending to the reactor.
    spin: u32,
    /// The peer's wait strategy (and the row that serves as its peer).
    peer_wait: Wait,
}

/// The default async endpoints, a peer that spins then blocks.
pub static ASYNC_TOKIO: ShmkitAsync = ShmkitAsync {
    name: "shmkit-async-tokio",
    spin: shmkit::aio::SPIN_TRIES,
    peer_wait: Wait::SpinThenBlock,
};

/// No spin on either side: every answer wakes an idle awaited `recv`.
pub static ASYNC_IDLE: ShmkitAsync = ShmkitAsync {
    name: "shmkit-async-idle",
    spin: 1,
    peer_wait: Wait::Block,
};

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting a tokio runtime")
}

struct AsyncLink {
    rt: tokio::runtime::Runtime,
    tx: AsyncProducer<Producer>,
    rx: AsyncConsumer<Consumer>,
    msg: Vec<u8>,
    /// The answer, read into the same buffer each time (as the sync rows
    /// read into theirs).
    back: Vec<u8>,
    child: Child,
    name: &'static str,
}

impl Link for AsyncLink {
    fn round_trip(&mut self) -> Result<()> {
        let AsyncLink {
            rt,
            tx,
            rx,
            msg,
            back,
            ..
        } = self;
        let answer = rt.block_on(async {
            tx.send(msg).await?;
            rx.recv_into(back).await
        });
        answer.with_context(|| format!("the {} peer did not answer", self.name))?;
        ensure!(
            self.back.len() == self.msg.len(),
            "the {} peer answered {} bytes, not {}",
            self.name,
            self.back.len(),
            self.msg.len()
        );
        Ok(())
    }

    fn round_trips(&mut self, n: usize, record: &mut dyn FnMut(Duration)) -> Result<()> {
        let AsyncLink {
            rt,
            tx,
            rx,
            msg,
            back,
            name,
            ..
        } = self;
        rt.block_on(async {
            for _ in 0..n {
                let start = Instant::now();
                tx.send(msg).await?;
                rx.recv_into(back).await?;
                record(start.elapsed());
                ensure!(
                    back.len() == msg.len(),
                    "the {name} peer answered {} bytes, not {}",
                    back.len(),
                    msg.len()
                );
            }
            Ok(())
        })
        .with_context(|| format!("the {name} peer did not answer"))
    }

    fn close(self: Box<Self>) -> Result<()> {
        let AsyncLink {
            tx,
            rx,
            mut child,
            name,
            ..
        } = *self;
        drop(tx);
        let status = child
            .wait()
            .with_context(|| format!("waiting for the {name} peer"))?;
        drop(rx);
        ensure!(status.success(), "the {name} peer failed ({status})");
        Ok(())
    }
}

impl Transport for ShmkitAsync {
    fn name(&self) -> &'static str {
        self.name
    }
    fn class(&self) -> Class {
        Class::Shmkit
    }
    fn busy_spins(&self) -> bool {
        false
    }
    fn sized(&self) -> bool {
        true
    }
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
        let opts = Options::default().wait(self.peer_wait);
        let (down, up) = names();
        let cap = (4 * (size + 16)).max(4096);
        let tx = AsyncProducer::new(Producer::create_with(&down, cap, &opts)?).spin(self.spin);
        let rx = AsyncConsumer::new(Consumer::create_with(&up, cap, &opts)?).spin(self.spin);
        let args = [down, up, size.to_string()];
        let child = peer.spawn(self.name, &args, Stdio::null(), Stdio::null())?;
        Ok(Box::new(AsyncLink {
            rt: runtime()?,
            tx,
            rx,
            msg: vec![0x5a; size],
            back: Vec::with_capacity(size),
            child,
            name: self.name,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        match self.peer_wait {
            Wait::Block => QUEUE_BLOCK.serve(args),
            _ => QUEUE_SPIN_BLOCK.serve(args),
        }
    }
}

/// tokio's `UnixStream` ping-pong: a socket pair, the parent's end
/// awaited under a current-thread runtime, the peer a blocking echo.
pub struct TokioUds;

struct TokioUdsLink {
    rt: tokio::runtime::Runtime,
    stream: Option<tokio::net::UnixStream>,
    buf: Vec<u8>,
    child: Child,
}

impl Link for TokioUdsLink {
    fn round_trip(&mut self) -> Result<()> {
        let TokioUdsLink {
            rt, stream, buf, ..
        } = self;
        let stream = stream.as_mut().context("closed")?;
        rt.block_on(async {
            stream.write_all(buf).await?;
            stream.read_exact(buf).await.map(drop)
        })
        .context("reading the tokio-uds peer's answer")
    }

    fn round_trips(&mut self, n: usize, record: &mut dyn FnMut(Duration)) -> Result<()> {
        let TokioUdsLink {
            rt, stream, buf, ..
        } = self;
        let stream = stream.as_mut().context("closed")?;
        rt.block_on(async {
            for _ in 0..n {
                let start = Instant::now();
                stream.write_all(buf).await?;
                stream.read_exact(buf).await?;
                record(start.elapsed());
            }
            Ok::<(), std::io::Error>(())
        })
        .context("reading the tokio-uds peer's answer")
    }

    fn close(self: Box<Self>) -> Result<()> {
        let TokioUdsLink {
            rt,
            stream,
            mut child,
            ..
        } = *self;
        // The stream is registered with the runtime: drop it inside.
        rt.block_on(async move { drop(stream) });
        let status = child.wait().context("waiting for the tokio-uds peer")?;
        ensure!(status.success(), "the tokio-uds peer failed ({status})");
        Ok(())
    }
}

impl Transport for TokioUds {
    fn name(&self) -> &'static str {
        "tokio-uds"
    }
    fn class(&self) -> Class {
        Class::ClassicIpc
    }
    fn busy_spins(&self) -> bool {
        false
    }
    fn sized(&self) -> bool {
        true
    }
    fn connect(&self, peer: &Peer, size: usize) -> Result<Box<dyn Link>> {
        let (ours, theirs) = StdUnixStream::pair().context("socketpair")?;
        let theirs2 = theirs.try_clone()?;
        let child = peer.spawn(
            self.name(),
            &[size.to_string()],
            Stdio::from(std::os::fd::OwnedFd::from(theirs)),
            Stdio::from(std::os::fd::OwnedFd::from(theirs2)),
        )?;
        ours.set_nonblocking(true)?;
        let rt = runtime()?;
        let stream = {
            let _guard = rt.enter();
            tokio::net::UnixStream::from_std(ours).context("registering with tokio")?
        };
        Ok(Box::new(TokioUdsLink {
            rt,
            stream: Some(stream),
            buf: vec![0x5a; size.max(1)],
            child,
        }))
    }
    fn serve(&self, args: &[String]) -> Result<()> {
        // The same blocking echo as `uds`'s peer, on stdin and stdout.
        let size: usize = args
            .first()
            .context("expected a message size")?
            .parse()
            .context("bad size")?;
        let mut buf = vec![0u8; size.max(1)];
        let mut input = std::io::stdin().lock();
        let mut output = std::io::stdout().lock();
        loop {
            match input.read_exact(&mut buf) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.into()),
            }
            output.write_all(&buf)?;
            output.flush()?;
        }
    }
}
