//! End-to-end tests of `cairn cluster`: the real binary on loopback, driven the way a framework,
//! an operator and a datacenter would drive it — over the Mesos v1 HTTP APIs, with signals, and
//! by looking at processes and files on disk.
//!
//! Every test has a cluster and a work directory of its own; the cluster's timers are fast
//! (`support::ClusterProcess`) and every wait has a generous deadline instead of a sleep.

mod support;

use std::time::{Duration, Instant};

use cairn_proto::scheduler::{Call, EventType};
use cairn_proto::{
    master, CapabilityType, DurationInfo, KillPolicy, Labels, OfferOperation, Reason, Resource,
    TaskId, TaskState,
};
use reqwest::StatusCode;
use support::*;

const ROLE: &str = "e2e";

#[tokio::test]
async fn a_pod_writes_into_a_persistent_volume_and_a_relaunch_on_the_same_reservation_reads_it_back(
) {
    // Goal: the main path. Method: RESERVE+CREATE+LAUNCH_GROUP, then relaunch on the reserved offer.
    let cluster = ClusterProcess::start("pod-volume").await;
    let info = modern_framework("pods", ROLE);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info).await;
    let offer = sched.any_offer().await;
    let agent = offer.agent_id.clone();
    let labels = Labels::from_pairs([("resource_id", "pod-0-r1"), ("pod", "pod-0")]);
    let res = |r: Resource| reserved(r, ROLE, &principal, &labels);
    let disk = res(Resource::scalar("disk", 64.0));
    let volume = disk
        .clone()
        .with_persistence("pod-0-data", Some(&principal), "data");
    let exec_resources = vec![
        res(Resource::scalar("cpus", 0.1)),
        res(Resource::scalar("mem", 32.0)),
        res(Resource::scalar("disk", 16.0)),
    ];
    let task_resources = |vol: &Resource| {
        vec![
            res(Resource::scalar("cpus", 0.2)),
            res(Resource::scalar("mem", 64.0)),
            vol.clone(),
        ]
    };
    // A task of a group has no MESOS_TASK_ID (as on Mesos): what it needs to know of itself,
    // its scheduler tells it in its command's environment.
    let mut writer = task(
        "pod-0-writer",
        &agent,
        "echo written-by-$TASK_NAME > data/hello.txt",
        task_resources(&volume),
    );
    if let Some(command) = writer.command.as_mut() {
        command.environment = Some(cairn_proto::Environment::from_pairs([(
            "TASK_NAME",
            "pod-0-writer",
        )]));
    }
    sched
        .accept(
            &offer.id,
            vec![
                OfferOperation::reserve(vec![
                    res(Resource::scalar("cpus", 0.3)),
                    res(Resource::scalar("mem", 96.0)),
                    disk.clone(),
                    res(Resource::scalar("disk", 16.0)),
                ])
                .with_id("reserve-1"),
                OfferOperation::create(vec![volume.clone()]).with_id("create-1"),
                launch_group(
                    pod_executor("pod-0-exec-1", &sched.framework_id, exec_resources.clone()),
                    vec![writer],
                ),
            ],
        )
        .await;
    for op in ["reserve-1", "create-1"] {
        let s = sched.operation_status(op).await;
        assert_eq!(
            s.state,
            cairn_proto::OperationState::Finished,
            "{op}: {s:?}"
        );
    }
    let writer_id = TaskId::new("pod-0-writer");
    let running = sched.update(&writer_id, TaskState::Running).await;
    assert_eq!(running.agent_id.as_ref(), Some(&agent));
    sched.update(&writer_id, TaskState::Finished).await;

    // The data is on the agent's disk, in the volume's own directory.
    let index = cluster.agent_index(&agent).await;
    let on_disk = cluster
        .volume_dir(index, ROLE, "pod-0-data")
        .join("hello.txt");
    eventually("the volume file", || on_disk.exists()).await;
    assert_eq!(
        std::fs::read_to_string(&on_disk).unwrap().trim(),
        "written-by-pod-0-writer"
    );

    // The next offer from that agent carries the reservation (labels intact) and the volume.
    // The first executor may still be exiting and holding its share: wait until it is back.
    let reserved_cpus = |o: &cairn_proto::Offer| -> f64 {
        offered(o, "cpus")
            .filter(|r| r.reservation_labels() == Some(&labels))
            .map(|r| r.scalar_value())
            .sum()
    };
    let offer = loop {
        let offer = sched
            .offer("with the volume", |o| {
                o.agent_id == agent
                    && o.resources
                        .iter()
                        .any(|r| r.persistence_id() == Some("pod-0-data"))
            })
            .await;
        if reserved_cpus(&offer) > 0.3 - 1e-6 {
            break offer;
        }
        sched.decline(&offer.id, 0.0).await;
    };
    let offered_volume = offer
        .resources
        .iter()
        .find(|r| r.persistence_id() == Some("pod-0-data"))
        .unwrap();
    assert_eq!(offered_volume.reservation_labels(), Some(&labels));
    assert_eq!(offered_volume.reservation_role(), Some(ROLE));
    assert!(offered_volume.reservation_principal() == Some(principal.as_str()));

    let reader = task(
        "pod-0-reader",
        &agent,
        "cat data/hello.txt && grep -q written-by-pod-0-writer data/hello.txt",
        task_resources(offered_volume),
    );
    sched
        .accept(
            &offer.id,
            vec![launch_group(
                pod_executor("pod-0-exec-2", &sched.framework_id, exec_resources),
                vec![reader],
            )],
        )
        .await;
    let reader_id = TaskId::new("pod-0-reader");
    sched.update(&reader_id, TaskState::Running).await;
    sched.update(&reader_id, TaskState::Finished).await;
    let stdout = find_task_file(&cluster.agent_dir(index), "pod-0-reader", "stdout");
    assert_eq!(
        std::fs::read_to_string(stdout).unwrap().trim(),
        "written-by-pod-0-writer"
    );
}

/// The file `name` in the sandbox of the pod task `task` under an agent's directory: in the
/// directory its executor's `tasks/<task>` links to (its own container's sandbox).
fn find_task_file(agent_dir: &std::path::Path, task: &str, name: &str) -> std::path::PathBuf {
    let mut stack = vec![agent_dir.join("slaves")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.ends_with(format!("tasks/{task}")) {
                let sandbox = std::fs::read_link(&path).expect("tasks/<task> is a link");
                assert!(
                    sandbox.parent().is_some_and(|p| p.ends_with("containers")),
                    "{} leads to {}",
                    path.display(),
                    sandbox.display()
                );
                return sandbox.join(name);
            }
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            }
        }
    }
    panic!("no {name} of task {task} under {}", agent_dir.display());
}

#[tokio::test]
async fn a_command_task_runs_with_launch_and_reservations_come_in_the_format_the_framework_speaks()
{
    // Goal: LAUNCH and both reservation formats. Method: legacy framework reserves, then a modern one.
    let cluster = ClusterProcess::start("formats").await;
    let info = framework("legacy", ROLE, &[]);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info).await;
    let offer = sched.any_offer().await;
    let agent = offer.agent_id.clone();
    for r in &offer.resources {
        assert_eq!(r.role.as_deref(), Some("*"), "unreserved, legacy: {r:?}");
        assert!(
            r.reservations.is_empty() && r.reservation.is_none(),
            "{r:?}"
        );
    }
    let labels = Labels::from_pairs([("resource_id", "legacy-1")]);
    let legacy = |r: Resource| {
        let mut r = r.with_allocation_role(ROLE);
        r.role = Some(ROLE.to_string());
        r.reservation = Some(cairn_proto::ReservationInfo {
            principal: Some(principal.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        });
        r
    };
    let cpus = legacy(Resource::scalar("cpus", 0.5));
    let mem = legacy(Resource::scalar("mem", 64.0));
    let t = task(
        "command-1",
        &agent,
        "echo hello from $MESOS_TASK_ID",
        vec![cpus.clone(), mem.clone()],
    );
    sched
        .accept(
            &offer.id,
            vec![
                OfferOperation::reserve(vec![cpus.clone(), mem.clone()]),
                OfferOperation::launch(vec![t]),
            ],
        )
        .await;
    let id = TaskId::new("command-1");
    sched.update(&id, TaskState::Running).await;
    sched.update(&id, TaskState::Finished).await;

    let offer = sched
        .offer("with the legacy reservation", |o| {
            o.agent_id == agent && o.resources.iter().any(|r| r.role.as_deref() == Some(ROLE))
        })
        .await;
    let res = offer
        .resources
        .iter()
        .find(|r| r.name == "cpus" && r.role.as_deref() == Some(ROLE))
        .unwrap();
    assert!(res.reservations.is_empty(), "legacy format only: {res:?}");
    let legacy_res = res.reservation.as_ref().expect("a legacy reservation");
    assert_eq!(legacy_res.principal.as_deref(), Some(principal.as_str()));
    assert_eq!(legacy_res.labels.as_ref(), Some(&labels));
    assert!(legacy_res.role.is_none() && legacy_res.type_.is_none());
    sched
        .call_ok(&Call::teardown(sched.framework_id.clone()))
        .await;
    sched.wait_for_close().await;

    let mut modern = Scheduler::subscribe(&cluster.master, modern_framework("modern", ROLE)).await;
    let offer = modern
        .offer("with the reservation", |o| {
            o.agent_id == agent && o.resources.iter().any(|r| !r.reservations.is_empty())
        })
        .await;
    let res = offer
        .resources
        .iter()
        .find(|r| r.name == "cpus" && !r.reservations.is_empty())
        .unwrap();
    assert!(res.role.is_none() && res.reservation.is_none(), "{res:?}");
    assert_eq!(res.reservations.len(), 1, "{res:?}");
    let top = &res.reservations[0];
    assert!(top.is_dynamic());
    assert_eq!(top.role.as_deref(), Some(ROLE));
    assert_eq!(top.principal.as_deref(), Some(principal.as_str()));
    assert_eq!(top.labels.as_ref(), Some(&labels));
    assert!((res.scalar_value() - 0.5).abs() < 1e-6);
}

#[tokio::test]
async fn a_scheduler_that_fails_over_within_its_timeout_finds_its_task_still_running() {
    // Goal: failover keeps tasks. Method: drop the stream, 403 meanwhile, re-subscribe, reconcile.
    let cluster = ClusterProcess::start("failover").await;
    let info = modern_framework("failover", ROLE);
    let mut sched = Scheduler::subscribe(&cluster.master, info.clone()).await;
    let offer = sched.any_offer().await;
    let id = launch_sleeper(&mut sched, &offer, "survivor", &cluster.scratch).await;
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&cluster.scratch.join("survivor.pid")).await;
    let fid = sched.framework_id.clone();
    sched.disconnect();
    let fws = cluster
        .wait_for_frameworks("the framework to be disconnected", |f| {
            f.frameworks
                .iter()
                .any(|fw| fw.framework_info.id.as_ref() == Some(&fid) && !fw.connected)
        })
        .await;
    let fw = fws
        .frameworks
        .iter()
        .find(|fw| fw.framework_info.id.as_ref() == Some(&fid))
        .unwrap();
    assert!(
        !fw.active,
        "a disconnected framework is inactive in Mesos: {fw:?}"
    );
    let (status, body) = sched.call(&Call::reconcile(fid.clone(), vec![])).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let mut again = Scheduler::resubscribe(&cluster.master, &info, &fid).await;
    assert_ne!(again.stream_id, sched.stream_id);
    again.reconcile(&[(&id, None)]).await;
    let s = again.reconciled(&id).await;
    assert_eq!(s.state, TaskState::Running);
    assert!(
        s.uuid.is_none(),
        "reconciliation answers are not acknowledged"
    );
    assert!(pid_alive(pid));
    again.kill(&id, None).await;
    again.update(&id, TaskState::Killed).await;
    eventually("the task process to exit", || !pid_alive(pid)).await;
}

#[tokio::test]
async fn a_scheduler_that_stays_away_past_its_failover_timeout_loses_its_tasks_but_not_its_reservations(
) {
    // Goal: an expired failover timeout removes the framework. Method: 1 s timeout, never return.
    let cluster = ClusterProcess::start("failover-expired").await;
    let mut info = modern_framework("short-lived", ROLE);
    info.failover_timeout = Some(1.0);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info.clone()).await;
    let offer = sched.any_offer().await;
    let labels = Labels::from_pairs([("resource_id", "outlives-the-framework")]);
    let cpus = reserved(Resource::scalar("cpus", 0.5), ROLE, &principal, &labels);
    let pid_file = cluster.scratch.join("doomed.pid");
    let t = task(
        "doomed",
        &offer.agent_id,
        &sleeper(&pid_file),
        vec![cpus.clone(), scalar("mem", 32.0, ROLE)],
    );
    sched
        .accept(
            &offer.id,
            vec![
                OfferOperation::reserve(vec![cpus]),
                OfferOperation::launch(vec![t]),
            ],
        )
        .await;
    let id = TaskId::new("doomed");
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&pid_file).await;
    let fid = sched.framework_id.clone();
    sched.disconnect();

    cluster
        .wait_for_frameworks("the framework to be torn down", |f| {
            f.completed_frameworks
                .iter()
                .any(|c| c.framework_info.id.as_ref() == Some(&fid))
                && !f
                    .frameworks
                    .iter()
                    .any(|a| a.framework_info.id.as_ref() == Some(&fid))
        })
        .await;
    eventually("the task process to be killed", || !pid_alive(pid)).await;
    let tasks = cluster.get_tasks().await;
    assert!(tasks.tasks.iter().all(|t| t.task_id != id), "{tasks:#?}");
    let done = tasks
        .completed_tasks
        .iter()
        .find(|t| t.task_id == id)
        .expect("the task among the completed ones");
    assert_eq!(done.state, TaskState::Killed);

    let total = cluster.agent_total(&offer.agent_id).await.unwrap();
    assert!(
        total.iter().any(|r| r.name == "cpus"
            && r.reservation_role() == Some(ROLE)
            && r.reservation_labels() == Some(&labels)),
        "the reservation stays with the role: {total:#?}"
    );
    assert!(cluster.get_roles().await.iter().any(|r| r.name == ROLE));

    let mut back = info.clone();
    back.id = Some(fid);
    let refused = Scheduler::try_subscribe(&cluster.master, back).await;
    assert!(refused.is_err(), "a removed framework may not come back");
}

#[tokio::test]
async fn a_second_subscription_of_a_framework_ends_the_first_stream_with_an_error() {
    // Goal: one stream per framework. Method: subscribe again while the first stream is open.
    let cluster = ClusterProcess::start("resubscribe").await;
    let mut first = Scheduler::subscribe(&cluster.master, modern_framework("twice", ROLE)).await;
    let second =
        Scheduler::resubscribe(&cluster.master, &first.info, &first.framework_id.clone()).await;
    first.wait_for_close().await;
    let error = first
        .history
        .iter()
        .find(|e| e.type_ == EventType::Error)
        .expect("an ERROR before the stream ended");
    assert!(
        error
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("failed over"),
        "{error:?}"
    );
    assert_eq!(first.history.last().unwrap().type_, EventType::Error);
    let reconcile = Call::reconcile(first.framework_id.clone(), vec![]);
    let (status, body) = first.call(&reconcile).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    second.call_ok(&reconcile).await;
}

#[tokio::test]
async fn tasks_of_a_stopped_agent_keep_running_turn_unreachable_and_come_back_when_it_restarts() {
    // Goal: agent stop/restart as Mesos. Method: PA and legacy tasks on one agent; stop, restart.
    let cluster = ClusterProcess::start("agent-stop").await;
    let mut aware = Scheduler::subscribe(&cluster.master, modern_framework("aware", "a")).await;
    let offer = aware.any_offer().await;
    let agent = offer.agent_id.clone();
    let aware_task = launch_sleeper(&mut aware, &offer, "aware-task", &cluster.scratch).await;
    aware.update(&aware_task, TaskState::Running).await;
    aware
        .call_ok(&Call::suppress(aware.framework_id.clone(), vec![]))
        .await;
    aware.sync().await;
    aware.decline_all().await;

    let mut legacy = Scheduler::subscribe(&cluster.master, framework("legacy", "b", &[])).await;
    let offer = legacy.offer_from(&agent).await;
    let legacy_task = launch_sleeper(&mut legacy, &offer, "legacy-task", &cluster.scratch).await;
    legacy.update(&legacy_task, TaskState::Running).await;
    let aware_pid = read_pid(&cluster.scratch.join("aware-task.pid")).await;
    let legacy_pid = read_pid(&cluster.scratch.join("legacy-task.pid")).await;

    let index = cluster.agent_index(&agent).await;
    cluster.agent_action(index, "stop").await;
    assert_eq!(cluster.agent_status(index).await, "stopped");
    let unreachable = aware.update(&aware_task, TaskState::Unreachable).await;
    assert!(unreachable.unreachable_time.is_some(), "{unreachable:?}");
    legacy.update(&legacy_task, TaskState::Lost).await;
    assert_eq!(cluster.agent_status(index).await, "unreachable");
    assert!(pid_alive(aware_pid) && pid_alive(legacy_pid));
    let tasks = cluster.get_tasks().await;
    assert!(
        tasks
            .unreachable_tasks
            .iter()
            .any(|t| t.task_id == aware_task),
        "{tasks:#?}"
    );

    cluster.agent_action(index, "restart").await;
    aware.clear_pending();
    aware.reconcile(&[(&aware_task, Some(&agent))]).await;
    let s = aware.reconciled(&aware_task).await;
    assert_eq!(s.state, TaskState::Running, "{s:?}");
    assert!(pid_alive(aware_pid));
    assert_eq!(
        read_pid(&cluster.scratch.join("aware-task.pid")).await,
        aware_pid
    );

    eventually("the lost task of the legacy framework to be killed", || {
        !pid_alive(legacy_pid)
    })
    .await;
    legacy.clear_pending();
    legacy.reconcile(&[(&legacy_task, Some(&agent))]).await;
    assert_eq!(legacy.reconciled(&legacy_task).await.state, TaskState::Lost);
    assert!(
        !legacy
            .history
            .iter()
            .filter_map(|e| e.update.as_ref())
            .skip_while(|u| u.status.state != TaskState::Lost)
            .any(|u| u.status.task_id == legacy_task && u.status.state == TaskState::Running),
        "a lost task does not come back to life"
    );

    // The agent's executors are reachable again: a kill goes through.
    aware.kill(&aware_task, None).await;
    aware.update(&aware_task, TaskState::Killed).await;
    eventually("the killed task to exit", || !pid_alive(aware_pid)).await;
}

#[tokio::test]
async fn a_lost_agent_takes_its_tasks_reservations_and_volumes_with_it() {
    // Goal: agent lose semantics. Method: PA pod on a volume + legacy task on one agent; lose it.
    let cluster = ClusterProcess::start("agent-lose").await;
    let info = modern_framework("aware", "a");
    let principal = info.principal.clone().unwrap();
    let mut aware = Scheduler::subscribe(&cluster.master, info).await;
    let offer = aware.any_offer().await;
    let agent = offer.agent_id.clone();
    let index = cluster.agent_index(&agent).await;
    let pid_file = cluster.scratch.join("pod-task.pid");
    let pod = VolumePod {
        role: "a",
        principal: &principal,
        resource_id: "lost-1",
        volume: "lost-vol",
        task: "pod-task",
        executor: "lost-exec",
        command: format!("echo x > data/x && {}", sleeper(&pid_file)),
    };
    launch_volume_pod(&mut aware, &offer, pod).await;
    let pod_task = TaskId::new("pod-task");
    aware.update(&pod_task, TaskState::Running).await;
    let pod_pid = read_pid(&pid_file).await;
    let volume_dir = cluster.volume_dir(index, "a", "lost-vol");
    assert!(volume_dir.join("x").exists());
    aware
        .call_ok(&Call::suppress(aware.framework_id.clone(), vec![]))
        .await;
    aware.sync().await;
    aware.decline_all().await;

    let mut legacy = Scheduler::subscribe(&cluster.master, framework("legacy", "b", &[])).await;
    let offer = legacy.offer_from(&agent).await;
    let legacy_task = launch_sleeper(&mut legacy, &offer, "legacy-task", &cluster.scratch).await;
    legacy.update(&legacy_task, TaskState::Running).await;
    let legacy_pid = read_pid(&cluster.scratch.join("legacy-task.pid")).await;

    cluster.agent_action(index, "lose").await;
    let gone = aware.update(&pod_task, TaskState::Gone).await;
    assert_eq!(gone.reason, Some(Reason::AgentRemoved));
    legacy.update(&legacy_task, TaskState::Lost).await;
    eventually("the pod's process to die", || !pid_alive(pod_pid)).await;
    eventually("the legacy task's process to die", || {
        !pid_alive(legacy_pid)
    })
    .await;
    assert_eq!(cluster.agent_status(index).await, "gone");
    assert!(
        cluster.agent_total(&agent).await.is_none(),
        "a gone agent is not listed"
    );
    eventually("the volume directory to be erased", || !volume_dir.exists()).await;
    aware.reconcile(&[(&pod_task, Some(&agent))]).await;
    let s = aware.reconciled(&pod_task).await;
    assert!(
        matches!(
            s.state,
            TaskState::Gone | TaskState::GoneByOperator | TaskState::Unknown
        ),
        "{s:?}"
    );

    // A replacement machine joins with an identity of its own and is offered.
    let resp = cluster
        .as_operator(http_client().post(format!("{}/cluster/agents", cluster.master)))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let added: serde_json::Value = resp.json().await.unwrap();
    let new_id = cairn_proto::AgentId::new(added["id"].as_str().unwrap());
    assert_ne!(new_id, agent);
    let agents = cluster.agents().await;
    let new = agents.iter().find(|a| a["id"] == added["id"]).unwrap();
    assert_eq!(new["status"], "running");
    assert!(agents
        .iter()
        .filter(|a| a["id"] != added["id"])
        .all(|a| a["hostname"] != new["hostname"]));
    legacy.offer_from(&new_id).await;
}

async fn running_tasks_survive_a_cluster_restart(name: &str, crash: bool) {
    let mut cluster = ClusterProcess::start(name).await;
    let info = modern_framework("restart", ROLE);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info.clone()).await;
    let offer = sched.any_offer().await;
    let agent = offer.agent_id.clone();
    let pid_file = cluster.scratch.join("steady.pid");
    let pod = VolumePod {
        role: ROLE,
        principal: &principal,
        resource_id: "restart-1",
        volume: "restart-vol",
        task: "steady",
        executor: "steady-exec",
        command: format!("echo kept > data/kept && {}", sleeper(&pid_file)),
    };
    launch_volume_pod(&mut sched, &offer, pod).await;
    let labels = Labels::from_pairs([("resource_id", "restart-1")]);
    let id = TaskId::new("steady");
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&pid_file).await;
    let fid = sched.framework_id.clone();

    if crash {
        cluster.kill9();
    } else {
        cluster.stop().await;
    }
    sched.wait_for_close().await;
    assert!(pid_alive(pid), "the task outlives the cluster process");
    cluster.start_again().await;
    assert!(pid_alive(pid));

    let mut sched = Scheduler::resubscribe(&cluster.master, &info, &fid).await;
    sched.reconcile(&[(&id, Some(&agent))]).await;
    let s = sched.reconciled(&id).await;
    assert_eq!(s.state, TaskState::Running, "{s:?}");
    let total = cluster
        .agent_total(&agent)
        .await
        .expect("the agent is back");
    assert!(
        total
            .iter()
            .any(|r| r.persistence_id() == Some("restart-vol")
                && r.reservation_labels() == Some(&labels)),
        "the volume survived: {total:#?}"
    );
    assert!(
        total
            .iter()
            .any(|r| r.name == "cpus" && r.reservation_labels() == Some(&labels)),
        "the reservation survived: {total:#?}"
    );
    let index = cluster.agent_index(&agent).await;
    assert!(cluster
        .volume_dir(index, ROLE, "restart-vol")
        .join("kept")
        .exists());
    assert_eq!(read_pid(&pid_file).await, pid);

    // The recovered books know the volume is in use: the operator may not destroy it.
    let mut vol = total
        .iter()
        .find(|r| r.persistence_id() == Some("restart-vol"))
        .unwrap()
        .clone();
    vol.allocation_info = None;
    let destroy = master::Call::destroy_volumes(agent.clone(), vec![vol]);
    let (status, body) = cluster.operator(&destroy).await;
    assert_eq!(status, StatusCode::CONFLICT, "a volume in use: {body}");

    sched.kill(&id, None).await;
    sched.update(&id, TaskState::Killed).await;
    eventually("the task process to exit", || !pid_alive(pid)).await;
    let (status, body) = cluster.operator(&destroy).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "a volume no task uses: {body}"
    );
    let dir = cluster.volume_dir(index, ROLE, "restart-vol");
    eventually("the destroyed volume's data to go", || !dir.exists()).await;
}

#[tokio::test]
async fn running_tasks_survive_a_sigterm_of_the_cluster_and_are_recovered_by_the_next_one() {
    // Goal: a clean restart keeps tasks, reservations, volumes. Method: SIGTERM, start, reconcile.
    running_tasks_survive_a_cluster_restart("restart-term", false).await;
}

#[tokio::test]
async fn running_tasks_survive_a_kill_9_of_the_cluster_and_are_recovered_by_the_next_one() {
    // Goal: a crash keeps tasks, reservations, volumes. Method: SIGKILL, start, reconcile.
    running_tasks_survive_a_cluster_restart("restart-kill", true).await;
}

/// The task `id` of the framework, as the master's GET_TASKS reports it, once it is listed.
async fn listed_task(cluster: &ClusterProcess, id: &TaskId) -> cairn_proto::Task {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = cluster
            .get_tasks()
            .await
            .tasks
            .into_iter()
            .find(|t| &t.task_id == id)
        {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{id} is not listed by the master"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn updates_the_framework_acknowledged_are_not_sent_again_after_the_cluster_crashes() {
    // Goal: an acknowledgement is as durable as the update it settles (Mesos' agent checkpoints
    // it): a restarted cluster has nothing to re-send that the framework acknowledged, so a
    // running pod is never reported STARTING again after a takeover. Method: run a pod,
    // acknowledge its STARTING and RUNNING (each answered before the next step), kill -9 the
    // cluster, start it again and see what it still has to deliver, before and after the
    // framework re-subscribes.
    let mut cluster = ClusterProcess::start("acked-crash").await;
    let info = modern_framework("settled", ROLE);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::connect(&cluster.master, info.clone(), false)
        .await
        .unwrap();
    let offer = sched.any_offer().await;
    let pid_file = cluster.scratch.join("settled.pid");
    let pod = VolumePod {
        role: ROLE,
        principal: &principal,
        resource_id: "settled-1",
        volume: "settled-vol",
        task: "settled",
        executor: "settled-exec",
        command: sleeper(&pid_file),
    };
    launch_volume_pod(&mut sched, &offer, pod).await;
    let id = TaskId::new("settled");
    let starting = sched.update(&id, TaskState::Starting).await;
    sched.acknowledge(&starting).await;
    let running = sched.update(&id, TaskState::Running).await;
    sched.acknowledge(&running).await;
    let pid = read_pid(&pid_file).await;
    let fid = sched.framework_id.clone();

    cluster.kill9();
    sched.wait_for_close().await;
    cluster.start_again().await;
    assert!(pid_alive(pid), "the task outlives the cluster process");
    let t = listed_task(&cluster, &id).await;
    assert_eq!(t.state, TaskState::Running, "{t:?}");
    assert!(
        !matches!(
            t.status_update_state,
            Some(TaskState::Staging | TaskState::Starting)
        ),
        "an acknowledged update older than RUNNING is to be delivered again: {t:?}"
    );

    // Re-subscribed (a framework gets what is pending at once), it hears nothing of the task
    // but the reconciliation answer.
    let mut info = info;
    info.id = Some(fid);
    let mut sched = Scheduler::connect(&cluster.master, info, false)
        .await
        .unwrap();
    sched.reconcile(&[(&id, Some(&offer.agent_id))]).await;
    let heard = sched.any_update(&id).await;
    assert_eq!(heard.reason, Some(Reason::Reconciliation), "{heard:?}");
    assert_eq!(heard.state, TaskState::Running, "{heard:?}");
}

#[tokio::test]
async fn an_unacknowledged_update_is_resent_with_the_same_uuid_and_the_next_waits_behind_it() {
    // Goal: reliable ordered updates. Method: withhold the first ack, then ack one by one.
    let cluster = ClusterProcess::start("reliable").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("acks", ROLE)).await;
    sched.set_auto_ack(false);
    let offer = sched.any_offer().await;
    let role = offer_role(&offer);
    let t = task(
        "brief",
        &offer.agent_id,
        "sleep 0.3",
        vec![
            scalar("cpus", 0.1, &role),
            scalar("mem", 32.0, &role),
            scalar("disk", 16.0, &role),
        ],
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![t])])
        .await;
    let id = TaskId::new("brief");
    let first = sched.any_update(&id).await;
    let uuid = first
        .uuid
        .clone()
        .expect("an update from the agent has a uuid");
    // Nothing overtakes it: the next update of the task is the same one, re-sent.
    let again = sched.any_update(&id).await;
    assert_eq!(
        again.uuid.as_ref(),
        Some(&uuid),
        "the same update again: {again:?}"
    );
    assert_eq!(again.state, first.state);

    let mut states = vec![first.state];
    let mut acked = vec![uuid];
    sched.acknowledge(&first).await;
    loop {
        let next = sched.any_update(&id).await;
        let u = next.uuid.clone().unwrap();
        if acked.contains(&u) {
            continue; // a re-send that crossed our acknowledgement
        }
        states.push(next.state);
        acked.push(u);
        sched.acknowledge(&next).await;
        if next.state.is_terminal() {
            break;
        }
    }
    assert_eq!(
        states,
        vec![TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
    let window = UPDATE_RETRY * 3;
    let deadline = Instant::now() + window;
    while Instant::now() < deadline {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let late = sched
            .try_wait_for(remaining, |e| {
                e.update
                    .as_ref()
                    .filter(|u| u.status.task_id == id)
                    .map(|u| u.status.clone())
            })
            .await;
        if let Some(late) = late {
            assert!(
                !acked.contains(late.uuid.as_ref().unwrap()),
                "an acknowledged update was re-sent: {late:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_declined_agent_is_offered_again_only_after_its_filter_expires() {
    // Goal: DECLINE filters for refuse_seconds. Method: decline one agent for 3 s, watch offers.
    let cluster = ClusterProcess::start("decline").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("picky", ROLE)).await;
    let offer = sched.any_offer().await;
    let agent = offer.agent_id.clone();
    let declined_at = Instant::now();
    sched.decline(&offer.id, 3.0).await;
    sched
        .expect_no_offer("from the declined agent", Duration::from_secs(2), |o| {
            o.agent_id == agent
        })
        .await;
    sched.offer_from(&agent).await;
    assert!(
        declined_at.elapsed() >= Duration::from_secs(3),
        "re-offered {:?} after a 3 s refusal",
        declined_at.elapsed()
    );
}

#[tokio::test]
async fn a_suppressed_framework_gets_no_offers_until_it_revives() {
    // Goal: SUPPRESS stops offers, REVIVE resumes them and clears filters. Method: watch offers.
    let cluster = ClusterProcess::start("suppress").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("quiet", ROLE)).await;
    sched.any_offer().await;
    sched
        .call_ok(&Call::suppress(sched.framework_id.clone(), vec![]))
        .await;
    sched.sync().await;
    sched.decline_all().await;
    sched
        .expect_no_offer("while suppressed", Duration::from_millis(1500), |_| true)
        .await;
    sched
        .call_ok(&Call::revive(sched.framework_id.clone(), vec![]))
        .await;
    let offer = sched.any_offer().await;

    // REVIVE also clears decline filters: an agent refused for an hour comes straight back.
    let agent = offer.agent_id.clone();
    sched.decline(&offer.id, 3600.0).await;
    sched
        .expect_no_offer(
            "from the agent declined for an hour",
            Duration::from_millis(500),
            |o| o.agent_id == agent,
        )
        .await;
    sched
        .call_ok(&Call::revive(sched.framework_id.clone(), vec![]))
        .await;
    sched.offer_from(&agent).await;
}

#[tokio::test]
async fn a_task_that_ignores_sigterm_is_killed_with_sigkill_after_the_grace_period() {
    // Goal: KILL honours the grace period. Method: a task trapping SIGTERM, KILL with 2 s grace.
    let cluster = ClusterProcess::start("kill-policy").await;
    let info = framework(
        "killer",
        ROLE,
        &[
            CapabilityType::PartitionAware,
            CapabilityType::TaskKillingState,
        ],
    );
    let mut sched = Scheduler::subscribe(&cluster.master, info).await;
    let offer = sched.any_offer().await;
    let role = offer_role(&offer);
    let pid_file = cluster.scratch.join("stubborn.pid");
    let t = task(
        "stubborn",
        &offer.agent_id,
        &format!(
            "trap '' TERM; echo $$ > {0}.tmp && mv {0}.tmp {0}; while true; do sleep 0.1; done",
            pid_file.display()
        ),
        vec![
            scalar("cpus", 0.1, &role),
            scalar("mem", 32.0, &role),
            scalar("disk", 16.0, &role),
        ],
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![t])])
        .await;
    let id = TaskId::new("stubborn");
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&pid_file).await;
    let grace = Duration::from_secs(2);
    let killed_at = Instant::now();
    sched
        .kill(
            &id,
            Some(KillPolicy::grace_period(DurationInfo::from(grace))),
        )
        .await;
    sched.update(&id, TaskState::Killing).await;
    assert!(pid_alive(pid), "SIGTERM is ignored");
    sched.update(&id, TaskState::Killed).await;
    assert!(
        killed_at.elapsed() >= grace,
        "killed after {:?}, before the grace period",
        killed_at.elapsed()
    );
    eventually("the process to be SIGKILLed", || !pid_alive(pid)).await;
}

#[tokio::test]
async fn reconciliation_answers_for_known_and_unknown_tasks_and_implicitly_for_every_task() {
    // Goal: reconciliation as Mesos answers it. Method: explicit known/unknown, then implicit.
    let cluster = ClusterProcess::start("reconcile").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("rec", ROLE)).await;
    let first = sched.any_offer().await;
    let agent = first.agent_id.clone();
    let a = launch_sleeper(&mut sched, &first, "rec-a", &cluster.scratch).await;
    let second = sched.any_offer().await;
    let b = launch_sleeper(&mut sched, &second, "rec-b", &cluster.scratch).await;
    sched.update(&a, TaskState::Running).await;
    sched.update(&b, TaskState::Running).await;
    sched.sync().await;
    sched.clear_pending();

    sched.reconcile(&[(&a, None)]).await;
    let s = sched.reconciled(&a).await;
    assert_eq!(s.state, TaskState::Running);
    assert_eq!(s.source, Some(cairn_proto::Source::Master));
    assert_eq!(s.agent_id.as_ref(), Some(&agent));
    assert!(s.uuid.is_none());

    let ghost = TaskId::new("ghost");
    sched.reconcile(&[(&ghost, Some(&agent))]).await;
    assert_eq!(sched.reconciled(&ghost).await.state, TaskState::Gone);
    let stranger = cairn_proto::AgentId::new("no-such-agent");
    sched.reconcile(&[(&ghost, Some(&stranger))]).await;
    assert_eq!(sched.reconciled(&ghost).await.state, TaskState::Unknown);
    sched.reconcile(&[(&ghost, None)]).await;
    assert_eq!(sched.reconciled(&ghost).await.state, TaskState::Unknown);

    sched.reconcile(&[]).await;
    let mut answered = Vec::new();
    for _ in 0..2 {
        let s = sched
            .wait_for("an implicit reconciliation answer", |e| {
                let s = &e.update.as_ref()?.status;
                (s.reason == Some(Reason::Reconciliation)).then(|| s.clone())
            })
            .await;
        assert_eq!(s.state, TaskState::Running, "{s:?}");
        answered.push(s.task_id);
    }
    answered.sort_by(|x, y| x.value.cmp(&y.value));
    assert_eq!(answered, vec![a, b]);

    let mut legacy = Scheduler::subscribe(&cluster.master, framework("old", "other", &[])).await;
    legacy.reconcile(&[(&ghost, Some(&agent))]).await;
    assert_eq!(legacy.reconciled(&ghost).await.state, TaskState::Lost);
}

/// The principal of the framework the status-code test subscribes.
const CODES_PRINCIPAL: &str = "codes-principal";

/// POSTs `body` to the scheduler endpoint with exactly these headers, and the credential of
/// [`CODES_PRINCIPAL`] (the master authenticates before anything else).
async fn raw_scheduler_post(
    master: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, String) {
    let mut req = http_client()
        .post(format!("{master}/api/v1/scheduler"))
        .body(body.to_string());
    if let Some(c) = support::cluster_credential(master, CODES_PRINCIPAL) {
        req = req.header("Authorization", c.authorization());
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("POST /api/v1/scheduler");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn bad_scheduler_requests_get_the_status_codes_mesos_answers_in_its_order() {
    // Goal: Mesos' error codes in Mesos' order (§1, §3.4, §10). Method: raw, multiply-bad requests.
    let cluster = ClusterProcess::start("status-codes").await;
    let m = cluster.master.as_str();
    let json = ("Content-Type", "application/json");
    let info = modern_framework("codes", ROLE);
    assert_eq!(info.principal.as_deref(), Some(CODES_PRINCIPAL));
    let subscribe = serde_json::to_string(&Call::subscribe(info.clone())).unwrap();

    let credential = cluster.credential(CODES_PRINCIPAL).unwrap();
    let resp = http_client()
        .get(format!("{m}/api/v1/scheduler"))
        .header("Content-Type", "text/plain")
        .header("Authorization", credential.authorization())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "GET");
    let (status, _) = raw_scheduler_post(m, &[], &subscribe).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no Content-Type");
    let (status, _) = raw_scheduler_post(m, &[("Content-Type", "text/plain")], "{oops").await;
    assert_eq!(
        status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "wrong Content-Type first"
    );
    let (status, body) = raw_scheduler_post(m, &[json], "{oops").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "malformed JSON");
    assert!(!body.trim().is_empty(), "a 400 says what was wrong");
    let (status, body) = raw_scheduler_post(m, &[json, ("Accept", "text/html")], "{oops").await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the body is parsed before Accept: {body}"
    );
    let (status, body) = raw_scheduler_post(m, &[json, ("Accept", "text/html")], &subscribe).await;
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE, "{body}");
    for (what, body) in [
        (
            "no type",
            r#"{"subscribe":{"framework_info":{"user":"u","name":"n"}}}"#,
        ),
        ("no subscribe", r#"{"type":"SUBSCRIBE"}"#),
        (
            "no user",
            r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"n"}}}"#,
        ),
        ("no framework_id", r#"{"type":"RECONCILE","reconcile":{}}"#),
        (
            "no accept",
            r#"{"type":"ACCEPT","framework_id":{"value":"x"}}"#,
        ),
    ] {
        let (status, text) = raw_scheduler_post(m, &[json], body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {text}");
        assert!(!text.trim().is_empty(), "{what}: a 400 says what was wrong");
    }
    let (status, body) =
        raw_scheduler_post(m, &[json, ("Mesos-Stream-Id", "some-stream")], &subscribe).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a stream id on SUBSCRIBE: {body}"
    );

    // Calls of a framework the master does not know: 400, before the stream id is looked at.
    let stranger = serde_json::to_string(&Call::reconcile(
        cairn_proto::FrameworkId::new("no-such-framework"),
        vec![],
    ))
    .unwrap();
    for headers in [vec![json], vec![json, ("Mesos-Stream-Id", "x")]] {
        let (status, body) = raw_scheduler_post(m, &headers, &stranger).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unknown framework: {body}");
        assert!(body.contains("ramework"), "{body}");
    }

    let mut sched = Scheduler::subscribe(m, info).await;
    sched
        .wait_for("a heartbeat", |e| {
            (e.type_ == EventType::Heartbeat).then_some(())
        })
        .await;
    assert_eq!(sched.history[0].type_, EventType::Subscribed);
    assert_eq!(
        sched.history[1].type_,
        EventType::Heartbeat,
        "a HEARTBEAT follows at once"
    );
    let fid_json = serde_json::to_string(&sched.framework_id).unwrap();
    let stream = ("Mesos-Stream-Id", sched.stream_id.as_str());
    for (what, body, code) in [
        (
            "a type Mesos does not know (its parser drops it: no type)",
            format!(r#"{{"type":"FROBNICATE","framework_id":{fid_json}}}"#),
            StatusCode::BAD_REQUEST,
        ),
        (
            "the UNKNOWN type",
            format!(r#"{{"type":"UNKNOWN","framework_id":{fid_json}}}"#),
            StatusCode::NOT_IMPLEMENTED,
        ),
        (
            "a task without its required agent_id",
            format!(
                r#"{{"type":"ACCEPT","framework_id":{fid_json},"accept":{{"offer_ids":[{{"value":"o"}}],
                "operations":[{{"type":"LAUNCH","launch":{{"task_infos":[{{"name":"t","task_id":{{"value":"t"}}}}]}}}}]}}}}"#
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "a resource without its required type",
            format!(
                r#"{{"type":"ACCEPT","framework_id":{fid_json},"accept":{{"offer_ids":[{{"value":"o"}}],
                "operations":[{{"type":"RESERVE","reserve":{{"resources":[{{"name":"cpus","scalar":{{"value":1}}}}]}}}}]}}}}"#
            ),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, text) = raw_scheduler_post(m, &[json, stream], &body).await;
        assert_eq!(status, code, "{what}: {text}");
    }
    let reconcile = Call::reconcile(sched.framework_id.clone(), vec![]);
    let (status, body) = sched.call_with_stream_id(&reconcile, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no stream id: {body}");
    let (status, body) = sched.call_with_stream_id(&reconcile, Some("wrong")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "wrong stream id: {body}");
    sched.call_ok(&reconcile).await;

    sched.disconnect();
    let fid = sched.framework_id.clone();
    cluster
        .wait_for_frameworks("the framework to be disconnected", |f| {
            f.frameworks
                .iter()
                .any(|fw| fw.framework_info.id.as_ref() == Some(&fid) && !fw.connected)
        })
        .await;
    // Disconnected: 403, and that comes before the stream id checks.
    for stream_id in [Some(sched.stream_id.as_str()), None, Some("wrong")] {
        let (status, body) = sched.call_with_stream_id(&reconcile, stream_id).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{stream_id:?}: {body}");
    }

    // The operator endpoint: only POST, and 409 for a reservation the agent cannot hold.
    let resp = cluster
        .as_operator(http_client().get(format!("{m}/api/v1")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let agent = cluster.agent_id(0).await;
    let too_much = reserved(
        Resource::scalar("cpus", 1000.0),
        "ops",
        "ops-principal",
        &Labels::new(),
    );
    let mut too_much = too_much;
    too_much.allocation_info = None;
    let (status, body) = cluster
        .operator(&master::Call::reserve_resources(
            agent.clone(),
            vec![too_much],
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let total = cluster.agent_total(&agent).await.unwrap();
    assert!(
        total.iter().all(|r| r.reservations.is_empty()),
        "{total:#?}"
    );
}

#[tokio::test]
async fn refused_operations_fail_the_mesos_way_and_leave_everything_else_alone() {
    // Goal: bad ACCEPTs answered asynchronously, nothing changed. Method: each mistake in turn.
    let cluster = ClusterProcess::start("bad-ops").await;
    let mut bystander =
        Scheduler::subscribe(&cluster.master, modern_framework("bystander", "calm")).await;
    let offer = bystander.any_offer().await;
    let calm = launch_sleeper(&mut bystander, &offer, "calm-task", &cluster.scratch).await;
    bystander.update(&calm, TaskState::Running).await;
    let calm_pid = read_pid(&cluster.scratch.join("calm-task.pid")).await;
    bystander
        .call_ok(&Call::suppress(bystander.framework_id.clone(), vec![]))
        .await;
    bystander.sync().await;
    bystander.decline_all().await;

    let info = modern_framework("clumsy", ROLE);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info).await;
    let fid = sched.framework_id.clone();
    let no_filter = Some(cairn_proto::Filters::refuse_seconds(0.0));

    // An offer already declined, and one that never existed: the tasks are dropped.
    let offer = sched.any_offer().await;
    sched.decline(&offer.id, 0.0).await;
    let late = task(
        "late",
        &offer.agent_id,
        "true",
        vec![
            scalar("cpus", 0.1, ROLE),
            scalar("mem", 32.0, ROLE),
            scalar("disk", 16.0, ROLE),
        ],
    );
    let mut bogus = late.clone();
    bogus.task_id = TaskId::new("bogus");
    for (offer_id, t) in [
        (offer.id.clone(), late),
        (cairn_proto::OfferId::new("no-such-offer"), bogus),
    ] {
        let id = t.task_id.clone();
        sched
            .call_ok(&Call::accept(
                fid.clone(),
                vec![offer_id],
                vec![OfferOperation::launch(vec![t])],
                no_filter.clone(),
            ))
            .await;
        let s = sched.any_update(&id).await;
        assert_eq!(s.state, TaskState::Dropped, "{s:?}");
        assert_eq!(s.reason, Some(Reason::InvalidOffers), "{s:?}");
    }

    // RESERVE more than offered, and CREATE on unreserved disk: OPERATION_ERROR, no change.
    let offer = sched.any_offer().await;
    let agent = offer.agent_id.clone();
    let none = Labels::new();
    sched
        .accept(
            &offer.id,
            vec![
                OfferOperation::reserve(vec![reserved(
                    Resource::scalar("cpus", 1000.0),
                    ROLE,
                    &principal,
                    &none,
                )])
                .with_id("too-much"),
                OfferOperation::create(vec![scalar("disk", 10.0, ROLE).with_persistence(
                    "unreserved-vol",
                    Some(&principal),
                    "data",
                )])
                .with_id("unreserved-create"),
            ],
        )
        .await;
    for op in ["too-much", "unreserved-create"] {
        let s = sched.operation_status(op).await;
        assert_eq!(s.state, cairn_proto::OperationState::Error, "{op}: {s:?}");
        assert!(s.message.is_some_and(|m| !m.is_empty()), "{op} says why");
    }
    for a in cluster.get_agents().await.agents {
        assert!(
            a.total_resources
                .iter()
                .all(|r| r.reservations.is_empty() && r.disk.is_none()),
            "nothing reserved or created: {:#?}",
            a.total_resources
        );
    }
    let index = cluster.agent_index(&agent).await;
    assert!(!cluster.volume_dir(index, ROLE, "unreserved-vol").exists());

    // LAUNCH_GROUP with an operation id: its tasks are invalid.
    let offer = sched.any_offer().await;
    let tagged = task(
        "tagged",
        &offer.agent_id,
        "true",
        vec![
            scalar("cpus", 0.1, ROLE),
            scalar("mem", 32.0, ROLE),
            scalar("disk", 16.0, ROLE),
        ],
    );
    sched
        .accept(
            &offer.id,
            vec![launch_group(
                pod_executor(
                    "tagged-exec",
                    &fid,
                    vec![
                        scalar("cpus", 0.1, ROLE),
                        scalar("mem", 32.0, ROLE),
                        scalar("disk", 16.0, ROLE),
                    ],
                ),
                vec![tagged],
            )
            .with_id("launch-with-id")],
        )
        .await;
    let s = sched.any_update(&TaskId::new("tagged")).await;
    assert_eq!(s.state, TaskState::Error, "{s:?}");
    assert_eq!(s.reason, Some(Reason::TaskGroupInvalid), "{s:?}");

    // LAUNCH beyond the offer, and a task id already in use: TASK_ERROR.
    let offer = sched.any_offer().await;
    let greedy = task(
        "greedy",
        &offer.agent_id,
        "true",
        vec![scalar("cpus", 1000.0, ROLE), scalar("mem", 32.0, ROLE)],
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![greedy])])
        .await;
    let s = sched.any_update(&TaskId::new("greedy")).await;
    assert_eq!(s.state, TaskState::Error, "{s:?}");
    assert_eq!(s.reason, Some(Reason::TaskInvalid), "{s:?}");

    let offer = sched.any_offer().await;
    let dup = launch_sleeper(&mut sched, &offer, "dup", &cluster.scratch).await;
    sched.update(&dup, TaskState::Running).await;
    let dup_pid = read_pid(&cluster.scratch.join("dup.pid")).await;
    let offer = sched.any_offer().await;
    let again = task(
        "dup",
        &offer.agent_id,
        "true",
        vec![
            scalar("cpus", 0.1, ROLE),
            scalar("mem", 32.0, ROLE),
            scalar("disk", 16.0, ROLE),
        ],
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![again])])
        .await;
    let s = sched.update(&dup, TaskState::Error).await;
    assert_eq!(s.reason, Some(Reason::TaskInvalid), "{s:?}");
    sched.reconcile(&[(&dup, None)]).await;
    assert_eq!(sched.reconciled(&dup).await.state, TaskState::Running);
    assert!(pid_alive(dup_pid));

    // A framework without PARTITION_AWARE hears TASK_LOST for the same mistake.
    let mut legacy = Scheduler::subscribe(&cluster.master, framework("old", "old", &[])).await;
    let lost = task(
        "lost",
        &agent,
        "true",
        vec![scalar("cpus", 0.1, "old"), scalar("mem", 32.0, "old")],
    );
    legacy
        .call_ok(&Call::accept(
            legacy.framework_id.clone(),
            vec![cairn_proto::OfferId::new("no-such-offer")],
            vec![OfferOperation::launch(vec![lost])],
            no_filter,
        ))
        .await;
    let s = legacy.any_update(&TaskId::new("lost")).await;
    assert_eq!(s.state, TaskState::Lost, "{s:?}");
    assert_eq!(s.reason, Some(Reason::InvalidOffers), "{s:?}");

    // The bystander's task never noticed.
    bystander.reconcile(&[(&calm, None)]).await;
    assert_eq!(bystander.reconciled(&calm).await.state, TaskState::Running);
    assert!(pid_alive(calm_pid));
    assert_eq!(
        read_pid(&cluster.scratch.join("calm-task.pid")).await,
        calm_pid
    );
}

#[tokio::test]
async fn a_corrupt_checkpoint_stops_the_cluster_from_starting_with_the_files_path() {
    // Goal: a damaged checkpoint is a precise error. Method: garble a checkpoint, start again.
    let mut cluster = ClusterProcess::start("corrupt").await;
    cluster.stop().await;
    for file in [
        cluster.agent_dir(1).join("agent.json"),
        cluster.work_dir.join("master.json"),
    ] {
        let good = std::fs::read(&file).unwrap();
        std::fs::write(&file, b"\x00garbage{").unwrap();
        let failure = cluster
            .launch(None)
            .await
            .expect_err("a cluster with a corrupt checkpoint must not start");
        assert!(
            failure.code.is_some_and(|c| c != 0),
            "exit code {:?}",
            failure.code
        );
        assert!(
            failure.stderr.contains(&file.display().to_string()),
            "the error names {}: {}",
            file.display(),
            failure.stderr
        );
        std::fs::write(&file, good).unwrap();
    }
    cluster.start_again().await;
    assert_eq!(cluster.agents().await.len(), 3);
}

#[tokio::test]
async fn the_operator_api_reports_the_cluster_and_manages_reservations_volumes_agents_and_frameworks(
) {
    // Goal: the operator API subset end to end. Method: every call, checked in state and on disk.
    let cluster = ClusterProcess::start("operator").await;
    let health = cluster.operator_get(master::CallType::GetHealth).await;
    assert!(health.get_health.unwrap().healthy);
    let version = cluster.operator_get(master::CallType::GetVersion).await;
    assert_eq!(version.get_version.unwrap().version_info.version, "1.11.0");
    let agents = cluster.get_agents().await.agents;
    assert_eq!(agents.len(), 3);
    assert!(agents.iter().all(|a| a.active));

    // Reserve and create through the operator, as a human fixing placement by hand would.
    let agent = cluster.agent_id(0).await;
    let labels = Labels::from_pairs([("resource_id", "by-hand")]);
    let strip = |mut r: Resource| {
        r.allocation_info = None;
        r
    };
    let by_hand = |r: Resource| strip(reserved(r, "ops", "ops-principal", &labels));
    let disk = by_hand(Resource::scalar("disk", 50.0));
    let volume = disk
        .clone()
        .with_persistence("ops-vol", Some("ops-principal"), "data");
    let cpus = by_hand(Resource::scalar("cpus", 1.0));
    for call in [
        master::Call::reserve_resources(agent.clone(), vec![cpus.clone(), disk.clone()]),
        master::Call::create_volumes(agent.clone(), vec![volume.clone()]),
    ] {
        let (status, body) = cluster.operator(&call).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{:?}: {body}", call.type_);
    }
    let total = cluster.agent_total(&agent).await.unwrap();
    assert!(total.iter().any(|r| r.name == "cpus"
        && r.reservation_role() == Some("ops")
        && r.reservation_labels() == Some(&labels)));
    assert!(total.iter().any(|r| r.persistence_id() == Some("ops-vol")));
    let volume_dir = cluster.volume_dir(0, "ops", "ops-vol");
    assert!(volume_dir.is_dir(), "CREATE_VOLUMES made the directory");
    assert!(cluster.get_roles().await.iter().any(|r| r.name == "ops"));

    // A framework of the role is offered what the operator made, and runs a task there.
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("ops-fw", "ops")).await;
    let offer = sched
        .offer("with the operator's volume", |o| {
            o.agent_id == agent
                && o.resources
                    .iter()
                    .any(|r| r.persistence_id() == Some("ops-vol"))
        })
        .await;
    let id = launch_sleeper(&mut sched, &offer, "ops-task", &cluster.scratch).await;
    sched.update(&id, TaskState::Running).await;
    let fid = sched.framework_id.clone();

    let state = cluster.operator_get(master::CallType::GetState).await;
    let state = state.get_state.unwrap();
    let tasks = state.get_tasks.unwrap();
    let running = tasks
        .tasks
        .iter()
        .find(|t| t.task_id == id)
        .expect("GET_STATE task");
    assert_eq!(running.state, TaskState::Running);
    assert_eq!(running.framework_id, fid);
    assert_eq!(state.get_agents.unwrap().agents.len(), 3);
    assert!(state
        .get_frameworks
        .unwrap()
        .frameworks
        .iter()
        .any(|f| f.framework_info.id.as_ref() == Some(&fid)));
    assert!(cluster
        .get_tasks()
        .await
        .tasks
        .iter()
        .any(|t| t.task_id == id && t.state == TaskState::Running));
    let fws = cluster.get_frameworks().await;
    let fw = fws
        .frameworks
        .iter()
        .find(|f| f.framework_info.id.as_ref() == Some(&fid))
        .unwrap();
    assert!(fw.active && fw.connected);
    let role = cluster
        .get_roles()
        .await
        .into_iter()
        .find(|r| r.name == "ops")
        .unwrap();
    assert!(role.frameworks.contains(&fid));

    // Destroy and unreserve: the volume's data goes, the resources are unreserved again.
    for call in [
        master::Call::destroy_volumes(agent.clone(), vec![volume.clone()]),
        master::Call::unreserve_resources(agent.clone(), vec![cpus.clone(), disk.clone()]),
    ] {
        let (status, body) = cluster.operator(&call).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{:?}: {body}", call.type_);
    }
    let total = cluster.agent_total(&agent).await.unwrap();
    assert!(
        total
            .iter()
            .all(|r| r.reservations.is_empty() && r.disk.is_none()),
        "{total:#?}"
    );
    eventually("the destroyed volume's directory to go", || {
        !volume_dir.exists()
    })
    .await;
    let (status, _) = cluster
        .operator(&master::Call::unreserve_resources(
            agent.clone(),
            vec![cpus],
        ))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to unreserve");

    // Mark the task's agent gone: its task is gone by operator, the agent leaves the list.
    let (status, body) = cluster
        .operator(&master::Call::mark_agent_gone(offer.agent_id.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let gone = sched.update(&id, TaskState::GoneByOperator).await;
    assert_eq!(gone.reason, Some(Reason::AgentRemovedByOperator));
    assert!(cluster.agent_total(&offer.agent_id).await.is_none());
    let index = cluster.agent_index(&offer.agent_id).await;
    assert_eq!(cluster.agent_status(index).await, "gone");

    // Tear the framework down: it is completed and its stream ends.
    let second = sched.any_offer().await;
    let other = launch_sleeper(&mut sched, &second, "ops-task-2", &cluster.scratch).await;
    sched.update(&other, TaskState::Running).await;
    let pid = read_pid(&cluster.scratch.join("ops-task-2.pid")).await;
    let (status, body) = cluster.operator(&master::Call::teardown(fid.clone())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    sched.wait_for_close().await;
    let fws = cluster.get_frameworks().await;
    assert!(fws
        .completed_frameworks
        .iter()
        .any(|f| f.framework_info.id.as_ref() == Some(&fid)));
    assert!(!fws
        .frameworks
        .iter()
        .any(|f| f.framework_info.id.as_ref() == Some(&fid)));
    eventually("the torn-down framework's task to die", || !pid_alive(pid)).await;
}

#[tokio::test]
async fn a_task_that_ends_while_its_agent_is_stopped_is_reported_when_the_agent_is_back() {
    // Goal: updates made while the agent is down are kept. Method: task ends while it is stopped.
    let cluster = ClusterProcess::start("finish-while-stopped").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("patient", ROLE)).await;
    let offer = sched.any_offer().await;
    let role = offer_role(&offer);
    let release = cluster.scratch.join("release");
    let pid_file = cluster.scratch.join("waiter.pid");
    let t = task(
        "waiter",
        &offer.agent_id,
        &format!(
            "echo $$ > {0}.tmp && mv {0}.tmp {0}; while [ ! -e {1} ]; do sleep 0.05; done",
            pid_file.display(),
            release.display()
        ),
        vec![
            scalar("cpus", 0.1, &role),
            scalar("mem", 32.0, &role),
            scalar("disk", 16.0, &role),
        ],
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![t])])
        .await;
    let id = TaskId::new("waiter");
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&pid_file).await;
    let index = cluster.agent_index(&offer.agent_id).await;
    cluster.agent_action(index, "stop").await;
    std::fs::write(&release, b"go").unwrap();
    eventually("the task to end", || !pid_alive(pid)).await;
    cluster.agent_action(index, "restart").await;
    let finished = sched.update(&id, TaskState::Finished).await;
    assert!(
        finished.uuid.is_some(),
        "an agent's update, to be acknowledged"
    );
    let tasks = cluster.get_tasks().await;
    assert!(tasks.tasks.iter().all(|t| t.task_id != id), "{tasks:#?}");
}

#[tokio::test]
async fn a_stopped_agent_that_is_then_lost_has_its_processes_killed() {
    // Goal: lose kills processes of a stopped agent too. Method: stop, UNREACHABLE, then lose.
    let cluster = ClusterProcess::start("lose-stopped").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("unlucky", ROLE)).await;
    let offer = sched.any_offer().await;
    let id = launch_sleeper(&mut sched, &offer, "unlucky-task", &cluster.scratch).await;
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&cluster.scratch.join("unlucky-task.pid")).await;
    let index = cluster.agent_index(&offer.agent_id).await;
    cluster.agent_action(index, "stop").await;
    sched.update(&id, TaskState::Unreachable).await;
    assert!(pid_alive(pid));
    cluster.agent_action(index, "lose").await;
    sched.update(&id, TaskState::Gone).await;
    eventually("the task process to be killed", || !pid_alive(pid)).await;
    eventually("the agent's directory to be erased", || {
        !cluster.agent_dir(index).exists()
    })
    .await;
}

#[tokio::test]
async fn unacknowledged_updates_survive_a_crash_of_the_cluster_and_keep_their_uuids() {
    // Goal: the update stream is checkpointed. Method: ack nothing, kill -9, restart, ack in turn.
    let mut cluster = ClusterProcess::start("unacked-crash").await;
    let info = modern_framework("forgetful", ROLE);
    let mut sched = Scheduler::connect(&cluster.master, info.clone(), false)
        .await
        .unwrap();
    let offer = sched.any_offer().await;
    let role = offer_role(&offer);
    let release = cluster.scratch.join("release");
    let t = task(
        "patient",
        &offer.agent_id,
        &format!("while [ ! -e {} ]; do sleep 0.05; done", release.display()),
        vec![
            scalar("cpus", 0.1, &role),
            scalar("mem", 32.0, &role),
            scalar("disk", 16.0, &role),
        ],
    );
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![t])])
        .await;
    let id = TaskId::new("patient");
    let first = sched.any_update(&id).await;
    let fid = sched.framework_id.clone();
    cluster.kill9();
    sched.wait_for_close().await;
    std::fs::write(&release, b"go").unwrap();
    cluster.start_again().await;

    let mut info = info;
    info.id = Some(fid);
    let mut sched = Scheduler::connect(&cluster.master, info, false)
        .await
        .unwrap();
    let again = sched.any_update(&id).await;
    assert_eq!(
        again.uuid, first.uuid,
        "the same update, re-sent: {again:?}"
    );
    let mut states = vec![again.state];
    let mut last = again;
    while !last.state.is_terminal() {
        sched.acknowledge(&last).await;
        let next = loop {
            let next = sched.any_update(&id).await;
            if next.uuid != last.uuid {
                break next;
            }
        };
        states.push(next.state);
        last = next;
    }
    sched.acknowledge(&last).await;
    assert_eq!(
        states,
        vec![TaskState::Starting, TaskState::Running, TaskState::Finished]
    );
}

#[tokio::test]
async fn when_a_pods_executor_dies_its_tasks_fail_and_their_processes_die_with_it() {
    // Goal: nothing of a pod outlives its executor (Mesos container). Method: SIGKILL the executor.
    let cluster = ClusterProcess::start("executor-dies").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("fragile", ROLE)).await;
    let offer = sched.any_offer().await;
    let role = offer_role(&offer);
    let pid_file = cluster.scratch.join("orphan.pid");
    let t = task(
        "orphan",
        &offer.agent_id,
        &sleeper(&pid_file),
        vec![
            scalar("cpus", 0.1, &role),
            scalar("mem", 32.0, &role),
            scalar("disk", 16.0, &role),
        ],
    );
    sched
        .accept(
            &offer.id,
            vec![launch_group(
                pod_executor(
                    "fragile-exec",
                    &sched.framework_id,
                    vec![
                        scalar("cpus", 0.1, &role),
                        scalar("mem", 32.0, &role),
                        scalar("disk", 16.0, &role),
                    ],
                ),
                vec![t],
            )],
        )
        .await;
    let id = TaskId::new("orphan");
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&pid_file).await;
    let executor = parent_of(pid);
    assert_ne!(executor, std::process::id());
    signal(executor, libc::SIGKILL);
    let failed = sched.update(&id, TaskState::Failed).await;
    assert_eq!(
        failed.reason,
        Some(Reason::ExecutorTerminated),
        "{failed:?}"
    );
    eventually("the pod's task process to die with its executor", || {
        !pid_alive(pid)
    })
    .await;
    let failure = sched
        .wait_for("a FAILURE event for the executor", |e| e.failure.clone())
        .await;
    assert_eq!(
        failure.executor_id.map(|e| e.value).as_deref(),
        Some("fragile-exec")
    );
}

/// The parent pid of a process.
fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn tasks_whose_processes_died_while_their_agent_was_down_are_reported_after_it_restarts() {
    // Goal: a restarted agent reports executors it lost. Method: kill the pod while it is stopped.
    let cluster = ClusterProcess::start("died-while-down").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("rebooted", ROLE)).await;
    let offer = sched.any_offer().await;
    let id = launch_sleeper(&mut sched, &offer, "vanished", &cluster.scratch).await;
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&cluster.scratch.join("vanished.pid")).await;
    let executor = parent_of(pid);
    let index = cluster.agent_index(&offer.agent_id).await;
    cluster.agent_action(index, "stop").await;
    signal(pid, libc::SIGKILL);
    signal(executor, libc::SIGKILL);
    eventually("the processes to die", || {
        !pid_alive(pid) && !pid_alive(executor)
    })
    .await;
    cluster.agent_action(index, "restart").await;
    let s = sched
        .wait_for("a terminal update of the vanished task", |e| {
            let s = &e.update.as_ref()?.status;
            (s.task_id == id && s.state.is_terminal()).then(|| s.clone())
        })
        .await;
    assert!(
        matches!(
            s.state,
            TaskState::Failed | TaskState::Gone | TaskState::Lost
        ),
        "{s:?}"
    );
}

#[tokio::test]
async fn a_second_task_group_joins_a_running_pod_executor_and_outlives_a_kill_of_the_first() {
    // Goal: a live executor id takes a second task group. Method: launch A, then B into it, kill A.
    let cluster = ClusterProcess::start("pod-reuse").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("pods", ROLE)).await;
    let offer = sched.any_offer().await;
    let agent = offer.agent_id.clone();
    let small = || {
        vec![
            scalar("cpus", 0.1, ROLE),
            scalar("mem", 32.0, ROLE),
            scalar("disk", 16.0, ROLE),
        ]
    };
    let executor = pod_executor("shared-exec", &sched.framework_id, small());
    let a = task(
        "group-a",
        &agent,
        &sleeper(&cluster.scratch.join("group-a.pid")),
        small(),
    );
    sched
        .accept(&offer.id, vec![launch_group(executor.clone(), vec![a])])
        .await;
    let a = TaskId::new("group-a");
    sched.update(&a, TaskState::Running).await;
    let a_pid = read_pid(&cluster.scratch.join("group-a.pid")).await;

    let offer = sched
        .offer("listing the running executor", |o| {
            o.agent_id == agent && o.executor_ids.iter().any(|e| e.value == "shared-exec")
        })
        .await;
    let b = task(
        "group-b",
        &agent,
        &sleeper(&cluster.scratch.join("group-b.pid")),
        small(),
    );
    sched
        .accept(&offer.id, vec![launch_group(executor, vec![b])])
        .await;
    let b = TaskId::new("group-b");
    sched.update(&b, TaskState::Running).await;
    let b_pid = read_pid(&cluster.scratch.join("group-b.pid")).await;
    assert_eq!(
        parent_of(a_pid),
        parent_of(b_pid),
        "both groups run under one executor"
    );
    let executors = cluster
        .operator_get(master::CallType::GetExecutors)
        .await
        .get_executors
        .unwrap()
        .executors;
    assert_eq!(
        executors
            .iter()
            .filter(|e| e.executor_info.executor_id.value == "shared-exec")
            .count(),
        1,
        "{executors:#?}"
    );

    sched.kill(&a, None).await;
    sched.update(&a, TaskState::Killed).await;
    eventually("group A's process to exit", || !pid_alive(a_pid)).await;
    sched.reconcile(&[(&b, None)]).await;
    assert_eq!(sched.reconciled(&b).await.state, TaskState::Running);
    assert!(pid_alive(b_pid));
}

#[tokio::test]
async fn a_task_group_sent_to_an_executor_that_is_finishing_is_not_left_hanging() {
    // Goal: re-using a just-finished pod's executor id gets an answer. Method: relaunch at once.
    let cluster = ClusterProcess::start("pod-finishing").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("pods", ROLE)).await;
    let offer = sched.any_offer().await;
    let agent = offer.agent_id.clone();
    let small = || {
        vec![
            scalar("cpus", 0.1, ROLE),
            scalar("mem", 32.0, ROLE),
            scalar("disk", 16.0, ROLE),
        ]
    };
    let executor = pod_executor("brief-exec", &sched.framework_id, small());
    let first = task("first", &agent, "true", small());
    sched
        .accept(&offer.id, vec![launch_group(executor.clone(), vec![first])])
        .await;
    sched
        .update(&TaskId::new("first"), TaskState::Finished)
        .await;
    let offer = sched.offer_from(&agent).await;
    let second = task("second", &agent, "echo second", small());
    sched
        .accept(&offer.id, vec![launch_group(executor, vec![second])])
        .await;
    let s = sched
        .wait_for("the second task to run or end", |e| {
            let s = &e.update.as_ref()?.status;
            (s.task_id.value == "second"
                && (s.state == TaskState::Running || s.state.is_terminal()))
            .then(|| s.clone())
        })
        .await;
    if s.state == TaskState::Running {
        sched
            .update(&TaskId::new("second"), TaskState::Finished)
            .await;
    }
}

#[tokio::test]
async fn a_kill_asked_for_while_the_agent_is_stopped_takes_effect_when_it_comes_back() {
    // Goal: kills for an absent agent are kept, as in Mesos. Method: stop, KILL, restart the agent.
    let cluster = ClusterProcess::start("kill-while-stopped").await;
    let mut sched =
        Scheduler::subscribe(&cluster.master, modern_framework("insistent", ROLE)).await;
    let offer = sched.any_offer().await;
    let id = launch_sleeper(&mut sched, &offer, "unwanted", &cluster.scratch).await;
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&cluster.scratch.join("unwanted.pid")).await;
    let index = cluster.agent_index(&offer.agent_id).await;
    cluster.agent_action(index, "stop").await;
    sched.kill(&id, None).await;
    assert!(pid_alive(pid), "nobody can kill it while its agent is away");
    cluster.agent_action(index, "restart").await;
    sched.update(&id, TaskState::Killed).await;
    eventually("the task process to exit", || !pid_alive(pid)).await;
}

#[tokio::test]
async fn tasks_of_a_framework_torn_down_while_their_agent_was_stopped_die_when_it_comes_back() {
    // Goal: a torn-down framework leaves nothing running. Method: stop agent, TEARDOWN, restart.
    let cluster = ClusterProcess::start("teardown-while-stopped").await;
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("leaving", ROLE)).await;
    let offer = sched.any_offer().await;
    let id = launch_sleeper(&mut sched, &offer, "left-behind", &cluster.scratch).await;
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&cluster.scratch.join("left-behind.pid")).await;
    let index = cluster.agent_index(&offer.agent_id).await;
    cluster.agent_action(index, "stop").await;
    sched
        .call_ok(&Call::teardown(sched.framework_id.clone()))
        .await;
    sched.wait_for_close().await;
    assert!(pid_alive(pid), "its agent is away");
    cluster.agent_action(index, "restart").await;
    eventually("the torn-down framework's task to die", || !pid_alive(pid)).await;
    let deadline = Instant::now() + DEADLINE;
    while cluster.agents().await[index]["executors"] != 0 {
        assert!(
            Instant::now() < deadline,
            "the agent kept the executor's record"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_offer_from_before_a_cluster_restart_is_invalid_after_it() {
    // Goal: offer ids never repeat across restarts. Method: ACCEPT an offer kept over a restart.
    let mut cluster = ClusterProcess::start("stale-offer").await;
    let info = modern_framework("stale", ROLE);
    let mut sched = Scheduler::subscribe(&cluster.master, info.clone()).await;
    let stale = sched.any_offer().await;
    let fid = sched.framework_id.clone();
    cluster.restart().await;
    sched.wait_for_close().await;
    let mut sched = Scheduler::resubscribe(&cluster.master, &info, &fid).await;
    for _ in 0..3 {
        let fresh = sched.any_offer().await;
        assert_ne!(fresh.id, stale.id, "an offer id was issued twice");
    }
    let t = task(
        "from-the-past",
        &stale.agent_id,
        "true",
        vec![
            scalar("cpus", 0.1, ROLE),
            scalar("mem", 32.0, ROLE),
            scalar("disk", 16.0, ROLE),
        ],
    );
    sched
        .call_ok(&Call::accept(
            fid,
            vec![stale.id.clone()],
            vec![OfferOperation::launch(vec![t])],
            None,
        ))
        .await;
    let s = sched.any_update(&TaskId::new("from-the-past")).await;
    assert_eq!(s.state, TaskState::Dropped, "{s:?}");
    assert_eq!(s.reason, Some(Reason::InvalidOffers));
}
