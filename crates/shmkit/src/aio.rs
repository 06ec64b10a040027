//! Async endpoints that work under any executor (feature `async`).
//!
//! [`AsyncConsumer`], [`AsyncProducer`] and [`AsyncSubscriber`] wrap a
//! queue or broadcast endpoint and give it `recv().await` / `send().await`;
//! [`AsyncSubscriber`] is also a [`futures_core::Stream`]. [`wait_event`]
//! awaits an [`Event`]. Nothing here depends on a runtime: the same code
//! runs under tokio (multi-thread and current-thread), smol and
//! `futures::executor`.
//!
//! ```
//! use shmkit::aio::{AsyncConsumer, AsyncProducer};
//! use shmkit::queue::spsc;
//!
//! # let req = format!("doc-aio-req-{}", std::process::id());
//! # let resp = format!("doc-aio-resp-{}", std::process::id());
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! rt.block_on(async {
//!     let mut requests = AsyncConsumer::new(spsc::Consumer::create(&req, 4096)?);
//!     let mut answers = AsyncProducer::new(spsc::Producer::create(&resp, 4096)?);
//!
//!     // The client, in another process usually; a thread here.
//!     let (req2, resp2) = (req.clone(), resp.clone());
//!     let client = std::thread::spawn(move || -> shmkit::Result<Vec<u8>> {
//!         let mut tx = spsc::Producer::open(&req2)?;
//!         let mut rx = spsc::Consumer::open(&resp2)?;
//!         tx.send(b"ping")?;
//!         rx.recv()
//!     });
//!
//!     let msg = requests.recv().await?; // the task sleeps; the thread does not
//!     assert_eq!(msg, b"ping");
//!     answers.send(b"pong").await?;
//!     assert_eq!(client.join().unwrap()?, b"pong");
//!     Ok::<(), shmkit::Error>(())
//! })?;
//! # Ok::<(), shmkit::Error>(())
//! ```
//!
//! # Design: one reactor thread, endpoints lent to it
//! Shared-memory waits sleep on words in shared memory (a futex, a named
//! semaphore), which no epoll, kqueue or IOCP reactor can watch. So the
//! process gets one reactor thread of its own, started on first use, which
//! runs a [`WaitSet`] and wakes the [`Waker`]s of the futures waiting on its
//! members.
//!
//! An async endpoint owns its endpoint while it is usable. A `recv` (or
//! `send`) tries the endpoint first, [`SPIN_TRIES`] times with a spin-loop
//! hint between tries: while messages flow it completes without a system
//! call and without the reactor. Only when the tries find
//! nothing does the future *lend* the endpoint to the reactor, which adds it
//! to its set; when the set reports it ready (or its peer dead or closed),
//! the reactor takes it out, puts it back in the async endpoint's slot and
//! wakes the waker. The next poll tries again. The endpoint is never used
//! by two threads at once: it is either in its slot or in the reactor's set.
//!
//! ## No lost wake-up
//! The protocol, for a receive:
//! 1. the future tries the queue; it is empty;
//! 2. it stores its waker in the slot and hands the endpoint to the reactor
//!    (a command in a list, then a notify of the reactor's own [`Event`]);
//! 3. the reactor adds the endpoint to its set, whose readiness is
//!    level-triggered: every `wait` polls the member before it sleeps, and
//!    sleeps only on words registered before that poll (see
//!    [`crate::waitset`]);
//! 4. when the member is ready the reactor takes it out, returns it to the
//!    slot and wakes the waker stored there (the latest one: a re-poll while
//!    the endpoint is lent replaces it).
//!
//! A message sent after step 1 is seen by the set's poll in step 3 or wakes
//! its sleep, so it cannot be missed. A command pushed while the reactor is
//! busy leaves its event signalled, so the reactor's next wait returns at
//! once and takes it.
//!
//! ## Cost
//! A lent endpoint costs a wake-up of the reactor thread and then one of the
//! task's thread: an idle awaited `recv` wakes two threads in turn where a
//! blocking `recv` wakes one. With many lent endpoints the set watches 128
//! words per `futex_waitv` call on Linux, in turn, each sleep at most 1 ms
//! (see [`crate::waitset`]).
//!
//! # Peers that die
//! A peer killed with `kill -9` wakes nobody, but the reactor's set checks
//! its members' peers at most every 20 ms: the future then completes with
//! [`Error::PeerDied`] (or [`Error::Closed`] for a peer that closed), never
//! hangs. Messages the peer sent before it died are received first.
//!
//! # Cancel safety
//! Every `recv` and `send` future here is cancel safe: dropping it (a
//! `select!` that took another branch, a timeout) loses no message. A
//! receive takes a message out of the queue only in the poll that returns
//! it; a send writes its message only in the poll that returns `Ok`. An
//! endpoint lent to the reactor when its future is dropped stays lent until
//! it is ready, and the next call picks it up from there.
//!
//! Dropping an async endpoint drops its endpoint, at once if it is in its
//! slot, or by the reactor (which is told to) if it is lent, so the peer
//! sees it close.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};

use crate::broadcast::Subscriber;
use crate::queue::{mpmc, spsc};
use crate::sync::{Event, EventMode};
use crate::waitset::{Id, Key, Member};
use crate::{Error, Result, WaitSet};

/// What the reactor runs to take a lent endpoint back: removes it from the
/// set and returns it to its slot with the set's verdict.
type Giveback = Box<dyn FnOnce(&mut WaitSet<'static>, Verdict) + Send>;

/// Why the reactor gives a lent endpoint back.
enum Verdict {
    /// The set reported it ready.
    Ready,
    /// The set reported its peer dead or closed: the error to return.
    Gone(Error),
    /// Its async endpoint was dropped: the set reported nothing.
    Dropped,
}

/// What the reactor runs to add a lent endpoint to its set: returns its
/// member id and how to give it back.
type LendFn = Box<dyn FnOnce(&mut WaitSet<'static>) -> (Id, Giveback) + Send>;

/// A command to the reactor.
enum Command {
    /// Add a lent endpoint to the set: returns its member id and how to give
    /// it back; the `u64` is the slot's token.
    Lend(u64, LendFn),
    /// The async endpoint of this token was dropped: drop its endpoint.
    Drop(u64),
}

/// The process's reactor: the event that wakes it.
struct Reactor {
    /// The reactor's own wake-up, a member of its set (heap memory, leaked:
    /// the reactor lives as long as the process).
    wake: &'static Event,
}

/// Commands to the reactor, oldest first.
static COMMANDS: Mutex<Vec<Command>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a slot or the command list was held leaves nothing half
    // done that matters here: every critical section is a few moves.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The reactor, started on first use; the OS error if its thread cannot be
/// started (tried again by the next call).
fn reactor() -> std::io::Result<&'static Reactor> {
    static REACTOR: OnceLock<Reactor> = OnceLock::new();
    static STARTING: Mutex<()> = Mutex::new(());
    if let Some(r) = REACTOR.get() {
        return Ok(r);
    }
    let _one_at_a_time = lock(&STARTING);
    if let Some(r) = REACTOR.get() {
        return Ok(r);
    }
    let wake: &'static Event = Box::leak(Box::new(Event::new(EventMode::AutoReset)));
    std::thread::Builder::new()
        .name("shmkit-reactor".into())
        .spawn(move || run(wake))?;
    Ok(REACTOR.get_or_init(|| Reactor { wake }))
}

impl Reactor {
    fn send(&self, command: Command) {
        lock(&COMMANDS).push(command);
        // SYNC(command): the list's mutex publishes the command; the event
        // stays signalled until the reactor's next wait consumes it. The
        // event is on the heap, never in a segment that can be lost.
        let _ = self.wake.notify_one();
    }
}

/// The reactor thread: waits on its set, gives back the members found
/// ready, takes commands.
fn run(wake: &'static Event) {
    let mut set: WaitSet<'static> = WaitSet::new();
    let wake_key = set.add(wake);
    let mut lent: HashMap<Id, (u64, Giveback)> = HashMap::new();
    let mut ids: HashMap<u64, Id> = HashMap::new();
    loop {
        let commands = std::mem::take(&mut *lock(&COMMANDS));
        for command in commands {
            match command {
                Command::Lend(token, add) => {
                    let (id, giveback) = add(&mut set);
                    lent.insert(id, (token, giveback));
                    ids.insert(token, id);
                }
                Command::Drop(token) => {
                    // Not there if it was given back meanwhile (then its
                    // slot dropped it).
                    if let Some(id) = ids.remove(&token) {
                        if let Some((_, giveback)) = lent.remove(&id) {
                            // Returned to a slot nobody holds: dropped with it.
                            giveback(&mut set, Verdict::Dropped);
                        }
                    }
                }
            }
        }
        // The set always holds the reactor's event, so it is never empty.
        let Ok(ready) = set.wait() else {
            continue;
        };
        for r in ready {
            if r.is(wake_key) {
                continue;
            }
            let id = r.id();
            if let Some((token, giveback)) = lent.remove(&id) {
                ids.remove(&token);
                let verdict = match r.into_result() {
                    Ok(_) => Verdict::Ready,
                    Err(e) => Verdict::Gone(e),
                };
                giveback(&mut set, verdict);
            }
        }
    }
}

/// What can be lent to the reactor's set.
#[doc(hidden)]
pub trait Lendable: Member<'static> + Send + 'static {
    /// Passes on what the set took when it reported this member to a
    /// future that was dropped before it saw it (an auto-reset event's
    /// signal); queues take nothing.
    #[doc(hidden)]
    fn pass_on(&self) {}
}

impl Lendable for spsc::Consumer {}
impl Lendable for spsc::Producer {}
impl Lendable for mpmc::Consumer {}
impl Lendable for mpmc::Producer {}
impl Lendable for Subscriber {}
impl Lendable for &'static Event {
    fn pass_on(&self) {
        if self.mode() == EventMode::AutoReset {
            // On a lost mapping there is nobody to pass the signal to; the
            // next wait on it reports the loss.
            let _ = self.notify_one();
        }
    }
}

/// Where a lent endpoint comes back to: shared between an async endpoint
/// and the reactor while the endpoint is lent.
struct Slot<E> {
    token: u64,
    state: Mutex<State<E>>,
    /// What keeps a borrowed member alive (an [`Event`]'s owner): held as
    /// long as the slot, which the reactor holds while the member is lent.
    _owner: Option<Arc<dyn std::any::Any + Send + Sync>>,
}

struct State<E> {
    /// The endpoint, once the reactor gave it back (until a poll takes it).
    endpoint: Option<E>,
    /// What the reactor's set said when it gave the endpoint back.
    verdict: Option<Error>,
    /// The waker of the future waiting while the endpoint is lent.
    waker: Option<Waker>,
    /// Given back as ready, and not yet looked at by a poll.
    fresh: bool,
    /// The async endpoint is gone.
    orphaned: bool,
}

/// The part every async endpoint shares: its endpoint, and lending.
///
/// The endpoint is in one of two places: `here`, owned outright, used by a
/// poll with no lock (the path of every message while messages flow); or
/// lent, in the reactor's set and then back in the shared slot, where the
/// next poll takes it from, under the slot's lock, back to `here`.
struct Lender<E: Lendable> {
    here: Option<E>,
    /// Taken from the slot with the endpoint: ready as the set reported it,
    /// not yet looked at (an auto-reset event's signal the set consumed).
    fresh: bool,
    /// Taken from the slot with the endpoint: its peer is gone, to be
    /// returned if the next tries still find nothing.
    verdict: Option<Error>,
    slot: Arc<Slot<E>>,
    /// Tries before lending (see [`SPIN_TRIES`]).
    spin: u32,
}

/// How many times a poll tries its endpoint (with a spin-loop hint between
/// tries) before it lends the endpoint to the reactor: the spin of
/// [`Wait::SpinThenBlock`](crate::queue::Wait::SpinThenBlock), short
/// enough (about a microsecond) not to hold an executor thread up, long
/// enough to catch an answer already on its way without the reactor.
pub const SPIN_TRIES: u32 = 64;

/// How a member is added to the reactor's set (an SPSC producer is added
/// with the room the waiting message needs).
#[doc(hidden)]
pub type Add<E> = Box<dyn FnOnce(&mut WaitSet<'static>, E) -> Key<E> + Send>;

impl<E: Lendable> Lender<E> {
    fn new(endpoint: E) -> Self {
        Self::with_owner(endpoint, None)
    }

    fn with_owner(endpoint: E, owner: Option<Arc<dyn std::any::Any + Send + Sync>>) -> Self {
        static TOKENS: AtomicU64 = AtomicU64::new(0);
        Lender {
            here: Some(endpoint),
            fresh: false,
            verdict: None,
            slot: Arc::new(Slot {
                token: TOKENS.fetch_add(1, Ordering::Relaxed),
                state: Mutex::new(State {
                    endpoint: None,
                    verdict: None,
                    waker: None,
                    fresh: false,
                    orphaned: false,
                }),
                _owner: owner,
            }),
            spin: SPIN_TRIES,
        }
    }

    /// Brings a given-back endpoint home; `false` (with `cx`'s waker kept
    /// for the reactor, if given) while it is still lent.
    fn fetch(&mut self, cx: Option<&mut Context<'_>>) -> bool {
        if self.here.is_some() {
            return true;
        }
        let mut state = lock(&self.slot.state);
        match state.endpoint.take() {
            Some(e) => {
                self.here = Some(e);
                self.fresh = std::mem::take(&mut state.fresh);
                self.verdict = state.verdict.take();
                true
            }
            None => {
                // Lent: the reactor wakes the waker stored last.
                if let Some(cx) = cx {
                    match &mut state.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        w => *w = Some(cx.waker().clone()),
                    }
                }
                false
            }
        }
    }

    /// One poll of an operation: `attempt` on the endpoint if it is here
    /// (`Some` ends the operation); otherwise, or if it finds nothing, the
    /// endpoint is (or stays) lent and the waker is kept for the reactor.
    fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&mut E, bool) -> Option<Result<T>>,
        add: impl FnOnce() -> Add<E>,
    ) -> Poll<Result<T>> {
        if !self.fetch(Some(cx)) {
            return Poll::Pending;
        }
        let fresh = std::mem::take(&mut self.fresh);
        let endpoint = self.here.as_mut().expect("fetched above");
        let mut tries = 0;
        loop {
            if let Some(done) = attempt(endpoint, fresh) {
                self.verdict = None;
                return Poll::Ready(done);
            }
            tries += 1;
            if tries >= self.spin.max(1) {
                break;
            }
            std::hint::spin_loop();
        }
        if let Some(e) = self.verdict.take() {
            // The set gave it back because its peer is gone, and the tries
            // above still found nothing.
            return Poll::Ready(Err(e));
        }
        let reactor = match reactor() {
            Ok(r) => r,
            Err(source) => {
                return Poll::Ready(Err(Error::Io {
                    name: String::new(),
                    op: "starting the shmkit-reactor thread (which async endpoints wait in)",
                    source,
                }));
            }
        };
        let endpoint = self.here.take().expect("fetched above");
        // Stored before the reactor can give the endpoint back: its
        // giveback takes the waker under the same lock.
        lock(&self.slot.state).waker = Some(cx.waker().clone());
        let slot = Arc::clone(&self.slot);
        let add = add();
        reactor.send(Command::Lend(
            self.slot.token,
            Box::new(move |set| {
                let key = add(set, endpoint);
                let giveback: Giveback = Box::new(move |set, verdict| {
                    let endpoint = set.remove(key);
                    let waker = {
                        let mut state = lock(&slot.state);
                        let ready = matches!(verdict, Verdict::Ready);
                        if ready && state.orphaned {
                            // Reported to a future that is gone.
                            if let Some(e) = &endpoint {
                                e.pass_on();
                            }
                        }
                        state.fresh = ready;
                        state.endpoint = endpoint;
                        state.verdict = match verdict {
                            Verdict::Gone(e) => Some(e),
                            Verdict::Ready | Verdict::Dropped => None,
                        };
                        state.waker.take()
                    };
                    if let Some(w) = waker {
                        w.wake();
                    }
                });
                (key.id(), giveback)
            }),
        ));
        Poll::Pending
    }

    /// The endpoint, if it is not lent (between operations it usually is
    /// not).
    fn with<T>(&mut self, f: impl FnOnce(&mut E) -> T) -> Option<T> {
        if !self.fetch(None) {
            return None;
        }
        self.here.as_mut().map(f)
    }
}

impl<E: Lendable> Drop for Lender<E> {
    fn drop(&mut self) {
        if let Some(e) = &self.here {
            if self.fresh {
                // Reported ready and never looked at.
                e.pass_on();
            }
            // Dropped with `self`; the slot holds nothing and is not lent.
            return;
        }
        let mut state = lock(&self.slot.state);
        state.orphaned = true;
        let lent = match &state.endpoint {
            None => true,
            Some(e) => {
                if state.fresh {
                    // Reported ready and never looked at.
                    e.pass_on();
                }
                false
            }
        };
        drop(state);
        if lent {
            // Lent, so the reactor runs.
            if let Ok(reactor) = reactor() {
                reactor.send(Command::Drop(self.slot.token));
            }
        }
    }
}

fn plain_add<E: Lendable>() -> Add<E> {
    Box::new(|set, e| set.add(e))
}

/// The receiving endpoints an [`AsyncConsumer`] can wrap:
/// [`spsc::Consumer`] and [`mpmc::Consumer`].
pub trait Receive: Lendable {
    /// The endpoint's `try_recv`.
    #[doc(hidden)]
    fn try_recv_async(&mut self) -> Result<Option<Vec<u8>>>;
    /// The endpoint's `try_recv_into`.
    #[doc(hidden)]
    fn try_recv_into_async(&mut self, buf: &mut Vec<u8>) -> Result<bool>;
}

impl Receive for spsc::Consumer {
    fn try_recv_async(&mut self) -> Result<Option<Vec<u8>>> {
        self.try_recv()
    }
    fn try_recv_into_async(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        self.try_recv_into(buf)
    }
}

impl Receive for mpmc::Consumer {
    fn try_recv_async(&mut self) -> Result<Option<Vec<u8>>> {
        self.try_recv()
    }
    fn try_recv_into_async(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        self.try_recv_into(buf)
    }
}

/// A `try_recv_into` result as an attempt: `None` while there is nothing.
fn received(r: Result<bool>) -> Option<Result<()>> {
    match r {
        Ok(false) => None,
        Ok(true) => Some(Ok(())),
        Err(e) => Some(Err(e)),
    }
}

/// A queue consumer with an async `recv`; see the [module docs](self).
pub struct AsyncConsumer<C: Receive> {
    inner: Lender<C>,
}

impl<C: Receive> std::fmt::Debug for AsyncConsumer<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncConsumer").finish_non_exhaustive()
    }
}

impl<C: Receive> AsyncConsumer<C> {
    /// Wraps `consumer`.
    pub fn new(consumer: C) -> Self {
        AsyncConsumer {
            inner: Lender::new(consumer),
        }
    }

    /// Receives the next message, waiting for one without blocking the
    /// thread.
    ///
    /// # Errors
    /// The endpoint's `try_recv` errors ([`Error::Corrupted`], ...);
    /// [`Error::PeerDied`] or [`Error::Closed`] once the peer is gone and
    /// nothing is left.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future has taken no message.
    pub fn recv(&mut self) -> impl Future<Output = Result<Vec<u8>>> + '_ {
        std::future::poll_fn(move |cx| self.poll_recv(cx))
    }

    /// The poll behind [`recv`](Self::recv), for hand-written futures.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>>> {
        self.inner
            .poll(cx, |c, _| c.try_recv_async().transpose(), plain_add::<C>)
    }

    /// Receives the next message into `buf` (cleared first, its allocation
    /// kept), waiting for one without blocking the thread: the form of
    /// [`recv`](Self::recv) that allocates nothing per message.
    ///
    /// # Errors
    /// As [`recv`](Self::recv); after an error `buf` holds nothing of use.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future has taken no message (and left `buf`
    /// as it was).
    ///
    /// # Example
    /// ```
    /// use shmkit::aio::AsyncConsumer;
    /// use shmkit::queue::spsc;
    /// # let name = format!("doc-aio-recvinto-{}", std::process::id());
    /// let mut rx = AsyncConsumer::new(spsc::Consumer::create(&name, 4096)?);
    /// let mut tx = spsc::Producer::open(&name)?;
    /// let mut buf = Vec::with_capacity(64);
    /// futures_executor::block_on(async {
    ///     for word in [&b"one"[..], b"three"] {
    ///         tx.send(word)?;
    ///         rx.recv_into(&mut buf).await?;
    ///         assert_eq!(buf, word);
    ///     }
    ///     Ok::<(), shmkit::Error>(())
    /// })?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_into<'b>(
        &'b mut self,
        buf: &'b mut Vec<u8>,
    ) -> impl Future<Output = Result<()>> + 'b {
        std::future::poll_fn(move |cx| self.poll_recv_into(cx, buf))
    }

    /// The poll behind [`recv_into`](Self::recv_into).
    ///
    /// # Errors
    /// As [`recv_into`](Self::recv_into).
    pub fn poll_recv_into(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<Result<()>> {
        self.inner.poll(
            cx,
            |c, _| received(c.try_recv_into_async(buf)),
            plain_add::<C>,
        )
    }

    /// Sets how many times a `recv` tries the queue before it lends it to
    /// the reactor (default [`SPIN_TRIES`]; 0 or 1: once).
    pub fn spin(mut self, tries: u32) -> Self {
        self.inner.spin = tries;
        self
    }

    /// Runs `f` on the endpoint if it is not lent to the reactor (it is
    /// lent only while a `recv` waits, or after one was cancelled while
    /// waiting, until a message comes).
    pub fn with<T>(&mut self, f: impl FnOnce(&mut C) -> T) -> Option<T> {
        self.inner.with(f)
    }
}

/// The sending endpoints an [`AsyncProducer`] can wrap:
/// [`spsc::Producer`] and [`mpmc::Producer`].
pub trait Transmit: Lendable {
    /// The endpoint's `try_send`, `None` when full.
    #[doc(hidden)]
    fn try_send_async(&mut self, msg: &[u8]) -> Option<Result<()>>;
    /// How to add it to a set to wait for room for `len` bytes.
    #[doc(hidden)]
    fn add_for(len: usize) -> Add<Self>;
}

fn full_is_none(r: Result<()>) -> Option<Result<()>> {
    match r {
        Err(Error::Full { .. }) => None,
        r => Some(r),
    }
}

impl Transmit for spsc::Producer {
    fn try_send_async(&mut self, msg: &[u8]) -> Option<Result<()>> {
        full_is_none(self.try_send(msg))
    }
    fn add_for(len: usize) -> Add<Self> {
        Box::new(move |set, p| set.add_room(p, len))
    }
}

impl Transmit for mpmc::Producer {
    fn try_send_async(&mut self, msg: &[u8]) -> Option<Result<()>> {
        full_is_none(self.try_send(msg))
    }
    fn add_for(_len: usize) -> Add<Self> {
        plain_add::<Self>()
    }
}

/// A queue producer with an async `send`; see the [module docs](self).
pub struct AsyncProducer<P: Transmit> {
    inner: Lender<P>,
}

impl<P: Transmit> std::fmt::Debug for AsyncProducer<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncProducer").finish_non_exhaustive()
    }
}

impl<P: Transmit> AsyncProducer<P> {
    /// Wraps `producer`.
    pub fn new(producer: P) -> Self {
        AsyncProducer {
            inner: Lender::new(producer),
        }
    }

    /// Sends `msg`, waiting for room without blocking the thread.
    ///
    /// # Errors
    /// The endpoint's `try_send` errors other than [`Error::Full`] (a
    /// message too long for the queue, ...); [`Error::PeerDied`] or
    /// [`Error::Closed`] once the consumer is gone and no room will come.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future has sent nothing.
    pub fn send<'m>(&'m mut self, msg: &'m [u8]) -> impl Future<Output = Result<()>> + 'm {
        std::future::poll_fn(move |cx| self.poll_send(cx, msg))
    }

    /// The poll behind [`send`](Self::send), for hand-written futures.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn poll_send(&mut self, cx: &mut Context<'_>, msg: &[u8]) -> Poll<Result<()>> {
        self.inner
            .poll(cx, |p, _| p.try_send_async(msg), || P::add_for(msg.len()))
    }

    /// Sets how many times a `send` tries the queue before it lends it to
    /// the reactor (default [`SPIN_TRIES`]; 0 or 1: once).
    pub fn spin(mut self, tries: u32) -> Self {
        self.inner.spin = tries;
        self
    }

    /// Runs `f` on the endpoint if it is not lent to the reactor.
    pub fn with<T>(&mut self, f: impl FnOnce(&mut P) -> T) -> Option<T> {
        self.inner.with(f)
    }
}

/// A broadcast subscriber with an async `recv`, and a
/// [`Stream`](futures_core::Stream) of its messages; see the
/// [module docs](self). (A [`Publisher`](crate::broadcast::Publisher)
/// never waits, so it needs no async form.)
///
/// The stream yields `Ok(message)`, `Err(Error::Lagged)` when the
/// subscriber fell behind (it goes on with what the ring still holds), and
/// ends after `Err(PeerDied)` or `Err(Closed)`.
pub struct AsyncSubscriber {
    inner: Lender<Subscriber>,
    ended: bool,
}

impl std::fmt::Debug for AsyncSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncSubscriber").finish_non_exhaustive()
    }
}

impl AsyncSubscriber {
    /// Wraps `subscriber`.
    pub fn new(subscriber: Subscriber) -> Self {
        AsyncSubscriber {
            inner: Lender::new(subscriber),
            ended: false,
        }
    }

    /// Receives the next message, waiting for one without blocking the
    /// thread.
    ///
    /// # Errors
    /// As [`Subscriber::try_recv`] ([`Error::Lagged`], ...);
    /// [`Error::PeerDied`] or [`Error::Closed`] once the publisher is gone
    /// and nothing is left.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future has taken no message.
    pub fn recv(&mut self) -> impl Future<Output = Result<Vec<u8>>> + '_ {
        std::future::poll_fn(move |cx| self.poll_recv(cx))
    }

    /// The poll behind [`recv`](Self::recv).
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>>> {
        self.inner
            .poll(cx, |s, _| s.try_recv().transpose(), plain_add::<Subscriber>)
    }

    /// Receives the next message into `buf` (cleared first, its allocation
    /// kept), waiting for one without blocking the thread: the form of
    /// [`recv`](Self::recv) that allocates nothing per message.
    ///
    /// # Errors
    /// As [`recv`](Self::recv); after an error `buf` holds nothing of use.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped future has taken no message.
    ///
    /// # Example
    /// ```
    /// use shmkit::aio::AsyncSubscriber;
    /// use shmkit::broadcast::{Publisher, Subscriber};
    /// # let name = format!("doc-aio-sub-recvinto-{}", std::process::id());
    /// let mut tx = Publisher::create(&name, 8, 64)?;
    /// let mut rx = AsyncSubscriber::new(Subscriber::open(&name)?);
    /// let mut buf = Vec::with_capacity(64);
    /// futures_executor::block_on(async {
    ///     tx.send(b"news")?;
    ///     rx.recv_into(&mut buf).await?;
    ///     assert_eq!(buf, b"news");
    ///     Ok::<(), shmkit::Error>(())
    /// })?;
    /// # Ok::<(), shmkit::Error>(())
    /// ```
    pub fn recv_into<'b>(
        &'b mut self,
        buf: &'b mut Vec<u8>,
    ) -> impl Future<Output = Result<()>> + 'b {
        std::future::poll_fn(move |cx| self.poll_recv_into(cx, buf))
    }

    /// The poll behind [`recv_into`](Self::recv_into).
    ///
    /// # Errors
    /// As [`recv_into`](Self::recv_into).
    pub fn poll_recv_into(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<Result<()>> {
        self.inner.poll(
            cx,
            |s, _| received(s.try_recv_into(buf)),
            plain_add::<Subscriber>,
        )
    }

    /// Sets how many times a `recv` tries the ring before it lends the
    /// subscriber to the reactor (default [`SPIN_TRIES`]; 0 or 1: once).
    pub fn spin(mut self, tries: u32) -> Self {
        self.inner.spin = tries;
        self
    }

    /// Runs `f` on the subscriber if it is not lent to the reactor.
    pub fn with<T>(&mut self, f: impl FnOnce(&mut Subscriber) -> T) -> Option<T> {
        self.inner.with(f)
    }
}

impl futures_core::Stream for AsyncSubscriber {
    type Item = Result<Vec<u8>>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        this.poll_recv(cx).map(|r| {
            if matches!(r, Err(Error::PeerDied { .. } | Error::Closed { .. })) {
                this.ended = true;
            }
            Some(r)
        })
    }
}

/// Waits for `event` to fire without blocking the thread: an auto-reset
/// event's signal is consumed, as by [`Event::wait`]; a manual-reset one
/// completes the wait while set. `owner` is what holds the event (a
/// [`Shared`](crate::Shared) segment, or an `Arc<Event>`) and `event` finds
/// the event in it; the future and the reactor keep `owner` alive while
/// they need it.
///
/// # Errors
/// [`Error::Truncated`] if a peer shrank the segment under the event, as
/// [`Event::wait`] reports it.
///
/// # Example
/// ```
/// use shmkit::sync::{Event, EventMode};
/// use std::sync::Arc;
/// let e = Arc::new(Event::new(EventMode::AutoReset));
/// e.notify_one()?;
/// let wait = shmkit::aio::wait_event(Arc::clone(&e), |e| e);
/// tokio::runtime::Builder::new_current_thread()
///     .build()
///     .unwrap()
///     .block_on(wait)?;
/// assert!(!e.is_signalled());
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// # Cancel safety
/// Cancel safe: a future dropped after the reactor consumed an auto-reset
/// signal for it, before it completed, passes the signal on (one
/// `notify_one`), so no notification is lost.
pub fn wait_event<O: Send + Sync + 'static>(
    owner: Arc<O>,
    event: fn(&O) -> &Event,
) -> impl Future<Output = Result<()>> + Send + 'static {
    let e: *const Event = event(&owner);
    // SAFETY: extending the borrow to `'static` is sound because it never
    // outlives `owner`:
    // - `event` maps `&O` to a reference borrowed from it (or `'static`),
    //   so the event lives as long as `*owner`, which an `Arc` keeps in
    //   place (it never moves);
    // - `owner` is stored in the slot beside the reference, and every holder
    //   of the reference (the slot, the reactor's set while lent) is done
    //   with it before the slot is dropped: the reactor takes the member out
    //   of its set before it lets go of the slot;
    // - the reference is shared (`&Event`), and `Event` is `Sync`.
    let e: &'static Event = unsafe { &*e };
    let owner: Arc<dyn std::any::Any + Send + Sync> = owner;
    let mut lender = Lender::with_owner(e, Some(owner));
    async move {
        std::future::poll_fn(|cx| {
            lender.poll(
                cx,
                |e, fresh| {
                    if fresh {
                        return Some(crate::sync::check_mapped(e));
                    }
                    // A lost mapping ends the wait with its error.
                    e.wait_timeout(std::time::Duration::ZERO)
                        .map(|fired| fired.then_some(()))
                        .transpose()
                },
                plain_add::<&'static Event>,
            )
        })
        .await
    }
}
