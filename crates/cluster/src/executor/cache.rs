//! The agent's fetcher cache: a URI whose `cache` is set is downloaded once per agent and user,
//! and every later task of that user on the agent gets a copy, as Mesos' fetcher cache does.
//!
//! The agent gives each user a directory of its own (0700, the user's) and a size; the executor,
//! running as that user, keeps the cache in it. Executors are separate processes, so the cache
//! is shared through the file system alone:
//!
//! * `<key>/uri` and `<key>/data`: an entry (the URI, to tell two URIs of one key apart, and its
//!   content). `key` is a hash of the URI.
//! * `<key>.lock`: `flock`ed by whoever reads, downloads or evicts that entry, so that two tasks
//!   starting at once download it once, and no entry is evicted while it is copied out. The
//!   kernel releases a lock when its holder dies, kill -9 included.
//! * `.tmp-<key>/`: a download in progress. It becomes the entry by a rename only once
//!   complete, so a download that failed, or whose executor was killed mid-way, never serves
//!   half a file; the next fetch of the URI (or an eviction) removes what it left.
//!
//! Entries are evicted least recently used first (a hit refreshes the data's modification time)
//! when the directory holds more than its size; a file larger than the whole cache is fetched
//! without it.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::fetch::{download_into, Partial};

/// Mesos' `--fetcher_cache_size` default: 2 GB.
pub const DEFAULT_CACHE_SIZE: u64 = 2 * 1024 * 1024 * 1024;

/// One user's cache directory on one agent, and how many bytes it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    dir: PathBuf,
    capacity: u64,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>, capacity: u64) -> Self {
        Cache {
            dir: dir.into(),
            capacity,
        }
    }

    /// Puts the content of `url` at `destination` (a new file, renamed into place): from the
    /// cache when it holds the URI, else downloaded into the cache first.
    pub async fn fetch(
        &self,
        client: &reqwest::Client,
        url: &str,
        destination: &Path,
    ) -> Result<(), String> {
        let key = key_of(url);
        let entry = self.dir.join(&key);
        // Waiting for the lock waits for another task's download of the same URI: a thread
        // of its own, not one of the executor's.
        let lock_path = self.dir.join(format!("{key}.lock"));
        let lock = tokio::task::spawn_blocking(move || EntryLock::acquire(&lock_path))
            .await
            .map_err(|error| format!("locking the fetcher cache: {error}"))?
            .map_err(|error| {
                format!("locking the fetcher cache {}: {error}", self.dir.display())
            })?;

        if holds(&entry, url) {
            tracing::debug!(url, entry = %entry.display(), "fetcher cache hit");
            // The entry was used now: it is the last to be evicted.
            if let Ok(data) = File::options().write(true).open(entry.join("data")) {
                let _ = data.set_modified(SystemTime::now());
            }
            let copied = copy_into_place(&entry.join("data"), destination).await;
            drop(lock);
            return copied;
        }

        // Whatever a killed download left is ours to remove: we hold its lock.
        let staging = self.dir.join(format!(".tmp-{key}"));
        let _ = std::fs::remove_dir_all(&staging);
        let staged = Staging::create(&staging)?;
        std::fs::write(staging.join("uri"), url)
            .map_err(|error| format!("cannot write the fetcher cache: {error}"))?;
        let data = staging.join("data");
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&data)
            .await
            .map_err(|error| format!("cannot write the fetcher cache: {error}"))?;
        let length = download_into(client, url, &mut file, destination).await?;
        drop(file);

        if length > self.capacity {
            tracing::warn!(
                url,
                length,
                capacity = self.capacity,
                "larger than the whole fetcher cache: fetched without it"
            );
            return copy_into_place(&data, destination).await;
        }
        // An entry of another URI with the same key, or a broken one: replaced.
        if entry.exists() {
            std::fs::remove_dir_all(&entry)
                .map_err(|error| format!("cannot replace {}: {error}", entry.display()))?;
        }
        std::fs::rename(&staging, &entry)
            .map_err(|error| format!("cannot write the fetcher cache: {error}"))?;
        staged.keep();
        // Its use starts the LRU clock, at the clock's precision (a write's time stamp is
        // only as fine as the kernel's tick).
        if let Ok(data) = File::options().write(true).open(entry.join("data")) {
            let _ = data.set_modified(SystemTime::now());
        }
        tracing::debug!(url, entry = %entry.display(), length, "fetcher cache filled");
        let copied = copy_into_place(&entry.join("data"), destination).await;
        drop(lock);
        self.evict(&key);
        copied
    }

    /// Removes the least recently used entries (never `keep`, never one in use) until the
    /// cache holds at most its size, and the leftovers of killed downloads.
    fn evict(&self, keep: &str) {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries = Vec::new();
        for item in listing.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if !item.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if let Some(key) = name.strip_prefix(".tmp-") {
                // A download in progress holds its lock; one that is free was abandoned.
                if let Ok(Some(_lock)) = EntryLock::try_acquire(&self.lock_path(key)) {
                    let _ = std::fs::remove_dir_all(item.path());
                }
                continue;
            }
            if let Ok(metadata) = std::fs::metadata(item.path().join("data")) {
                let used = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                entries.push((used, metadata.len(), name));
            }
        }
        let mut total: u64 = entries.iter().map(|(_, len, _)| len).sum();
        entries.sort();
        for (_, len, key) in entries {
            if total <= self.capacity {
                break;
            }
            if key == keep {
                continue;
            }
            // One being copied out or replaced right now stays.
            if let Ok(Some(_lock)) = EntryLock::try_acquire(&self.lock_path(&key)) {
                if std::fs::remove_dir_all(self.dir.join(&key)).is_ok() {
                    tracing::debug!(key, len, "evicted from the fetcher cache");
                    total -= len;
                }
            }
        }
    }

    fn lock_path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.lock"))
    }
}

/// Whether `entry` is a complete entry of `url`.
fn holds(entry: &Path, url: &str) -> bool {
    std::fs::read_to_string(entry.join("uri")).is_ok_and(|stored| stored == url)
        && std::fs::metadata(entry.join("data")).is_ok_and(|m| m.is_file())
}

/// Copies a cached file to `destination`, all or nothing. The copy is the task's own: a task
/// may change its files without touching the cache.
async fn copy_into_place(cached: &Path, destination: &Path) -> Result<(), String> {
    let mut from = tokio::fs::File::open(cached)
        .await
        .map_err(|error| format!("cannot read the fetcher cache: {error}"))?;
    let mut to = Partial::create(destination).await?;
    tokio::io::copy(&mut from, to.file())
        .await
        .map_err(|error| format!("cannot copy to {}: {error}", destination.display()))?;
    to.commit(destination).await
}

/// The file name of a URI's entry: 64-bit FNV-1a, in hex. Stable across builds (std's hasher
/// is not promised to be); a collision costs a download, since the entry names its URI.
fn key_of(url: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in url.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// A download's staging directory, removed unless it became an entry (a failed download, or
/// one cancelled by a kill of its task).
struct Staging {
    path: PathBuf,
    kept: bool,
}

impl Staging {
    fn create(path: &Path) -> Result<Self, String> {
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(path)
            .map_err(|error| {
                format!("cannot write the fetcher cache {}: {error}", path.display())
            })?;
        Ok(Staging {
            path: path.to_path_buf(),
            kept: false,
        })
    }

    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// An exclusive `flock` on an entry's lock file, released when dropped (or when the process
/// dies).
struct EntryLock(#[allow(dead_code)] File);

impl EntryLock {
    fn open(path: &Path) -> io::Result<File> {
        File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
    }

    /// Waits for the lock.
    fn acquire(path: &Path) -> io::Result<Self> {
        let file = Self::open(path)?;
        flock(&file, libc::LOCK_EX)?;
        Ok(EntryLock(file))
    }

    /// Takes the lock if no one holds it.
    fn try_acquire(path: &Path) -> io::Result<Option<Self>> {
        let file = Self::open(path)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(EntryLock(file))),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// `flock(2)`, retried when a signal interrupts the wait.
// std's `File::lock` is newer than the workspace's minimum Rust.
#[allow(unsafe_code)]
fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: `flock` takes a file descriptor, which `file` keeps open for the call, and
        // an operation; it touches no memory of ours.
        let rc = unsafe { libc::flock(file.as_raw_fd(), operation) };
        if rc == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use axum::extract::{Path as UrlPath, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::{routing::get, Router};

    /// A file server counting the requests for each file.
    struct Server {
        addr: std::net::SocketAddr,
        hits: Hits,
        task: tokio::task::JoinHandle<()>,
    }

    type Hits = Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>;

    async fn serve(State(hits): State<Hits>, UrlPath(name): UrlPath<String>) -> Response {
        *hits.lock().unwrap().entry(name.clone()).or_default() += 1;
        if name == "slow" {
            // Long enough for a second fetch to arrive while this one downloads.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        if name == "missing" {
            return StatusCode::NOT_FOUND.into_response();
        }
        // 100 bytes, different for each name.
        format!("{name:-<100}").into_bytes().into_response()
    }

    impl Server {
        async fn start() -> Self {
            let hits = Hits::default();
            let app = Router::new()
                .route("/{name}", get(serve))
                .with_state(hits.clone());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let task = tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
            Server { addr, hits, task }
        }

        fn url(&self, name: &str) -> String {
            format!("http://{}/{name}", self.addr)
        }

        fn hits(&self, name: &str) -> usize {
            self.hits.lock().unwrap().get(name).copied().unwrap_or(0)
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    struct Dirs {
        cache: PathBuf,
        sandbox: PathBuf,
    }

    impl Dirs {
        fn new() -> Self {
            let root = std::env::temp_dir().join(format!("cairn-cache-{}", uuid::Uuid::new_v4()));
            let dirs = Dirs {
                cache: root.join("cache"),
                sandbox: root.join("sandbox"),
            };
            std::fs::create_dir_all(&dirs.cache).unwrap();
            std::fs::create_dir_all(&dirs.sandbox).unwrap();
            dirs
        }

        fn in_sandbox(&self, name: &str) -> PathBuf {
            self.sandbox.join(name)
        }

        /// The cache's entries and leftovers, lock files aside.
        fn cache_listing(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.cache)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.ends_with(".lock"))
                .collect();
            names.sort();
            names
        }

        fn sandbox_listing(&self) -> Vec<String> {
            let mut names: Vec<String> = std::fs::read_dir(&self.sandbox)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for Dirs {
        fn drop(&mut self) {
            if let Some(root) = self.cache.parent() {
                let _ = std::fs::remove_dir_all(root);
            }
        }
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    #[tokio::test]
    async fn a_cached_uri_is_downloaded_once_and_copied_for_each_later_fetch() {
        let server = Server::start().await;
        let dirs = Dirs::new();
        let cache = Cache::new(&dirs.cache, 1 << 20);
        let url = server.url("app.tgz");
        for copy in ["first", "second", "third"] {
            cache
                .fetch(&client(), &url, &dirs.in_sandbox(copy))
                .await
                .unwrap();
            let content = std::fs::read_to_string(dirs.in_sandbox(copy)).unwrap();
            assert!(content.starts_with("app.tgz---"), "{content}");
        }
        assert_eq!(server.hits("app.tgz"), 1);
        // A copy is the task's own: changing it leaves the cache alone.
        std::fs::write(dirs.in_sandbox("first"), "changed by the task").unwrap();
        cache
            .fetch(&client(), &url, &dirs.in_sandbox("fourth"))
            .await
            .unwrap();
        let content = std::fs::read_to_string(dirs.in_sandbox("fourth")).unwrap();
        assert!(content.starts_with("app.tgz---"), "{content}");
    }

    #[tokio::test]
    async fn two_fetches_of_one_uri_at_once_download_it_once() {
        let server = Server::start().await;
        let dirs = Dirs::new();
        let cache = Cache::new(&dirs.cache, 1 << 20);
        let url = server.url("slow");
        let (client, one, two) = (client(), dirs.in_sandbox("one"), dirs.in_sandbox("two"));
        let (one, two) = tokio::join!(
            cache.fetch(&client, &url, &one),
            cache.fetch(&client, &url, &two),
        );
        one.unwrap();
        two.unwrap();
        assert_eq!(server.hits("slow"), 1);
        assert_eq!(
            std::fs::read(dirs.in_sandbox("one")).unwrap(),
            std::fs::read(dirs.in_sandbox("two")).unwrap()
        );
    }

    /// A server that answers its first request with 10 of the 1000 bytes it promises, then
    /// closes the connection, and every later one in full. Returns its URL and its count.
    pub(in crate::executor) async fn cut_once_server() -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/app.tgz", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).await.unwrap_or(0) == 1
                {
                    head.push(byte[0]);
                }
                let body: Vec<u8> = if counted.fetch_add(1, Ordering::SeqCst) == 0 {
                    b"0123456789".to_vec()
                } else {
                    vec![b'x'; 1000]
                };
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n",
                    )
                    .await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn a_download_cut_short_leaves_no_cache_entry_and_the_next_fetch_downloads_afresh() {
        let (url, requests) = cut_once_server().await;
        let dirs = Dirs::new();
        let cache = Cache::new(&dirs.cache, 1 << 20);
        let error = cache
            .fetch(&client(), &url, &dirs.in_sandbox("app.tgz"))
            .await
            .unwrap_err();
        assert!(error.contains("download interrupted"), "{error}");
        assert_eq!(dirs.cache_listing(), Vec::<String>::new());
        assert_eq!(dirs.sandbox_listing(), Vec::<String>::new());

        cache
            .fetch(&client(), &url, &dirs.in_sandbox("app.tgz"))
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dirs.in_sandbox("app.tgz")).unwrap(),
            vec![b'x'; 1000]
        );
        assert_eq!(requests.load(Ordering::SeqCst), 2);
        assert_eq!(dirs.cache_listing(), vec![key_of(&url)]);
    }

    #[tokio::test]
    async fn what_a_killed_download_left_is_never_served_and_is_replaced() {
        let server = Server::start().await;
        let dirs = Dirs::new();
        let cache = Cache::new(&dirs.cache, 1 << 20);
        let url = server.url("app.tgz");
        // An executor killed mid-download leaves its staging directory (and no lock held).
        let staging = dirs.cache.join(format!(".tmp-{}", key_of(&url)));
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("uri"), &url).unwrap();
        std::fs::write(staging.join("data"), "half a fi").unwrap();

        cache
            .fetch(&client(), &url, &dirs.in_sandbox("app.tgz"))
            .await
            .unwrap();
        let content = std::fs::read_to_string(dirs.in_sandbox("app.tgz")).unwrap();
        assert!(content.starts_with("app.tgz---"), "{content}");
        assert_eq!(server.hits("app.tgz"), 1);
        assert_eq!(dirs.cache_listing(), vec![key_of(&url)]);
    }

    #[tokio::test]
    async fn a_missing_file_is_an_error_and_caches_nothing() {
        let server = Server::start().await;
        let dirs = Dirs::new();
        let cache = Cache::new(&dirs.cache, 1 << 20);
        let error = cache
            .fetch(&client(), &server.url("missing"), &dirs.in_sandbox("x"))
            .await
            .unwrap_err();
        assert!(error.contains("404"), "{error}");
        assert_eq!(dirs.cache_listing(), Vec::<String>::new());
        assert_eq!(dirs.sandbox_listing(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn the_least_recently_used_entries_are_evicted_past_the_cache_size() {
        let server = Server::start().await;
        let dirs = Dirs::new();
        // Room for two 100-byte files.
        let cache = Cache::new(&dirs.cache, 250);
        let fetch = |name: &'static str| {
            let (cache, url, to) = (cache.clone(), server.url(name), dirs.in_sandbox(name));
            async move { cache.fetch(&client(), &url, &to).await.unwrap() }
        };
        fetch("a").await;
        fetch("b").await;
        // `a` is used again: `b` is now the least recently used.
        fetch("a").await;
        fetch("c").await;
        let mut kept = vec![key_of(&server.url("a")), key_of(&server.url("c"))];
        kept.sort();
        assert_eq!(dirs.cache_listing(), kept);
        fetch("a").await;
        assert_eq!(server.hits("a"), 1);
        fetch("b").await;
        assert_eq!(server.hits("b"), 2);
    }

    #[tokio::test]
    async fn a_file_larger_than_the_whole_cache_is_fetched_without_it() {
        let server = Server::start().await;
        let dirs = Dirs::new();
        let cache = Cache::new(&dirs.cache, 50);
        let url = server.url("big");
        cache
            .fetch(&client(), &url, &dirs.in_sandbox("big"))
            .await
            .unwrap();
        assert_eq!(
            std::fs::metadata(dirs.in_sandbox("big")).unwrap().len(),
            100
        );
        assert_eq!(dirs.cache_listing(), Vec::<String>::new());
    }

    #[test]
    fn cache_keys_are_stable_file_names() {
        assert_eq!(key_of("http://h/a.tgz"), key_of("http://h/a.tgz"));
        assert_ne!(key_of("http://h/a.tgz"), key_of("http://h/b.tgz"));
        assert_eq!(key_of("").len(), 16);
        // FNV-1a of the empty string is its offset basis.
        assert_eq!(key_of(""), "cbf29ce484222325");
    }
}
