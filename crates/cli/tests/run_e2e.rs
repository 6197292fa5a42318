//! `cairn run` as a user runs it: a real process that starts the embedded cluster, deploys the
//! my-service (examples/my-service.yml) and says where everything is; stopped and run
//! again, it takes over the running pods. And `cairn run` / `cairn validate` on a bad spec.
//!
//! Pods outlive `cairn run` by design, so every test kills the sessions of the pods its work
//! directory started (found by their environment, which names the sandbox under it).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod pods;
use pods::{running_as_root, signal, Scratch, DEADLINE};

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
/// Five pods, one after another, each waiting for an offer (offers come every second).
const DEPLOY_DEADLINE: Duration = Duration::from_secs(120);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A running `cairn run`, its stdout collected line by line.
struct CairnRun {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: PathBuf,
}

impl CairnRun {
    fn start(spec: &Path, scratch: &Scratch, attempt: &str) -> CairnRun {
        let stderr = scratch.root.join(format!("stderr-{attempt}.log"));
        let mut child = Command::new(CAIRN)
            .arg("run")
            .arg(spec)
            .arg("--work-dir")
            .arg(scratch.work_dir())
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("starting cairn run");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        CairnRun {
            child,
            lines,
            stderr,
        }
    }

    fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.lines.lock().unwrap().join("\n"),
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// Waits for a line for which `f` says something; panics with the output at the deadline
    /// or when the process exits first.
    fn wait_for<T>(&mut self, what: &str, deadline: Duration, f: impl Fn(&str) -> Option<T>) -> T {
        let until = Instant::now() + deadline;
        let mut seen = 0;
        loop {
            {
                let lines = self.lines.lock().unwrap();
                if let Some(found) = lines[seen..].iter().find_map(|l| f(l)) {
                    return found;
                }
                seen = lines.len();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the reader thread drain what is left before judging.
                std::thread::sleep(Duration::from_millis(200));
                if let Some(found) = self.lines.lock().unwrap().iter().find_map(|l| f(l)) {
                    return found;
                }
                panic!(
                    "cairn run exited ({status}) before {what}\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < until,
                "timed out after {deadline:?} waiting for {what}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The "where things are" table printed after `after` lines: pod -> (hostname, task
    /// name, volume dirs, sandbox). Waits until it is complete.
    fn wait_for_table(&mut self, pods: usize, after: usize) -> BTreeMap<String, PodRow> {
        let until = Instant::now() + DEPLOY_DEADLINE;
        loop {
            let lines = self.lines.lock().unwrap()[after..].to_vec();
            if let Some(start) = lines.iter().rposition(|l| l.contains(" is deployed: ")) {
                let table = parse_table(&lines[start + 1..]);
                if table.len() == pods && table.values().all(|p| !p.volumes.is_empty()) {
                    return table;
                }
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for the table of {pods} pods\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// SIGTERM, as a service manager stops it; waits for the exit.
    fn stop(&mut self) -> ExitStatus {
        signal(self.child.id(), libc::SIGTERM);
        let until = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(200));
                return status;
            }
            assert!(
                Instant::now() < until,
                "cairn run did not stop\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for CairnRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone, PartialEq)]
struct PodRow {
    hostname: String,
    task: String,
    state: String,
    volumes: Vec<PathBuf>,
    sandbox: Option<PathBuf>,
}

fn parse_table(lines: &[String]) -> BTreeMap<String, PodRow> {
    let mut pods = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in lines {
        let indent = line.len() - line.trim_start().len();
        let words: Vec<&str> = line.split_whitespace().collect();
        match (indent, words.as_slice()) {
            (2, [pod, "on", host, ..]) => {
                current = Some(pod.to_string());
                pods.insert(
                    pod.to_string(),
                    PodRow {
                        hostname: host.to_string(),
                        task: String::new(),
                        state: String::new(),
                        volumes: vec![],
                        sandbox: None,
                    },
                );
            }
            (4, [task, state]) => {
                if let Some(p) = current.as_ref().and_then(|c| pods.get_mut(c)) {
                    p.task = task.to_string();
                    p.state = state.to_string();
                }
            }
            (6, ["volume", path]) => {
                if let Some(p) = current.as_ref().and_then(|c| pods.get_mut(c)) {
                    p.volumes.push(PathBuf::from(path));
                }
            }
            (6, ["sandbox", path]) => {
                if let Some(p) = current.as_ref().and_then(|c| pods.get_mut(c)) {
                    p.sandbox = Some(PathBuf::from(path));
                }
            }
            _ => break,
        }
    }
    pods
}

fn operator(master: &str, call: Value) -> Value {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("{master}/api/v1"))
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .body(call.to_string())
            .timeout(DEADLINE)
            .send()
            .await
            .expect("the operator API answers");
        assert!(
            resp.status().is_success(),
            "operator call {call}: {}",
            resp.status()
        );
        resp.json().await.expect("operator JSON")
    })
}

/// Task id -> state, of the framework's tasks as the master knows them.
fn master_tasks(master: &str) -> BTreeMap<String, String> {
    let reply = operator(master, json!({"type": "GET_TASKS"}));
    reply["get_tasks"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|t| {
            (
                t["task_id"]["value"].as_str().unwrap_or("").to_string(),
                t["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn read_marker(volume: &Path) -> String {
    let until = Instant::now() + DEADLINE;
    loop {
        if let Ok(text) = std::fs::read_to_string(volume.join("marker")) {
            if !text.is_empty() {
                return text;
            }
        }
        assert!(
            Instant::now() < until,
            "no marker in {} after {DEADLINE:?}",
            volume.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn cairn_run_deploys_my_service_and_a_second_run_takes_over_without_relaunching() {
    let scratch = Scratch::new("my-service");
    let spec = repo_root().join("examples/my-service.yml");
    let started = Instant::now();
    let mut run = CairnRun::start(&spec, &scratch, "first");

    let master = run.wait_for("the embedded cluster", DEADLINE, |l| {
        l.strip_prefix("embedded cluster: master ")
            .and_then(|rest| rest.split(',').next())
            .map(str::to_string)
    });
    run.wait_for("deploy COMPLETE", DEPLOY_DEADLINE, |l| {
        (l == "deploy COMPLETE").then_some(())
    });
    let table = run.wait_for_table(5, 0);
    println!("deployed in {:?}\n{}", started.elapsed(), run.output());

    // Five pods, each running its one task with a volume of its own.
    assert_eq!(
        table.keys().cloned().collect::<Vec<_>>(),
        ["data-0", "data-1", "data-2", "metadata-0", "metadata-1"]
    );
    let volumes: BTreeSet<&PathBuf> = table.values().flat_map(|p| &p.volumes).collect();
    assert_eq!(volumes.len(), 5, "one volume per pod: {table:#?}");
    for (pod, row) in &table {
        assert_eq!(row.task, format!("{pod}-node"));
        assert_eq!(row.state, "TASK_RUNNING", "{pod}: {row:?}");
        assert!(
            row.volumes[0].starts_with(scratch.work_dir().join("cluster/agents")),
            "{pod}'s volume is on an agent of the embedded cluster: {row:?}"
        );
        // The task wrote its name into its own volume: the volume is what the task saw.
        assert_eq!(read_marker(&row.volumes[0]), format!("{pod}-node\n"));
        // Its sandbox is its own container's, as on Mesos, where its output is.
        let sandbox = row.sandbox.clone().unwrap_or_default();
        assert!(
            sandbox.parent().is_some_and(|p| p.ends_with("containers"))
                && sandbox.join("stdout").exists(),
            "{pod}'s sandbox is a task container's: {row:?}"
        );
        // As the service's user (the spec names none: nobody), even though cairn runs as root.
        if running_as_root() {
            let owner = std::fs::metadata(row.volumes[0].join("marker"))
                .unwrap()
                .uid();
            assert_eq!(owner, 65534, "{pod}'s marker was written by nobody");
        }
    }

    // What cairn keeps is private: the state store, the API's address, the checkpoints.
    let work = scratch.work_dir();
    let mode = |p: &Path| {
        format!(
            "{:o}",
            std::fs::metadata(p).unwrap().permissions().mode() & 0o777
        )
    };
    for private_dir in [work.join("state"), work.join("state/my-service")] {
        assert_eq!(mode(&private_dir), "700", "{}", private_dir.display());
    }
    for private_file in [
        "state/my-service/FrameworkID",
        "state/my-service.api",
        "cluster/master.json",
        "cluster/agents/0/agent.json",
    ] {
        assert_eq!(mode(&work.join(private_file)), "600", "{private_file}");
    }
    let checkpoints: Vec<PathBuf> = (0..3)
        .map(|i| work.join(format!("cluster/agents/{i}/executors")))
        .filter(|d| d.exists())
        .collect();
    assert!(!checkpoints.is_empty());
    for dir in checkpoints {
        assert_eq!(mode(&dir), "700", "{}", dir.display());
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            assert_eq!(mode(&file), "600", "{}", file.display());
        }
    }
    // Task users pass through the cluster's directories to their sandboxes, never list them.
    let passage = if running_as_root() { "711" } else { "700" };
    assert_eq!(mode(&work.join("cluster")), passage);
    // MAX_PER 2 per hostname: three data nodes need at least two agents.
    let data_hosts: BTreeSet<&str> = table
        .iter()
        .filter(|(p, _)| p.starts_with("data-"))
        .map(|(_, r)| r.hostname.as_str())
        .collect();
    assert!(data_hosts.len() >= 2, "{table:#?}");

    // The master agrees: five running tasks.
    let tasks = master_tasks(&master);
    assert_eq!(tasks.len(), 5, "{tasks:#?}");
    assert!(tasks.values().all(|s| s == "TASK_RUNNING"), "{tasks:#?}");

    // Every reservation of the service carries a resource_id label, and the five volumes are
    // on the agents as reserved, labelled disks (the memory of placement).
    let agents = operator(&master, json!({"type": "GET_AGENTS"}));
    let mut persistence_ids = BTreeSet::new();
    let mut reserved = 0;
    for agent in agents["get_agents"]["agents"].as_array().unwrap() {
        for r in agent["total_resources"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let Some(reservation) = r["reservations"].as_array().and_then(|rs| rs.last()) else {
                continue;
            };
            if reservation["role"] != "my-service-role" {
                continue;
            }
            reserved += 1;
            let labels = reservation["labels"]["labels"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                labels.iter().any(|l| l["key"] == "resource_id"
                    && l["value"].as_str().is_some_and(|v| !v.is_empty())),
                "a reservation without a resource_id label: {r}"
            );
            if let Some(id) = r["disk"]["persistence"]["id"].as_str() {
                persistence_ids.insert(id.to_string());
            }
        }
    }
    assert!(
        reserved >= 15,
        "cpus, mem and disk of five pods are reserved: {reserved}"
    );
    let volume_names: BTreeSet<String> = volumes
        .iter()
        .map(|v| v.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(persistence_ids, volume_names);

    // Stopped, it leaves the pods running.
    let status = run.stop();
    assert!(
        status.success(),
        "cairn run exits 0 when stopped\n{}",
        run.output()
    );
    assert!(run.output().contains("stopped. Tasks keep running"));
    let framework = run.wait_for("the framework id", DEADLINE, |l| {
        l.strip_prefix("connected to ")
            .and_then(|rest| rest.split(" as framework ").nth(1))
            .map(str::to_string)
    });
    drop(run);

    // Run again: it takes over the same framework and finds everything where it was.
    let mut again = CairnRun::start(&spec, &scratch, "second");
    let taken_over = again.wait_for("taking over", DEADLINE, |l| {
        l.split("taking over framework ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .map(str::to_string)
    });
    assert_eq!(taken_over, framework);
    let master = again.wait_for("the embedded cluster", DEADLINE, |l| {
        l.strip_prefix("embedded cluster: master ")
            .and_then(|rest| rest.split(',').next())
            .map(str::to_string)
    });
    again.wait_for("the subscription", DEADLINE, |l| {
        l.starts_with("connected to ").then_some(())
    });
    let table_again = again.wait_for_table(5, 0);
    assert_eq!(
        table_again, table,
        "every pod is where it was, with its volume"
    );
    assert_eq!(
        master_tasks(&master),
        tasks,
        "the same tasks, still running: nothing was relaunched"
    );
    for row in table.values() {
        assert_eq!(
            read_marker(&row.volumes[0]).lines().count(),
            1,
            "a relaunch would have marked the volume again: {row:?}"
        );
    }
    let _ = again.line_count();
}

/// This process's hard limit of open files.
fn own_open_files_hard_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    open_files_limits(&limits).1
}

/// (soft, hard) of the `Max open files` line of a `/proc/<pid>/limits`.
fn open_files_limits(limits: &str) -> (u64, u64) {
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("no open files line in {limits}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

/// The pid of the `sh` running a task's command: the process whose environment names the task
/// and a sandbox below `root`, and whose parent does not (the command's own children inherit
/// both).
fn task_command_pid(root: &Path, task_name: &str) -> Option<u32> {
    let name = format!("TASK_NAME={task_name}");
    let root = root.display().to_string();
    let is_task = |pid: u32| {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let environ = String::from_utf8_lossy(&environ);
        environ.split('\0').any(|v| v == name) && environ.contains(&root)
    };
    let parent = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat[stat.rfind(')')? + 2..]
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&pid| is_task(pid) && !parent(pid).is_some_and(is_task))
}

#[test]
fn hello_world_deploys_on_hosts_of_its_own_and_every_task_runs_with_its_pods_resource_limits() {
    let scratch = Scratch::new("hello-world");
    // With CAP_SYS_RESOURCE the cluster grants more open files than it has itself, as a root
    // Mesos agent with `posix/rlimits` does (the database-sized 128000 of the SDK's
    // hello-world); without, it grants up to its own hard limit.
    let own = own_open_files_hard_limit();
    let hard = if cairn_cluster::executor::rlimits::may_raise_hard_limits() {
        own.saturating_add(1).max(128_000)
    } else {
        own.min(4096)
    };
    let hello = (hard - 1, hard);
    let world = (hard / 2, hard);
    let example = std::fs::read_to_string(repo_root().join("examples/hello-world.yml")).unwrap();
    let text = example
        .replacen(
            "RLIMIT_NOFILE:\n        soft: 2048\n        hard: 4096",
            &format!(
                "RLIMIT_NOFILE:\n        soft: {}\n        hard: {}",
                hello.0, hello.1
            ),
            1,
        )
        .replacen(
            "RLIMIT_NOFILE:\n        soft: 1024\n        hard: 4096",
            &format!(
                "RLIMIT_NOFILE:\n        soft: {}\n        hard: {}",
                world.0, world.1
            ),
            1,
        );
    assert_ne!(text, example, "the example's limits were replaced");
    let spec = scratch.root.join("hello-world.yml");
    std::fs::write(&spec, text).unwrap();

    let mut run = CairnRun::start(&spec, &scratch, "first");
    run.wait_for("deploy COMPLETE", DEPLOY_DEADLINE, |l| {
        (l == "deploy COMPLETE").then_some(())
    });
    let table = run.wait_for_table(3, 0);
    assert_eq!(
        table.keys().cloned().collect::<Vec<_>>(),
        ["hello-0", "world-0", "world-1"]
    );
    assert_ne!(
        table["world-0"].hostname, table["world-1"].hostname,
        "hostname:UNIQUE: {table:#?}"
    );
    for (pod, row) in &table {
        assert_eq!(row.state, "TASK_RUNNING", "{pod}: {row:?}");
        let pid = task_command_pid(&scratch.root, &row.task)
            .unwrap_or_else(|| panic!("no process of {}", row.task));
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let expected = if pod.starts_with("hello") {
            hello
        } else {
            world
        };
        assert_eq!(open_files_limits(&limits), expected, "{pod}:\n{limits}");
        if pod.starts_with("world") {
            let core = limits
                .lines()
                .find(|l| l.starts_with("Max core file size"))
                .unwrap();
            assert_eq!(
                core.split_whitespace().filter(|w| *w == "0").count(),
                2,
                "{pod}: {core}"
            );
        }
    }
    run.stop();
}

#[test]
fn cairn_run_as_root_refuses_a_work_dir_its_service_user_cannot_reach_and_says_what_to_do() {
    if !running_as_root() {
        eprintln!(
            "skipped: only cairn run as root switches its tasks to the service's user, and this \
             test does not run as root"
        );
        return;
    }
    // Goal: a clone in a private home directory fails at once, saying why and what to do,
    // instead of deploying pods that cannot reach their sandboxes (or running them as root).
    let scratch = Scratch::new("unreachable");
    let home = scratch.root.join("home");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let work_dir = home.join("clone/.cairn");
    let mut child = Command::new(CAIRN)
        .arg("run")
        .arg(repo_root().join("examples/my-service.yml"))
        .arg("--work-dir")
        .arg(&work_dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cairn run");
    let until = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cairn run did not refuse the unreachable work dir: it kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    for expected in [
        "user 'nobody' cannot reach",
        &format!("{} (0700", home.display()),
        "--work-dir",
    ] {
        assert!(
            stderr.contains(expected),
            "`{expected}` missing from:\n{stderr}"
        );
    }
    assert!(
        !work_dir.exists(),
        "nothing is started or written when the user cannot reach the work dir"
    );
}

#[test]
fn cairn_run_with_a_bad_spec_names_every_problem_and_launches_nothing() {
    let scratch = Scratch::new("bad-spec");
    let spec = scratch.root.join("bad.yml");
    std::fs::write(
        &spec,
        r#"
name: my-service
pods:
  metadata:
    count: 2
    tasks:
      node:
        goal: RUNNING
        cmd: 'sleep 100000'
        cpus: 0
        memory: 64
        volume: {path: my-service-container-path, type: ROOT, size: 0}
  data:
    count: 3
    placement: '[["hostname", "SOMETIMES"]]'
    tasks:
      node: {goal: RUNNING, cmd: '', cpus: 0.1, memory: 64}
"#,
    )
    .unwrap();
    let out = Command::new(CAIRN)
        .arg("run")
        .arg(&spec)
        .arg("--work-dir")
        .arg(scratch.work_dir())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("running cairn run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a bad spec must fail: {stderr}");
    for path in [
        "pods.metadata.tasks.node.cpus",
        "pods.metadata.tasks.node.volume.size",
        "pods.data.placement",
        "pods.data.tasks.node.cmd",
    ] {
        assert!(stderr.contains(path), "{path} is not named in:\n{stderr}");
    }
    assert!(stderr.contains(&spec.display().to_string()), "{stderr}");
    assert!(
        !scratch.work_dir().exists(),
        "nothing is started or written for a bad spec"
    );

    let validate = Command::new(CAIRN)
        .arg("validate")
        .arg(&spec)
        .output()
        .unwrap();
    assert!(!validate.status.success());
    assert!(String::from_utf8_lossy(&validate.stderr).contains("4 problems"));
}

// Goal: `cairn validate` shows every problem of a svc.yml at once, each with the line to fix,
// in the order of the file, and fails. Method: a spec with an unknown key, a negative cpus and
// a repeated key, the first and last of which the YAML library reports one at a time.
#[test]
fn cairn_validate_prints_every_problem_with_its_line_and_fails() {
    let scratch = Scratch::new("validate-lines");
    let spec = scratch.root.join("svc.yml");
    std::fs::write(
        &spec,
        "\
name: svc
pods:
  data:
    count: 1
    placment: 'hostname:UNIQUE'
    tasks:
      node:
        cmd: run
        cpus: -1
        memory: 32
        memory: 64
",
    )
    .unwrap();
    let out = Command::new(CAIRN)
        .arg("validate")
        .arg(&spec)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let listed = format!(
        "{}: 3 problems in the service spec:\n  \
         pods.data.placment: unknown key (did you mean `placement`?) (line 5)\n  \
         pods.data.tasks.node.cpus: must be > 0 (line 9)\n  \
         pods.data.tasks.node.memory: duplicate key (line 11)",
        spec.display()
    );
    assert!(stderr.contains(&listed), "{stderr}");
}

/// `cairn validate SPEC` of a good spec: its output holds every line of `expected`.
fn validate_prints(spec: &Path, expected: &[&str]) {
    let out = Command::new(CAIRN)
        .arg("validate")
        .arg(spec)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in expected {
        assert!(
            stdout.contains(expected),
            "`{expected}` missing from:\n{stdout}"
        );
    }
}

#[test]
fn cairn_validate_prints_the_deploy_plan_of_a_good_spec() {
    validate_prints(
        &repo_root().join("examples/my-service.yml"),
        &[
            "plan deploy (serial)",
            "phase metadata (serial)",
            "step metadata-1:[node]",
            "phase data (serial)",
            "step data-2:[node]",
        ],
    );
}

#[test]
fn cairn_validate_piped_into_a_reader_that_stops_early_ends_quietly_without_a_panic() {
    // `cairn validate spec | head -1`: the reader closes the pipe before the plan is printed.
    // A pipe whose reader is gone before the first write makes every write fail, the way
    // `head` leaves it once it has its line.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(CAIRN)
        .args(["validate", "examples/zookeeper.yml"])
        .current_dir(repo_root())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("cairn validate runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked"),
        "a closed pipe is no panic:\n{stderr}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "it ends as Unix tools end on a closed pipe: {:?}, stderr:\n{stderr}",
        out.status
    );
}

#[test]
fn cairn_validate_says_which_plans_of_the_spec_are_not_run() {
    // Goal: a spec's sidecar plan (a backup, a repair) is not dropped in silence: cairn
    // cannot start it yet, and says so, with the steps it would run. Method: a spec with a
    // `backup` plan over its two pods.
    let scratch = Scratch::new("plans-not-run");
    let spec = scratch.root.join("svc.yml");
    std::fs::write(
        &spec,
        r#"
name: svc
pods:
  data:
    count: 2
    tasks:
      node: {goal: RUNNING, cmd: 'sleep 100000', cpus: 0.1, memory: 32}
      backup: {goal: FINISH, cmd: 'true', cpus: 0.1, memory: 32}
plans:
  deploy:
    phases:
      nodes: {pod: data, steps: [{default: [[node]]}]}
  backup:
    strategy: serial
    phases:
      backup:
        pod: data
        steps: [{default: [[backup]]}]
"#,
    )
    .unwrap();
    validate_prints(
        &spec,
        &[
            "plan deploy (serial)",
            "plan backup (serial): idle until started: cairn plan start backup [-p KEY=VALUE]...",
            "    step data-1:[backup]",
        ],
    );
}

/// `cairn validate SPEC` with its address space capped (a regression that allocates in
/// proportion to a number must fail alone, not take the machine's memory), given `limit` to
/// finish: its exit status and stderr, or a panic when it runs longer.
fn validate_within(spec: &Path, limit: Duration) -> (ExitStatus, String) {
    let stderr = spec.with_extension("stderr");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 1048576 && exec \"$0\" validate \"$1\"")
        .arg(CAIRN)
        .arg(spec)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "cairn validate {} ran longer than {limit:?}",
                spec.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, std::fs::read_to_string(&stderr).unwrap_or_default())
}

// Goal: `cairn validate` refuses what would make a scheduler unbounded, at once and naming the
// limit: the count that once aborted it on an allocation failure, and a YAML nested 100,000
// deep that kept its parser busy for more than 30 s. Method: each spec validated with a
// deadline (the process's start included) and an address-space cap.
#[test]
fn cairn_validate_refuses_an_unbounded_or_deeply_nested_spec_at_once_naming_the_limit() {
    let scratch = Scratch::new("validate-limits");
    let huge = scratch.root.join("huge.yml");
    std::fs::write(
        &huge,
        "name: svc\npods:\n  data:\n    count: 4294967295\n    tasks:\n      node: {cmd: run, cpus: 0.1, memory: 32}\n",
    )
    .unwrap();
    let (status, stderr) = validate_within(&huge, Duration::from_secs(10));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "pods.data.count: 4294967295 is more than the limit of 10000 pod instances per pod type"
        ),
        "{stderr}"
    );

    let deep = scratch.root.join("deep.yml");
    let n = 100_000;
    std::fs::write(&deep, format!("name: {}{}\n", "[".repeat(n), "]".repeat(n))).unwrap();
    let (status, stderr) = validate_within(&deep, Duration::from_secs(3));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "line 1: nests 100001 levels deep, more than the limit of 32 levels of nesting"
        ),
        "{stderr}"
    );

    let large = scratch.root.join("large.yml");
    std::fs::write(&large, format!("# {}\n", "x".repeat(4 << 20))).unwrap();
    let (status, stderr) = validate_within(&large, Duration::from_secs(3));
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "spec: the file is 4194307 bytes long, more than the limit of 1048575 bytes per spec"
        ),
        "{stderr}"
    );
}

#[test]
fn a_crash_looping_task_is_told_by_cairn_run_with_its_exit_code_and_stderr_within_seconds() {
    // Goal: an operator watching `cairn run` learns why a task fails without opening its
    // sandbox: one line per failure, with the exit code and the last lines of its stderr, and
    // the loop called a loop once it is one.
    let scratch = Scratch::new("crash-loop");
    let spec = scratch.root.join("crashy.yml");
    std::fs::write(
        &spec,
        r#"name: crashy
pods:
  web:
    count: 1
    tasks:
      server:
        goal: RUNNING
        cmd: "echo starting; echo 'config line 3: bad value' >&2; echo 'fatal: cannot bind :80' >&2; exit 3"
        cpus: 0.1
        memory: 32
"#,
    )
    .unwrap();
    let mut run = CairnRun::start(&spec, &scratch, "first");
    let want =
        "pod web-0: web-0-server failed: exit 3: config line 3: bad value | fatal: cannot bind :80";
    let first = run.wait_for("the first failure's line", DEPLOY_DEADLINE, |l| {
        l.starts_with(want).then(|| l.to_string())
    });
    assert!(
        first.contains("relaunch in"),
        "the line says when it is tried again: {first}"
    );
    // The backoff doubles from about 2 s: the third failure comes within a minute.
    run.wait_for("the crash loop called one", Duration::from_secs(60), |l| {
        (l.starts_with(want) && l.contains("crash-looping: 3 failures")).then_some(())
    });
}
