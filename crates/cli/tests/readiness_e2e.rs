//! Readiness gates a rollout, with real processes: `cairn cluster`, `cairn scheduler`, three
//! members of a service whose readiness check prints what a ZooKeeper member's `srvr` would.
//! A serial rollout whose check never passes on one member stops at it, showing the check's
//! output in `cairn update status` and the plans API, and touches no later member (from the
//! cluster's view); `cairn update` with a fixed spec rescues it without ever taking a second
//! member down. A `cairn pod restart` during a rollout does not let the rollout take a second
//! member down either. `cairn update --paused` stages a rollout that touches nothing until
//! `cairn plan continue`; `cairn plan interrupt` mid-rollout lets the member under way come
//! back ready and starts nothing new, through a kill -9 of the scheduler, until `continue`.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use cairn::api::ApiClient;
use cairn::core::plan::Status;
use cairn_proto::TaskState;
use support::service::{cairn, cairn_on_ok, output_text, ServiceScheduler};
use support::ClusterProcess;

/// How long a deploy or a rollout may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(240);
const SERVICE: &str = "rsvc";

/// Three members, one per agent. Each is ready when its check passes; `check` is the check's
/// command, `version` an environment variable (a change of either is a new config).
fn spec(version: &str, check: &str) -> String {
    format!(
        r#"
name: rsvc
pods:
  member:
    count: 3
    placement: '[["hostname", "UNIQUE"]]'
    tasks:
      server:
        goal: RUNNING
        cmd: 'exec sleep 100000'
        cpus: 0.1
        memory: 32
        env: {{VERSION: "{version}"}}
        readiness-check: {{cmd: '{check}', interval: 1, delay: 0, timeout: 5}}
"#
    )
}

const SERVES: &str = "echo Mode: follower";
/// member-1 never serves: its check prints `Mode: looking` and fails.
const ONE_NEVER_SERVES: &str =
    r#"if [ "$POD_INSTANCE_INDEX" = 1 ]; then echo Mode: looking; exit 1; fi; echo Mode: follower"#;

fn state(cluster: &ClusterProcess) -> PathBuf {
    cluster.scratch.join("state")
}

fn write_spec(cluster: &ClusterProcess, file: &str, text: &str) -> PathBuf {
    let path = cluster.scratch.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

/// A member as the cluster runs it: its task id, and whether it serves (RUNNING, and its
/// latest status says its readiness check passed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Member {
    task_id: String,
    serves: bool,
}

/// The members the cluster runs (live tasks only), by task name.
async fn members(cluster: &ClusterProcess) -> BTreeMap<String, Member> {
    let mut out = BTreeMap::new();
    for task in cluster.get_tasks().await.tasks {
        if task.state.is_terminal() {
            continue;
        }
        let passed = task
            .statuses
            .last()
            .and_then(|s| s.check_status.as_ref())
            .and_then(|c| c.command.as_ref())
            .and_then(|c| c.exit_code)
            == Some(0);
        out.insert(
            task.name.clone(),
            Member {
                task_id: task.task_id.value.clone(),
                serves: task.state == TaskState::Running && passed,
            },
        );
    }
    out
}

/// Watches the members while a test waits: the fewest that served at any look.
struct Watch {
    fewest_serving: usize,
    when: String,
}

impl Watch {
    fn new() -> Watch {
        Watch {
            fewest_serving: usize::MAX,
            when: String::new(),
        }
    }

    async fn look(&mut self, cluster: &ClusterProcess) -> BTreeMap<String, Member> {
        let now = members(cluster).await;
        let serving = now.values().filter(|m| m.serves).count();
        if serving < self.fewest_serving {
            self.fewest_serving = serving;
            self.when = format!("{now:#?}");
        }
        now
    }
}

fn api(state: &Path) -> Option<ApiClient> {
    ApiClient::find(state, SERVICE).ok().flatten()
}

/// The rollout plan's steps (name, status, message), as the API gives them.
async fn rollout_steps(state: &Path) -> Option<(String, Vec<(String, Status, String)>)> {
    let api = api(state)?;
    let plans = api.plans().await.ok()?;
    let name = plans.first()?.name.clone();
    let (_, steps) = api.plan_steps(&name).await.ok()?;
    Some((
        name,
        steps
            .into_iter()
            .map(|s| (s.name, s.status, s.message))
            .collect(),
    ))
}

async fn deployed(state: &Path) -> bool {
    match api(state) {
        Some(api) => api.status().await.is_ok_and(|s| s.deployed && s.connected),
        None => false,
    }
}

/// Waits until `done` says so, looking at the members on the way.
async fn wait_for(
    what: &str,
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    watch: &mut Watch,
    mut done: impl AsyncFnMut(&BTreeMap<String, Member>) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let now = watch.look(cluster).await;
        if done(&now).await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {DEADLINE:?} waiting for {what}: {now:#?}\n{:#?}\n{}",
            rollout_steps(&state(cluster)).await,
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until member `name` runs on a task other than its task in `before`.
async fn rolled(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    watch: &mut Watch,
    before: &BTreeMap<String, Member>,
    name: &str,
) {
    let what = format!("{name} rolled");
    wait_for(&what, cluster, sched, watch, async |m| {
        m.get(name)
            .is_some_and(|m| m.task_id != before[name].task_id)
    })
    .await;
}

fn update_status(state: &Path) -> String {
    let out = cairn(
        &["update", "status", "--state-dir", state.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cairn update SPEC`, on a thread: it follows the rollout to its end.
fn spawn_update(state: &Path, spec: &Path, extra: &[&str]) -> tokio::task::JoinHandle<Output> {
    let mut args: Vec<String> = vec![
        "update".into(),
        spec.to_str().unwrap().into(),
        "--state-dir".into(),
        state.to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cairn(&args, DEADLINE)
    })
}

/// Deploys the three members with `SERVES`; the members as deployed.
async fn deploy(
    name: &str,
) -> (
    ClusterProcess,
    ServiceScheduler,
    Watch,
    BTreeMap<String, Member>,
) {
    deploy_spec(name, &spec("v1", SERVES)).await
}

/// Deploys the three members of `v1`, a spec whose members serve; the members as deployed.
async fn deploy_spec(
    name: &str,
    v1: &str,
) -> (
    ClusterProcess,
    ServiceScheduler,
    Watch,
    BTreeMap<String, Member>,
) {
    let cluster = ClusterProcess::start(name).await;
    let v1 = write_spec(&cluster, "v1.yml", v1);
    let mut sched = ServiceScheduler::on_cluster(&cluster, &v1, 1, &[]);
    let mut watch = Watch::new();
    let st = state(&cluster);
    wait_for("the deploy", &cluster, &mut sched, &mut watch, async |m| {
        m.values().filter(|m| m.serves).count() == 3 && deployed(&st).await
    })
    .await;
    let before = members(&cluster).await;
    (cluster, sched, Watch::new(), before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readiness_check_that_never_passes_holds_the_rollout_at_that_member_with_its_output_and_a_fixed_spec_rescues_it(
) {
    let (cluster, mut sched, mut watch, v1) = deploy("readiness-hold").await;
    let st = state(&cluster);

    // A spec whose check never passes on member-1: member-0 is rolled, member-1 is rolled and
    // held, with the check's last output.
    let v2 = write_spec(&cluster, "v2.yml", &spec("v2", ONE_NEVER_SERVES));
    let out = spawn_update(&st, &v2, &["--no-wait"]).await.unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let held = "member-1-server is TASK_RUNNING, not ready: exit 1: Mode: looking";
    wait_for(
        "member-1 held",
        &cluster,
        &mut sched,
        &mut watch,
        async |_| {
            rollout_steps(&st).await.is_some_and(|(_, steps)| {
                steps.contains(&("member-1:[server]".into(), Status::Started, held.into()))
            })
        },
    )
    .await;

    // Held there: member-2 keeps its task, serving, while the plan waits (from the cluster's
    // view), and member-0 serves on its new task.
    let hold_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < hold_until {
        let now = watch.look(&cluster).await;
        assert_eq!(now["member-2-server"], v1["member-2-server"], "{now:#?}");
        assert_ne!(
            now["member-0-server"].task_id,
            v1["member-0-server"].task_id
        );
        assert!(now["member-0-server"].serves, "{now:#?}");
        assert!(!now["member-1-server"].serves, "{now:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (plan, steps) = rollout_steps(&st).await.unwrap();
    assert_eq!(
        steps,
        [
            ("member-0:[server]".into(), Status::Complete, String::new()),
            ("member-1:[server]".into(), Status::Started, held.into()),
            (
                "member-2:[server]".into(),
                Status::Pending,
                "waiting for member-1:[server] (the phase is serial)".into()
            ),
        ],
        "plan {plan}"
    );
    let status = update_status(&st);
    assert!(
        status.contains(&format!("member-1:[server] STARTED  ({held})")),
        "{status}"
    );
    assert_eq!(watch.fewest_serving, 2, "{}", watch.when);

    // A fixed spec rescues it: the rollout completes, every member on the fixed config, and
    // never fewer than two members serve (member-1, down already, is rolled first).
    let v2_members = members(&cluster).await;
    let v3 = write_spec(&cluster, "v3.yml", &spec("v3", SERVES));
    let update = spawn_update(&st, &v3, &[]);
    wait_for(
        "the rescue's rollout",
        &cluster,
        &mut sched,
        &mut watch,
        async |m| {
            update.is_finished()
                && m.values().filter(|m| m.serves).count() == 3
                && deployed(&st).await
        },
    )
    .await;
    let out = update.await.unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let after = members(&cluster).await;
    for (name, m) in &after {
        assert_ne!(m.task_id, v2_members[name].task_id, "{name} was rolled");
        assert!(m.serves, "{name}: {after:#?}");
    }
    assert_eq!(watch.fewest_serving, 2, "{}", watch.when);
}

/// A member that serves 8 s after it started: long enough for the test to restart another
/// member while one is rolled.
const SERVES_AFTER_8S: &str =
    r#"[ $(( $(date +%s) - $(cat started) )) -ge 8 ] && echo Mode: follower"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_restart_during_a_rollout_does_not_let_the_rollout_take_a_second_member_down() {
    let (cluster, mut sched, mut watch, v1) = deploy("readiness-restart").await;
    let st = state(&cluster);

    // A rollout starts with member-0; while it comes back, the operator restarts member-2.
    let v2 = spec("v2", SERVES_AFTER_8S).replace(
        "cmd: 'exec sleep 100000'",
        "cmd: 'date +%s > started && exec sleep 100000'",
    );
    let v2 = write_spec(&cluster, "v2.yml", &v2);
    let update = spawn_update(&st, &v2, &[]);
    rolled(&cluster, &mut sched, &mut watch, &v1, "member-0-server").await;
    let out = cairn(
        &[
            "pod",
            "restart",
            "member-2",
            "--state-dir",
            st.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", output_text(&out));
    let now = members(&cluster).await;
    assert!(
        !now["member-0-server"].serves && now["member-1-server"] == v1["member-1-server"],
        "the restart came while member-0 was being rolled: {now:#?}"
    );

    // The rollout completes; member-1, the one member up, is taken down only once both
    // others serve again.
    let mut violations = Vec::new();
    wait_for("the rollout", &cluster, &mut sched, &mut watch, async |m| {
        let serves = |n: &str| m.get(n).is_some_and(|m| m.serves);
        let others_serve = serves("member-0-server") && serves("member-2-server");
        if !serves("member-1-server") && !others_serve {
            violations.push(format!("{m:#?}"));
        }
        update.is_finished() && m.values().filter(|m| m.serves).count() == 3 && deployed(&st).await
    })
    .await;
    let out = update.await.unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        violations.is_empty(),
        "member-1 was down with another: {}",
        violations.join("\n")
    );
}

/// The members keep the task ids of `before` and serve, for a few seconds of looking.
async fn members_stay(
    cluster: &ClusterProcess,
    watch: &mut Watch,
    before: &BTreeMap<String, Member>,
    names: &[&str],
) {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let now = watch.look(cluster).await;
        for n in names {
            assert_eq!(now.get(*n), before.get(*n), "{n} untouched: {now:#?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_update_waits_for_continue_and_an_interrupt_mid_rollout_leaves_no_member_down_even_after_a_kill_9(
) {
    // v1's members take 6 s to stop: an interrupt lands between the rollout's kill of a member
    // and its relaunch, where it once left the member down.
    let slow_to_stop = spec("v1", SERVES).replace(
        "        cmd: 'exec sleep 100000'",
        "        kill-grace-period: 20\n        cmd: 'trap \"sleep 6; exit 0\" TERM; sleep 100000 & wait'",
    );
    let (cluster, mut sched, mut watch, v1) =
        deploy_spec("readiness-interrupt", &slow_to_stop).await;
    let st = state(&cluster);
    let all = ["member-0-server", "member-1-server", "member-2-server"];

    // v2's members serve once the test creates `go`: the rollout's first member stays down
    // (killed, relaunched, not ready) for as long as the test likes.
    let go = cluster.scratch.join("go");
    let gated = format!("test -e {} && echo Mode: follower", go.display());
    let v2 = write_spec(&cluster, "v2.yml", &spec("v2", &gated));
    let staged = cairn_on_ok(&cluster, &["update", v2.to_str().unwrap(), "--paused"]);
    assert!(
        staged.contains(
            "plan deploy is interrupted, no pod changes until `cairn plan continue deploy`"
        ),
        "{staged}"
    );
    members_stay(&cluster, &mut watch, &v1, &all).await;
    let listed = cairn_on_ok(&cluster, &["plan", "list"]);
    let deploy_row = listed
        .lines()
        .find(|l| l.starts_with("deploy "))
        .unwrap_or_default();
    assert!(deploy_row.ends_with(" yes"), "interrupted: {listed}");
    let json: serde_json::Value =
        serde_json::from_str(&cairn_on_ok(&cluster, &["plan", "list", "--json"])).unwrap();
    assert_eq!(json[0]["name"], "deploy");
    assert_eq!(json[0]["interrupted"], true, "{json:#}");

    // `continue`: member-0's old task is being killed when the operator interrupts.
    cairn_on_ok(&cluster, &["plan", "continue", "deploy"]);
    let killing = "killing member-0-server";
    wait_for(
        "member-0 killed",
        &cluster,
        &mut sched,
        &mut watch,
        async |_| {
            rollout_steps(&st)
                .await
                .is_some_and(|(_, steps)| steps[0].2.starts_with(killing))
        },
    )
    .await;
    let interrupted = cairn_on_ok(&cluster, &["plan", "interrupt", "deploy"]);
    assert!(interrupted.contains("deploy: interrupted"), "{interrupted}");
    let (_, steps) = rollout_steps(&st).await.unwrap();
    assert!(
        steps[0].2.starts_with(killing),
        "the interrupt came in time: {steps:?}"
    );

    // The member under way is relaunched and comes back ready; nothing new starts.
    rolled(&cluster, &mut sched, &mut watch, &v1, "member-0-server").await;
    std::fs::write(&go, "").unwrap();
    let waits = "interrupted: `cairn plan continue deploy` lets it start";
    wait_for(
        "member-0 back and the rest held",
        &cluster,
        &mut sched,
        &mut watch,
        async |m| {
            m.get("member-0-server").is_some_and(|m| m.serves)
                && rollout_steps(&st).await.is_some_and(|(_, steps)| {
                    steps[0].1 == Status::Complete
                        && steps[1] == ("member-1:[server]".into(), Status::Waiting, waits.into())
                })
        },
    )
    .await;
    members_stay(&cluster, &mut watch, &v1, &all[1..]).await;
    let shown = cairn_on_ok(&cluster, &["plan", "show"]);
    assert!(shown.contains("plan deploy is interrupted"), "{shown}");
    assert!(
        shown.contains(&format!("member-1:[server] WAITING  ({waits})")),
        "{shown}"
    );

    // A kill -9 of the scheduler: its successor is still interrupted.
    sched.kill9();
    let mut sched = ServiceScheduler::on_cluster(&cluster, &v2, 2, &[]);
    wait_for(
        "the new scheduler",
        &cluster,
        &mut sched,
        &mut watch,
        async |_| {
            api(&st).is_some_and(|_| true)
                && rollout_steps(&st).await.is_some_and(|(_, steps)| {
                    steps
                        .get(1)
                        .is_some_and(|s| s.1 == Status::Waiting && s.2 == waits)
                })
        },
    )
    .await;
    members_stay(&cluster, &mut watch, &v1, &all[1..]).await;
    let shown: serde_json::Value =
        serde_json::from_str(&cairn_on_ok(&cluster, &["plan", "show", "--json"])).unwrap();
    assert_eq!(shown["summary"]["interrupted"], true, "{shown:#}");
    assert_eq!(shown["steps"][1]["status"], "WAITING", "{shown:#}");

    // `continue` finishes the rollout, one member down at a time.
    cairn_on_ok(&cluster, &["plan", "continue", "deploy"]);
    wait_for("the rollout", &cluster, &mut sched, &mut watch, async |m| {
        m.values().filter(|m| m.serves).count() == 3
            && m.iter().all(|(n, m)| m.task_id != v1[n].task_id)
            && deployed(&st).await
    })
    .await;
    assert_eq!(
        watch.fewest_serving, 2,
        "never two members down: {}",
        watch.when
    );
}
