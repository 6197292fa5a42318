//! Stable task names on the embedded cluster: every task of a service is
//! `<pod>-<index>-<task>.<service>.<domain>`, and tasks resolve those names to the address of
//! the agent that runs the task, as Mesos-DNS resolves them on a real cluster.
//!
//! Real processes: `cairn cluster`, `cairn scheduler` and real tasks that look names up with
//! `getent hosts` (the system's resolver, reading `/etc/hosts`) over and over and write what
//! they found into their volume, where the test reads it.

mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use support::service::{cairn, output_text, ServiceScheduler};
use support::{ClusterOptions, ClusterProcess};

/// How long a deploy, or a change to show in a task's lookups, may take. Generous: the
/// machine is shared.
const DEADLINE: Duration = Duration::from_secs(120);
const SERVICE: &str = "dnsvc";
const ROLE: &str = "dnsvc-role";

/// Two members, one per agent, each looking up both members' names, the name of a pod that
/// can never be placed (it asks for more CPUs than any agent has) and `localhost` (one of the
/// machine's own names), five times a second; each round's answers replace the last in
/// `data/resolved`, one `<name> <address or none>` line each.
fn spec() -> String {
    format!(
        r#"
name: {SERVICE}
pods:
  member:
    count: 2
    placement: '[["hostname", "UNIQUE"]]'
    tasks:
      node:
        goal: RUNNING
        cpus: 0.1
        memory: 32
        volume: {{path: data, type: ROOT, size: 10}}
        cmd: |
          while :; do
            for n in member-0-node.$FRAMEWORK_HOST member-1-node.$FRAMEWORK_HOST never-0-server.$FRAMEWORK_HOST localhost; do
              a=$(getent hosts "$n" | awk '{{print $1; exit}}')
              echo "$n ${{a:-none}}"
            done > data/resolved.tmp
            mv data/resolved.tmp data/resolved
            sleep 0.2
          done
  never:
    count: 1
    tasks:
      server:
        goal: RUNNING
        cpus: 1000
        memory: 32
        cmd: exec sleep 100000
"#
    )
}

/// A running member: its task id, agent index and address, and its volume.
#[derive(Debug, Clone, PartialEq)]
struct Member {
    task_id: String,
    agent: usize,
    ip: String,
    volume: String,
}

/// The running members, by pod instance (`member-0`).
async fn members(cluster: &ClusterProcess) -> BTreeMap<String, Member> {
    let agents = cluster.agents().await;
    let mut out = BTreeMap::new();
    for t in cluster.running_tasks_json().await {
        let name = t["name"].as_str().unwrap_or("");
        let Some(pod) = name.strip_suffix("-node") else {
            continue;
        };
        let agent_id = t["agent_id"]["value"].as_str().unwrap_or("");
        let Some(agent) = agents.iter().find(|a| a["id"].as_str() == Some(agent_id)) else {
            continue;
        };
        let volume = t["resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .find_map(|r| r["disk"]["persistence"]["id"].as_str().map(str::to_string))
            .unwrap_or_default();
        out.insert(
            pod.to_string(),
            Member {
                task_id: t["task_id"]["value"].as_str().unwrap_or("").to_string(),
                agent: agent["index"].as_u64().unwrap() as usize,
                ip: agent["hostname"].as_str().unwrap_or("").to_string(),
                volume,
            },
        );
    }
    out
}

/// What a member's task resolved last, name → address (`none` when it did not resolve).
fn resolved(cluster: &ClusterProcess, m: &Member) -> BTreeMap<String, String> {
    let file = cluster
        .volume_dir(m.agent, ROLE, &m.volume)
        .join("resolved");
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .collect()
}

fn host(pod_task: &str) -> String {
    format!("{pod_task}.{SERVICE}.mesos")
}

/// Waits until `m`'s task (the same task, already running) resolves member-0 and member-1 as
/// `want` says (an address, or `none`), the unplaced pod's name not at all, and `localhost`.
async fn resolves(
    what: &str,
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    m: &Member,
    want: [&str; 2],
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let seen = resolved(cluster, m);
        let ok = seen.get(&host("member-0-node")).map(String::as_str) == Some(want[0])
            && seen.get(&host("member-1-node")).map(String::as_str) == Some(want[1])
            && seen.get(&host("never-0-server")).map(String::as_str) == Some("none")
            && seen.get("localhost").is_some_and(|a| a != "none");
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: after {DEADLINE:?} the task resolves {seen:#?}, not member-0 {}, member-1 {}, \
             never-0 none, localhost\n--- hosts file ---\n{}\n{}",
            want[0],
            want[1],
            std::fs::read_to_string(cluster.work_dir.join("hosts")).unwrap_or_default(),
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Deploys the spec on a fresh 3-agent cluster and waits for both members to run.
async fn deployed(name: &str) -> (ClusterProcess, ServiceScheduler, BTreeMap<String, Member>) {
    deployed_with(name, ClusterOptions::default()).await
}

async fn deployed_with(
    name: &str,
    options: ClusterOptions,
) -> (ClusterProcess, ServiceScheduler, BTreeMap<String, Member>) {
    let cluster = ClusterProcess::start_with(name, options).await;
    let spec_file = cluster.scratch.join("svc.yml");
    std::fs::write(&spec_file, spec()).unwrap();
    let mut sched = ServiceScheduler::on_cluster(&cluster, &spec_file, 1, &[]);
    let deadline = Instant::now() + DEADLINE;
    loop {
        sched.assert_alive();
        let m = members(&cluster).await;
        if m.len() == 2 && m.values().all(|m| !m.volume.is_empty()) {
            return (cluster, sched, m);
        }
        assert!(
            Instant::now() < deadline,
            "the members did not run within {DEADLINE:?}: {m:#?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_resolves_its_own_and_a_sibling_pod_s_stable_name_to_their_agents_and_an_unplaced_pod_s_name_not_at_all(
) {
    // Goal: the names a service's members find each other by resolve, inside the tasks, to
    // the address of the agent running each; a pod not placed has no address (a member can
    // wait for it); the machine's own names still resolve and its /etc/hosts is untouched.
    // Method: two members on two agents, and a pod no agent can hold; read each member's
    // lookups from its volume.
    let machine_hosts = std::fs::read("/etc/hosts").unwrap();
    let machine_inode = std::fs::metadata("/etc/hosts").unwrap().ino();
    let (cluster, mut sched, m) = deployed("stable-names").await;
    assert_ne!(m["member-0"].ip, m["member-1"].ip, "one member per agent");
    let want = [m["member-0"].ip.as_str(), m["member-1"].ip.as_str()];
    for member in m.values() {
        resolves("deployed", &cluster, &mut sched, member, want).await;
    }
    assert_eq!(
        std::fs::read("/etc/hosts").unwrap(),
        machine_hosts,
        "the machine's /etc/hosts is untouched"
    );
    assert_eq!(
        std::fs::metadata("/etc/hosts").unwrap().ino(),
        machine_inode
    );
    sched.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn after_a_cluster_restart_and_a_pod_replace_a_running_task_resolves_the_replaced_pod_at_its_new_agent(
) {
    // Goal: a task's view of the names follows the cluster while the task runs: across a
    // kill -9 and restart of `cairn cluster` (its executors outlive it, holding the hosts file
    // the restarted cluster must go on writing), a pod whose agent is lost stops resolving, and
    // once `cairn pod replace` moves it the name resolves to its new agent. Method: member-0's
    // task, started before all of it, is the one whose lookups are read.
    let machine_hosts = std::fs::read("/etc/hosts").unwrap();
    let (mut cluster, mut sched, m) = deployed("stable-names-replace").await;
    let (m0, m1) = (m["member-0"].clone(), m["member-1"].clone());
    resolves("deployed", &cluster, &mut sched, &m0, [&m0.ip, &m1.ip]).await;

    cluster.kill9();
    cluster.start_again().await;

    // member-1's agent is lost for good: its task is gone, and so is its name.
    cluster.agent_action(m1.agent, "lose").await;
    resolves(
        "member-1's agent lost",
        &cluster,
        &mut sched,
        &m0,
        [&m0.ip, "none"],
    )
    .await;

    let state = cluster.scratch.join("state");
    let out = tokio::task::spawn_blocking(move || {
        cairn(
            &[
                "pod",
                "replace",
                "member-1",
                "--state-dir",
                state.to_str().unwrap(),
            ],
            DEADLINE,
        )
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let deadline = Instant::now() + DEADLINE;
    let moved = loop {
        sched.assert_alive();
        if let Some(new) = members(&cluster).await.remove("member-1") {
            break new;
        }
        assert!(
            Instant::now() < deadline,
            "member-1 was not replaced within {DEADLINE:?}\n{}",
            sched.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        moved.agent != m1.agent && moved.agent != m0.agent,
        "member-1 moved to the third agent: {moved:?}"
    );
    resolves(
        "member-1 replaced",
        &cluster,
        &mut sched,
        &m0,
        [&m0.ip, &moved.ip],
    )
    .await;
    assert_eq!(
        members(&cluster).await["member-0"].task_id,
        m0.task_id,
        "the lookups came from the task started before the restart"
    );
    assert_eq!(std::fs::read("/etc/hosts").unwrap(), machine_hosts);
    sched.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_that_may_not_make_mount_namespaces_says_so_once_and_runs_the_tasks_without_them()
{
    // Goal: without the privilege (CAP_SYS_ADMIN) the namespaces need, the cluster says once,
    // when it starts, what does not work, and runs tasks all the same; nothing it does touches
    // the machine's /etc/hosts. Method: the cluster started through `setpriv` with
    // CAP_SYS_ADMIN out of its bounding set; the members run and find no member's name.
    let machine_hosts = std::fs::read("/etc/hosts").unwrap();
    let options = ClusterOptions {
        wrapper: [
            "setpriv",
            "--bounding-set",
            "-sys_admin",
            "--inh-caps",
            "-sys_admin",
        ]
        .map(String::from)
        .to_vec(),
        ..ClusterOptions::default()
    };
    let (cluster, mut sched, m) = deployed_with("stable-names-unprivileged", options).await;
    for member in m.values() {
        resolves(
            "unprivileged",
            &cluster,
            &mut sched,
            member,
            ["none", "none"],
        )
        .await;
    }
    let log = cluster.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("tasks cannot resolve their stable names"))
        .collect();
    assert_eq!(warnings.len(), 1, "one warning at start:\n{log}");
    assert!(
        warnings[0].contains("mount namespace") && warnings[0].contains("CAP_SYS_ADMIN"),
        "{}",
        warnings[0]
    );
    assert_eq!(std::fs::read("/etc/hosts").unwrap(), machine_hosts);
    sched.stop();
}
