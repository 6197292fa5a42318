//! Measures what a state store commit costs with 1,000 tasks stored, for the two designs
//! considered for the file store (see `cairn::store::FileStore`'s docs for the outcome):
//!
//! * one JSON document (`key -> base64 value`) rewritten to `state.json.tmp` and renamed on
//!   every commit;
//! * `FileStore`: a file per key and a write-ahead log.
//!
//! `cargo run --release -p cairn --example store_latency [DIR]` (DIR defaults to the system's
//! temporary directory; pick one on the disk the state will live on).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn::store::{FileStore, Store, WriteBatch, WriteOp};

const TASKS: usize = 1000;
const ROUNDS: usize = 50;

fn main() -> anyhow::Result<()> {
    let base = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("cairn-store-latency-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    let result = measure(&base);
    std::fs::remove_dir_all(&base)?;
    result
}

fn measure(base: &Path) -> anyhow::Result<()> {
    let full = full_store();
    let bytes: usize = full.values().map(Vec::len).sum();
    println!(
        "{TASKS} tasks: {} keys, {:.1} MB of values",
        full.len(),
        bytes as f64 / 1e6
    );

    // Design A: the whole state as one document, rewritten per commit.
    let doc = base.join("state.json");
    let mut state = full.clone();
    let a = time(ROUNDS, |i| {
        state.insert(status_key(i % TASKS), status(i));
        write_document(&doc, &state)
    })?;
    println!("one JSON document, a one-status commit: {}", a.summary());

    // Design B: FileStore.
    let mut store = FileStore::open(base.join("filestore"))?;
    let t = Instant::now();
    store.commit(&WriteBatch {
        id: 1,
        ops: full
            .iter()
            .map(|(k, v)| WriteOp::Put {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
    })?;
    println!(
        "FileStore, one batch writing all {} keys: {:.1} ms",
        full.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let b = time(ROUNDS, |i| {
        store.commit(&WriteBatch {
            id: i as u64 + 2,
            ops: vec![WriteOp::Put {
                key: status_key(i % TASKS),
                value: status(i),
            }],
        })?;
        Ok(())
    })?;
    println!("FileStore, a one-status commit:         {}", b.summary());
    let c = time(ROUNDS, |i| {
        let task = (i * 7) % TASKS;
        store.commit(&WriteBatch {
            id: i as u64 + 1000,
            ops: vec![
                WriteOp::Put {
                    key: format!("Tasks/data-{task}-node/TaskInfo"),
                    value: task_info(task),
                },
                WriteOp::Put {
                    key: status_key(task),
                    value: status(i),
                },
            ],
        })?;
        Ok(())
    })?;
    println!("FileStore, a launch (TaskInfo + status): {}", c.summary());
    let t = Instant::now();
    drop(store);
    let reopened = FileStore::open(base.join("filestore"))?;
    let n = reopened.load()?.len();
    println!(
        "FileStore, open and read {n} keys:       {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

struct Timings(Vec<Duration>);

impl Timings {
    fn summary(&self) -> String {
        let mut v = self.0.clone();
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        format!(
            "median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
            ms(v[v.len() / 2]),
            ms(v[v.len() * 9 / 10]),
            ms(v[v.len() - 1])
        )
    }
}

fn time(rounds: usize, mut f: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<Timings> {
    let mut out = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let t = Instant::now();
        f(i)?;
        out.push(t.elapsed());
    }
    Ok(Timings(out))
}

fn write_document(path: &Path, state: &BTreeMap<String, Vec<u8>>) -> anyhow::Result<()> {
    use base64::Engine as _;
    let doc: BTreeMap<&str, String> = state
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                base64::engine::general_purpose::STANDARD.encode(v),
            )
        })
        .collect();
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&serde_json::to_vec(&doc)?)?;
    f.sync_data()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(path.parent().expect("a parent"))?.sync_all()?;
    Ok(())
}

fn full_store() -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    m.insert("FrameworkID".to_string(), b"5f0c-0001".to_vec());
    for i in 0..TASKS {
        m.insert(format!("Tasks/data-{i}-node/TaskInfo"), task_info(i));
        m.insert(status_key(i), status(i));
    }
    m
}

fn status_key(i: usize) -> String {
    format!("Tasks/data-{i}-node/TaskStatus")
}

/// A TaskInfo as the scheduler stores one for my-service's data node: reserved cpus, mem and a
/// persistent volume, each with resource_id labels, plus the scheduler's task labels.
fn task_info(i: usize) -> Vec<u8> {
    let reserved = |name: &str, value: f64, extra: serde_json::Value| {
        let mut r = serde_json::json!({
            "name": name, "type": "SCALAR", "scalar": {"value": value},
            "allocation_info": {"role": "my-service-role"},
            "reservations": [{"type": "DYNAMIC", "role": "my-service-role",
                "principal": "my-service-principal",
                "labels": {"labels": [
                    {"key": "resource_id", "value": format!("6a3c2e54-1f0b-4c7e-9d2a-{i:012}")},
                    {"key": "pod_instance", "value": format!("data-{i}")}]}}]
        });
        if let (Some(o), Some(e)) = (r.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        r
    };
    serde_json::to_vec(&serde_json::json!({
        "name": format!("data-{i}-node"),
        "task_id": {"value": format!("data-{i}-node__0c9f1d1e-8a47-4c4a-a3b5-{i:012}")},
        "agent_id": {"value": "b31e9bc4-0c2f-4f0b-9a57-8e1d0f1c2b3a-S2"},
        "command": {"shell": true, "value": "echo \"$TASK_NAME\" >> my-service-container-path/marker && sleep 100000",
            "environment": {"variables": [
                {"name": "TASK_NAME", "value": format!("data-{i}-node")},
                {"name": "POD_INSTANCE_INDEX", "value": i.to_string()},
                {"name": "FRAMEWORK_NAME", "value": "my-service"}]}},
        "resources": [
            reserved("cpus", 0.1, serde_json::json!({})),
            reserved("mem", 64.0, serde_json::json!({})),
            reserved("disk", 5000.0, serde_json::json!({"disk": {
                "persistence": {"id": format!("data-{i}-node-volume-{i:08}"), "principal": "my-service-principal"},
                "volume": {"container_path": "my-service-container-path", "mode": "RW"}}}))],
        "labels": {"labels": [
            {"key": "target_configuration", "value": "9e1f5d0c-3b7a-4d2e-8f6a-1c0b9a8d7e6f"},
            {"key": "task_type", "value": "data"},
            {"key": "index", "value": i.to_string()},
            {"key": "offer_hostname", "value": "127.0.0.3"}]}
    }))
    .expect("JSON")
}

fn status(i: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "task_id": {"value": format!("data-{}-node__0c9f1d1e-8a47-4c4a-a3b5-{:012}", i % TASKS, i % TASKS)},
        "state": "TASK_RUNNING", "source": "SOURCE_EXECUTOR",
        "agent_id": {"value": "b31e9bc4-0c2f-4f0b-9a57-8e1d0f1c2b3a-S2"},
        "executor_id": {"value": format!("data-{}__exec", i % TASKS)},
        "timestamp": 1_732_400_000.123 + i as f64,
        "uuid": "q83vEjRWeJC6mN7wEjRWeA==",
        "container_status": {"container_id": {"value": "9a7e1c44-1d8e-4b5e-a1f3-2b9c8d7e6f5a"}}
    }))
    .expect("JSON")
}
