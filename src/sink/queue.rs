//! A delivery worker per network output: its own thread, a bounded queue in
//! memory, an optional size-capped spool on disk, and what to do when both
//! are full.
//!
//! The sink thread hands each flushed batch to the output's queue; the
//! worker delivers batches in order through the real sink, which retries
//! with back-off inside its own `flush`. What the sink thread's `flush`
//! returns is the acknowledgement that lets checkpoints advance, so it
//! depends on the output's promise:
//!
//! - no spool, `when_full = "block"` (the default): the batch is delivered.
//!   An outage holds the sink thread, and through the bounded channel the
//!   inputs; the log files buffer it. Nothing is lost.
//! - a spool: the batch is delivered, or — once the receiver is failing, or
//!   earlier batches wait on disk — written to the spool and synced. The
//!   spool survives restarts and is delivered first, in order. Inputs go on
//!   reading through an outage until the spool is full; then `when_full`
//!   decides: wait, or drop the newest batch (counted).
//! - no spool, `when_full = "drop_newest"`: the batch is queued in memory
//!   (up to `max_bytes`) or dropped and counted. This output never holds up
//!   the inputs or the other outputs; what its queue holds when the daemon
//!   is killed is lost. For best-effort receivers only.

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Flush, Records, Sink};

/// What an output does when its queue (and spool) cannot take a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait: the inputs pause, the log files buffer (nothing lost).
    #[default]
    Block,
    /// Drop the batch that does not fit, and count its records.
    DropNewest,
}

/// `queue = { max_bytes = 16777216, when_full = "block", spool_dir = "...", spool_max_bytes = ... }`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Encoded records held in memory while the receiver is slow or down.
    pub max_bytes: usize,
    pub when_full: WhenFull,
    /// A directory of its own for this output: batches wait here on disk
    /// during an outage, and across restarts.
    pub spool_dir: Option<PathBuf>,
    /// The spool's size cap for new batches (what memory held when the
    /// receiver failed is spooled whole, so it may pass the cap by up to
    /// `max_bytes`).
    pub spool_max_bytes: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_bytes: 16 << 20,
            when_full: WhenFull::Block,
            spool_dir: None,
            spool_max_bytes: 1 << 30,
        }
    }
}

/// An output's delivery counters, for the stats event and `/metrics`.
#[derive(Debug, Default)]
pub struct OutputCounters {
    pub delivered_records: AtomicU64,
    pub dropped_records: AtomicU64,
    /// Refused by the receiver for good (a mapping error, invalid data).
    pub rejected_records: AtomicU64,
    pub spooled_records: AtomicU64,
    /// Bytes in the spool now.
    pub spool_bytes: AtomicU64,
    /// Bytes queued in memory now.
    pub queue_bytes: AtomicU64,
    /// The last attempt failed and the sink is retrying.
    pub down: AtomicBool,
}

impl OutputCounters {
    pub fn to_json(&self) -> serde_json::Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "delivered_records": get(&self.delivered_records),
            "dropped_records": get(&self.dropped_records),
            "rejected_records": get(&self.rejected_records),
            "spooled_records": get(&self.spooled_records),
            "spool_bytes": get(&self.spool_bytes),
            "queue_bytes": get(&self.queue_bytes),
            "up": !self.down.load(Ordering::Relaxed),
        })
    }
}

/// The records of one flush, numbered in the order they were handed over.
#[derive(Debug, Default)]
struct Batch {
    seq: u64,
    records: Records,
}

impl Batch {
    fn count(&self) -> u64 {
        self.records.len() as u64
    }
}

/// How long the last of a best-effort queue may take at stop.
const DRAIN_AT_STOP: Duration = Duration::from_secs(5);
const SPOOL_MAGIC: &[u8] = b"SIPANNOTATE-SPOOL 1\n";

/// The state the sink thread and the worker share.
struct State {
    memory: VecDeque<Arc<Batch>>,
    memory_bytes: usize,
    spool: Option<Spool>,
    /// The last attempt failed (cleared by the next delivery).
    down: bool,
    /// Every batch up to this sequence number is delivered or dropped.
    done_seq: u64,
    /// The worker's fatal error, for the sink thread.
    failed: Option<String>,
    stop: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    counters: Arc<OutputCounters>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A sink behind a queue and a worker thread.
pub struct QueuedSink {
    name: String,
    config: QueueConfig,
    batch: Batch,
    next_seq: u64,
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
    /// When a drop was last reported.
    drop_said: std::cell::Cell<Option<Instant>>,
}

impl QueuedSink {
    /// Starts the worker; an existing spool is taken up (and delivered first).
    pub fn start(
        inner: Box<dyn Sink>,
        config: QueueConfig,
        counters: Arc<OutputCounters>,
    ) -> io::Result<QueuedSink> {
        let name = inner.describe();
        let spool = match &config.spool_dir {
            Some(dir) => Some(Spool::open(dir, config.spool_max_bytes, &counters)?),
            None => None,
        };
        let next_seq = spool.as_ref().map_or(1, |s| s.last_seq() + 1);
        if let Some(s) = &spool {
            if !s.files.is_empty() {
                eprintln!(
                    "sipannotate: {name}: {} batch(es), {} bytes waiting in the spool {}; delivering them first",
                    s.files.len(),
                    s.bytes,
                    s.dir.display()
                );
            }
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                memory: VecDeque::new(),
                memory_bytes: 0,
                spool,
                down: false,
                done_seq: next_seq - 1,
                failed: None,
                stop: false,
            }),
            changed: Condvar::new(),
            counters,
        });
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name("output".into())
            .spawn(move || deliver_loop(inner, &worker_shared))?;
        Ok(QueuedSink {
            name,
            config,
            batch: Batch::default(),
            next_seq,
            shared,
            worker: Some(worker),
            drop_said: std::cell::Cell::new(None),
        })
    }

    fn drop_batch(&self, state: &mut State, batch: &Batch) {
        let n = batch.count();
        let total = self
            .shared
            .counters
            .dropped_records
            .fetch_add(n, Ordering::Relaxed)
            + n;
        state.done_seq = state.done_seq.max(batch.seq);
        // Said once a minute at most: an outage drops batch after batch.
        if self
            .drop_said
            .get()
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            eprintln!(
                "sipannotate: {}: queue full, records dropped (when_full = \"drop_newest\"): {total} so far",
                self.name
            );
            self.drop_said.set(Some(Instant::now()));
        }
    }

    /// Waits for a change of the shared state, beating meanwhile.
    fn wait<'s>(&'s self, state: MutexGuard<'s, State>, ctx: &Flush<'_>) -> MutexGuard<'s, State> {
        (ctx.heartbeat)();
        let (state, _) = self
            .shared
            .changed
            .wait_timeout(state, Duration::from_millis(200))
            .unwrap_or_else(|p| p.into_inner());
        state
    }

    fn check(&self, state: &State) -> io::Result<()> {
        match &state.failed {
            Some(e) => Err(io::Error::other(e.clone())),
            None => Ok(()),
        }
    }

    /// Moves every batch in memory to the spool (they stay in order by
    /// sequence number; one being delivered is removed when it arrives).
    fn spool_memory(&self, state: &mut State) -> io::Result<()> {
        let State { memory, spool, .. } = state;
        let Some(spool) = spool.as_mut() else {
            return Ok(());
        };
        for b in memory.iter() {
            if !spool.files.contains_key(&b.seq) {
                spool.write(b, &self.shared.counters)?;
            }
        }
        Ok(())
    }
}

impl Sink for QueuedSink {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, record: &[u8]) -> io::Result<()> {
        self.batch.records.push(record);
        Ok(())
    }

    fn flush(&mut self, ctx: &Flush<'_>) -> io::Result<()> {
        if self.batch.records.is_empty() {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut self.batch);
        batch.seq = self.next_seq;
        self.next_seq += 1;
        let seq = batch.seq;
        let size = batch.records.bytes();
        let mut state = self.shared.lock();
        self.check(&state)?;
        if state.spool.is_some() {
            loop {
                let quiet = !state.down
                    && state.spool.as_ref().is_some_and(|s| s.files.is_empty())
                    && (state.memory.is_empty()
                        || state.memory_bytes + size <= self.config.max_bytes);
                if quiet {
                    break;
                }
                // Failing, or older batches on disk: this one goes there too.
                let spool = state.spool.as_mut().expect("a spool");
                if spool.fits(size) {
                    spool.write(&batch, &self.shared.counters)?;
                    self.shared.changed.notify_all();
                    return Ok(());
                }
                if self.config.when_full == WhenFull::DropNewest {
                    self.drop_batch(&mut state, &batch);
                    return Ok(());
                }
                state = self.wait(state, ctx);
                self.check(&state)?;
            }
        } else {
            while state.memory_bytes + size > self.config.max_bytes && !state.memory.is_empty() {
                if self.config.when_full == WhenFull::DropNewest {
                    self.drop_batch(&mut state, &batch);
                    return Ok(());
                }
                state = self.wait(state, ctx);
                self.check(&state)?;
            }
        }
        state.memory_bytes += size;
        state.memory.push_back(Arc::new(batch));
        self.shared
            .counters
            .queue_bytes
            .store(state.memory_bytes as u64, Ordering::Relaxed);
        self.shared.changed.notify_all();
        if self.config.spool_dir.is_none() && self.config.when_full == WhenFull::DropNewest {
            return Ok(());
        }
        // Wait for the delivery, or (with a spool) for the first failure.
        while state.done_seq < seq {
            if state.down && state.spool.is_some() {
                self.spool_memory(&mut state)?;
                return Ok(());
            }
            state = self.wait(state, ctx);
            self.check(&state)?;
        }
        Ok(())
    }
}

impl Drop for QueuedSink {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        if state.spool.is_some() {
            if let Err(e) = self.spool_memory(&mut state) {
                eprintln!("sipannotate: {}: cannot spool at stop: {e}", self.name);
            }
        } else {
            let until = Instant::now() + DRAIN_AT_STOP;
            // A receiver that is down gets no grace: the daemon must stop.
            while !state.memory.is_empty()
                && !state.down
                && state.failed.is_none()
                && Instant::now() < until
            {
                let (s, _) = self
                    .shared
                    .changed
                    .wait_timeout(state, Duration::from_millis(100))
                    .unwrap_or_else(|p| p.into_inner());
                state = s;
            }
            let lost: u64 = state.memory.iter().map(|b| b.count()).sum();
            if lost > 0 {
                eprintln!(
                    "sipannotate: {}: {lost} queued record(s) not delivered at stop",
                    self.name
                );
            }
        }
        state.stop = true;
        self.shared.changed.notify_all();
        drop(state);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// The worker: delivers the oldest batch, from memory or the spool, again
/// and again.
fn deliver_loop(mut inner: Box<dyn Sink>, shared: &Shared) {
    loop {
        let batch = {
            let mut state = shared.lock();
            loop {
                if state.stop {
                    return;
                }
                let mem = state.memory.front().map(|b| b.seq);
                let disk = state
                    .spool
                    .as_ref()
                    .and_then(|s| s.files.keys().next().copied());
                match (mem, disk) {
                    (Some(m), d) if d.is_none_or(|d| m < d) => {
                        break state.memory.front().expect("a batch").clone()
                    }
                    (_, Some(d)) => {
                        let spool = state.spool.as_mut().expect("a spool");
                        match spool.read(d) {
                            Ok(b) => break Arc::new(b),
                            Err(e) => {
                                eprintln!(
                                    "sipannotate: {}: spooled batch {d} unreadable, set aside: {e}",
                                    inner.describe()
                                );
                                spool.set_aside(d, &shared.counters);
                                continue;
                            }
                        }
                    }
                    _ => {}
                }
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner());
            }
        };
        let retrying = || {
            shared.lock().down = true;
            shared.counters.down.store(true, Ordering::Relaxed);
            shared.changed.notify_all();
        };
        let cancelled = || shared.lock().stop;
        let rejected = std::cell::Cell::new(0);
        let ctx = Flush {
            heartbeat: &|| {},
            retrying: &retrying,
            cancelled: &cancelled,
            rejected: &|n| {
                rejected.set(rejected.get() + n);
                shared
                    .counters
                    .rejected_records
                    .fetch_add(n, Ordering::Relaxed);
            },
        };
        let result = batch
            .records
            .iter()
            .try_for_each(|r| inner.write(r))
            .and_then(|()| inner.flush(&ctx));
        let mut state = shared.lock();
        match result {
            Ok(()) => {
                if state.memory.front().is_some_and(|b| b.seq == batch.seq) {
                    let b = state.memory.pop_front().expect("a batch");
                    state.memory_bytes -= b.records.bytes();
                }
                if let Some(spool) = state.spool.as_mut() {
                    if spool.files.contains_key(&batch.seq) {
                        spool.remove(batch.seq, &shared.counters);
                    }
                }
                state.down = false;
                state.done_seq = state.done_seq.max(batch.seq);
                shared.counters.down.store(false, Ordering::Relaxed);
                shared.counters.delivered_records.fetch_add(
                    batch.count().saturating_sub(rejected.get()),
                    Ordering::Relaxed,
                );
                shared
                    .counters
                    .queue_bytes
                    .store(state.memory_bytes as u64, Ordering::Relaxed);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted && state.stop => return,
            Err(e) => {
                state.failed = Some(format!("{}: {e}", inner.describe()));
                shared.changed.notify_all();
                return;
            }
        }
        shared.changed.notify_all();
    }
}

/// Batches on disk, one file each, named by sequence number.
struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    files: BTreeMap<u64, u64>,
    bytes: u64,
    /// Held locked while this process uses the directory.
    _lock: File,
}

impl Spool {
    fn open(dir: &Path, max_bytes: u64, counters: &OutputCounters) -> io::Result<Spool> {
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("spool {}: {e}", dir.display()));
        fs::create_dir_all(dir).map_err(named)?;
        let lock = File::create(dir.join("LOCK")).map_err(named)?;
        lock.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "spool {}: in use by another process or output (give each output its own spool_dir)",
                    dir.display()
                ),
            )
        })?;
        let mut files = BTreeMap::new();
        let mut bytes = 0;
        for entry in fs::read_dir(dir).map_err(named)? {
            let entry = entry.map_err(named)?;
            let name = entry.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".spool"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let len = entry.metadata().map_err(named)?.len();
            files.insert(seq, len);
            bytes += len;
        }
        counters.spool_bytes.store(bytes, Ordering::Relaxed);
        Ok(Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            files,
            bytes,
            _lock: lock,
        })
    }

    fn last_seq(&self) -> u64 {
        self.files.keys().next_back().copied().unwrap_or(0)
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.spool"))
    }

    fn fits(&self, size: usize) -> bool {
        self.bytes + size as u64 + 4 * 1024 <= self.max_bytes
    }

    /// Writes a batch durably: a temporary file, synced, renamed, and the
    /// directory synced (a checkpoint may advance past it at once).
    fn write(&mut self, batch: &Batch, counters: &OutputCounters) -> io::Result<()> {
        let mut body = Vec::with_capacity(batch.records.bytes() + 4 * batch.records.len() + 32);
        body.extend_from_slice(SPOOL_MAGIC);
        for r in batch.records.iter() {
            body.extend_from_slice(&(r.len() as u32).to_le_bytes());
            body.extend_from_slice(r);
        }
        let path = self.path(batch.seq);
        let tmp = path.with_extension("tmp");
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("spool {}: {e}", tmp.display()));
        let mut f = File::create(&tmp).map_err(named)?;
        f.write_all(&body).map_err(named)?;
        f.sync_all().map_err(named)?;
        fs::rename(&tmp, &path).map_err(named)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(named)?;
        self.files.insert(batch.seq, body.len() as u64);
        self.bytes += body.len() as u64;
        counters.spool_bytes.store(self.bytes, Ordering::Relaxed);
        counters
            .spooled_records
            .fetch_add(batch.count(), Ordering::Relaxed);
        Ok(())
    }

    fn read(&self, seq: u64) -> io::Result<Batch> {
        let mut body = Vec::new();
        File::open(self.path(seq))?.read_to_end(&mut body)?;
        let mut rest = body
            .strip_prefix(SPOOL_MAGIC)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a spool file"))?;
        let mut batch = Batch {
            seq,
            ..Batch::default()
        };
        while !rest.is_empty() {
            let cut = || io::Error::new(io::ErrorKind::InvalidData, "cut short");
            let len = u32::from_le_bytes(rest.get(..4).ok_or_else(cut)?.try_into().expect("4"));
            let record = rest.get(4..4 + len as usize).ok_or_else(cut)?;
            batch.records.push(record);
            rest = &rest[4 + len as usize..];
        }
        Ok(batch)
    }

    fn remove(&mut self, seq: u64, counters: &OutputCounters) {
        if let Some(len) = self.files.remove(&seq) {
            self.bytes -= len;
            let _ = fs::remove_file(self.path(seq));
            counters.spool_bytes.store(self.bytes, Ordering::Relaxed);
        }
    }

    fn set_aside(&mut self, seq: u64, counters: &OutputCounters) {
        let _ = fs::rename(self.path(seq), self.path(seq).with_extension("bad"));
        if let Some(len) = self.files.remove(&seq) {
            self.bytes -= len;
            counters.spool_bytes.store(self.bytes, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    type Got = Arc<Mutex<Vec<Vec<u8>>>>;

    /// A sink that fails while `down` is set, and keeps what it delivered.
    struct Flaky {
        down: Arc<AtomicBool>,
        pending: Vec<Vec<u8>>,
        got: Got,
        attempts: Arc<AtomicUsize>,
    }

    impl Sink for Flaky {
        fn describe(&self) -> String {
            "flaky".into()
        }
        fn write(&mut self, r: &[u8]) -> io::Result<()> {
            self.pending.push(r.to_vec());
            Ok(())
        }
        fn flush(&mut self, ctx: &Flush<'_>) -> io::Result<()> {
            while self.down.load(Ordering::SeqCst) {
                self.attempts.fetch_add(1, Ordering::SeqCst);
                (ctx.retrying)();
                ctx.pause(Duration::from_millis(5))?;
            }
            self.got.lock().unwrap().append(&mut self.pending);
            Ok(())
        }
    }

    fn flaky(down: bool) -> (Box<Flaky>, Arc<AtomicBool>, Got) {
        let d = Arc::new(AtomicBool::new(down));
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Box::new(Flaky {
            down: d.clone(),
            pending: Vec::new(),
            got: got.clone(),
            attempts: Arc::new(AtomicUsize::new(0)),
        });
        (sink, d, got)
    }

    fn send(q: &mut QueuedSink, from: usize, to: usize) {
        for i in from..to {
            q.write(format!("r{i}\n").as_bytes()).unwrap();
            q.flush(&Flush::PLAIN).unwrap();
        }
    }

    fn names(got: &Mutex<Vec<Vec<u8>>>) -> Vec<String> {
        got.lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(r).trim().to_string())
            .collect()
    }

    fn wait_for(what: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !what() {
            assert!(Instant::now() < until, "timed out");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn blocking_flush_returns_once_delivered() {
        let (sink, _, got) = flaky(false);
        let counters = Arc::new(OutputCounters::default());
        let mut q = QueuedSink::start(sink, QueueConfig::default(), counters.clone()).unwrap();
        send(&mut q, 0, 3);
        assert_eq!(names(&got), ["r0", "r1", "r2"]);
        assert_eq!(counters.delivered_records.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn drop_newest_never_waits_and_counts_what_it_drops() {
        let (sink, down, got) = flaky(true);
        let counters = Arc::new(OutputCounters::default());
        let config = QueueConfig {
            max_bytes: 8,
            when_full: WhenFull::DropNewest,
            ..QueueConfig::default()
        };
        let mut q = QueuedSink::start(sink, config, counters.clone()).unwrap();
        // "r0\n" is queued (3 bytes), then "r1\n" (6), then the rest do not fit.
        send(&mut q, 0, 10);
        assert_eq!(counters.dropped_records.load(Ordering::SeqCst), 8);
        down.store(false, Ordering::SeqCst);
        wait_for(|| names(&got).len() == 2);
        assert_eq!(names(&got), ["r0", "r1"]);
    }

    #[test]
    fn a_spool_takes_the_outage_and_survives_a_restart_in_order() {
        let dir = std::env::temp_dir().join(format!("sipannotate-spool-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let config = QueueConfig {
            spool_dir: Some(dir.clone()),
            ..QueueConfig::default()
        };
        let (sink, down, got) = flaky(false);
        let counters = Arc::new(OutputCounters::default());
        let mut q = QueuedSink::start(sink, config.clone(), counters.clone()).unwrap();
        send(&mut q, 0, 2);
        down.store(true, Ordering::SeqCst);
        // Every flush returns although the receiver is down: spooled.
        send(&mut q, 2, 6);
        assert!(counters.spooled_records.load(Ordering::SeqCst) >= 4);
        // A second user of the same spool is refused.
        let (other, _, _) = flaky(false);
        let e = QueuedSink::start(other, config.clone(), Arc::default())
            .err()
            .expect("the spool is locked");
        assert!(e.to_string().contains("in use"), "{e}");
        drop(q); // the daemon stops during the outage
        assert_eq!(names(&got), ["r0", "r1"]);
        let (sink, _, got2) = flaky(false);
        let mut q = QueuedSink::start(sink, config, Arc::default()).unwrap();
        send(&mut q, 6, 8);
        wait_for(|| names(&got2).len() >= 6);
        assert_eq!(names(&got2), ["r2", "r3", "r4", "r5", "r6", "r7"]);
        drop(q);
        let left: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
            .collect();
        assert!(left.is_empty(), "spool emptied");
        fs::remove_dir_all(&dir).unwrap();
    }
}
