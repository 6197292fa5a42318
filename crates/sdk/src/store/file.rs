//! The file-directory state store: one directory per service, one file per key, and a
//! write-ahead log that makes every batch atomic. See [`FileStore`].

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use cairn_core::store::{Store, StoreError, WriteBatch, WriteOp};

const WAL: &str = ".wal";
const WAL_TMP: &str = ".wal.tmp";
const LOCK: &str = ".lock";
const WAL_MAGIC: &[u8] = b"cairn-wal 1\n";
const PUT: u8 = 1;
const DELETE: u8 = 2;
/// Most file systems refuse longer names.
const MAX_SEGMENT_LEN: usize = 255;

/// A key this store cannot hold. Keys are file paths here, so they are restricted to
/// `[A-Za-z0-9._-]` segments joined by `/`; a segment may not start with `.` (that is where the
/// store keeps its own files, and it rules out `.` and `..`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}` {reason}")]
pub struct InvalidKey {
    /// The key.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The default state store: a directory per service, one file per key, atomic batches through a
/// write-ahead log.
///
/// # Layout
///
/// ```text
/// <state-dir>/<service>/FrameworkID
/// <state-dir>/<service>/Tasks/data-0-node/TaskInfo    one file per key, the value's bytes
/// <state-dir>/<service>/.wal                          the batch being applied (if any)
/// <state-dir>/<service>/.wal.tmp                      a batch being written (torn if left)
/// <state-dir>/<service>/.lock                         flock(2): one scheduler at a time
/// ```
///
/// # Commit
///
/// 1. The batch is checked (key syntax, no key both a value and a directory) and applied to
///    the in-memory copy, with an undo log so that a refusal changes nothing.
/// 2. It is written to `.wal.tmp`, fsynced, and renamed to `.wal`; the directory is fsynced.
///    **The rename is the commit point**: a crash before it leaves only `.wal.tmp`, which the
///    next open deletes (the batch never happened); a crash after it leaves `.wal`, which the
///    next open replays.
/// 3. Each op is applied to its file (written in place; deletes remove the file or the whole
///    subtree), the files and the directories whose entries changed are fsynced, and `.wal`
///    is removed. Replaying is idempotent, so a crash anywhere in this step is repaired by the
///    next open.
///
/// # Why not one JSON document
///
/// The simplest atomic store is the whole map as one file written to a temporary name and
/// renamed. It was measured (`cargo run --release -p cairn --example store_latency`) with
/// 1,000 tasks (a realistic TaskInfo and TaskStatus each, 2.2 MB of values): every commit
/// rewrites all of it (3 MB as base64 in JSON), 10 ms per commit (median; 16 ms under load),
/// and a deploy of 1,000 tasks makes several commits per task. This store writes only what a
/// batch changes: a one-task status commit takes 0.9 ms and a launch (TaskInfo + status)
/// 1.3 ms at that store size (median; four or five fsyncs of a few hundred µs each on the CI
/// machine's disk). The price is paid by big batches, 0.3-0.5 ms per key written (a
/// 2,001-key batch: 0.5-1.2 s), which the scheduler does not make: it writes a task at a time.
/// Reads are served from memory; the files are read once, at open (2,001 keys: 30 ms).
///
/// Only one `FileStore` may have a directory open at a time (an exclusive `flock` on `.lock`):
/// two schedulers writing one service's state would corrupt it, so the second is refused.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    entries: BTreeMap<String, Vec<u8>>,
    /// A batch that is durable in `.wal` but whose files could not all be written (disk full,
    /// say). It is part of `entries` already; it is written out before the next batch.
    unapplied: Option<WriteBatch>,
    /// Held for the store's lifetime; closing it releases the lock.
    _lock: File,
}

impl FileStore {
    /// Opens (creating if needed) the store of service `service` under `state_dir`. A service
    /// name may contain `/` (folders); it becomes `__` in the directory name, as in dcos-commons.
    pub fn open_service(state_dir: &Path, service: &str) -> Result<FileStore, StoreError> {
        // The state dir holds only state (stores, address files): private when cairn makes it.
        create_private_dir(state_dir, false)
            .map_err(|e| backend(format!("creating {}", state_dir.display()), e))?;
        FileStore::open(state_dir.join(service.replace('/', "__")))
    }

    /// Removes the directory of `service`'s store when nothing but its lock file is left in
    /// it (an uninstall deleted every key): an uninstalled service leaves no trace. Under the
    /// store's lock, so a scheduler that opened it meanwhile keeps it. `Ok(false)`: kept.
    pub fn remove_if_empty(state_dir: &Path, service: &str) -> Result<bool, StoreError> {
        let dir = state_dir.join(service.replace('/', "__"));
        let _lock = match lock(&dir) {
            Ok(l) => l,
            Err(StoreError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| backend(format!("reading {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| backend(format!("reading {}", dir.display()), e))?;
            if entry.file_name() != LOCK {
                return Ok(false);
            }
        }
        std::fs::remove_file(dir.join(LOCK))
            .and_then(|()| std::fs::remove_dir(&dir))
            .map_err(|e| backend(format!("removing {}", dir.display()), e))?;
        Ok(true)
    }

    /// Opens (creating if needed) the store in `dir`: takes the lock, drops a torn batch,
    /// replays a committed one, and reads every key.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FileStore, StoreError> {
        let dir = dir.into();
        create_private_dir(&dir, true)
            .map_err(|e| backend(format!("creating {}", dir.display()), e))?;
        let lock = lock(&dir)?;
        let mut store = FileStore {
            dir,
            entries: BTreeMap::new(),
            unapplied: None,
            _lock: lock,
        };
        store.recover()?;
        store.entries = read_tree(&store.dir)?;
        Ok(store)
    }

    /// Every key of the store in `dir`, for reading only (`cairn update`, `cairn uninstall`):
    /// through [`FileStore::open`] when the store is free, else (a scheduler holds it) straight
    /// from the files, which may lack a batch that is being written this instant.
    pub fn snapshot(dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        match FileStore::open(dir) {
            Ok(store) => Ok(store.entries),
            Err(StoreError::Conflict(_)) => read_tree(dir),
            Err(e) => Err(e),
        }
    }

    /// The directory holding this service's keys.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn recover(&mut self) -> Result<(), StoreError> {
        let tmp = self.dir.join(WAL_TMP);
        match fs::remove_file(&tmp) {
            Ok(()) => tracing::info!(
                "state store {}: dropped a batch that was never committed ({WAL_TMP})",
                self.dir.display()
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(backend(format!("removing {}", tmp.display()), e)),
        }
        let wal = self.dir.join(WAL);
        let bytes = match fs::read(&wal) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(backend(format!("reading {}", wal.display()), e)),
        };
        let batch = decode_wal(&bytes).map_err(|reason| StoreError::Corrupt {
            key: WAL.to_string(),
            reason,
        })?;
        tracing::info!(
            "state store {}: replaying committed batch {} ({} writes)",
            self.dir.display(),
            batch.id,
            batch.ops.len()
        );
        self.write_files(&batch)?;
        self.remove_wal();
        Ok(())
    }

    /// Step 1: applies `batch` to memory and returns how to take it back, or changes nothing
    /// and says why not.
    fn apply_in_memory(&mut self, batch: &WriteBatch) -> Result<Vec<Undo>, StoreError> {
        let mut undo: Vec<Undo> = Vec::new();
        for op in &batch.ops {
            let checked = match op {
                WriteOp::Put { key, value } => validate_key(key)
                    .and_then(|()| self.check_not_nested(key))
                    .map(|()| {
                        let old = self.entries.insert(key.clone(), value.clone());
                        undo.push(Undo::Restore(key.clone(), old));
                    }),
                WriteOp::Delete { key } => validate_key(key).map(|()| {
                    let removed = remove_subtree(&mut self.entries, key);
                    undo.push(Undo::Reinsert(removed));
                }),
            };
            if let Err(e) = checked {
                self.undo(undo);
                return Err(StoreError::Backend {
                    context: format!(
                        "refusing batch {} for the state store at {}",
                        batch.id,
                        self.dir.display()
                    ),
                    source: Box::new(e),
                });
            }
        }
        Ok(undo)
    }

    fn undo(&mut self, undo: Vec<Undo>) {
        for u in undo.into_iter().rev() {
            match u {
                Undo::Restore(key, Some(v)) => {
                    self.entries.insert(key, v);
                }
                Undo::Restore(key, None) => {
                    self.entries.remove(&key);
                }
                Undo::Reinsert(removed) => self.entries.extend(removed),
            }
        }
    }

    /// A key cannot be both a file and a directory: refuse `a/b` while `a` holds a value, and
    /// `a` while `a/...` exists.
    fn check_not_nested(&self, key: &str) -> Result<(), InvalidKey> {
        for (i, _) in key.match_indices('/') {
            if self.entries.contains_key(&key[..i]) {
                return Err(InvalidKey {
                    key: key.to_string(),
                    reason: format!("is under `{}`, which holds a value", &key[..i]),
                });
            }
        }
        let prefix = format!("{key}/");
        if let Some((below, _)) = self.entries.range(prefix.clone()..).next() {
            if below.starts_with(&prefix) {
                return Err(InvalidKey {
                    key: key.to_string(),
                    reason: format!("has keys under it (`{below}`), so it cannot hold a value"),
                });
            }
        }
        Ok(())
    }

    /// Step 2, the commit point: the batch is durable once `.wal` exists.
    fn write_wal(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let tmp = self.dir.join(WAL_TMP);
        let wal = self.dir.join(WAL);
        let written = (|| {
            let mut f = create_private_file(&tmp)?;
            f.write_all(&encode_wal(batch))?;
            f.sync_data()?;
            fs::rename(&tmp, &wal)?;
            sync_dir(&self.dir)
        })();
        written.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            backend(
                format!("writing batch {} to {}", batch.id, wal.display()),
                e,
            )
        })
    }

    /// Step 3: makes the files say what the batch says, durably. Idempotent.
    fn write_files(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let mut touched: BTreeSet<PathBuf> = BTreeSet::new();
        // Synced after every file is written rather than one by one: the kernel writes them back
        // together, and a batch of a thousand keys takes a fraction of the time.
        let mut written: Vec<(&str, File)> = Vec::new();
        for op in &batch.ops {
            let (key, result) = match op {
                WriteOp::Put { key, value } => (
                    key,
                    self.write_value(key, value, &mut touched)
                        .map(|f| written.push((key, f))),
                ),
                WriteOp::Delete { key } => (key, self.delete_tree(key, &mut touched)),
            };
            result
                .map_err(|e| backend(format!("writing key {key} in {}", self.dir.display()), e))?;
        }
        for (key, file) in written {
            file.sync_data()
                .map_err(|e| backend(format!("syncing key {key} in {}", self.dir.display()), e))?;
        }
        for dir in &touched {
            match sync_dir(dir) {
                // Pruned after being touched: its parent is in the set too.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other.map_err(|e| backend(format!("syncing {}", dir.display()), e))?,
            }
        }
        Ok(())
    }

    fn write_value(
        &self,
        key: &str,
        value: &[u8],
        touched: &mut BTreeSet<PathBuf>,
    ) -> io::Result<File> {
        let path = self.dir.join(key);
        let new_name = match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                // An empty directory left by a crash between a delete and its pruning; no key
                // is under it (the in-memory check saw to that), so it is garbage.
                fs::remove_dir_all(&path)?;
                true
            }
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(e),
        };
        if new_name {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path.parent().unwrap_or(&self.dir))?;
            // Only a new name needs its directories synced; an overwrite changes no entry.
            self.touch_ancestors(&path, touched);
        }
        // Written in place, not renamed: `.wal` still holds the value, so a torn file is
        // rewritten by the replay at the next open.
        let mut f = create_private_file(&path)?;
        f.write_all(value)?;
        Ok(f)
    }

    fn delete_tree(&self, key: &str, touched: &mut BTreeSet<PathBuf>) -> io::Result<()> {
        let path = self.dir.join(key);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path)?,
            Ok(_) => fs::remove_file(&path)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        // Prune directories the delete emptied, so that their names can hold values again.
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.dir) {
            if fs::remove_dir(d).is_err() {
                break;
            }
            dir = d.parent();
        }
        self.touch_ancestors(&path, touched);
        Ok(())
    }

    /// Every directory from `path`'s parent up to the store's root: a new or removed name must
    /// reach the disk in each of them for the file to be found after a power cut.
    fn touch_ancestors(&self, path: &Path, touched: &mut BTreeSet<PathBuf>) {
        let mut dir = path.parent();
        while let Some(d) = dir {
            touched.insert(d.to_path_buf());
            if d == self.dir {
                break;
            }
            dir = d.parent();
        }
    }

    fn remove_wal(&self) {
        // Not fsynced: if the removal is lost, the next open replays a batch that is already
        // applied, which changes nothing; the next commit's rename replaces it anyway.
        if let Err(e) = fs::remove_file(self.dir.join(WAL)) {
            tracing::warn!("state store {}: removing {WAL}: {e}", self.dir.display());
        }
    }
}

impl Store for FileStore {
    fn load(&self) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        Ok(self.entries.clone())
    }

    fn commit(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        // `.wal` holds the earlier batch until its files are written; writing a new batch over
        // it first would lose it.
        if let Some(pending) = self.unapplied.take() {
            if let Err(e) = self.write_files(&pending) {
                self.unapplied = Some(pending);
                return Err(e);
            }
            self.remove_wal();
        }
        let undo = self.apply_in_memory(batch)?;
        if let Err(e) = self.write_wal(batch) {
            // Not committed: memory goes back to what the disk says.
            self.undo(undo);
            return Err(e);
        }
        // Committed. If the files cannot be written now, the batch is still durable (the next
        // open replays `.wal`) and visible (memory has it), so the commit stands; the files are
        // retried before the next batch.
        match self.write_files(batch) {
            Ok(()) => self.remove_wal(),
            Err(e) => {
                tracing::warn!(
                    "state store {}: batch {} is committed but not yet in its files ({e}); \
                     retrying before the next batch",
                    self.dir.display(),
                    batch.id
                );
                self.unapplied = Some(batch.clone());
            }
        }
        Ok(())
    }
}

enum Undo {
    Restore(String, Option<Vec<u8>>),
    Reinsert(Vec<(String, Vec<u8>)>),
}

/// Removes `key` and every key under `key/`, returning them.
fn remove_subtree(entries: &mut BTreeMap<String, Vec<u8>>, key: &str) -> Vec<(String, Vec<u8>)> {
    let prefix = format!("{key}/");
    // `range` from the prefix, not from `key`: `a-b` and `a.b` sort between `a` and `a/`.
    let mut doomed: Vec<String> = entries
        .range(prefix.clone()..)
        .map(|(k, _)| k)
        .take_while(|k| k.starts_with(&prefix))
        .cloned()
        .collect();
    if entries.contains_key(key) {
        doomed.push(key.to_string());
    }
    doomed
        .into_iter()
        .filter_map(|k| entries.remove(&k).map(|v| (k, v)))
        .collect()
}

fn validate_key(key: &str) -> Result<(), InvalidKey> {
    let invalid = |reason: String| {
        Err(InvalidKey {
            key: key.to_string(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("is empty".into());
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return invalid("has an empty segment (a leading, trailing or doubled `/`)".into());
        }
        if segment.starts_with('.') {
            return invalid(format!(
                "has a segment starting with `.` (`{segment}`); those names are the store's own"
            ));
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return invalid(format!("has a segment longer than {MAX_SEGMENT_LEN} bytes"));
        }
        if let Some(c) = segment
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return invalid(format!(
                "contains {c:?}; keys are made of A-Z a-z 0-9 . _ - and /"
            ));
        }
    }
    Ok(())
}

/// Every key under `root`, read from the files. Names the store did not write (dot-files,
/// names that are not valid keys) are skipped.
fn read_tree(root: &Path) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let listing =
            fs::read_dir(&dir).map_err(|e| backend(format!("listing {}", dir.display()), e))?;
        for entry in listing {
            let entry = entry.map_err(|e| backend(format!("listing {}", dir.display()), e))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let key = format!("{prefix}{name}");
            if let Err(e) = validate_key(&key) {
                tracing::warn!("state store {}: ignoring {e}", root.display());
                continue;
            }
            let path = entry.path();
            let kind = entry
                .file_type()
                .map_err(|e| backend(format!("reading {}", path.display()), e))?;
            if kind.is_dir() {
                pending.push((path, format!("{key}/")));
            } else {
                let value = fs::read(&path)
                    .map_err(|e| backend(format!("reading {}", path.display()), e))?;
                entries.insert(key, value);
            }
        }
    }
    Ok(entries)
}

/// `magic, id: u64, count: u32, then per op: tag: u8, key_len: u32, key, [value_len: u64,
/// value]`, little-endian. Binary because values are arbitrary bytes (a JSON log would need
/// base64, a third more to write and to fsync).
fn encode_wal(batch: &WriteBatch) -> Vec<u8> {
    let size: usize = batch
        .ops
        .iter()
        .map(|op| match op {
            WriteOp::Put { key, value } => 13 + key.len() + value.len(),
            WriteOp::Delete { key } => 5 + key.len(),
        })
        .sum();
    let mut out = Vec::with_capacity(WAL_MAGIC.len() + 12 + size);
    out.extend_from_slice(WAL_MAGIC);
    out.extend_from_slice(&batch.id.to_le_bytes());
    out.extend_from_slice(&(batch.ops.len() as u32).to_le_bytes());
    for op in &batch.ops {
        let (tag, key) = match op {
            WriteOp::Put { key, .. } => (PUT, key),
            WriteOp::Delete { key } => (DELETE, key),
        };
        out.push(tag);
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        if let WriteOp::Put { value, .. } = op {
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value);
        }
    }
    out
}

fn decode_wal(bytes: &[u8]) -> Result<WriteBatch, String> {
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
            if self.0.len() < n {
                return Err("truncated".into());
            }
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            Ok(head)
        }
        fn u32(&mut self) -> Result<u32, String> {
            Ok(u32::from_le_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            ))
        }
        fn u64(&mut self) -> Result<u64, String> {
            Ok(u64::from_le_bytes(
                self.take(8)?.try_into().expect("8 bytes"),
            ))
        }
    }
    let mut r = Reader(bytes);
    if r.take(WAL_MAGIC.len())? != WAL_MAGIC {
        return Err("not a cairn write-ahead log".into());
    }
    let id = r.u64()?;
    let count = r.u32()?;
    let mut ops = Vec::new();
    for _ in 0..count {
        let tag = r.take(1)?[0];
        let key_len = r.u32()? as usize;
        let key = String::from_utf8(r.take(key_len)?.to_vec()).map_err(|e| e.to_string())?;
        validate_key(&key).map_err(|e| e.to_string())?;
        ops.push(match tag {
            PUT => {
                let len = usize::try_from(r.u64()?).map_err(|e| e.to_string())?;
                WriteOp::Put {
                    key,
                    value: r.take(len)?.to_vec(),
                }
            }
            DELETE => WriteOp::Delete { key },
            other => return Err(format!("unknown op tag {other}")),
        });
    }
    if !r.0.is_empty() {
        return Err(format!("{} bytes after the last op", r.0.len()));
    }
    Ok(WriteBatch { id, ops })
}

/// Makes `dir` 0700 (its missing ancestors get the usual mode: they may be shared, a work dir
/// say). With `tighten`, a directory that exists and lets others in is made 0700 as well: it
/// is the store's own, and a store written before stores were private becomes private.
fn create_private_dir(dir: &Path, tighten: bool) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if tighten && meta.permissions().mode() & 0o077 != 0 => {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)?;
            }
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            }
        }
        Err(e) => Err(e),
    }
}

/// Creates (or truncates) a file only its owner may read: values are a service's whole state.
fn create_private_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| backend(format!("opening {}", path.display()), e))?;
    match try_flock(&file) {
        Ok(true) => Ok(file),
        Ok(false) => Err(StoreError::Conflict(format!(
            "the state store at {} is open in another process (another scheduler of this \
             service is running?)",
            dir.display()
        ))),
        Err(e) => Err(backend(format!("locking {}", path.display()), e)),
    }
}

/// An exclusive, non-blocking `flock`; `Ok(false)` when someone else holds it.
#[allow(unsafe_code)]
fn try_flock(file: &File) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    // SAFETY: flock(2) takes a descriptor that `file` keeps open for the whole call, and an
    // integer; it touches no memory of ours.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(e)
    }
}

fn backend(context: String, e: io::Error) -> StoreError {
    StoreError::Backend {
        context,
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &[u8]) -> WriteOp {
        WriteOp::Put {
            key: key.into(),
            value: value.to_vec(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cairn-filestore-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn the_write_ahead_log_round_trips_every_op_kind() {
        let batch = WriteBatch {
            id: 42,
            ops: vec![
                put("a/b", b"\0\xffbinary"),
                put("empty", b""),
                WriteOp::Delete { key: "c".into() },
            ],
        };
        assert_eq!(decode_wal(&encode_wal(&batch)).unwrap(), batch);
    }

    #[test]
    fn a_truncated_write_ahead_log_is_refused_not_half_applied() {
        let bytes = encode_wal(&WriteBatch {
            id: 1,
            ops: vec![put("a", b"12345")],
        });
        assert!(decode_wal(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn a_committed_batch_left_in_the_log_by_a_crash_is_replayed_at_open() {
        let dir = temp_dir("replay");
        {
            let mut s = FileStore::open(&dir).unwrap();
            s.commit(&WriteBatch {
                id: 1,
                ops: vec![
                    put("Tasks/a/TaskInfo", b"old"),
                    put("Tasks/b/TaskInfo", b"b"),
                ],
            })
            .unwrap();
        }
        // The crash came after the rename of batch 2 and before its files were written.
        let batch = WriteBatch {
            id: 2,
            ops: vec![
                put("Tasks/a/TaskInfo", b"new"),
                WriteOp::Delete {
                    key: "Tasks/b".into(),
                },
            ],
        };
        fs::write(dir.join(WAL), encode_wal(&batch)).unwrap();
        let s = FileStore::open(&dir).unwrap();
        let entries = s.load().unwrap();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries["Tasks/a/TaskInfo"], b"new");
        assert!(!dir.join(WAL).exists());
        assert!(
            !dir.join("Tasks/b").exists(),
            "the emptied directory is pruned"
        );
        drop(s);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keys_outside_the_file_name_alphabet_are_refused() {
        for bad in ["", "/a", "a/", "a//b", "a/../b", ".wal", "a b", "a\\b", "é"] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be refused");
        }
        for good in [
            "FrameworkID",
            "Tasks/data-0-node/TaskInfo",
            "Properties/a.b_c-9",
        ] {
            validate_key(good).unwrap();
        }
    }

    #[test]
    fn removing_a_subtree_spares_keys_that_sort_between_the_key_and_its_children() {
        let mut e: BTreeMap<String, Vec<u8>> = ["a", "a-b", "a.b", "a/x", "a/y/z", "b"]
            .into_iter()
            .map(|k| (k.to_string(), vec![]))
            .collect();
        let mut removed: Vec<String> = remove_subtree(&mut e, "a")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        removed.sort();
        assert_eq!(removed, ["a", "a/x", "a/y/z"]);
        assert_eq!(e.keys().collect::<Vec<_>>(), ["a-b", "a.b", "b"]);
    }
}
