//! Credentials: what callers of the embedded cluster (and of a scheduler's API) prove who they
//! are with, and the files that hold them.
//!
//! * **Frameworks** authenticate to the master with HTTP Basic against a credentials file in
//!   Mesos' format, `{"credentials":[{"principal":"...","secret":"..."}]}`, as a Mesos master
//!   started with `--authenticate_frameworks --credentials FILE` does. The cluster generates
//!   `<work-dir>/credentials` unless it is given a file; whoever can write that file (its owner)
//!   may add a credential to it ([`ensure_credential`]), and the master re-reads it when a
//!   caller presents a credential it does not know.
//! * **The operator** (operator calls that change something, fault injection) sends the token
//!   in `<work-dir>/operator-token` as `Authorization: Bearer`.
//! * **Each executor** gets a secret of its own at launch, in
//!   `MESOS_EXECUTOR_AUTHENTICATION_TOKEN` (Mesos' name), sent as `Authorization: Bearer`; the
//!   agent accepts it only for that executor's own calls.
//!
//! Every file that holds a secret is written 0600 through a temporary file and a rename (a
//! reader never sees half of one); a directory made here for one is made as the cluster makes
//! its own (0700, or 0711 when it runs as root: passable by task users, never listable).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use serde::{Deserialize, Serialize};

/// The framework credentials file in a cluster's work directory.
pub const CREDENTIALS_FILE: &str = "credentials";
/// The operator's token in a cluster's work directory.
pub const OPERATOR_TOKEN_FILE: &str = "operator-token";
/// The principal of the credential a cluster generates for frameworks of its own.
pub const DEFAULT_PRINCIPAL: &str = "cairn";
/// Where an executor finds its token (Mesos' variable).
pub const EXECUTOR_TOKEN_ENV: &str = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN";

/// Mesos' authentication realms, named in a 401's `WWW-Authenticate` challenge.
pub mod realm {
    /// The scheduler API (`/api/v1/scheduler`).
    pub const SCHEDULER: &str = "mesos-master-scheduler";
    /// Operator calls that change something, and fault injection.
    pub const READWRITE: &str = "mesos-master-readwrite";
    /// Reads from a caller that is not on loopback.
    pub const READONLY: &str = "mesos-master-readonly";
    /// An agent's executor API.
    pub const EXECUTOR: &str = "mesos-agent-executor";
}

/// A credentials or token file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The file is not JSON of Mesos' credentials format.
    #[error(
        "{path} is not a credentials file ({{\"credentials\":[{{\"principal\":\"...\",\"secret\":\"...\"}}]}}): {source}"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The file parses but holds something no caller could authenticate with.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        message: String,
    },
    /// The file holds no credential for the principal asked for.
    #[error("{path} holds no credential for principal '{principal}'")]
    Missing {
        /// The file.
        path: PathBuf,
        /// The principal.
        principal: String,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> AuthError + '_ {
    move |source| AuthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One principal and its secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// Who the caller is.
    pub principal: String,
    /// What proves it.
    #[serde(default)]
    pub secret: String,
}

impl std::fmt::Debug for Credential {
    // A secret must not end up in a log line or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("principal", &self.principal)
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl Credential {
    /// The value of an `Authorization` header carrying this credential (HTTP Basic).
    pub fn authorization(&self) -> String {
        basic_authorization(&self.principal, &self.secret)
    }
}

/// A credentials file's content, in Mesos' JSON format.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// Every credential, at most one per principal.
    #[serde(default)]
    pub credentials: Vec<Credential>,
}

impl Credentials {
    /// Reads and checks a credentials file.
    pub fn read(path: &Path) -> Result<Credentials, AuthError> {
        let bytes = fs::read(path).map_err(io_error(path))?;
        Self::parse(path, &bytes)
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<Credentials, AuthError> {
        let creds: Credentials =
            serde_json::from_slice(bytes).map_err(|source| AuthError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        let invalid = |message: String| AuthError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        for (i, c) in creds.credentials.iter().enumerate() {
            // HTTP Basic puts `principal:secret` in one string: a colon in the principal (or
            // an empty one) could never be told apart.
            if c.principal.is_empty() || c.principal.contains(':') {
                return Err(invalid(format!(
                    "credentials[{i}].principal '{}' must be non-empty and have no ':'",
                    c.principal
                )));
            }
            if c.secret.is_empty() {
                return Err(invalid(format!(
                    "credentials[{i}] (principal '{}') has an empty secret",
                    c.principal
                )));
            }
            if creds.credentials[..i]
                .iter()
                .any(|o| o.principal == c.principal)
            {
                return Err(invalid(format!(
                    "credentials[{i}]: principal '{}' appears twice",
                    c.principal
                )));
            }
        }
        Ok(creds)
    }

    /// The credential of `principal`, if there is one.
    pub fn get(&self, principal: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.principal == principal)
    }

    /// Whether `secret` is the secret of `principal`.
    pub fn verify(&self, principal: &str, secret: &str) -> bool {
        self.get(principal)
            .is_some_and(|c| secrets_match(&c.secret, secret))
    }
}

/// The credential of `principal` in the credentials file at `path`, added (with a fresh
/// secret) when the file has none for it; the file is created when missing. Whoever can write
/// the file may do this: it is the file's owner, who can read every secret in it anyway. The
/// `bool` says whether the credential was added.
pub fn ensure_credential(path: &Path, principal: &str) -> Result<(Credential, bool), AuthError> {
    if principal.is_empty() || principal.contains(':') {
        return Err(AuthError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "principal '{principal}' must be non-empty and have no ':' (HTTP Basic)"
            ),
        });
    }
    make_private_parent(path)?;
    // Two schedulers starting at once must not each write the file without the other's
    // credential: the read-modify-write holds an exclusive lock.
    let _lock = FileLock::exclusive(&lock_path(path))?;
    let mut creds = match fs::read(path) {
        Ok(bytes) => Credentials::parse(path, &bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Credentials::default(),
        Err(e) => return Err(io_error(path)(e)),
    };
    if let Some(c) = creds.get(principal) {
        return Ok((c.clone(), false));
    }
    let credential = Credential {
        principal: principal.to_string(),
        secret: generate_secret(),
    };
    creds.credentials.push(credential.clone());
    let mut json = serde_json::to_vec_pretty(&creds).map_err(|source| AuthError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    json.push(b'\n');
    write_private(path, &json)?;
    Ok((credential, true))
}

/// The token in the file at `path` (surrounding whitespace dropped).
pub fn read_token(path: &Path) -> Result<String, AuthError> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(AuthError::Invalid {
            path: path.to_path_buf(),
            message: "the token file is empty".into(),
        });
    }
    Ok(token.to_string())
}

/// The token in the file at `path`, generated (and the file written 0600) when missing.
pub fn ensure_token(path: &Path) -> Result<String, AuthError> {
    match read_token(path) {
        Ok(token) => Ok(token),
        Err(AuthError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            make_private_parent(path)?;
            let token = generate_secret();
            write_private(path, format!("{token}\n").as_bytes())?;
            Ok(token)
        }
        Err(e) => Err(e),
    }
}

/// A fresh random secret: 244 bits from the operating system's generator, in hex.
pub fn generate_secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Writes `bytes` to `path` readable and writable by its owner only (0600), atomically.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // The mode of `open` only applies to a file it creates; a leftover keeps its own.
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written.map_err(io_error(path))
}

/// Makes the directory of `path` (with any missing parents) when it does not exist, as the
/// cluster makes its own directories: 0700, or 0711 when the cluster runs as root (task users
/// must pass through a cluster's work dir; they cannot list it, and the file itself is 0600).
/// An existing directory keeps its mode.
fn make_private_parent(path: &Path) -> Result<(), AuthError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            crate::sandbox::create_dirs(dir, crate::sandbox::passage_mode()).map_err(io_error(dir))
        }
        _ => Ok(()),
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// An exclusive `flock(2)` held until dropped (closing the file releases it).
struct FileLock {
    _file: File,
}

impl FileLock {
    #[allow(unsafe_code)]
    fn exclusive(path: &Path) -> Result<FileLock, AuthError> {
        use std::os::unix::io::AsRawFd;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io_error(path))?;
        loop {
            // SAFETY: flock(2) takes a descriptor this function owns and an integer flag.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FileLock { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_error(path)(e));
            }
        }
    }
}

/// `Basic base64(principal:secret)`.
pub fn basic_authorization(principal: &str, secret: &str) -> String {
    let raw = format!("{principal}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `Bearer token`.
pub fn bearer_authorization(token: &str) -> String {
    format!("Bearer {token}")
}

/// The principal and secret of an `Authorization: Basic` value, if it is one.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (principal, secret) = text.split_once(':')?;
    Some((principal.to_string(), secret.to_string()))
}

/// The token of an `Authorization: Bearer` value, if it is one.
pub fn parse_bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares two secrets in time that depends on their lengths only, so that timing the
/// answers does not reveal how much of a guess was right.
pub fn secrets_match(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the cluster checks callers against.
pub(crate) struct ClusterAuth {
    /// The framework credentials; `None` when frameworks need none.
    pub frameworks: Option<FrameworkCredentials>,
    /// The operator's token.
    pub operator_token: String,
}

impl ClusterAuth {
    /// Reads (or generates) the credentials `cfg` names.
    pub(crate) fn open(cfg: &crate::ClusterConfig) -> Result<ClusterAuth, AuthError> {
        let frameworks = match cfg.credentials_path() {
            Some(path) => {
                if cfg.framework_auth == crate::FrameworkAuth::Generated {
                    ensure_credential(&path, DEFAULT_PRINCIPAL)?;
                }
                Some(FrameworkCredentials::open(path)?)
            }
            None => None,
        };
        let operator_token = ensure_token(&cfg.operator_token_path())?;
        Ok(ClusterAuth {
            frameworks,
            operator_token,
        })
    }
}

/// The master's view of the framework credentials file: read at start, and read again when a
/// caller presents a credential it does not know and the file has changed since (a scheduler
/// added its principal's credential to it).
pub(crate) struct FrameworkCredentials {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

struct Loaded {
    credentials: Credentials,
    stamp: Option<Stamp>,
}

/// What tells one version of a file from the next (each write is a rename: a new inode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = fs::metadata(path).ok()?;
    Some(Stamp {
        dev: m.dev(),
        ino: m.ino(),
        len: m.len(),
        mtime: m.mtime(),
        mtime_nsec: m.mtime_nsec(),
    })
}

impl FrameworkCredentials {
    pub(crate) fn open(path: PathBuf) -> Result<FrameworkCredentials, AuthError> {
        let stamp = stamp(&path);
        let credentials = Credentials::read(&path)?;
        Ok(FrameworkCredentials {
            path,
            loaded: Mutex::new(Loaded { credentials, stamp }),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `principal` and `secret` are a credential of the file.
    pub(crate) fn verify(&self, principal: &str, secret: &str) -> bool {
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if loaded.credentials.verify(principal, secret) {
            return true;
        }
        let now = stamp(&self.path);
        if now.is_none() || now == loaded.stamp {
            return false;
        }
        match Credentials::read(&self.path) {
            Ok(credentials) => {
                loaded.credentials = credentials;
                loaded.stamp = now;
            }
            // A broken edit must not lock everyone out: the last good version stays.
            Err(e) => {
                tracing::warn!("keeping the framework credentials read before: {e}");
                loaded.stamp = now;
            }
        }
        loaded.credentials.verify(principal, secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "cairn-auth-{name}-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_basic_header_carries_the_principal_and_secret_and_parses_back() {
        let h = basic_authorization("svc-principal", "s3cr:et");
        assert_eq!(
            parse_basic(&h),
            Some(("svc-principal".to_string(), "s3cr:et".to_string()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!notbase64"), None);
        assert_eq!(parse_bearer("Bearer tok"), Some("tok"));
        assert_eq!(parse_bearer("Bearer "), None);
        assert_eq!(parse_bearer(&h), None);
    }

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match("abc", "abc"));
        assert!(!secrets_match("abc", "abd"));
        assert!(!secrets_match("abc", "ab"));
        assert!(!secrets_match("", "x"));
    }

    #[test]
    fn ensuring_a_credential_creates_a_private_file_once_and_keeps_others() {
        let dir = scratch("ensure");
        let path = dir.join("sub/credentials");
        let (a, added) = ensure_credential(&path, "a").unwrap();
        assert!(added);
        let (again, added) = ensure_credential(&path, "a").unwrap();
        assert!(!added);
        assert_eq!(a, again);
        let (b, _) = ensure_credential(&path, "b").unwrap();
        let creds = Credentials::read(&path).unwrap();
        assert!(creds.verify("a", &a.secret));
        assert!(creds.verify("b", &b.secret));
        assert!(!creds.verify("a", &b.secret));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.join("sub")), crate::sandbox::passage_mode());
        assert_eq!(mode(&lock_path(&path)), 0o600);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_credentials_file_in_another_shape_is_refused_naming_the_file_and_the_entry() {
        let dir = scratch("bad");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("credentials");
        fs::write(&path, "principal secret\n").unwrap();
        let e = Credentials::read(&path).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()), "{e}");
        fs::write(
            &path,
            r#"{"credentials":[{"principal":"a:b","secret":"x"}]}"#,
        )
        .unwrap();
        let e = Credentials::read(&path).unwrap_err().to_string();
        assert!(e.contains("credentials[0].principal"), "{e}");
        let e = ensure_credential(&path, "c").unwrap_err().to_string();
        assert!(e.contains("credentials[0].principal"), "{e}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_master_reads_a_credential_added_after_it_started() {
        let dir = scratch("reload");
        let path = dir.join("credentials");
        let (first, _) = ensure_credential(&path, "first").unwrap();
        let creds = FrameworkCredentials::open(path.clone()).unwrap();
        assert!(creds.verify("first", &first.secret));
        let (late, _) = ensure_credential(&path, "late").unwrap();
        assert!(creds.verify("late", &late.secret));
        assert!(!creds.verify("late", "guess"));
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_token_is_generated_once_and_read_back() {
        let dir = scratch("token");
        let path = dir.join("operator-token");
        let t = ensure_token(&path).unwrap();
        assert_eq!(ensure_token(&path).unwrap(), t);
        assert_eq!(read_token(&path).unwrap(), t);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_credential_never_shows_its_secret_in_debug_output() {
        let c = Credential {
            principal: "p".into(),
            secret: "topsecret".into(),
        };
        assert!(!format!("{c:?}").contains("topsecret"));
    }
}
