//! Follows files like `tail -F`, through every rotation scheme.
//!
//! A `FileInput` owns the files its paths and globs match. Each poll reads
//! what was appended, then looks at the path again:
//! - another file at the path (rename + create, delete + re-create): the old
//!   file is drained to its end first, then the new one is read from its
//!   start; the engine carries on, so a SIP message split across the rotation
//!   still completes;
//! - the same file, shorter than what was read (copytruncate, `> file`): read
//!   again from the start;
//! - no file at the path: keep reading the open descriptor until the path
//!   comes back or a grace period passes.
//!
//! Files are told apart by device + inode and a fingerprint of their first
//! bytes (inodes are reused). A file rotated out of the path but still
//! matched by a glob (`full*` matching `full.1`) is recognised and not read
//! twice. After a restart, checkpoints say where each file was left; a file
//! that was rotated away while the daemon was down is found again in its
//! directory by its identity and drained first.

use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::catalog::Catalog;
use crate::config::ReadFrom;
use crate::format::Output;
use crate::framer::Engine;
use crate::matcher::Matcher;
use crate::source::checkpoint::{fnv1a, FileCheckpoint, FileId, Position};

/// Bytes of a file's start that make its fingerprint.
pub const FINGERPRINT_BYTES: u64 = 1024;
/// Bytes read from one file per poll before the others get their turn.
const POLL_BUDGET: u64 = 8 << 20;
/// How long a path may be missing before its open file is let go.
const GONE_GRACE: Duration = Duration::from_secs(5);
/// Identities of drained files remembered, so a glob never reads them twice.
const MAX_DRAINED: usize = 4096;
/// Truncated files whose content is remembered, for a copy found later.
const MAX_TRUNCATED: usize = 64;
/// A file is taken for a copy of another only if this many first bytes agree.
const MIN_COPY_FINGERPRINT: u64 = 64;

/// Settings of one file input.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    pub read_from: ReadFrom,
    pub flush_timeout: Duration,
    pub rescan_interval: Duration,
    pub max_line: usize,
    pub max_open_files: usize,
}

/// Counters of one file input.
#[derive(Debug, Default, Clone, Copy)]
pub struct FollowStats {
    pub files: usize,
    pub rotations: u64,
    pub truncations: u64,
    pub bytes: u64,
    pub lines: u64,
    pub events: u64,
    /// Files matched but not opened because `max_open_files` was reached.
    pub skipped_files: u64,
    /// Rotated files that could not be found again after a restart.
    pub lost_rotated: u64,
    /// Bytes written to the followed files and not read yet.
    pub lag_bytes: u64,
}

/// A file's first bytes, hashed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    hash: u64,
}

impl Fingerprint {
    fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint {
            len: bytes.len() as u64,
            hash: fnv1a(bytes),
        }
    }

    fn read(file: &File, up_to: u64) -> io::Result<Fingerprint> {
        read_head(file, up_to).map(|h| Fingerprint::of(&h))
    }

    fn hex(&self) -> String {
        format!("{:016x}", self.hash)
    }
}

/// The first `up_to` bytes of a file (fewer if it is shorter), at most FINGERPRINT_BYTES.
fn read_head(file: &File, up_to: u64) -> io::Result<Vec<u8>> {
    let want = up_to.min(FINGERPRINT_BYTES) as usize;
    let mut buf = vec![0; want];
    let mut got = 0;
    while got < want {
        match file.read_at(&mut buf[got..], got as u64)? {
            0 => break,
            n => got += n,
        }
    }
    buf.truncate(got);
    Ok(buf)
}

fn file_id(meta: &Metadata) -> FileId {
    FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    }
}

struct Tailed<'c> {
    path: PathBuf,
    file: File,
    id: FileId,
    /// The fingerprint of `head`.
    fp: Fingerprint,
    /// The file's first bytes as this follower read them (not as the file
    /// holds them now: it may have been truncated and written again since).
    head: Vec<u8>,
    /// File offset where the engine's current segment began.
    base: u64,
    /// File offset read up to.
    read: u64,
    engine: Engine<'c>,
    last_data: Instant,
    idle_done: bool,
    gone_since: Option<Instant>,
    /// A rotated file found after a restart: read it to its end, then let go.
    orphan: bool,
}

impl Tailed<'_> {
    fn position(&mut self, input: &str) -> Position {
        Position::File(FileCheckpoint {
            input: input.to_string(),
            path: self.path.clone(),
            dev: self.id.dev,
            ino: self.id.ino,
            fp_len: self.fp.len,
            fp: self.fp.hex(),
            offset: self.base + self.engine.settled(),
        })
    }

    /// Whether the file still starts with the bytes its fingerprint covers.
    fn same_start(&self) -> bool {
        self.fp.len == 0 || Fingerprint::read(&self.file, self.fp.len).is_ok_and(|f| f == self.fp)
    }

    /// Reads up to `budget` bytes (all that is there when `None`). Returns
    /// the bytes read and whether the file turned out to have been truncated
    /// and written again: each chunk is checked against the fingerprint
    /// before it is processed, and a chunk that may hold new content is
    /// dropped (it is read again from the new start, or from the copy).
    fn read_some<O: Output>(
        &mut self,
        out: &mut O,
        budget: Option<u64>,
    ) -> Result<(u64, bool), FollowError> {
        let mut total = 0;
        loop {
            if budget.is_some_and(|b| total >= b) {
                break;
            }
            let n = self
                .engine
                .fill(&mut self.file)
                .map_err(FollowError::Read)? as u64;
            if n == 0 {
                break;
            }
            if !self.same_start() {
                self.engine.discard_partial();
                return Ok((total, true));
            }
            let have = self.head.len() as u64;
            if have < FINGERPRINT_BYTES && self.read == have {
                let chunk = self.engine.last_read(n as usize);
                let take = chunk.len().min((FINGERPRINT_BYTES - have) as usize);
                self.head.extend_from_slice(&chunk[..take]);
                self.fp = Fingerprint::of(&self.head);
            }
            total += n;
            self.read += n;
            self.engine
                .process_available(out)
                .map_err(FollowError::Output)?;
        }
        Ok((total, false))
    }
}

/// An inotify watch on a file input's directories and its wake-up channel.
pub struct Wakeups {
    _watcher: Option<notify::RecommendedWatcher>,
    rx: crossbeam_channel::Receiver<()>,
}

/// Why reading a file stopped.
#[derive(Debug)]
enum FollowError {
    /// The file could not be read: reported, the file dropped, the input goes on.
    Read(io::Error),
    /// The output failed: the input stops.
    Output(io::Error),
}

/// One file input: its patterns and the files they match.
pub struct FileInput<'c> {
    name: String,
    patterns: Vec<String>,
    catalog: &'c Catalog,
    matcher: &'c Matcher,
    options: FollowOptions,
    files: Vec<Tailed<'c>>,
    /// Files rotated away and drained: identity -> (fingerprint, offset).
    drained: BTreeMap<FileId, (Fingerprint, u64)>,
    /// Checkpoints from the last run, consumed as files are found.
    resume: Vec<FileCheckpoint>,
    /// The input ran before: files it has not seen start at the beginning.
    known: bool,
    scanned: Option<Instant>,
    rescan: bool,
    /// Content fingerprints of files truncated in place, with the offset
    /// read before: a copy found later (copytruncate into a matched name)
    /// continues from there instead of being read twice.
    truncated: Vec<(Vec<u8>, u64)>,
    /// New files seen too short to tell whether they are a copy being
    /// written: looked at again at the next scan (once).
    deferred: BTreeMap<PathBuf, Instant>,
    stats: FollowStats,
    warned_full: bool,
}

impl<'c> FileInput<'c> {
    /// A file input; `resume` are its checkpoints, `known` whether it ran before.
    pub fn new(
        name: &str,
        patterns: Vec<String>,
        catalog: &'c Catalog,
        matcher: &'c Matcher,
        options: FollowOptions,
        resume: Vec<FileCheckpoint>,
        known: bool,
    ) -> FileInput<'c> {
        FileInput {
            name: name.to_string(),
            patterns,
            catalog,
            matcher,
            options,
            files: Vec::new(),
            drained: BTreeMap::new(),
            resume,
            known,
            scanned: None,
            rescan: false,
            truncated: Vec::new(),
            deferred: BTreeMap::new(),
            stats: FollowStats::default(),
            warned_full: false,
        }
    }

    /// Wake-ups from inotify for the directories the patterns name. Polling
    /// stays the fallback (NFS, a watch that could not be set, missed events).
    pub fn wakeups(&self) -> Wakeups {
        let (tx, rx) = crossbeam_channel::bounded::<()>(1);
        let watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
            let _ = tx.try_send(());
        });
        let watcher = watcher.ok().map(|mut w| {
            use notify::Watcher;
            for dir in self.watch_dirs() {
                let _ = w.watch(&dir, notify::RecursiveMode::NonRecursive);
            }
            w
        });
        Wakeups {
            _watcher: watcher,
            rx,
        }
    }

    /// Sleeps until a watched directory changes or `poll` passes; after a
    /// change the next poll looks for new files at once.
    pub fn wait(&mut self, wakeups: &Wakeups, poll: Duration) {
        if wakeups.rx.recv_timeout(poll).is_ok() {
            self.rescan = true;
        }
    }

    /// Directories to watch for changes (where the patterns' files live).
    fn watch_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .patterns
            .iter()
            .filter_map(|p| literal_dir(p))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Counters, with the engines' totals.
    pub fn stats(&self) -> FollowStats {
        let mut s = self.stats;
        s.files = self.files.len();
        for t in &self.files {
            let e = t.engine.stats();
            s.bytes += e.bytes;
            s.lines += e.lines;
            s.events += e.events;
            s.lag_bytes += t
                .file
                .metadata()
                .map_or(0, |m| m.len().saturating_sub(t.read));
        }
        s
    }

    /// One round: find new files, read what was appended, follow rotations.
    /// Positions reached are appended to `positions`. Returns whether any
    /// bytes were read (if not, the caller may sleep).
    pub fn poll<O: Output>(
        &mut self,
        out: &mut O,
        positions: &mut Vec<Position>,
    ) -> io::Result<bool> {
        let first = self.scanned.is_none();
        if self.rescan
            || self
                .scanned
                .is_none_or(|t| t.elapsed() >= self.options.rescan_interval)
        {
            self.scan(first, positions);
            self.scanned = Some(Instant::now());
            self.rescan = false;
        }
        let mut any = false;
        let mut i = 0;
        while i < self.files.len() {
            match self.poll_one(i, out, positions) {
                Ok(Keep::Yes(read)) => {
                    any |= read;
                    i += 1;
                }
                Ok(Keep::No) => {
                    self.files.remove(i);
                }
                Err(FollowError::Output(e) | FollowError::Read(e)) => return Err(e),
            }
        }
        Ok(any)
    }

    /// Completes every open frame (shutdown or reload) and reports positions.
    pub fn finish<O: Output>(
        &mut self,
        out: &mut O,
        positions: &mut Vec<Position>,
    ) -> io::Result<()> {
        for t in &mut self.files {
            t.engine.idle(out)?;
            positions.push(t.position(&self.name));
        }
        Ok(())
    }

    fn poll_one<O: Output>(
        &mut self,
        i: usize,
        out: &mut O,
        positions: &mut Vec<Position>,
    ) -> Result<Keep, FollowError> {
        let name = self.name.clone();
        // Truncated in place (copytruncate, `> file`)? Checked before reading,
        // and by content too: a file that grew again past where we were is
        // only told apart by its first bytes.
        if !self.files[i].orphan {
            let t = &self.files[i];
            if let Ok(meta) = fs::metadata(&t.path) {
                if file_id(&meta) == t.id
                    && (meta.len() < t.read || !t.same_start())
                    && !self.truncated_in_place(i, positions)
                {
                    return Ok(Keep::No);
                }
            }
        }
        let t = &mut self.files[i];
        let read = match t.read_some(out, Some(POLL_BUDGET)) {
            Ok((_, true)) if !t.orphan => {
                return Ok(if self.truncated_in_place(i, positions) {
                    Keep::Yes(true)
                } else {
                    Keep::No
                });
            }
            Ok((n, _)) => n,
            Err(FollowError::Output(e)) => return Err(FollowError::Output(e)),
            Err(FollowError::Read(e)) => {
                eprintln!(
                    "sipannotate: {}: read failed: {e}; no longer followed",
                    t.path.display()
                );
                let _ = t.engine.finish(out);
                return Ok(Keep::No);
            }
        };
        if read > 0 {
            t.last_data = Instant::now();
            t.idle_done = false;
            positions.push(t.position(&name));
            return Ok(Keep::Yes(true));
        }
        // At the end of the file: a quiet file completes its open message.
        if !t.idle_done && t.last_data.elapsed() >= self.options.flush_timeout {
            t.engine.idle(out).map_err(FollowError::Output)?;
            t.idle_done = true;
            positions.push(t.position(&name));
        }
        if t.orphan {
            t.engine.finish(out).map_err(FollowError::Output)?;
            positions.push(Position::Forget {
                input: name,
                id: t.id,
            });
            return Ok(Keep::No);
        }
        match fs::metadata(&t.path) {
            Ok(meta) if file_id(&meta) != t.id => {
                // Rotated (rename + create, or deleted and created again).
                self.switch(i, out, positions)
                    .map_err(FollowError::Output)?;
                Ok(Keep::Yes(true))
            }
            Ok(_) => {
                t.gone_since = None;
                Ok(Keep::Yes(false))
            }
            Err(_) => {
                let since = *t.gone_since.get_or_insert_with(Instant::now);
                if since.elapsed() < GONE_GRACE {
                    return Ok(Keep::Yes(false));
                }
                // Gone for good: finish it and let it go.
                t.engine.finish(out).map_err(FollowError::Output)?;
                let (id, fp, at) = (t.id, t.fp, t.read);
                self.remember_drained(id, fp, at);
                positions.push(Position::Forget { input: name, id });
                Ok(Keep::No)
            }
        }
    }

    /// The file was truncated in place: read it again from its start. An
    /// incomplete last line is dropped (its rest is in the copy, if
    /// anywhere); the old content's fingerprint and position are remembered
    /// so that a copy found later continues from there.
    fn truncated_in_place(&mut self, i: usize, positions: &mut Vec<Position>) -> bool {
        let name = self.name.clone();
        let t = &mut self.files[i];
        let (old_head, old_settled) = (std::mem::take(&mut t.head), t.base + t.engine.settled());
        t.engine.discard_partial();
        if t.file.seek(SeekFrom::Start(0)).is_err() {
            return false;
        }
        t.base = 0;
        t.read = 0;
        t.engine.start_segment();
        t.head.clear();
        t.fp = Fingerprint::of(&[]);
        self.stats.truncations += 1;
        positions.push(t.position(&name));
        if old_head.len() as u64 >= MIN_COPY_FINGERPRINT {
            if self.truncated.len() >= MAX_TRUNCATED {
                self.truncated.remove(0);
            }
            self.truncated.push((old_head, old_settled));
        }
        true
    }

    /// The path now names another file: drain the old one, then read the new one.
    fn switch<O: Output>(
        &mut self,
        i: usize,
        out: &mut O,
        positions: &mut Vec<Position>,
    ) -> io::Result<()> {
        let name = self.name.clone();
        let t = &mut self.files[i];
        match t.read_some(out, None) {
            Ok(_) => {}
            Err(FollowError::Output(e)) => return Err(e),
            Err(FollowError::Read(e)) => eprintln!(
                "sipannotate: {}: reading the rotated file failed: {e}",
                t.path.display()
            ),
        }
        t.engine.end_segment(out)?;
        // The old file keeps its checkpoint (at its end unless a message is
        // still open), so a glob that also matches its rotated name skips it.
        positions.push(t.position(&name));
        let (old_id, old_fp, old_read) = (t.id, t.fp, t.read);
        let file = match File::open(&t.path) {
            Ok(f) => f,
            // Gone again between stat and open: the next poll looks once more.
            Err(_) => return Ok(()),
        };
        let meta = file.metadata()?;
        t.id = file_id(&meta);
        t.head.clear();
        t.fp = Fingerprint::of(&[]);
        t.file = file;
        t.base = 0;
        t.read = 0;
        t.engine.start_segment();
        t.gone_since = None;
        self.stats.rotations += 1;
        positions.push(self.files[i].position(&name));
        self.remember_drained(old_id, old_fp, old_read);
        Ok(())
    }

    fn remember_drained(&mut self, id: FileId, fp: Fingerprint, offset: u64) {
        if self.drained.len() >= MAX_DRAINED {
            if let Some(k) = self.drained.keys().next().copied() {
                self.drained.remove(&k);
            }
        }
        self.drained.insert(id, (fp, offset));
    }

    /// Expands the patterns and starts following files not yet followed.
    fn scan(&mut self, first: bool, positions: &mut Vec<Position>) {
        let mut found = Vec::new();
        for p in &self.patterns {
            match glob::glob(p) {
                Ok(paths) => found.extend(paths.filter_map(|r| r.ok())),
                Err(_) => found.push(PathBuf::from(p)),
            }
        }
        found.sort();
        found.dedup();
        for path in found {
            if self.files.iter().any(|t| t.path == path) {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let Ok(meta) = file.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let id = file_id(&meta);
            if self.files.iter().any(|t| t.id == id) {
                continue; // already followed under another name (rotated into the glob)
            }
            // Too short to be recognised as a copy being written? Look again
            // at the next scan, once.
            if !first && meta.len() < MIN_COPY_FINGERPRINT && !self.deferred.contains_key(&path) {
                if self.deferred.len() >= MAX_TRUNCATED {
                    self.deferred.clear();
                }
                self.deferred.insert(path, Instant::now());
                continue;
            }
            self.deferred.remove(&path);
            let Some(start) = self.start_offset(&file, &meta, id, first) else {
                continue;
            };
            let before = self.files.len();
            self.follow(path, file, id, start, false);
            // Checkpoint its identity at once: if the daemon dies before it
            // reads anything and the file is rotated meanwhile, the next
            // start still knows to look for it.
            if self.files.len() > before {
                let name = self.name.clone();
                if let Some(t) = self.files.last_mut() {
                    positions.push(t.position(&name));
                }
            }
        }
        if first {
            self.find_rotated_while_down(positions);
        }
    }

    /// Where a newly found file starts; `None`: not now (a copy being made).
    fn start_offset(
        &mut self,
        file: &File,
        meta: &Metadata,
        id: FileId,
        first: bool,
    ) -> Option<u64> {
        let len = meta.len();
        let matches = |fp_len: u64, fp: &str| {
            fp_len <= len
                && Fingerprint::read(file, fp_len).is_ok_and(|f| f.len == fp_len && f.hex() == fp)
        };
        if let Some(k) = self
            .resume
            .iter()
            .position(|c| c.dev == id.dev && c.ino == id.ino)
        {
            let c = self.resume.swap_remove(k);
            if matches(c.fp_len, &c.fp) {
                return Some(if c.offset <= len { c.offset } else { 0 });
            }
        }
        if let Some((fp, offset)) = self.drained.remove(&id) {
            if matches(fp.len, &format!("{:016x}", fp.hash)) {
                return Some(offset.min(len));
            }
        }
        // A copy of a followed file (copytruncate into a name the glob matches),
        // perhaps still being written: go on where the original was read to.
        let start = read_head(file, len).unwrap_or_default();
        let copy_of = |head: &[u8]| {
            let n = start.len().min(head.len());
            n as u64 >= MIN_COPY_FINGERPRINT && start[..n] == head[..n]
        };
        // While the original is not truncated yet, its content is read from
        // the original; the copy is taken up where the original stopped once
        // the truncation is seen. A copy of a file that is never truncated
        // (`cp full full.bak`) is never read: all of it is in the original.
        if self.files.iter().any(|t| copy_of(&t.head)) {
            return None;
        }
        if let Some(k) = self.truncated.iter().position(|(head, _)| copy_of(head)) {
            let (_, offset) = self.truncated.remove(k);
            return Some(offset.min(len));
        }
        Some(
            if first && !self.known && self.options.read_from == ReadFrom::End {
                len
            } else {
                0
            },
        )
    }

    fn follow(&mut self, path: PathBuf, mut file: File, id: FileId, start: u64, orphan: bool) {
        if self.files.len() >= self.options.max_open_files {
            self.stats.skipped_files += 1;
            if !self.warned_full {
                eprintln!(
                    "sipannotate: input {}: max_open_files ({}) reached; {} and later files are not followed",
                    self.name,
                    self.options.max_open_files,
                    path.display()
                );
                self.warned_full = true;
            }
            return;
        }
        if start > 0 && file.seek(SeekFrom::Start(start)).is_err() {
            return;
        }
        // What lies before `start` counts as read.
        let head = if start > 0 {
            read_head(&file, start).unwrap_or_default()
        } else {
            Vec::new()
        };
        let fp = Fingerprint::of(&head);
        let mut engine = Engine::new(self.catalog, self.matcher, &path.to_string_lossy());
        engine.set_max_line(self.options.max_line);
        let t = Tailed {
            path,
            file,
            id,
            fp,
            head,
            base: start,
            read: start,
            engine,
            last_data: Instant::now(),
            idle_done: true,
            gone_since: None,
            orphan,
        };
        if orphan {
            self.files.insert(0, t);
        } else {
            self.files.push(t);
        }
    }

    /// Checkpointed files that are no longer at any matched path were rotated
    /// while the daemon was down: find them in their directory and drain them.
    fn find_rotated_while_down(&mut self, positions: &mut Vec<Position>) {
        let left = std::mem::take(&mut self.resume);
        for c in left {
            let id = FileId {
                dev: c.dev,
                ino: c.ino,
            };
            match find_by_id(&c.path, id) {
                Some((path, file, meta)) if meta.len() > c.offset => {
                    let fp = Fingerprint::read(&file, c.fp_len);
                    if fp.is_ok_and(|f| f.len == c.fp_len && f.hex() == c.fp) {
                        self.follow(path, file, id, c.offset, true);
                        continue;
                    }
                    self.stats.lost_rotated += 1;
                }
                Some(_) => {}
                None => {
                    self.stats.lost_rotated += 1;
                    eprintln!(
                        "sipannotate: input {}: {} was rotated away while stopped and is not in its directory any more; lines after byte {} were not read",
                        self.name,
                        c.path.display(),
                        c.offset
                    );
                }
            }
            positions.push(Position::Forget {
                input: self.name.clone(),
                id,
            });
        }
    }
}

enum Keep {
    Yes(bool),
    No,
}

/// A file with identity `id` in the directory of `old` (its rotated name).
fn find_by_id(old: &Path, id: FileId) -> Option<(PathBuf, File, Metadata)> {
    let dir = old.parent()?;
    for entry in fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() && file_id(&meta) == id {
            let file = File::open(&path).ok()?;
            return Some((path, file, meta));
        }
    }
    None
}

/// The directory part of a pattern before its first glob character.
fn literal_dir(pattern: &str) -> Option<PathBuf> {
    let cut = pattern.find(['*', '?', '[']).unwrap_or(pattern.len());
    let literal = &pattern[..cut];
    let dir = match literal.rfind('/') {
        Some(0) => "/",
        Some(i) => &literal[..i],
        None => return None,
    };
    Some(PathBuf::from(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_dir_is_the_literal_part_of_a_glob() {
        assert_eq!(
            literal_dir("/var/log/kamailio/*.log"),
            Some("/var/log/kamailio".into())
        );
        assert_eq!(
            literal_dir("/var/log/asterisk/full*"),
            Some("/var/log/asterisk".into())
        );
        assert_eq!(literal_dir("/var/log/*/x.log"), Some("/var/log".into()));
        assert_eq!(literal_dir("/x"), Some("/".into()));
    }
}
