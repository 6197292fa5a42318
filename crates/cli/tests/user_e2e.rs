//! Which OS user tasks run as on `cairn cluster`: the real binary on loopback, frameworks over
//! the Mesos v1 HTTP API, and the tasks themselves reporting who they are.
//!
//! A cluster that runs as root (CI, most servers) starts each executor as the user its tasks
//! name, and refuses root unless started with `--allow-root`. Tests that need the cluster to be
//! root say so and are skipped, with the reason printed, when it is not.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use cairn_proto::{
    CommandInfo, CommandUri, Labels, OfferOperation, Reason, Resource, Source, TaskId, TaskState,
};
use reqwest::StatusCode;
use support::*;

const ROLE: &str = "users";
/// `nobody` on Linux.
const NOBODY_UID: u32 = 65534;

/// Whether this test process (and so the cluster it starts) runs as root.
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Skips a test that needs root, saying why.
macro_rules! needs_root {
    ($test:literal) => {
        if !running_as_root() {
            eprintln!(
                "skipped {}: only a cluster running as root switches users, and this test \
                 does not run as root",
                $test
            );
            return;
        }
    };
}

/// A cluster that does not allow root, with `extra` flags.
async fn strict_cluster(name: &str, extra: &[&str]) -> ClusterProcess {
    ClusterProcess::start_with(
        name,
        ClusterOptions {
            allow_root: false,
            extra_args: extra.iter().map(|a| a.to_string()).collect(),
            ..ClusterOptions::default()
        },
    )
    .await
}

/// Waits for the terminal update of task `id`, whatever its state.
async fn end_of(sched: &mut Scheduler, id: &str) -> cairn_proto::TaskStatus {
    sched
        .wait_for(&format!("{id} to end"), |e| {
            let s = &e.update.as_ref()?.status;
            (s.task_id.as_str() == id && s.state.is_terminal()).then(|| s.clone())
        })
        .await
}

/// A partition-aware framework whose tasks run as `user`.
fn framework_of(user: &str) -> cairn_proto::FrameworkInfo {
    let mut info = modern_framework(&format!("as-{user}"), ROLE);
    info.user = user.to_string();
    info
}

#[tokio::test]
async fn a_framework_may_name_root_only_on_a_cluster_started_with_allow_root() {
    // Goal: running tasks as root is a choice of the operator's, and the allowed users are the
    // operator's list. Method: subscribe as root, as an unlisted user and as a listed one, and
    // launch a task naming an unlisted user, on a cluster with `--allowed-users nobody`; then
    // subscribe as root on a cluster with `--allow-root`.
    let cluster = strict_cluster("user-policy", &["--allowed-users", "nobody"]).await;

    let (status, body) = Scheduler::try_subscribe(&cluster.master, framework_of("root"))
        .await
        .err()
        .expect("root is refused");
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains("'root'") && body.contains("--allow-root"),
        "{body}"
    );
    let (status, body) = Scheduler::try_subscribe(&cluster.master, framework_of("daemon"))
        .await
        .err()
        .expect("a user outside the list is refused");
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains("'daemon'") && body.contains("--allowed-users (nobody)"),
        "{body}"
    );
    assert!(
        cluster.get_frameworks().await.frameworks.is_empty(),
        "a refused framework is not registered"
    );

    // A listed user subscribes; a task of it naming another user is refused before it starts.
    let mut sched = Scheduler::subscribe(&cluster.master, framework_of("nobody")).await;
    let offer = sched.any_offer().await;
    let role = offer_role(&offer);
    let mut t = task(
        "as-root",
        &offer.agent_id,
        "true",
        vec![scalar("cpus", 0.1, &role), scalar("mem", 32.0, &role)],
    );
    t.command = Some(CommandInfo {
        user: Some("root".into()),
        ..CommandInfo::shell("true")
    });
    sched
        .accept(&offer.id, vec![OfferOperation::launch(vec![t])])
        .await;
    let error = sched
        .update(&TaskId::new("as-root"), TaskState::Error)
        .await;
    assert_eq!(error.reason, Some(Reason::TaskUnauthorized), "{error:?}");
    let message = error.message.unwrap_or_default();
    assert!(
        message.contains("'root'") && message.contains("--allow-root"),
        "{message}"
    );
    drop(sched);
    drop(cluster);

    let permissive = ClusterProcess::start("user-policy-root").await;
    Scheduler::subscribe(&permissive.master, framework_of("root")).await;
}

#[tokio::test]
async fn a_pod_of_a_framework_with_user_nobody_runs_as_nobody_and_its_volume_outlives_it() {
    needs_root!("a_pod_of_a_framework_with_user_nobody_runs_as_nobody_and_its_volume_outlives_it");
    // Goal: a framework's user is who its tasks are, whatever user the cluster runs as.
    // Method: a pod writes, from inside, its uid, whether it could read /etc/shadow and who
    // owns its sandbox and volume into its volume; a second pod on the same volume adds to it.
    let cluster = strict_cluster("user-nobody", &[]).await;
    let info = framework_of("nobody");
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info).await;
    let offer = sched.any_offer().await;
    let agent = offer.agent_id.clone();
    let first = VolumePod {
        role: ROLE,
        principal: &principal,
        resource_id: "nobody-0",
        volume: "nobody-data",
        task: "writer",
        executor: "writer-exec",
        command: concat!(
            "id -u > data/uid && ",
            "(cat /etc/shadow > /dev/null 2>&1 && echo readable || echo refused) > data/shadow && ",
            "stat -c '%u %a' \"$MESOS_SANDBOX\" ../.. data/ > data/owners && ",
            "echo first > data/marker"
        )
        .to_string(),
    };
    launch_volume_pod(&mut sched, &offer, first).await;
    let written = end_of(&mut sched, "writer").await;
    assert_eq!(written.state, TaskState::Finished, "{written:?}");

    let index = cluster.agent_index(&agent).await;
    let volume = cluster.volume_dir(index, ROLE, "nobody-data");
    let read = |name: &str| std::fs::read_to_string(volume.join(name)).unwrap_or_default();
    assert_eq!(read("uid"), format!("{NOBODY_UID}\n"), "the task's own uid");
    assert_eq!(
        read("shadow"),
        "refused\n",
        "nobody cannot read /etc/shadow"
    );
    assert_eq!(
        read("owners"),
        format!("{NOBODY_UID} 750\n{NOBODY_UID} 750\n{NOBODY_UID} 700\n"),
        "the task's directory, its executor's sandbox and its volume are nobody's"
    );

    // A new pod on the same reservation and volume: what the first wrote is there, and the
    // second, nobody too, may add to it.
    let labels = Labels::from_pairs([("resource_id", "nobody-0")]);
    let res = |r: Resource| reserved(r, ROLE, &principal, &labels);
    let offer = loop {
        let offer = sched
            .offer("with the volume", |o| {
                o.agent_id == agent
                    && o.resources
                        .iter()
                        .any(|r| r.persistence_id() == Some("nobody-data"))
            })
            .await;
        let cpus: f64 = offered(&offer, "cpus")
            .filter(|r| r.reservation_labels() == Some(&labels))
            .map(|r| r.scalar_value())
            .sum();
        if cpus > 0.3 - 1e-6 {
            break offer;
        }
        // The first executor may still be exiting and holding its share.
        sched.decline(&offer.id, 0.0).await;
    };
    let volume_resource = offer
        .resources
        .iter()
        .find(|r| r.persistence_id() == Some("nobody-data"))
        .unwrap()
        .clone();
    let reader = task(
        "reader",
        &agent,
        "grep -qx first data/marker && id -u >> data/uid && echo second >> data/marker",
        vec![
            res(Resource::scalar("cpus", 0.2)),
            res(Resource::scalar("mem", 32.0)),
            volume_resource,
        ],
    );
    let executor = pod_executor(
        "reader-exec",
        &sched.framework_id,
        vec![
            res(Resource::scalar("cpus", 0.1)),
            res(Resource::scalar("mem", 32.0)),
            res(Resource::scalar("disk", 16.0)),
        ],
    );
    sched
        .accept(&offer.id, vec![launch_group(executor, vec![reader])])
        .await;
    let done = end_of(&mut sched, "reader").await;
    assert_eq!(done.state, TaskState::Finished, "{done:?}");
    assert_eq!(read("marker"), "first\nsecond\n");
    assert_eq!(read("uid"), format!("{NOBODY_UID}\n{NOBODY_UID}\n"));
}

#[tokio::test]
async fn uris_are_fetched_as_the_tasks_user() {
    needs_root!("uris_are_fetched_as_the_tasks_user");
    // Goal: the fetcher cannot be made to read what the task's user may not. Method: one task
    // fetches a world-readable file and checks who owns its copy; another asks for /etc/shadow.
    let cluster = strict_cluster("user-fetch", &[]).await;
    let payload = cluster.scratch.join("payload.txt");
    std::fs::write(&payload, "hello\n").unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, framework_of("nobody")).await;
    let offer = sched.any_offer().await;
    let role = offer_role(&offer);
    let with_uri = |id: &str, uri: String, command: String| {
        let mut t = task(
            id,
            &offer.agent_id,
            "",
            vec![scalar("cpus", 0.1, &role), scalar("mem", 32.0, &role)],
        );
        t.command = Some(CommandInfo {
            uris: vec![CommandUri::new(uri)],
            ..CommandInfo::shell(command)
        });
        t
    };
    let fetched = with_uri(
        "fetched",
        format!("file://{}", payload.display()),
        format!("test \"$(stat -c %u payload.txt)\" = {NOBODY_UID} && grep -qx hello payload.txt"),
    );
    let shadow = with_uri("shadow", "file:///etc/shadow".into(), "true".into());
    sched
        .accept(
            &offer.id,
            vec![OfferOperation::launch(vec![fetched, shadow])],
        )
        .await;
    let ok = end_of(&mut sched, "fetched").await;
    assert_eq!(ok.state, TaskState::Finished, "{ok:?}");
    let refused = end_of(&mut sched, "shadow").await;
    assert_eq!(refused.state, TaskState::Failed, "{refused:?}");
    let message = refused.message.unwrap_or_default();
    assert!(
        message.contains("/etc/shadow") && message.contains("ermission denied"),
        "{message}"
    );
}

#[tokio::test]
async fn a_task_of_a_user_this_machine_does_not_have_is_dropped_saying_so() {
    needs_root!("a_task_of_a_user_this_machine_does_not_have_is_dropped_saying_so");
    // Goal: a user that does not exist is a clear failure of the task, not a task run as root.
    let cluster = strict_cluster("user-unknown", &[]).await;
    let mut sched = Scheduler::subscribe(&cluster.master, framework_of("cairn-no-such-user")).await;
    let offer = sched.any_offer().await;
    let id = launch_sleeper(&mut sched, &offer, "ghost", &cluster.scratch).await;
    let dropped = end_of(&mut sched, id.as_str()).await;
    assert_eq!(dropped.state, TaskState::Dropped, "{dropped:?}");
    assert_eq!(
        dropped.reason,
        Some(Reason::ExecutorTerminated),
        "{dropped:?}"
    );
    assert_eq!(dropped.source, Some(Source::Agent));
    let message = dropped.message.unwrap_or_default();
    assert!(
        message.contains("there is no user 'cairn-no-such-user'"),
        "{message}"
    );
    assert!(
        !cluster.scratch.join("ghost.pid").exists(),
        "the task never ran"
    );
}

#[tokio::test]
async fn a_work_dir_the_tasks_user_cannot_reach_drops_the_task_and_says_what_to_do() {
    needs_root!("a_work_dir_the_tasks_user_cannot_reach_drops_the_task_and_says_what_to_do");
    // Goal: a cluster in a private directory (a clone in a 0700 home) does not fall back to
    // root: the task fails, naming the directory in the way and the way out.
    let cluster = strict_cluster("user-private", &[]).await;
    let private = cluster.work_dir.parent().unwrap().to_path_buf();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, framework_of("nobody")).await;
    let offer = sched.any_offer().await;
    let id = launch_sleeper(&mut sched, &offer, "hidden", &cluster.scratch).await;
    let dropped = end_of(&mut sched, id.as_str()).await;
    assert_eq!(dropped.state, TaskState::Dropped, "{dropped:?}");
    let message = dropped.message.unwrap_or_default();
    assert!(
        message.contains("user 'nobody' cannot reach")
            && message.contains(&format!("{} (0700", private.display()))
            && message.contains("--work-dir"),
        "{message}"
    );
}
