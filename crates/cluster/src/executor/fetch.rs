//! The fetcher: puts a task's `command.uris` into its sandbox before the task
//! starts, as the Mesos fetcher does.
//!
//! Local paths (`file://` or absolute) are copied; `http://` and `https://` URIs
//! are downloaded, https verified against the system's CA roots (see
//! [`crate::http_client`]). A URI with `cache` set is downloaded once per agent
//! and user into the agent's fetcher cache ([`super::cache`]) and copied from
//! there. What lands in the sandbox is written under a temporary name and
//! renamed into place: a failed or cancelled fetch leaves nothing half-written.
//! Archives are unpacked with the system's `tar`, `unzip` and `gunzip`, like
//! Mesos, so we support exactly the formats the machine does.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::cache::Cache;
use crate::http_client::{error_chain, HttpClient};
use crate::paths::{create_dir_inside, join_inside};

/// One URI to fetch (the parts of Mesos' `CommandInfo.URI` we honour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriSpec {
    pub value: String,
    /// Make the file executable (and do not extract it).
    pub executable: bool,
    /// Unpack a recognised archive into the sandbox (Mesos' default: true).
    pub extract: bool,
    /// Download once into the agent's cache and copy from there (Mesos' default: false).
    /// Local files are always copied from where they are.
    pub cache: bool,
    /// Name of the file in the sandbox, relative; default: the URI's basename.
    pub output_file: Option<String>,
}

/// Why a URI could not be fetched. The message names the URI, because it
/// ends up in the TASK_FAILED update a human reads.
#[derive(Debug, thiserror::Error)]
#[error("Failed to fetch '{uri}': {reason}")]
pub struct FetchError {
    pub uri: String,
    pub reason: String,
}

impl FetchError {
    fn new(uri: &UriSpec, reason: impl Into<String>) -> Self {
        FetchError {
            uri: uri.value.clone(),
            reason: reason.into(),
        }
    }
}

/// What fetches a task's URIs: an HTTP client and, when the agent keeps one, its cache.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    /// Why https peers cannot be verified on this machine, if they cannot.
    no_trusted_roots: Option<String>,
    cache: Option<Cache>,
}

impl Fetcher {
    pub fn new(client: HttpClient, cache: Option<Cache>) -> Self {
        Fetcher {
            client: client.client,
            no_trusted_roots: client.no_trusted_roots,
            cache,
        }
    }

    /// Fetches every URI in order; the first failure stops the rest.
    pub async fn fetch_all(&self, uris: &[UriSpec], sandbox: &Path) -> Result<(), FetchError> {
        for uri in uris {
            self.fetch(uri, sandbox).await?;
        }
        Ok(())
    }

    /// Fetches one URI into `sandbox` and returns the path of the fetched file.
    pub async fn fetch(&self, uri: &UriSpec, sandbox: &Path) -> Result<PathBuf, FetchError> {
        let source = Source::parse(&uri.value).map_err(|reason| FetchError::new(uri, reason))?;
        let name = match &uri.output_file {
            Some(name) if !name.is_empty() => name.clone(),
            _ => source
                .basename()
                .ok_or_else(|| FetchError::new(uri, "the URI names no file; set output_file"))?,
        };
        let destination =
            sandbox_path(sandbox, &name).map_err(|reason| FetchError::new(uri, reason))?;
        if let Some(parent) = destination.parent() {
            create_dir_inside(sandbox, parent)
                .map_err(|error| FetchError::new(uri, format!("cannot create {name}: {error}")))?;
        }
        // A link a task left in the sandbox is not written through.
        if std::fs::symlink_metadata(&destination).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(FetchError::new(
                uri,
                format!(
                    "{} is a symbolic link: the fetcher does not write through links",
                    destination.display()
                ),
            ));
        }

        match &source {
            Source::Local(path) => copy_local(path, &destination).await,
            Source::Remote(url) => {
                if let (Some(why), true) = (&self.no_trusted_roots, source.is_https()) {
                    Err(format!(
                        "no CA certificate could be loaded to verify it ({why}); install the \
                         system's CA bundle or name one with SSL_CERT_FILE"
                    ))
                } else {
                    match &self.cache {
                        Some(cache) if uri.cache => {
                            cache.fetch(&self.client, url, &destination).await
                        }
                        _ => download(&self.client, url, &destination).await,
                    }
                }
            }
        }
        .map_err(|reason| FetchError::new(uri, reason))?;

        if uri.executable {
            make_executable(&destination)
                .await
                .map_err(|reason| FetchError::new(uri, reason))?;
        } else if uri.extract {
            if let Some(kind) = ArchiveKind::of(&destination) {
                extract(kind, &destination, sandbox)
                    .await
                    .map_err(|reason| FetchError::new(uri, reason))?;
            }
        }
        Ok(destination)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Local(PathBuf),
    /// `http://` or `https://`.
    Remote(String),
}

impl Source {
    fn parse(value: &str) -> Result<Self, String> {
        if let Some(rest) = value.strip_prefix("file://") {
            // `file:///abs` and `file://localhost/abs`; a remote host makes no
            // sense for a fetcher that runs on this machine.
            let path = rest.strip_prefix("localhost").unwrap_or(rest);
            if !path.starts_with('/') {
                return Err("a file URI must name an absolute path on this machine".to_owned());
            }
            return Ok(Source::Local(PathBuf::from(path)));
        }
        if value.starts_with('/') {
            return Ok(Source::Local(PathBuf::from(value)));
        }
        if value.starts_with("http://") || value.starts_with("https://") {
            return Ok(Source::Remote(value.to_owned()));
        }
        match value.split_once("://") {
            Some((scheme, _)) => Err(format!("the '{scheme}' scheme is not supported")),
            None => Err("not a URI nor an absolute path".to_owned()),
        }
    }

    fn is_https(&self) -> bool {
        matches!(self, Source::Remote(url) if url.starts_with("https://"))
    }

    fn basename(&self) -> Option<String> {
        let path = match self {
            Source::Local(path) => path.to_string_lossy().into_owned(),
            Source::Remote(url) => {
                let without_scheme = url.split_once("://").map_or("", |(_, rest)| rest);
                let path = without_scheme
                    .split_once('/')
                    .map(|(_, path)| path)
                    .unwrap_or("");
                path.split(['?', '#']).next().unwrap_or("").to_owned()
            }
        };
        path.rsplit('/')
            .next()
            .filter(|name| !name.is_empty() && *name != "." && *name != "..")
            .map(str::to_owned)
    }
}

/// Joins a relative name onto the sandbox, refusing anything that would land
/// outside it (see `join_inside`).
fn sandbox_path(sandbox: &Path, name: &str) -> Result<PathBuf, String> {
    join_inside(sandbox, &[name])
        .map_err(|error| format!("URI output file must be within the sandbox directory: {error}"))
}

async fn copy_local(source: &Path, destination: &Path) -> Result<(), String> {
    let metadata = tokio::fs::metadata(source)
        .await
        .map_err(|error| format!("cannot read {}: {error}", source.display()))?;
    if !metadata.is_file() {
        return Err(format!("{} is not a regular file", source.display()));
    }
    let mut from = tokio::fs::File::open(source)
        .await
        .map_err(|error| format!("cannot read {}: {error}", source.display()))?;
    let mut to = Partial::create(destination).await?;
    tokio::io::copy(&mut from, to.file())
        .await
        .map_err(|error| format!("cannot copy to {}: {error}", destination.display()))?;
    // Copied files keep their mode, as `cp` (and Mesos' fetcher) keep it.
    to.file()
        .set_permissions(metadata.permissions())
        .await
        .map_err(|error| format!("cannot chmod {}: {error}", destination.display()))?;
    to.commit(destination).await
}

/// A file being written next to where it goes, under a name of its own: renamed into place by
/// [`Partial::commit`], removed if dropped before (a failed download, a fetch cancelled by a
/// kill), so that a task never finds half a file in its sandbox, nor a cache half an entry.
pub(super) struct Partial {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl Partial {
    /// Creates the file beside `destination`: a new name, never a link a task left there.
    pub(super) async fn create(destination: &Path) -> Result<Self, String> {
        let dir = destination.parent().unwrap_or(Path::new("/"));
        let path = dir.join(format!(".cairn-fetch-{}", uuid::Uuid::new_v4()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .await
            .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
        Ok(Partial {
            path,
            file: Some(file),
        })
    }

    pub(super) fn file(&mut self) -> &mut tokio::fs::File {
        self.file
            .as_mut()
            .expect("a partial file is open until committed")
    }

    /// Moves the finished file to `destination` (replacing a file there, not writing into it).
    pub(super) async fn commit(mut self, destination: &Path) -> Result<(), String> {
        if let Some(mut file) = self.file.take() {
            file.flush()
                .await
                .map_err(|error| format!("cannot write {}: {error}", destination.display()))?;
        }
        tokio::fs::rename(&self.path, destination)
            .await
            .map_err(|error| format!("cannot create {}: {error}", destination.display()))?;
        // Renamed: nothing left to remove.
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Downloads `url` to `destination`, all or nothing.
async fn download(client: &reqwest::Client, url: &str, destination: &Path) -> Result<(), String> {
    let mut partial = Partial::create(destination).await?;
    download_into(client, url, partial.file(), destination).await?;
    partial.commit(destination).await
}

/// Streams the body of `url` into `file` (which ends up at `destination`, named in errors) and
/// returns its length. An error says what went wrong in words a human acts on: the status, an
/// untrusted certificate, a refused connection, a body cut short.
pub(super) async fn download_into(
    client: &reqwest::Client,
    url: &str,
    file: &mut tokio::fs::File,
    destination: &Path,
) -> Result<u64, String> {
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|error| format!("request failed: {}", error_chain(&error)))?;
    if !response.status().is_success() {
        return Err(format!("HTTP status {}", response.status()));
    }
    let mut length = 0;
    // Chunk by chunk: artifacts can be large, and the executor is small.
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| format!("download interrupted: {}", error_chain(&error)))?
    {
        file.write_all(&chunk)
            .await
            .map_err(|error| format!("cannot write {}: {error}", destination.display()))?;
        length += chunk.len() as u64;
    }
    file.flush()
        .await
        .map_err(|error| format!("cannot write {}: {error}", destination.display()))?;
    Ok(length)
}

async fn make_executable(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = tokio::fs::metadata(path)
        .await
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?
        .permissions();
    permissions.set_mode(permissions.mode() | 0o755);
    tokio::fs::set_permissions(path, permissions)
        .await
        .map_err(|error| format!("cannot chmod {}: {error}", path.display()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArchiveKind {
    /// Any tarball; GNU tar detects the compression itself.
    Tar,
    Zip,
    /// A single gzipped file (not a tarball).
    Gzip,
}

impl ArchiveKind {
    fn of(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        const TARBALLS: &[&str] = &[
            ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
        ];
        if TARBALLS.iter().any(|suffix| name.ends_with(suffix)) {
            Some(ArchiveKind::Tar)
        } else if name.ends_with(".zip") {
            Some(ArchiveKind::Zip)
        } else if name.ends_with(".gz") {
            Some(ArchiveKind::Gzip)
        } else {
            None
        }
    }
}

async fn extract(kind: ArchiveKind, archive: &Path, directory: &Path) -> Result<(), String> {
    let mut command = match kind {
        ArchiveKind::Tar => {
            let mut command = Command::new("tar");
            command.arg("-C").arg(directory).arg("-xf").arg(archive);
            command
        }
        ArchiveKind::Zip => {
            let mut command = Command::new("unzip");
            command
                .arg("-o")
                .arg("-q")
                .arg("-d")
                .arg(directory)
                .arg(archive);
            command
        }
        ArchiveKind::Gzip => {
            // `gunzip -c` keeps the archive, as Mesos does, and writes the
            // content next to it without the `.gz`.
            let name = archive
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = &name[..name.len() - ".gz".len()];
            let output = {
                use std::os::unix::fs::OpenOptionsExt;
                let path = join_inside(directory, &[stem]).map_err(|e| e.to_string())?;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(path)
                    .map_err(|error| format!("cannot create {stem}: {error}"))?
            };
            let mut command = Command::new("gunzip");
            command.arg("-c").arg(archive).stdout(output);
            command
        }
    };
    if kind != ArchiveKind::Gzip {
        command.stdout(Stdio::null());
    }
    // If the launch is cancelled while we extract, the extractor goes too.
    command
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let program = format!("{:?}", command.as_std().get_program());
    // Not `output()`: it would force stdout to a pipe, and gunzip writes the
    // unpacked file there.
    let output = command
        .spawn()
        .map_err(|error| format!("cannot run {program}: {error}"))?
        .wait_with_output()
        .await
        .map_err(|error| format!("cannot run {program}: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "extracting {} failed ({}): {}",
            archive.display(),
            output.status,
            stderr.trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(value: &str) -> UriSpec {
        UriSpec {
            value: value.to_owned(),
            executable: false,
            extract: true,
            cache: false,
            output_file: None,
        }
    }

    fn fetcher() -> Fetcher {
        let client = crate::http_client::build(reqwest::Client::builder).unwrap();
        Fetcher::new(client, None)
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cairn-fetch-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn sources_are_recognised_by_scheme() {
        assert_eq!(
            Source::parse("file:///opt/app.tgz"),
            Ok(Source::Local("/opt/app.tgz".into()))
        );
        assert_eq!(
            Source::parse("file://localhost/opt/app.tgz"),
            Ok(Source::Local("/opt/app.tgz".into()))
        );
        assert_eq!(
            Source::parse("/opt/app"),
            Ok(Source::Local("/opt/app".into()))
        );
        assert_eq!(
            Source::parse("http://h:1/a/b.zip?x=1"),
            Ok(Source::Remote("http://h:1/a/b.zip?x=1".into()))
        );
        assert_eq!(
            Source::parse("https://h/a"),
            Ok(Source::Remote("https://h/a".into()))
        );
        assert!(Source::parse("ftp://h/a").unwrap_err().contains("ftp"));
        assert!(Source::parse("relative/path").is_err());
        assert!(Source::parse("file://otherhost/x").is_err());
    }

    #[test]
    fn the_default_file_name_is_the_uri_basename_without_query() {
        let http = Source::parse("http://h:1/dist/app-1.2.tar.gz?sig=abc#frag").unwrap();
        assert_eq!(http.basename().as_deref(), Some("app-1.2.tar.gz"));
        assert_eq!(Source::parse("http://h:1/").unwrap().basename(), None);
        let https = Source::parse("https://h/dist/app.tgz").unwrap();
        assert_eq!(https.basename().as_deref(), Some("app.tgz"));
        let local = Source::parse("/srv/files/config.yml").unwrap();
        assert_eq!(local.basename().as_deref(), Some("config.yml"));
    }

    #[test]
    fn an_output_file_may_not_leave_the_sandbox() {
        let sandbox = Path::new("/sandbox");
        assert_eq!(
            sandbox_path(sandbox, "bin/tool"),
            Ok(PathBuf::from("/sandbox/bin/tool"))
        );
        for outside in [
            "../escape",
            "/etc/passwd",
            "a/../../b",
            ".",
            "./x",
            "",
            "nul\0",
        ] {
            let error = sandbox_path(sandbox, outside).unwrap_err();
            assert!(error.contains("within the sandbox"), "{outside:?}: {error}");
        }
    }

    #[test]
    fn archive_kinds_follow_the_file_extension() {
        assert_eq!(
            ArchiveKind::of(Path::new("a.tar.gz")),
            Some(ArchiveKind::Tar)
        );
        assert_eq!(ArchiveKind::of(Path::new("a.TGZ")), Some(ArchiveKind::Tar));
        assert_eq!(
            ArchiveKind::of(Path::new("a.tar.xz")),
            Some(ArchiveKind::Tar)
        );
        assert_eq!(
            ArchiveKind::of(Path::new("a.tar.bz2")),
            Some(ArchiveKind::Tar)
        );
        assert_eq!(ArchiveKind::of(Path::new("a.zip")), Some(ArchiveKind::Zip));
        assert_eq!(
            ArchiveKind::of(Path::new("a.json.gz")),
            Some(ArchiveKind::Gzip)
        );
        assert_eq!(ArchiveKind::of(Path::new("a.jar")), None);
    }

    #[tokio::test]
    async fn a_local_file_is_copied_and_made_executable_on_request() {
        let source_dir = temp_dir();
        let sandbox = temp_dir();
        let source = source_dir.join("run.sh");
        std::fs::write(&source, "#!/bin/sh\necho hi\n").unwrap();
        let spec = UriSpec {
            executable: true,
            output_file: Some("bin/start.sh".to_owned()),
            ..uri(&format!("file://{}", source.display()))
        };
        let fetched = fetcher().fetch(&spec, &sandbox).await.unwrap();
        assert_eq!(fetched, sandbox.join("bin/start.sh"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&fetched).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111);
        std::fs::remove_dir_all(&source_dir).unwrap();
        std::fs::remove_dir_all(&sandbox).unwrap();
    }

    #[tokio::test]
    async fn a_link_left_in_the_sandbox_is_not_written_through() {
        let source_dir = temp_dir();
        let sandbox = temp_dir();
        let elsewhere = temp_dir();
        std::fs::write(source_dir.join("app.sh"), "new").unwrap();
        std::fs::write(elsewhere.join("target"), "untouched").unwrap();
        // Where the file goes, and a directory on the way to where another goes.
        std::os::unix::fs::symlink(elsewhere.join("target"), sandbox.join("app.sh")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, sandbox.join("bin")).unwrap();
        let source = source_dir.join("app.sh").display().to_string();
        let error = fetcher().fetch(&uri(&source), &sandbox).await.unwrap_err();
        assert!(error.reason.contains("symbolic link"), "{error}");
        let into_link = UriSpec {
            output_file: Some("bin/app.sh".to_owned()),
            ..uri(&source)
        };
        let error = fetcher().fetch(&into_link, &sandbox).await.unwrap_err();
        assert!(error.reason.contains("symbolic link"), "{error}");
        assert_eq!(
            std::fs::read_to_string(elsewhere.join("target")).unwrap(),
            "untouched"
        );
        assert!(!elsewhere.join("app.sh").exists());
        for dir in [source_dir, sandbox, elsewhere] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[tokio::test]
    async fn a_gzipped_file_is_unpacked_next_to_the_archive() {
        let source_dir = temp_dir();
        let sandbox = temp_dir();
        std::fs::write(source_dir.join("data.txt"), "payload\n").unwrap();
        let status = std::process::Command::new("gzip")
            .arg(source_dir.join("data.txt"))
            .status()
            .unwrap();
        assert!(status.success());
        let spec = uri(&source_dir.join("data.txt.gz").display().to_string());
        fetcher().fetch(&spec, &sandbox).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(sandbox.join("data.txt")).unwrap(),
            "payload\n"
        );
        assert!(sandbox.join("data.txt.gz").exists());
        std::fs::remove_dir_all(&source_dir).unwrap();
        std::fs::remove_dir_all(&sandbox).unwrap();
    }

    #[tokio::test]
    async fn an_http_uri_is_downloaded_and_a_missing_one_names_the_status() {
        use axum::{routing::get, Router};
        let app = Router::new().route("/dist/tool.sh", get(|| async { "#!/bin/sh\necho tool\n" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let sandbox = temp_dir();

        let spec = UriSpec {
            executable: true,
            ..uri(&format!("http://{addr}/dist/tool.sh?version=2"))
        };
        let fetched = fetcher().fetch(&spec, &sandbox).await.unwrap();
        assert_eq!(fetched, sandbox.join("tool.sh"));
        assert_eq!(
            std::fs::read_to_string(&fetched).unwrap(),
            "#!/bin/sh\necho tool\n"
        );

        let missing = uri(&format!("http://{addr}/dist/absent.tgz"));
        let error = fetcher().fetch(&missing, &sandbox).await.unwrap_err();
        assert!(error.to_string().contains("404"), "{error}");
        assert!(error.to_string().contains("absent.tgz"), "{error}");
        server.abort();
        std::fs::remove_dir_all(&sandbox).unwrap();
    }

    #[tokio::test]
    async fn a_download_cut_short_fails_and_leaves_nothing_in_the_sandbox() {
        let (url, _) = crate::executor::cache::tests::cut_once_server().await;
        let sandbox = temp_dir();
        let error = fetcher().fetch(&uri(&url), &sandbox).await.unwrap_err();
        assert!(
            error.to_string().contains("download interrupted"),
            "{error}"
        );
        assert!(error.to_string().contains(&url), "{error}");
        let left: Vec<_> = std::fs::read_dir(&sandbox).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&sandbox).unwrap();
    }

    #[tokio::test]
    async fn a_missing_file_fails_with_the_uri_in_the_message() {
        let sandbox = temp_dir();
        let error = fetcher()
            .fetch(&uri("file:///no/such/file.tgz"), &sandbox)
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("file:///no/such/file.tgz"), "{message}");
        std::fs::remove_dir_all(&sandbox).unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_archive_fails_instead_of_starting_the_task() {
        let source_dir = temp_dir();
        let sandbox = temp_dir();
        std::fs::write(source_dir.join("broken.tar.gz"), "not a tarball").unwrap();
        let spec = uri(&source_dir.join("broken.tar.gz").display().to_string());
        let error = fetcher().fetch(&spec, &sandbox).await.unwrap_err();
        assert!(error.reason.contains("extracting"), "{error}");
        std::fs::remove_dir_all(&source_dir).unwrap();
        std::fs::remove_dir_all(&sandbox).unwrap();
    }
}
