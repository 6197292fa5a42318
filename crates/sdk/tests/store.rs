//! The state store contract, run against every backend, and what only the file store promises:
//! durability across a reopen, torn writes, refusals that change nothing, and one writer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use cairn::store::contract::store_contract;
use cairn::store::{FileStore, MemStore, Store, StoreError, WriteBatch, WriteOp};

/// A fresh directory under the target dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cairn-store-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn put(key: &str, value: &str) -> WriteOp {
    WriteOp::Put {
        key: key.into(),
        value: value.as_bytes().to_vec(),
    }
}

fn batch(id: u64, ops: Vec<WriteOp>) -> WriteBatch {
    WriteBatch { id, ops }
}

#[test]
fn the_memory_store_keeps_the_store_contract() {
    store_contract(|| Box::new(MemStore::default()));
}

#[test]
fn the_file_store_keeps_the_store_contract() {
    let root = TempDir::new("contract");
    let n = AtomicU32::new(0);
    store_contract(|| {
        let dir = root
            .path()
            .join(n.fetch_add(1, Ordering::Relaxed).to_string());
        Box::new(FileStore::open(dir).expect("opening a fresh file store"))
    });
}

#[test]
fn a_reopened_file_store_sees_every_committed_batch() {
    let dir = TempDir::new("reopen");
    {
        let mut s = FileStore::open(dir.path()).unwrap();
        s.commit(&batch(
            1,
            vec![put("FrameworkID", "fw-1"), put("Tasks/a/TaskInfo", "a")],
        ))
        .unwrap();
        s.commit(&batch(
            2,
            vec![
                WriteOp::Delete {
                    key: "Tasks/a".into(),
                },
                put("Tasks/b/TaskInfo", "b"),
            ],
        ))
        .unwrap();
    }
    let s = FileStore::open(dir.path()).unwrap();
    let e = s.load().unwrap();
    assert_eq!(
        e.keys().map(String::as_str).collect::<Vec<_>>(),
        ["FrameworkID", "Tasks/b/TaskInfo"]
    );
    assert_eq!(e["FrameworkID"], b"fw-1");
}

#[test]
fn a_file_store_keeps_one_file_per_key_under_the_service_directory() {
    let dir = TempDir::new("layout");
    let mut s = FileStore::open_service(dir.path(), "folder/my-service").unwrap();
    s.commit(&batch(1, vec![put("Tasks/data-0-node/TaskInfo", "{}")]))
        .unwrap();
    let file = dir
        .path()
        .join("folder__my-service/Tasks/data-0-node/TaskInfo");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{}");
    assert_eq!(s.dir(), dir.path().join("folder__my-service"));
}

/// The permission bits of a file or directory, in octal.
fn mode(path: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    format!(
        "{:o}",
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    )
}

#[test]
fn the_store_files_are_0600_and_its_directories_0700() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("modes");
    let state = dir.path().join("state");
    let mut s = FileStore::open_service(&state, "svc").unwrap();
    s.commit(&batch(
        1,
        vec![
            put("FrameworkID", "fw"),
            put("Tasks/a-0-node/TaskInfo", "{}"),
        ],
    ))
    .unwrap();
    let svc = state.join("svc");
    for d in [
        &state,
        &svc,
        &svc.join("Tasks"),
        &svc.join("Tasks/a-0-node"),
    ] {
        assert_eq!(mode(d), "700", "{}", d.display());
    }
    for f in ["FrameworkID", "Tasks/a-0-node/TaskInfo", ".lock"] {
        assert_eq!(mode(&svc.join(f)), "600", "{f}");
    }
    drop(s);
    // A store written before stores were private becomes private when it is opened.
    std::fs::set_permissions(&svc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _s = FileStore::open_service(&state, "svc").unwrap();
    assert_eq!(mode(&svc), "700");
}

#[test]
fn a_torn_write_left_behind_by_a_crash_is_ignored_at_open() {
    let dir = TempDir::new("torn");
    {
        let mut s = FileStore::open(dir.path()).unwrap();
        s.commit(&batch(1, vec![put("FrameworkID", "fw-1")]))
            .unwrap();
    }
    // A crash while writing the next batch's log: half a record, never renamed into place.
    std::fs::write(dir.path().join(".wal.tmp"), b"cairn-wal 1\n\x02\x00").unwrap();
    let s = FileStore::open(dir.path()).unwrap();
    assert_eq!(
        s.load().unwrap().keys().collect::<Vec<_>>(),
        ["FrameworkID"]
    );
    assert!(!dir.path().join(".wal.tmp").exists());
}

#[test]
fn a_batch_with_an_invalid_key_is_refused_and_changes_nothing() {
    let dir = TempDir::new("invalid");
    let mut s = FileStore::open(dir.path()).unwrap();
    s.commit(&batch(1, vec![put("Properties/keep", "1")]))
        .unwrap();
    let err = s
        .commit(&batch(
            2,
            vec![
                put("Properties/keep", "2"),
                WriteOp::Delete {
                    key: "Properties".into(),
                },
                put("Properties/bad key", "3"),
            ],
        ))
        .unwrap_err();
    let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
    assert!(text.contains("`Properties/bad key`"), "{text}");
    assert_eq!(s.load().unwrap()["Properties/keep"], b"1");
    drop(s);
    let reopened = FileStore::open(dir.path()).unwrap();
    assert_eq!(reopened.load().unwrap()["Properties/keep"], b"1");
}

#[test]
fn a_key_cannot_hold_a_value_and_have_keys_under_it() {
    let dir = TempDir::new("nested");
    let mut s = FileStore::open(dir.path()).unwrap();
    s.commit(&batch(1, vec![put("Properties/a", "leaf")]))
        .unwrap();
    assert!(s
        .commit(&batch(2, vec![put("Properties/a/b", "child")]))
        .is_err());
    assert!(s
        .commit(&batch(3, vec![put("Properties", "parent")]))
        .is_err());
    assert_eq!(
        s.load().unwrap().keys().collect::<Vec<_>>(),
        ["Properties/a"]
    );
}

#[test]
fn a_second_open_of_the_same_store_is_refused_while_the_first_is_open() {
    let dir = TempDir::new("lock");
    let first = FileStore::open(dir.path()).unwrap();
    match FileStore::open(dir.path()) {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("another process"), "{msg}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    drop(first);
    FileStore::open(dir.path()).expect("the lock is released when the store is dropped");
}

#[test]
fn an_emptied_store_leaves_no_directory_but_one_in_use_or_holding_keys_stays() {
    let dir = TempDir::new("remove");
    let service_dir = dir.path().join("my-service");
    let mut s = FileStore::open_service(dir.path(), "my-service").unwrap();
    s.commit(&batch(1, vec![put("Properties/a", "1")])).unwrap();
    // Open in a scheduler: kept, whatever it holds.
    assert!(!FileStore::remove_if_empty(dir.path(), "my-service").unwrap());
    drop(s);
    // Closed but holding a key: kept.
    assert!(!FileStore::remove_if_empty(dir.path(), "my-service").unwrap());
    assert!(service_dir.is_dir());
    let mut s = FileStore::open_service(dir.path(), "my-service").unwrap();
    s.commit(&batch(
        2,
        vec![WriteOp::Delete {
            key: "Properties/a".into(),
        }],
    ))
    .unwrap();
    drop(s);
    // Every key deleted, as an uninstall leaves it: gone.
    assert!(FileStore::remove_if_empty(dir.path(), "my-service").unwrap());
    assert!(!service_dir.exists());
}
