//! An agent's `/files/read` and `/files/browse`: the sandboxes' files, served as a Mesos agent
//! serves them, so that `cairn logs` (and any Mesos tool) reads a task's output the same way
//! here as on a real cluster.
//!
//! Only what lies inside the agent's sandboxes (`agents/<i>/slaves/`) is served. A path is
//! judged twice: as written (absolute, below the sandboxes, no `..`: else 404, as Mesos answers
//! for a path it has not attached), and as opened — the file is opened first and the path the
//! kernel gives its descriptor (`/proc/self/fd/N`) must still be inside the sandboxes, else
//! 403. A task can plant a symbolic link in its sandbox, or swap one in while we look; the
//! second check is on what was actually opened, so neither leads out. A directory is listed
//! through its descriptor too, and its entries are described without following their links.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use serde_json::{json, Value};

/// The most `/files/read` returns at once: Mesos' 16 pages.
const MAX_READ: u64 = 16 * 4096;

/// A refusal: the HTTP status and what was wrong.
pub(crate) type Refusal = (u16, String);

/// `GET /files/read?path=&offset=&length=`: `{"data": ..., "offset": ...}`. An offset of -1 (or
/// none) is the file's size with no data, which is how a reader learns where the end is.
pub(crate) fn read(
    sandboxes: &Path,
    path: Option<&str>,
    offset: Option<&str>,
    length: Option<&str>,
) -> Result<Value, Refusal> {
    let number = |what: &str, v: Option<&str>| -> Result<i64, Refusal> {
        match v {
            None => Ok(-1),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map_err(|e| (400, format!("Failed to parse {what}: {e}.\n"))),
        }
    };
    let offset = number("offset", offset)?;
    let length = number("length", length)?;
    if offset < -1 || length < -1 {
        return Err((400, "Negative offset or length.\n".into()));
    }
    let (file, _) = open_inside(sandboxes, path)?;
    let meta = file.metadata().map_err(|e| io_refusal(path, &e))?;
    if meta.is_dir() {
        return Err((400, "Cannot read a directory.\n".into()));
    }
    let size = meta.len();
    let offset = if offset == -1 { size } else { offset as u64 };
    if offset >= size {
        return Ok(json!({"data": "", "offset": size}));
    }
    let want = if length == -1 {
        size - offset
    } else {
        length as u64
    };
    let mut buf = vec![0u8; want.min(MAX_READ).min(size - offset) as usize];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_refusal(path, &e)),
        }
    }
    buf.truncate(got);
    Ok(json!({"data": text_of(&buf), "offset": offset}))
}

/// `GET /files/browse?path=`: the directory's entries, sorted by path, each as Mesos describes
/// a file (`path`, `size`, `mode` as `ls -l` writes it, `mtime` in seconds, `nlink`, `uid`
/// and `gid` as names).
pub(crate) fn browse(sandboxes: &Path, path: Option<&str>) -> Result<Value, Refusal> {
    let (dir, asked) = open_inside(sandboxes, path)?;
    let meta = dir.metadata().map_err(|e| io_refusal(path, &e))?;
    if !meta.is_dir() {
        return Err((400, "Cannot browse a file.\n".into()));
    }
    // Listed through the descriptor: the directory that was checked, whatever its path names now.
    let through = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    let names = Names::read();
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(&through).map_err(|e| io_refusal(path, &e))? {
        let Ok(entry) = entry else { continue };
        let Ok(meta) = std::fs::symlink_metadata(through.join(entry.file_name())) else {
            continue;
        };
        let shown = asked.join(entry.file_name());
        entries.push(json!({
            "path": shown.to_string_lossy(),
            "size": meta.len(),
            "mode": mode_string(meta.mode()),
            "mtime": meta.mtime(),
            "nlink": meta.nlink(),
            "uid": names.user(meta.uid()),
            "gid": names.group(meta.gid()),
        }));
    }
    entries.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Ok(Value::Array(entries))
}

/// Opens `path` if it is inside `sandboxes`, as written and as opened; the file and the path
/// as asked (without a trailing `/`).
fn open_inside(sandboxes: &Path, path: Option<&str>) -> Result<(File, PathBuf), Refusal> {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return Err((400, "Expecting 'path=value' in query.\n".into()));
    };
    let asked = PathBuf::from(path.trim_end_matches('/'));
    let not_found = || {
        (
            404,
            format!("'{path}' is not in a sandbox of this agent.\n"),
        )
    };
    if !asked.is_absolute() || asked.components().any(|c| c == Component::ParentDir) {
        return Err(not_found());
    }
    let real_root = sandboxes.canonicalize().map_err(|_| not_found())?;
    if !asked.starts_with(sandboxes) && !asked.starts_with(&real_root) {
        return Err(not_found());
    }
    let file = File::open(&asked).map_err(|e| io_refusal(Some(path), &e))?;
    let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map_err(|e| io_refusal(Some(path), &e))?;
    if !opened.starts_with(&real_root) {
        return Err((403, format!("'{path}' leads out of the sandboxes.\n")));
    }
    Ok((file, asked))
}

fn io_refusal(path: Option<&str>, e: &io::Error) -> Refusal {
    let path = path.unwrap_or_default();
    match e.kind() {
        io::ErrorKind::NotFound => (404, format!("'{path}' does not exist.\n")),
        io::ErrorKind::PermissionDenied => (403, format!("'{path}': {e}.\n")),
        _ => (500, format!("Failed to read '{path}': {e}.\n")),
    }
}

/// The bytes as JSON text, one character per byte that is not UTF-8 (`?`), so that a reader
/// adding the text's length to the offset lands where the next read starts.
fn text_of(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let skip = e.error_len().unwrap_or(bad.len()).max(1);
                out.extend(std::iter::repeat_n('?', skip));
                rest = &bad[skip..];
            }
        }
    }
}

/// `drwxr-xr-x`, as `ls -l` (and Mesos) write a mode.
fn mode_string(mode: u32) -> String {
    let kind = match mode & libc::S_IFMT {
        libc::S_IFDIR => 'd',
        libc::S_IFLNK => 'l',
        libc::S_IFIFO => 'p',
        libc::S_IFSOCK => 's',
        libc::S_IFCHR => 'c',
        libc::S_IFBLK => 'b',
        _ => '-',
    };
    let mut out = String::with_capacity(10);
    out.push(kind);
    for (shift, special, set_char) in [
        (6, libc::S_ISUID, 's'),
        (3, libc::S_ISGID, 's'),
        (0, libc::S_ISVTX, 't'),
    ] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        let exec = bits & 1 != 0;
        out.push(match (mode & special != 0, exec) {
            (true, true) => set_char,
            (true, false) => set_char.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    out
}

/// User and group names by id, from `/etc/passwd` and `/etc/group` (ids without a name are
/// shown as numbers).
struct Names {
    users: std::collections::HashMap<u32, String>,
    groups: std::collections::HashMap<u32, String>,
}

impl Names {
    fn read() -> Names {
        let table = |file: &str| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split(':');
                    let name = fields.next()?;
                    let id = fields.nth(1)?.parse().ok()?;
                    Some((id, name.to_string()))
                })
                .collect()
        };
        Names {
            users: table("/etc/passwd"),
            groups: table("/etc/group"),
        }
    }

    fn user(&self, id: u32) -> String {
        self.users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    fn group(&self, id: u32) -> String {
        self.groups
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cairn-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("slaves/s/run")).unwrap();
        dir
    }

    #[test]
    fn a_read_returns_the_asked_bytes_and_minus_one_the_size() {
        let dir = root("read");
        let slaves = dir.join("slaves");
        let file = slaves.join("s/run/stdout");
        std::fs::write(&file, "hello\nworld\n").unwrap();
        let p = file.to_str();
        let end = read(&slaves, p, Some("-1"), None).unwrap();
        assert_eq!(end, json!({"data": "", "offset": 12}));
        let part = read(&slaves, p, Some("6"), Some("3")).unwrap();
        assert_eq!(part, json!({"data": "wor", "offset": 6}));
        let past = read(&slaves, p, Some("100"), None).unwrap();
        assert_eq!(past, json!({"data": "", "offset": 12}));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn paths_outside_the_sandboxes_are_refused_however_they_are_written() {
        let dir = root("escape");
        let slaves = dir.join("slaves");
        std::fs::write(dir.join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(dir.join("secret"), slaves.join("s/run/link")).unwrap();
        let dotdot = format!("{}/s/run/../../../secret", slaves.display());
        let link = format!("{}/s/run/link", slaves.display());
        let elsewhere = dir.join("secret").display().to_string();
        assert_eq!(read(&slaves, Some(&dotdot), None, None).unwrap_err().0, 404);
        assert_eq!(
            read(&slaves, Some(&elsewhere), None, None).unwrap_err().0,
            404
        );
        assert_eq!(
            read(&slaves, Some("relative"), None, None).unwrap_err().0,
            404
        );
        assert_eq!(
            read(&slaves, Some(&link), Some("0"), None).unwrap_err().0,
            403
        );
        assert_eq!(read(&slaves, None, None, None).unwrap_err().0, 400);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_listing_describes_each_entry_without_following_links() {
        let dir = root("browse");
        let slaves = dir.join("slaves");
        let run = slaves.join("s/run");
        std::fs::write(run.join("stdout"), "12345").unwrap();
        std::os::unix::fs::symlink("/etc", run.join("out")).unwrap();
        let listing = browse(&slaves, run.to_str()).unwrap();
        let entries = listing.as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["path"], json!(run.join("out").to_str()));
        assert!(entries[0]["mode"].as_str().unwrap().starts_with('l'));
        assert_eq!(entries[1]["size"], json!(5));
        assert!(entries[1]["mode"].as_str().unwrap().starts_with("-rw"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bytes_that_are_not_utf8_keep_their_count() {
        assert_eq!(text_of(b"a\xffb"), "a?b");
        assert_eq!(text_of("é".as_bytes()), "é");
        assert_eq!(text_of(&"é".as_bytes()[..1]), "?");
    }
}
