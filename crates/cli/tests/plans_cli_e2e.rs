//! The plan and debug commands as an operator types them, against a real `cairn cluster` and
//! `cairn scheduler`: a pod asking for `cpus: 100` waits, the scheduler's progress lines (the
//! printer `cairn run` uses) say why within seconds, `cairn debug offers` names the cpus check
//! with its counts, and `cairn plan list|show|start|stop|force-complete|restart` work on the
//! service, each in words and in `--json`, with a clear error naming what is not there.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::service::{cairn_on, cairn_on_ok, ServiceScheduler};
use support::ClusterProcess;

/// How long a deploy or a plan may take. Generous: the machine is shared.
const DEADLINE: Duration = Duration::from_secs(120);

/// `small` deploys; `big` asks for more cpus than any agent has (4 each) and waits. Plan
/// `job` runs a FINISH task on `small` with the start's parameter.
const SPEC: &str = r#"
name: csvc
pods:
  small:
    count: 1
    tasks:
      server: {goal: RUNNING, cmd: 'exec sleep 100000', cpus: 0.1, memory: 32}
      job: {goal: FINISH, cmd: 'echo "job $RUN"', cpus: 0.1, memory: 32}
  big:
    count: 1
    tasks:
      server: {goal: RUNNING, cmd: 'exec sleep 100000', cpus: 100, memory: 32}
plans:
  deploy:
    phases:
      small:
        pod: small
        steps: [{default: [[server]]}]
      big:
        pod: big
  job:
    phases:
      run:
        pod: small
        steps: [{default: [[job]]}]
"#;

/// `cairn ARGS` on the cluster's service: whether it succeeded, its stdout and stderr.
fn cli(cluster: &ClusterProcess, args: &[&str]) -> (bool, String, String) {
    let out = cairn_on(cluster, args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`cairn_on_ok`] with `--json`, parsed.
fn cli_json(cluster: &ClusterProcess, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = cairn_on_ok(cluster, &all);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("cairn {all:?}: {e}\n{out}"))
}

/// Polls `cairn plan show PLAN --json` until `cond` holds of it; returns it.
async fn plan_until(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    plan: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let (ok, out, _) = cli(cluster, &["plan", "show", plan, "--json"]);
        let shown: Value = if ok {
            serde_json::from_str(&out).unwrap_or_default()
        } else {
            Value::Null
        };
        if cond(&shown) {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {DEADLINE:?}: {shown:#}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn step<'a>(shown: &'a Value, name: &str) -> &'a Value {
    shown["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_asking_for_100_cpus_is_explained_by_its_progress_lines_and_debug_offers_and_the_plan_commands_work(
) {
    let cluster = ClusterProcess::start("plans-cli").await;
    let spec = cluster.scratch.join("svc.yml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec, 1, &[]);

    // The progress lines say why big-0 waits, within seconds of its waiting: with the line
    // that says it is PREPARED, or on a line of its own a few seconds later.
    let short = "cpus: 3 of 3 agents short; largest offer ";
    let deadline = Instant::now() + DEADLINE;
    let mut prepared_seen: Option<Instant> = None;
    let said_after = loop {
        sched.assert_alive();
        let lines = sched.stdout();
        if prepared_seen.is_none() && lines.iter().any(|l| l.contains("big-0:[server] PREPARED")) {
            prepared_seen = Some(Instant::now());
        }
        let said = lines.iter().any(|l| {
            l.contains("big-0:[server] PREPARED") && l.contains(short) && l.contains(" of 100.05")
        });
        if let (true, Some(at)) = (said, prepared_seen) {
            break at.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "no waiting reason\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        said_after <= Duration::from_secs(10),
        "said after {said_after:?}\n{}",
        sched.output()
    );

    // `cairn debug offers`: the offers' verdicts and the cpus check counted, in words...
    let human = cairn_on_ok(&cluster, &["debug", "offers"]);
    assert!(human.starts_with("AGENT"), "{human}");
    assert!(
        human
            .lines()
            .any(|l| l.contains("big-0") && l.contains("cpus") && l.contains("refused: offered ")),
        "{human}"
    );
    assert!(
        human
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with(&format!("every pod: {short}")),
        "{human}"
    );
    let one = cairn_on_ok(&cluster, &["debug", "offers", "big-0:[server]"]);
    let summary = one.lines().last().unwrap_or_default();
    assert!(summary.starts_with(&format!("big-0: {short}")), "{one}");
    assert!(summary.contains(" of 100.05 (from "), "{one}");
    // ... and in JSON.
    let json = cli_json(&cluster, &["debug", "offers", "big-0"]);
    assert_eq!(json["pod"], "big-0", "{json:#}");
    assert_eq!(json["report"]["agents"], 3, "{json:#}");
    let cpus = &json["report"]["checks"][0];
    assert_eq!(
        (cpus["check"].as_str(), cpus["agents"].as_u64()),
        (Some("cpus"), Some(3)),
        "{json:#}"
    );
    assert_eq!(cpus["needed"], 100.05, "{json:#}");
    assert!(
        cpus["largest_offered"]
            .as_f64()
            .is_some_and(|o| o > 3.0 && o <= 4.0),
        "{json:#}"
    );
    assert!(
        json["summary"]
            .as_str()
            .unwrap_or_default()
            .starts_with(short),
        "{json:#}"
    );
    assert!(
        json["offers"].as_array().is_some_and(|o| !o.is_empty()),
        "{json:#}"
    );
    let (ok, _, err) = cli(&cluster, &["debug", "offers", "nope-0"]);
    assert!(!ok, "an unknown step is an error");
    assert!(
        err.contains("no step `nope-0`") && err.contains("big-0:[server]"),
        "{err}"
    );

    // `cairn plan list`: a table and the API's JSON.
    let listed = cairn_on_ok(&cluster, &["plan", "list"]);
    let header = listed.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("PLAN") && header.contains("INTERRUPTED"),
        "{listed}"
    );
    let deploy_row: Vec<&str> = listed
        .lines()
        .find(|l| l.starts_with("deploy "))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        deploy_row,
        ["deploy", "IN_PROGRESS", "serial", "1/2", "no"],
        "{listed}"
    );
    let plans = cli_json(&cluster, &["plan", "list"]);
    let names: Vec<&str> = plans
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names[0], "deploy", "{plans:#}");
    assert!(names.contains(&"job"), "{plans:#}");

    // `cairn plan show`: the rollout plan by default, each step with why.
    let shown = cairn_on_ok(&cluster, &["plan", "show"]);
    assert!(
        shown.contains("plan deploy (serial): IN_PROGRESS"),
        "{shown}"
    );
    assert!(shown.contains("small-0:[server] COMPLETE"), "{shown}");
    assert!(
        shown.contains(&format!(
            "big-0:[server] PREPARED  (waiting for an offer: {short}"
        )),
        "{shown}"
    );
    let (ok, _, err) = cli(&cluster, &["plan", "show", "nope"]);
    assert!(
        !ok && err.contains("no plan `nope` (plans: deploy, "),
        "{err}"
    );

    // `start -p`, in words and JSON; the job runs with its parameter and completes.
    let started = cairn_on_ok(&cluster, &["plan", "start", "job", "-p", "RUN=one"]);
    assert!(started.contains("job: started with RUN=one"), "{started}");
    plan_until(&cluster, &mut sched, "job", "the job's run", |p| {
        p["summary"]["status"] == "COMPLETE" && p["summary"]["parameters"]["RUN"] == "one"
    })
    .await;
    let shown = cairn_on_ok(&cluster, &["plan", "show", "job"]);
    assert!(shown.contains("parameters: RUN=one"), "{shown}");
    assert!(shown.contains("small-0:[job] COMPLETE"), "{shown}");

    // `stop`: idle again, its step waiting for a start.
    let stopped = cairn_on_ok(&cluster, &["plan", "stop", "job"]);
    assert!(
        stopped.contains("job: stopped; idle until `cairn plan start job`"),
        "{stopped}"
    );
    plan_until(&cluster, &mut sched, "job", "the job idle", |p| {
        step(p, "small-0:[job]")["message"]
            .as_str()
            .is_some_and(|m| m.contains("the plan is idle"))
    })
    .await;

    // `force-complete` of the waiting phase completes the deploy; `restart` undoes it.
    let forced = cairn_on_ok(&cluster, &["plan", "force-complete", "deploy", "big"]);
    assert!(
        forced.contains("phase big of plan deploy: force-complete done"),
        "{forced}"
    );
    plan_until(
        &cluster,
        &mut sched,
        "deploy",
        "the deploy force-completed",
        |p| p["summary"]["status"] == "COMPLETE",
    )
    .await;
    let restarted = cairn_on_ok(&cluster, &["plan", "restart", "deploy", "big"]);
    assert!(
        restarted.contains("phase big of plan deploy: restart done"),
        "{restarted}"
    );
    plan_until(&cluster, &mut sched, "deploy", "big-0 waiting again", |p| {
        step(p, "big-0:[server]")["status"] == "PREPARED"
    })
    .await;
    let (ok, _, err) = cli(&cluster, &["plan", "force-complete", "deploy", "nope"]);
    assert!(
        !ok && err.contains("has no phase `nope` (phases: small, big)"),
        "{err}"
    );
}
