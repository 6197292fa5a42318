//! What every [`Store`] must do, as a function a backend's tests call.
//!
//! The scheduler's recovery is only as good as its store, and a service author may bring their
//! own backend (the store is a trait, like every default in cairn). So the contract is public:
//!
//! ```
//! cairn::store::contract::store_contract(|| Box::new(cairn::store::MemStore::default()));
//! ```
//!
//! Durability across a reopen, torn writes and locking depend on what "reopen" means for a
//! backend; [`FileStore`](super::FileStore)'s tests cover those for it.

use std::collections::BTreeMap;

use cairn_core::store::{Store, WriteBatch, WriteOp};

/// Runs every contract check, each on a fresh, empty store from `make`. Panics with the name of
/// the broken rule.
pub fn store_contract(make: impl Fn() -> Box<dyn Store>) {
    an_empty_store_loads_nothing(make());
    committed_values_load_byte_for_byte(make());
    later_batches_overwrite_earlier_ones(make());
    ops_within_a_batch_apply_in_order(make());
    a_delete_removes_its_subtree_and_spares_siblings_with_a_common_prefix(make());
    deleting_a_missing_key_is_not_an_error(make());
    a_deleted_subtree_can_hold_a_value_again(make());
    many_tasks_round_trip(make());
}

fn put(key: &str, value: &[u8]) -> WriteOp {
    WriteOp::Put {
        key: key.to_string(),
        value: value.to_vec(),
    }
}

fn delete(key: &str) -> WriteOp {
    WriteOp::Delete {
        key: key.to_string(),
    }
}

fn commit(store: &mut dyn Store, id: u64, ops: Vec<WriteOp>, rule: &str) {
    if let Err(e) = store.commit(&WriteBatch { id, ops }) {
        panic!("store contract ({rule}): committing batch {id} failed: {e}");
    }
}

fn load(store: &dyn Store, rule: &str) -> BTreeMap<String, Vec<u8>> {
    store
        .load()
        .unwrap_or_else(|e| panic!("store contract ({rule}): load failed: {e}"))
}

fn keys(entries: &BTreeMap<String, Vec<u8>>) -> Vec<&str> {
    entries.keys().map(String::as_str).collect()
}

fn an_empty_store_loads_nothing(store: Box<dyn Store>) {
    let rule = "an empty store loads nothing";
    assert!(load(&*store, rule).is_empty(), "store contract ({rule})");
}

fn committed_values_load_byte_for_byte(mut store: Box<dyn Store>) {
    let rule = "committed values load byte for byte";
    let binary: Vec<u8> = (0..=255).collect();
    commit(
        &mut *store,
        1,
        vec![
            put("FrameworkID", b"fw-1"),
            put("Tasks/data-0-node/TaskInfo", &binary),
            put("Properties/empty", b""),
        ],
        rule,
    );
    let e = load(&*store, rule);
    assert_eq!(e.len(), 3, "store contract ({rule}): {:?}", keys(&e));
    assert_eq!(e["FrameworkID"], b"fw-1", "store contract ({rule})");
    assert_eq!(
        e["Tasks/data-0-node/TaskInfo"], binary,
        "store contract ({rule})"
    );
    assert_eq!(e["Properties/empty"], b"", "store contract ({rule})");
}

fn later_batches_overwrite_earlier_ones(mut store: Box<dyn Store>) {
    let rule = "later batches overwrite earlier ones";
    commit(&mut *store, 1, vec![put("ConfigTarget", b"one")], rule);
    commit(&mut *store, 2, vec![put("ConfigTarget", b"two")], rule);
    assert_eq!(
        load(&*store, rule)["ConfigTarget"],
        b"two",
        "store contract ({rule})"
    );
}

fn ops_within_a_batch_apply_in_order(mut store: Box<dyn Store>) {
    let rule = "ops within a batch apply in order";
    commit(
        &mut *store,
        1,
        vec![
            put("Properties/gone", b"x"),
            delete("Properties/gone"),
            delete("Properties/back"),
            put("Properties/back", b"y"),
            put("Properties/twice", b"first"),
            put("Properties/twice", b"second"),
        ],
        rule,
    );
    let e = load(&*store, rule);
    assert_eq!(
        keys(&e),
        ["Properties/back", "Properties/twice"],
        "store contract ({rule})"
    );
    assert_eq!(e["Properties/twice"], b"second", "store contract ({rule})");
}

fn a_delete_removes_its_subtree_and_spares_siblings_with_a_common_prefix(
    mut store: Box<dyn Store>,
) {
    let rule = "a delete removes its subtree and spares siblings with a common prefix";
    commit(
        &mut *store,
        1,
        vec![
            put("Tasks/a/TaskInfo", b"1"),
            put("Tasks/a/TaskStatus", b"2"),
            put("Tasks/a/Metadata/override", b"3"),
            put("Tasks/ab/TaskInfo", b"4"),
            put("Tasks/a-b/TaskInfo", b"5"),
            put("Tasks/a.b/TaskInfo", b"6"),
        ],
        rule,
    );
    commit(&mut *store, 2, vec![delete("Tasks/a")], rule);
    assert_eq!(
        keys(&load(&*store, rule)),
        [
            "Tasks/a-b/TaskInfo",
            "Tasks/a.b/TaskInfo",
            "Tasks/ab/TaskInfo"
        ],
        "store contract ({rule})"
    );
}

fn deleting_a_missing_key_is_not_an_error(mut store: Box<dyn Store>) {
    let rule = "deleting a missing key is not an error";
    commit(&mut *store, 1, vec![put("FrameworkID", b"fw")], rule);
    commit(
        &mut *store,
        2,
        vec![delete("Tasks/never-was"), delete("Configurations")],
        rule,
    );
    assert_eq!(
        keys(&load(&*store, rule)),
        ["FrameworkID"],
        "store contract ({rule})"
    );
}

fn a_deleted_subtree_can_hold_a_value_again(mut store: Box<dyn Store>) {
    let rule = "a deleted subtree's name can hold a value again";
    commit(&mut *store, 1, vec![put("Properties/x/y", b"deep")], rule);
    commit(
        &mut *store,
        2,
        vec![delete("Properties/x"), put("Properties/x", b"flat")],
        rule,
    );
    let e = load(&*store, rule);
    assert_eq!(keys(&e), ["Properties/x"], "store contract ({rule})");
    assert_eq!(e["Properties/x"], b"flat", "store contract ({rule})");
}

fn many_tasks_round_trip(mut store: Box<dyn Store>) {
    let rule = "many tasks round-trip";
    let value = |i: usize| format!("{{\"task\":{i}}}").into_bytes();
    // Correctness at some scale; what scale costs is measured by examples/store_latency.rs.
    for chunk in 0..4 {
        let ops = (chunk * 50..(chunk + 1) * 50)
            .flat_map(|i| {
                [
                    put(&format!("Tasks/data-{i}-node/TaskInfo"), &value(i)),
                    put(&format!("Tasks/data-{i}-node/TaskStatus"), &value(i)),
                ]
            })
            .collect();
        commit(&mut *store, chunk as u64 + 1, ops, rule);
    }
    let e = load(&*store, rule);
    assert_eq!(e.len(), 400, "store contract ({rule})");
    assert_eq!(
        e["Tasks/data-199-node/TaskStatus"],
        value(199),
        "store contract ({rule})"
    );
}
