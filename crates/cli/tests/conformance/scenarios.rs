//! The scenarios, each a framework (or an operator) doing one thing a real client does, in wire
//! JSON written out here rather than built from cairn's own types: what is compared is what
//! travels, not what cairn's types can say.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_proto::{AgentId, CapabilityType, FrameworkInfo, Offer};
use serde_json::{json, Value};

use super::shape::Record;
use super::support::{eventually, Scheduler, DEADLINE};
use super::Backend;

const ROLE: &str = "conformance";
const LEGACY_ROLE: &str = "conformance-legacy";
const PRINCIPAL: &str = "conformance";
const USER: &str = "nobody";

pub async fn run_all(b: &Backend, r: &mut Record) {
    subscribe(b, r).await;
    reservations_and_volumes(b, r).await;
    legacy_reservations(b, r).await;
    task_group(b, r).await;
    executor_floor(b, r).await;
    failover(b, r).await;
    filters(b, r).await;
    endpoints(b, r).await;
    operator_events(b, r).await;
}

fn info(name: &str, role: &str, caps: &[CapabilityType]) -> FrameworkInfo {
    let mut info = FrameworkInfo::new(USER, name);
    info.roles = vec![role.to_string()];
    info.principal = Some(PRINCIPAL.to_string());
    info.checkpoint = Some(true);
    info.failover_timeout = Some(600.0);
    info.capabilities = caps.iter().copied().map(Into::into).collect();
    info
}

/// What cairn's scheduler subscribes with.
const MODERN: &[CapabilityType] = &[
    CapabilityType::MultiRole,
    CapabilityType::ReservationRefinement,
    CapabilityType::PartitionAware,
    CapabilityType::TaskKillingState,
];

async fn teardown(s: &Scheduler) {
    let (status, body) = s
        .call_json(&json!({"framework_id": {"value": s.framework_id.value}, "type": "TEARDOWN"}))
        .await;
    assert!(status.is_success(), "TEARDOWN: {status} {body}");
}

/// The raw OFFERS event that carried `offer`, reduced to that offer.
async fn raw_offer(s: &Scheduler, offer: &Offer) -> Value {
    let id = offer.id.value.clone();
    let event = s
        .raw_event(&format!("the OFFERS event of {id}"), |e| {
            e["offers"]["offers"]
                .as_array()
                .is_some_and(|os| os.iter().any(|o| o["id"]["value"] == id.as_str()))
        })
        .await;
    event["offers"]["offers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["id"]["value"] == id.as_str())
        .cloned()
        .expect("the offer in its event")
}

/// A raw UPDATE event of `task` in `state`, the first that `extra` also accepts.
async fn raw_update(
    s: &Scheduler,
    task: &str,
    state: &str,
    extra: impl Fn(&Value) -> bool,
) -> Value {
    s.raw_event(&format!("an update of {task} in {state}"), |e| {
        let st = &e["update"]["status"];
        e["type"] == "UPDATE" && st["task_id"]["value"] == task && st["state"] == state && extra(st)
    })
    .await
}

async fn accept(s: &Scheduler, offer: &Offer, operations: Vec<Value>) {
    let (status, body) = s
        .call_json(&json!({
            "framework_id": {"value": s.framework_id.value},
            "type": "ACCEPT",
            "accept": {
                "offer_ids": [{"value": offer.id.value}],
                "operations": operations,
                "filters": {"refuse_seconds": 1.0},
            },
        }))
        .await;
    assert!(status.is_success(), "ACCEPT: {status} {body}");
}

fn labels(resource_id: &str) -> Value {
    json!({"labels": [{"key": "resource_id", "value": resource_id}]})
}

/// A scalar reserved to `ROLE` in the refined format (a stack of reservations).
fn reserved(name: &str, value: f64, resource_id: &str) -> Value {
    json!({
        "name": name, "type": "SCALAR", "scalar": {"value": value},
        "allocation_info": {"role": ROLE},
        "reservations": [{"type": "DYNAMIC", "role": ROLE, "principal": PRINCIPAL,
                          "labels": labels(resource_id)}],
    })
}

/// A persistent volume on reserved disk, in the refined format.
fn volume(size: f64, resource_id: &str, persistence_id: &str) -> Value {
    let mut v = reserved("disk", size, resource_id);
    v["disk"] = json!({
        "persistence": {"id": persistence_id, "principal": PRINCIPAL},
        "volume": {"mode": "RW", "container_path": "data"},
    });
    v
}

/// An offer operation with feedback (`id`): RESERVE and UNRESERVE take `resources`, CREATE
/// and DESTROY take `volumes`.
fn op(type_: &str, id: &str, resources: Vec<Value>) -> Value {
    let field = type_.to_ascii_lowercase();
    let list = if matches!(type_, "CREATE" | "DESTROY") {
        "volumes"
    } else {
        "resources"
    };
    json!({"type": type_, "id": {"value": id}, field: {list: resources}})
}

async fn operation_status(s: &Scheduler, id: &str) -> Value {
    s.raw_event(&format!("the status of operation {id}"), |e| {
        e["type"] == "UPDATE_OPERATION_STATUS"
            && e["update_operation_status"]["status"]["operation_id"]["value"] == id
    })
    .await
}

/// The resources of an offer that carry a reservation or a volume.
fn held(offer: &Value) -> Vec<Value> {
    offer["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r.get("reservations").is_some() || r.get("reservation").is_some())
        .cloned()
        .collect()
}

fn first_agent(offer: &Offer) -> AgentId {
    offer.agent_id.clone()
}

// ---------------------------------------------------------------------------------------------

/// SUBSCRIBE: the first events, and calls made without or with the wrong stream id.
async fn subscribe(b: &Backend, r: &mut Record) {
    let s = Scheduler::subscribe(b.master(), info("conformance-subscribe", ROLE, MODERN)).await;
    let subscribed = s
        .raw_event("SUBSCRIBED", |e| e["type"] == "SUBSCRIBED")
        .await;
    r.json("subscribe.event.SUBSCRIBED", &subscribed);
    let heartbeat = s.raw_event("HEARTBEAT", |e| e["type"] == "HEARTBEAT").await;
    r.json("subscribe.event.HEARTBEAT", &heartbeat);
    let revive = json!({"framework_id": {"value": s.framework_id.value}, "type": "REVIVE"});
    let (status, _) = s.call_json_with_stream_id(&revive, None).await;
    r.fact("subscribe.call_without_stream_id.status", status.as_u16());
    let (status, _) = s
        .call_json_with_stream_id(&revive, Some("not-the-stream-id"))
        .await;
    r.fact(
        "subscribe.call_with_another_stream_id.status",
        status.as_u16(),
    );
    let (status, _) = s.call_json(&revive).await;
    r.fact("subscribe.call.status", status.as_u16());
    teardown(&s).await;
}

/// RESERVE with labels, CREATE, DESTROY and UNRESERVE in the refined format, with operation
/// feedback, and what the offers show after each.
async fn reservations_and_volumes(b: &Backend, r: &mut Record) {
    let mut s = Scheduler::subscribe(b.master(), info("conformance-reserve", ROLE, MODERN)).await;
    let offer = s.any_offer().await;
    r.json("reserve.offer", &raw_offer(&s, &offer).await);
    let agent = first_agent(&offer);
    let cpus = reserved("cpus", 0.1, "r-cpus");
    let disk = reserved("disk", 64.0, "r-disk");
    accept(
        &s,
        &offer,
        vec![op("RESERVE", "reserve-1", vec![cpus.clone(), disk.clone()])],
    )
    .await;
    r.json(
        "reserve.operation_status.RESERVE",
        &operation_status(&s, "reserve-1").await,
    );
    let offer = s
        .offer("with the reservation", |o| {
            o.agent_id == agent && o.resources.iter().any(|x| x.is_reserved_to(ROLE))
        })
        .await;
    for h in held(&raw_offer(&s, &offer).await) {
        r.json("reserve.offer.reserved", &h);
    }
    let vol = volume(64.0, "r-disk", "conformance-volume");
    accept(
        &s,
        &offer,
        vec![op("CREATE", "create-1", vec![vol.clone()])],
    )
    .await;
    r.json(
        "reserve.operation_status.CREATE",
        &operation_status(&s, "create-1").await,
    );
    let offer = s
        .offer("with the volume", |o| {
            o.agent_id == agent && o.resources.iter().any(|x| x.is_persistent_volume())
        })
        .await;
    for h in held(&raw_offer(&s, &offer).await) {
        r.json("reserve.offer.with_volume", &h);
    }
    accept(
        &s,
        &offer,
        vec![
            op("DESTROY", "destroy-1", vec![vol]),
            op("UNRESERVE", "unreserve-1", vec![cpus, disk]),
        ],
    )
    .await;
    r.json(
        "reserve.operation_status.DESTROY",
        &operation_status(&s, "destroy-1").await,
    );
    r.json(
        "reserve.operation_status.UNRESERVE",
        &operation_status(&s, "unreserve-1").await,
    );
    let offer = s.offer_from(&agent).await;
    r.fact(
        "reserve.offer.after_unreserve.held",
        held(&raw_offer(&s, &offer).await).len(),
    );
    teardown(&s).await;
}

/// A framework without RESERVATION_REFINEMENT reserves and sees reservations in the
/// pre-refinement format (`role` and `reservation` on the resource).
async fn legacy_reservations(b: &Backend, r: &mut Record) {
    let caps = [CapabilityType::MultiRole];
    let mut s =
        Scheduler::subscribe(b.master(), info("conformance-legacy", LEGACY_ROLE, &caps)).await;
    let offer = s.any_offer().await;
    r.json("legacy.offer", &raw_offer(&s, &offer).await);
    let agent = first_agent(&offer);
    let cpus = json!({
        "name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1},
        "role": LEGACY_ROLE,
        "allocation_info": {"role": LEGACY_ROLE},
        "reservation": {"principal": PRINCIPAL, "labels": labels("legacy-cpus")},
    });
    accept(
        &s,
        &offer,
        vec![op("RESERVE", "legacy-reserve", vec![cpus.clone()])],
    )
    .await;
    let offer = s
        .offer("with the legacy reservation", |o| {
            o.agent_id == agent && o.resources.iter().any(|x| x.is_reserved_to(LEGACY_ROLE))
        })
        .await;
    for h in held(&raw_offer(&s, &offer).await) {
        r.json("legacy.offer.reserved", &h);
    }
    accept(
        &s,
        &offer,
        vec![op("UNRESERVE", "legacy-unreserve", vec![cpus])],
    )
    .await;
    let offer = s.offer_from(&agent).await;
    r.fact(
        "legacy.offer.after_unreserve.held",
        held(&raw_offer(&s, &offer).await).len(),
    );
    teardown(&s).await;
}

/// The shell command of the conformance task: it writes what it sees into its volume (its
/// environment, its sandbox and what is in it, its user, its volume as it finds it), serves the
/// volume over HTTP for its health check (on every address: Mesos checks 127.0.0.1, cairn the
/// agent's own), and on SIGTERM notes the signal and ends within the grace period.
fn task_command(port: u64) -> String {
    format!(
        "echo conformance-stdout; ls -A | sort > data/ls.txt; \
         env | cut -d= -f1 | sort > data/env.txt; echo \"$PATH\" > data/path.txt; \
         echo \"$MESOS_CONTAINER_IP\" > data/container_ip.txt; \
         echo \"$MESOS_ALLOCATION_ROLE\" > data/role.txt; \
         echo \"$MESOS_SANDBOX\" > data/sandbox.txt; pwd > data/pwd.txt; \
         id -u > data/uid.txt; id -g > data/gid.txt; umask > data/umask.txt; \
         stat -c '%u %g' . > data/sandbox_owner.txt; stat -c '%F' data > data/volume_type.txt; \
         stat -L -c '%u %g' data > data/volume_owner.txt; stat -L -c '%a' data > data/volume_mode.txt; \
         readlink -f data > data/volume.txt; \
         echo \"$(ulimit -Sn) $(ulimit -Hn) $(ulimit -c)\" > data/rlimits.txt; \
         echo ok > data/ok; \
         python3 -m http.server {port} --bind 0.0.0.0 --directory data >/dev/null 2>&1 & \
         trap 'echo term > data/term; kill $!; exit 0' TERM; \
         while true; do sleep 0.2; done"
    )
}

/// A pod under the default executor on a reservation with a volume: its updates, what its task
/// sees, health, the operator's and the endpoints' view of it, reconciliation, and KILL with a
/// grace period.
async fn task_group(b: &Backend, r: &mut Record) {
    let mut s = Scheduler::subscribe(b.master(), info("conformance-pods", ROLE, MODERN)).await;
    let offer = s.any_offer().await;
    let agent = first_agent(&offer);
    let exec = vec![
        reserved("cpus", 0.1, "p-exec-cpus"),
        reserved("mem", 32.0, "p-exec-mem"),
        reserved("disk", 32.0, "p-exec-disk"),
    ];
    let vol = volume(100.0, "p-volume", "conformance-pod-volume");
    let port = offer
        .resources
        .iter()
        .find(|r| r.name == "ports")
        .and_then(|r| r.range_values().first())
        .map(|r| r.begin)
        .expect("an offer with ports");
    let mut ports = reserved("ports", 0.0, "p-task-port");
    ports.as_object_mut().unwrap().remove("scalar");
    ports["type"] = json!("RANGES");
    ports["ranges"] = json!({"range": [{"begin": port, "end": port}]});
    let task_res = vec![
        reserved("cpus", 0.2, "p-task-cpus"),
        reserved("mem", 64.0, "p-task-mem"),
        ports,
        vol.clone(),
    ];
    let mut to_reserve = exec.clone();
    to_reserve.extend(task_res[..3].iter().cloned());
    to_reserve.push(reserved("disk", 100.0, "p-volume"));
    let task_id = "conformance-task";
    let task = json!({
        "name": "conformance-task",
        "task_id": {"value": task_id},
        "agent_id": {"value": agent.value},
        "resources": task_res,
        "command": {"shell": true, "value": task_command(port)},
        // HTTP, not COMMAND: Mesos runs a COMMAND check of a task group's task in a nested
        // container session, which needs an I/O switchboard (`mesos-io-switchboard`) that not
        // every Mesos installation ships.
        "health_check": {
            "type": "HTTP",
            "http": {"port": port, "path": "/ok"},
            "delay_seconds": 0.0, "interval_seconds": 1.0, "timeout_seconds": 5.0,
            "consecutive_failures": 3, "grace_period_seconds": 10.0,
        },
        // A check (what readiness checks are made of) as well, starting well after the health
        // check has passed, so that the order of their updates is the same on both clusters.
        "check": {
            "type": "HTTP",
            "http": {"port": port, "path": "/ok"},
            "delay_seconds": 4.0, "interval_seconds": 1.0, "timeout_seconds": 5.0,
        },
        "labels": {"labels": [{"key": "scenario", "value": "task_group"}]},
        // Limits any agent can grant (below what it has): the task must start with them.
        "container": {"type": "MESOS", "rlimit_info": {"rlimits": [
            {"type": "RLMT_NOFILE", "soft": 1000, "hard": 2000},
            {"type": "RLMT_CORE", "soft": 0, "hard": 0},
        ]}},
    });
    let executor = json!({
        "type": "DEFAULT",
        "executor_id": {"value": "conformance-executor"},
        "framework_id": {"value": s.framework_id.value},
        "resources": exec,
    });
    accept(
        &s,
        &offer,
        vec![
            op("RESERVE", "pod-reserve", to_reserve.clone()),
            op("CREATE", "pod-create", vec![vol.clone()]),
            json!({"type": "LAUNCH_GROUP", "launch_group": {
                "executor": executor, "task_group": {"tasks": [task]}}}),
        ],
    )
    .await;
    r.json(
        "pods.update.TASK_STARTING",
        &raw_update(&s, task_id, "TASK_STARTING", |_| true).await,
    );
    r.json(
        "pods.update.TASK_RUNNING",
        &raw_update(&s, task_id, "TASK_RUNNING", |st| {
            st.get("healthy").is_none()
        })
        .await,
    );
    r.json(
        "pods.update.TASK_RUNNING.healthy",
        &raw_update(&s, task_id, "TASK_RUNNING", |st| st["healthy"] == true).await,
    );
    r.json(
        "pods.update.TASK_RUNNING.checked",
        &raw_update(&s, task_id, "TASK_RUNNING", |st| {
            st["reason"] == "REASON_TASK_CHECK_STATUS_UPDATED"
        })
        .await,
    );

    // What the task saw, from its volume on the agent's disk.
    let dir = b.volume_dir(&agent, ROLE, "conformance-pod-volume").await;
    eventually("the task's notes in its volume", || dir.join("ok").exists()).await;
    let read = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    for name in read("env.txt").lines() {
        r.fact(&format!("pods.task.env.{name}"), "set");
    }
    r.fact("pods.task.env.PATH.value", read("path.txt"));
    r.fact(
        "pods.task.env.MESOS_CONTAINER_IP.is_agent_address",
        read("container_ip.txt") == offer.hostname,
    );
    r.fact(
        "pods.task.env.MESOS_ALLOCATION_ROLE.is_role",
        read("role.txt") == ROLE,
    );
    r.fact(
        "pods.task.rlimits.nofile_soft_hard_core",
        read("rlimits.txt"),
    );
    r.fact("pods.task.uid", read("uid.txt"));
    r.fact("pods.task.gid", read("gid.txt"));
    r.fact("pods.task.umask", read("umask.txt"));
    r.fact(
        "pods.task.pwd_is_sandbox",
        read("pwd.txt") == read("sandbox.txt"),
    );
    let sandbox = PathBuf::from(read("sandbox.txt"));
    r.fact(
        "pods.task.sandbox",
        sandbox_layout(&sandbox.display().to_string(), task_id),
    );
    r.fact("pods.task.sandbox.owner", read("sandbox_owner.txt"));
    r.fact(
        "pods.task.sandbox.entries",
        read("ls.txt").lines().collect::<Vec<_>>().join(" "),
    );
    // The executor's run directory links the task's id to its sandbox.
    let link = sandbox
        .parent()
        .and_then(Path::parent)
        .map(|run| run.join("tasks").join(task_id))
        .unwrap_or_default();
    r.fact(
        "pods.task.sandbox.tasks_link_is_symlink",
        link.symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink()),
    );
    r.fact(
        "pods.task.sandbox.tasks_link_leads_to_sandbox",
        link.canonicalize().ok() == sandbox.canonicalize().ok(),
    );
    r.fact("pods.task.volume.type", read("volume_type.txt"));
    r.fact("pods.task.volume.owner", read("volume_owner.txt"));
    r.fact("pods.task.volume.mode", read("volume_mode.txt"));
    r.fact(
        "pods.task.volume.is_the_persistent_volume",
        PathBuf::from(read("volume.txt")).canonicalize().ok() == dir.canonicalize().ok(),
    );

    files(b, r, &agent, task_id).await;
    operator_views(b, r).await;

    // Reconciliation: of the task, of a task nobody has (on its agent and on none), of all.
    let reconcile = |tasks: Value| {
        json!({"framework_id": {"value": s.framework_id.value}, "type": "RECONCILE",
               "reconcile": {"tasks": tasks}})
    };
    let is_reconciliation = |st: &Value| st["reason"] == "REASON_RECONCILIATION";
    s.call_json(&reconcile(json!([{"task_id": {"value": task_id},
                                    "agent_id": {"value": agent.value}}])))
        .await;
    r.json(
        "reconcile.explicit.known",
        &raw_update(&s, task_id, "TASK_RUNNING", is_reconciliation).await,
    );
    s.call_json(&reconcile(json!([{"task_id": {"value": "nobody-has-it"},
                                    "agent_id": {"value": agent.value}}])))
        .await;
    r.json(
        "reconcile.explicit.unknown_on_agent",
        &s.raw_event("an answer for a task nobody has", |e| {
            e["update"]["status"]["task_id"]["value"] == "nobody-has-it"
        })
        .await,
    );
    s.call_json(&reconcile(
        json!([{"task_id": {"value": "nobody-has-it-anywhere"}}]),
    ))
    .await;
    r.json(
        "reconcile.explicit.unknown",
        &s.raw_event("an answer for a task nobody has anywhere", |e| {
            e["update"]["status"]["task_id"]["value"] == "nobody-has-it-anywhere"
        })
        .await,
    );
    let before = s.raw_len();
    s.call_json(&reconcile(json!([]))).await;
    r.json(
        "reconcile.implicit",
        &s.raw_event_after(before, "the implicit reconciliation answer", |e| {
            e["update"]["status"]["task_id"]["value"] == task_id
                && e["update"]["status"]["reason"] == "REASON_RECONCILIATION"
        })
        .await,
    );

    // KILL with a grace period: SIGTERM first, the task ends on its own.
    s.call_json(&json!({
        "framework_id": {"value": s.framework_id.value}, "type": "KILL",
        "kill": {"task_id": {"value": task_id}, "agent_id": {"value": agent.value},
                 "kill_policy": {"grace_period": {"nanoseconds": 10_000_000_000i64}}},
    }))
    .await;
    r.json(
        "pods.update.TASK_KILLING",
        &raw_update(&s, task_id, "TASK_KILLING", |_| true).await,
    );
    r.json(
        "pods.update.TASK_KILLED",
        &raw_update(&s, task_id, "TASK_KILLED", |_| true).await,
    );
    r.fact("pods.kill.sigterm_first", dir.join("term").exists());

    // Leave the agent as it was. The volume comes back with the task's share; the executor's
    // share comes back when the executor has gone, which can be a later offer: each share is
    // released from the offer that holds it.
    let resource_id = |r: &Value| {
        r["reservations"][0]["labels"]["labels"][0]["value"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let offered_ids = |o: &Offer| -> Vec<String> {
        o.resources
            .iter()
            .filter_map(|x| x.reservations.last()?.labels.as_ref()?.get("resource_id"))
            .map(str::to_string)
            .collect()
    };
    let offer = s
        .offer("with the pod's volume back", |o| {
            o.agent_id == agent && o.resources.iter().any(|x| x.is_persistent_volume())
        })
        .await;
    let here = offered_ids(&offer);
    let (now, later): (Vec<Value>, Vec<Value>) = to_reserve
        .into_iter()
        .partition(|r| here.contains(&resource_id(r)));
    accept(
        &s,
        &offer,
        vec![
            op("DESTROY", "pod-destroy", vec![vol]),
            op("UNRESERVE", "pod-unreserve", now),
        ],
    )
    .await;
    operation_status(&s, "pod-unreserve").await;
    if !later.is_empty() {
        let ids: Vec<String> = later.iter().map(resource_id).collect();
        let offer = s
            .offer("with the executor's reservations back", |o| {
                let offered = offered_ids(o);
                o.agent_id == agent && ids.iter().all(|id| offered.contains(id))
            })
            .await;
        accept(
            &s,
            &offer,
            vec![op("UNRESERVE", "pod-unreserve-executor", later)],
        )
        .await;
        operation_status(&s, "pod-unreserve-executor").await;
    }
    teardown(&s).await;
}

/// A task group whose executor has less than Mesos' floor (0.01 CPUs, 32 MB, some disk) is
/// refused whole, with the master's words.
async fn executor_floor(b: &Backend, r: &mut Record) {
    let mut s = Scheduler::subscribe(b.master(), info("conformance-floor", ROLE, MODERN)).await;
    let unreserved = |name: &str, value: f64| {
        json!({"name": name, "type": "SCALAR", "scalar": {"value": value},
               "allocation_info": {"role": ROLE}})
    };
    for (case, executor_resources) in [
        (
            "few_cpus",
            vec![
                unreserved("cpus", 0.001),
                unreserved("mem", 32.0),
                unreserved("disk", 8.0),
            ],
        ),
        (
            "little_memory",
            vec![
                unreserved("cpus", 0.1),
                unreserved("mem", 16.0),
                unreserved("disk", 8.0),
            ],
        ),
        (
            "no_disk",
            vec![unreserved("cpus", 0.1), unreserved("mem", 32.0)],
        ),
        // How the master writes what it found: no CPUs at all, a fraction of a megabyte.
        (
            "no_cpus",
            vec![unreserved("mem", 32.0), unreserved("disk", 8.0)],
        ),
        (
            "fractional_memory",
            vec![
                unreserved("cpus", 0.1),
                unreserved("mem", 16.5),
                unreserved("disk", 8.0),
            ],
        ),
    ] {
        let offer = s.any_offer().await;
        let task_id = format!("floor-{case}");
        let task = json!({
            "name": task_id, "task_id": {"value": task_id},
            "agent_id": {"value": offer.agent_id.value},
            "resources": [unreserved("cpus", 0.1), unreserved("mem", 32.0)],
            "command": {"shell": true, "value": "sleep 60"},
        });
        let executor = json!({
            "type": "DEFAULT", "executor_id": {"value": format!("floor-{case}-executor")},
            "framework_id": {"value": s.framework_id.value}, "resources": executor_resources,
        });
        accept(
            &s,
            &offer,
            vec![json!({"type": "LAUNCH_GROUP", "launch_group": {
            "executor": executor, "task_group": {"tasks": [task]}}})],
        )
        .await;
        let update = raw_update(&s, &task_id, "TASK_ERROR", |_| true).await;
        r.json(&format!("floor.{case}.update"), &update);
        r.fact(
            &format!("floor.{case}.message"),
            update["update"]["status"]["message"]
                .as_str()
                .unwrap_or_default(),
        );
    }
    teardown(&s).await;
}

/// A task's files as a Mesos tool (and `cairn logs`) reads them: the agent's address from the
/// master's `/state`, the executor's `directory` from the agent's `/state`, the bytes from the
/// agent's `/files/read` and the listing from its `/files/browse`.
async fn files(b: &Backend, r: &mut Record, agent: &AgentId, task_id: &str) {
    let (_, _, state) = b.get("/state").await;
    let address = state["slaves"]
        .as_array()
        .and_then(|s| s.iter().find(|a| a["id"] == agent.value.as_str()))
        .and_then(|a| a["pid"].as_str())
        .and_then(|p| p.split_once('@'))
        .map(|(_, a)| a.to_string())
        .expect("the agent in the master's /state");
    let (_, agent_state) = b.agent_get(&address, "/state", &[]).await;
    let executor = agent_state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["executors"].as_array().into_iter().flatten())
        .find(|e| {
            e["tasks"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["id"] == task_id))
        })
        .cloned()
        .expect("the task's executor in the agent's /state");
    let directory = executor["directory"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    r.fact(
        "files.agent_state.executor.directory_is_absolute",
        directory.starts_with('/'),
    );
    let sandbox = format!("{directory}/tasks/{task_id}");
    let stdout = format!("{sandbox}/stdout");
    let (code, end) = b
        .agent_get(
            &address,
            "/files/read",
            &[("path", &stdout), ("offset", "-1")],
        )
        .await;
    r.fact("files.read.end.status", code);
    r.json("files.read.end", &end);
    r.fact(
        "files.read.end.data_is_empty",
        end["data"].as_str() == Some(""),
    );
    let (code, start) = b
        .agent_get(
            &address,
            "/files/read",
            &[("path", &stdout), ("offset", "0"), ("length", "11")],
        )
        .await;
    r.fact("files.read.start.status", code);
    r.json("files.read.start", &start);
    r.fact(
        "files.read.start.data",
        start["data"].as_str().unwrap_or_default(),
    );
    let (code, listing) = b
        .agent_get(&address, "/files/browse", &[("path", &sandbox)])
        .await;
    r.fact("files.browse.status", code);
    let entry = listing
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|e| e["path"].as_str() == Some(stdout.as_str()))
        })
        .cloned()
        .unwrap_or(Value::Null);
    r.json("files.browse.stdout", &entry);
    let (code, _) = b
        .agent_get(
            &address,
            "/files/read",
            &[("path", "/etc/hostname"), ("offset", "0")],
        )
        .await;
    r.fact("files.read.outside_the_sandboxes.status", code);
}

/// A task's sandbox relative to its executor's run, with ids written as `<id>` and the task
/// id as `<task>`: `<id>/containers/<id>` on Mesos.
fn sandbox_layout(sandbox: &str, task_id: &str) -> String {
    let after_runs = sandbox.rsplit_once("/runs/").map_or(sandbox, |(_, s)| s);
    after_runs
        .split('/')
        .map(|c| {
            if c == task_id {
                "<task>".to_string()
            } else if c.len() >= 32 && c.chars().all(|ch| ch.is_ascii_hexdigit() || ch == '-') {
                "<id>".to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The operator API's reads, while a pod runs.
async fn operator_views(b: &Backend, r: &mut Record) {
    // Once the pod's agent is offered again (after the filter of the ACCEPT that launched it),
    // its offer names the executor running there: wait for that, so both clusters are read in
    // the same state.
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let (_, body) = b.operator(json!({"type": "GET_FRAMEWORKS"})).await;
        let offers_name_executor = body["get_frameworks"]["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|f| f["offers"].as_array().into_iter().flatten())
            .any(|o| o.get("executor_ids").is_some());
        if offers_name_executor {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no offer named the running executor within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for call in [
        "GET_STATE",
        "GET_AGENTS",
        "GET_FRAMEWORKS",
        "GET_TASKS",
        "GET_EXECUTORS",
        "GET_ROLES",
        "GET_HEALTH",
        "GET_VERSION",
        "GET_MASTER",
        "GET_FLAGS",
    ] {
        let (status, body) = b.operator(json!({"type": call})).await;
        r.fact(&format!("operator.{call}.status"), status);
        r.json(&format!("operator.{call}"), &body);
    }
}

/// Failover: a second SUBSCRIBE with the framework id takes over; the first stream hears why.
async fn failover(b: &Backend, r: &mut Record) {
    let first = Scheduler::subscribe(b.master(), info("conformance-failover", ROLE, MODERN)).await;
    let id = first.framework_id.clone();
    let again = Scheduler::resubscribe(b.master(), &first.info, &id).await;
    r.json(
        "failover.event.SUBSCRIBED",
        &again
            .raw_event("SUBSCRIBED", |e| e["type"] == "SUBSCRIBED")
            .await,
    );
    r.json(
        "failover.old_stream.ERROR",
        &first
            .raw_event("an ERROR on the old stream", |e| e["type"] == "ERROR")
            .await,
    );
    teardown(&again).await;
}

/// DECLINE with a filter keeps the agent's resources away for its time; REVIVE clears filters;
/// SUPPRESS stops offers and REVIVE brings them back.
async fn filters(b: &Backend, r: &mut Record) {
    let mut s = Scheduler::subscribe(b.master(), info("conformance-filters", ROLE, MODERN)).await;
    let offer = s.any_offer().await;
    let agent = first_agent(&offer);
    s.decline(&offer.id, 30.0).await;
    s.expect_no_offer("from the declined agent", Duration::from_secs(2), |o| {
        o.agent_id == agent
    })
    .await;
    r.fact("filters.declined_agent_offered_within_the_filter", false);
    let revive = json!({"framework_id": {"value": s.framework_id.value}, "type": "REVIVE"});
    let (status, _) = s.call_json(&revive).await;
    r.fact("filters.revive.status", status.as_u16());
    let offer = s.offer_from(&agent).await;
    r.fact("filters.declined_agent_offered_after_revive", true);
    s.decline(&offer.id, 0.1).await;
    s.decline_all().await;
    let (status, _) = s
        .call_json(&json!({"framework_id": {"value": s.framework_id.value}, "type": "SUPPRESS"}))
        .await;
    r.fact("filters.suppress.status", status.as_u16());
    // Offers the master sent before it took the SUPPRESS may still be on their way; the
    // sync marker travels behind them, so whatever comes after it was sent while suppressed.
    s.sync().await;
    s.decline_all().await;
    s.expect_no_offer("while suppressed", Duration::from_secs(2), |_| true)
        .await;
    r.fact("filters.offered_while_suppressed", false);
    s.call_json(&revive).await;
    s.any_offer().await;
    r.fact("filters.offered_after_revive", true);
    teardown(&s).await;
}

/// The master's v0 endpoints that tools read.
async fn endpoints(b: &Backend, r: &mut Record) {
    // A framework that is subscribed and holds an offer, so the lists are not empty.
    let mut s = Scheduler::subscribe(b.master(), info("conformance-endpoints", ROLE, MODERN)).await;
    s.any_offer().await;
    for path in [
        "/version",
        "/health",
        "/state",
        "/master/state",
        "/master/state-summary",
        "/master/slaves",
        "/master/frameworks",
        "/master/tasks",
        "/master/roles",
        "/flags",
        "/master/flags",
        "/master/redirect",
        "/metrics/snapshot",
    ] {
        let (status, location, body) = b.get(path).await;
        r.fact(&format!("endpoints.{path}.status"), status);
        r.fact(&format!("endpoints.{path}.location"), location.is_some());
        r.json(&format!("endpoints.{path}"), &body);
    }
    teardown(&s).await;
    // Leave nothing held: wait for the framework to be gone from the active list.
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let (_, body) = b.operator(json!({"type": "GET_FRAMEWORKS"})).await;
        let active = body["get_frameworks"]["frameworks"]
            .as_array()
            .map_or(0, |f| f.len());
        if active == 0 || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The operator API's event stream: an operator SUBSCRIBEs (a read, as the other operator
/// reads are), then a framework subscribes, launches a task group, kills its task, fails over
/// and is torn down; what the stream says of it, event by event.
async fn operator_events(b: &Backend, r: &mut Record) {
    use std::sync::{Arc, Mutex};

    /// The first event received that `pred` accepts; waits for it.
    async fn event(events: &Mutex<Vec<Value>>, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let found = events
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|e| pred(e))
                .cloned();
            if let Some(e) = found {
                return e;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out after {DEADLINE:?} waiting for {what} on the operator event stream"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let resp = http
        .post(format!("{}/api/v1", b.master()))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(json!({"type": "SUBSCRIBE"}).to_string())
        .send()
        .await
        .expect("POST an operator SUBSCRIBE");
    r.fact("operator_events.status", resp.status().as_u16());
    r.fact(
        "operator_events.content_type",
        resp.headers()
            .get("Content-Type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none"),
    );
    let events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let reader = {
        let events = events.clone();
        let mut resp = resp;
        tokio::spawn(async move {
            let mut decoder = cairn_proto::recordio::Decoder::new();
            while let Ok(Some(chunk)) = resp.chunk().await {
                let records = decoder
                    .feed_json(&chunk)
                    .unwrap_or_else(|e| panic!("a bad record on the operator event stream: {e}"));
                events
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend(records);
            }
        })
    };
    let of_type = |t: &'static str| move |e: &Value| e["type"] == t;
    r.json(
        "operator_events.event.SUBSCRIBED",
        &event(&events, "SUBSCRIBED", of_type("SUBSCRIBED")).await,
    );
    r.json(
        "operator_events.event.HEARTBEAT",
        &event(&events, "HEARTBEAT", of_type("HEARTBEAT")).await,
    );

    let name = "conformance-operator-events";
    let mut s = Scheduler::subscribe(b.master(), info(name, ROLE, MODERN)).await;
    r.json(
        "operator_events.event.FRAMEWORK_ADDED",
        &event(&events, "FRAMEWORK_ADDED", |e| {
            e["framework_added"]["framework"]["framework_info"]["name"] == name
        })
        .await,
    );
    let offer = s.any_offer().await;
    let unreserved = |name: &str, value: f64| {
        json!({"name": name, "type": "SCALAR", "scalar": {"value": value},
               "allocation_info": {"role": ROLE}})
    };
    let task_id = "conformance-operator-events-task";
    let task = json!({
        "name": task_id, "task_id": {"value": task_id},
        "agent_id": {"value": offer.agent_id.value},
        "resources": [unreserved("cpus", 0.1), unreserved("mem", 32.0)],
        "command": {"shell": true, "value": "sleep 1000"},
    });
    let executor = json!({
        "type": "DEFAULT", "executor_id": {"value": "conformance-operator-events-executor"},
        "framework_id": {"value": s.framework_id.value},
        "resources": [unreserved("cpus", 0.1), unreserved("mem", 32.0), unreserved("disk", 32.0)],
    });
    accept(
        &s,
        &offer,
        vec![json!({"type": "LAUNCH_GROUP", "launch_group": {
            "executor": executor, "task_group": {"tasks": [task]}}})],
    )
    .await;
    let about = |e: &Value| {
        e["task_added"]["task"]["task_id"]["value"] == task_id
            || e["task_updated"]["status"]["task_id"]["value"] == task_id
    };
    r.json(
        "operator_events.event.TASK_ADDED",
        &event(&events, "TASK_ADDED", |e| {
            e["type"] == "TASK_ADDED" && about(e)
        })
        .await,
    );
    event(&events, "TASK_UPDATED to TASK_RUNNING", |e| {
        about(e) && e["task_updated"]["state"] == "TASK_RUNNING"
    })
    .await;
    s.call_json(&json!({
        "framework_id": {"value": s.framework_id.value}, "type": "KILL",
        "kill": {"task_id": {"value": task_id}, "agent_id": {"value": offer.agent_id.value}},
    }))
    .await;
    event(&events, "TASK_UPDATED to TASK_KILLED", |e| {
        about(e) && e["task_updated"]["state"] == "TASK_KILLED"
    })
    .await;
    let updates: Vec<Value> = events
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|e| e["type"] == "TASK_UPDATED" && about(e))
        .cloned()
        .collect();
    for update in &updates {
        r.json("operator_events.event.TASK_UPDATED", update);
    }

    let again = Scheduler::resubscribe(b.master(), &s.info, &s.framework_id).await;
    r.json(
        "operator_events.event.FRAMEWORK_UPDATED",
        &event(&events, "FRAMEWORK_UPDATED", |e| {
            e["framework_updated"]["framework"]["framework_info"]["name"] == name
        })
        .await,
    );
    teardown(&again).await;
    r.json(
        "operator_events.event.FRAMEWORK_REMOVED",
        &event(&events, "FRAMEWORK_REMOVED", |e| {
            e["framework_removed"]["framework_info"]["name"] == name
        })
        .await,
    );
    reader.abort();
}
