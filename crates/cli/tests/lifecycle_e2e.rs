//! The whole life of a service started with `cairn run`, as its operator lives it: reading a
//! task's output (`cairn logs`, through the agent's `/files/read` as on Mesos), finding the
//! service from its work dir alone, a second `run` on a live work dir, `cairn cluster down`,
//! `cairn cluster agent` never acting on another cluster, and `cairn uninstall` (or `run
//! --uninstall`) after `run` was stopped. Real processes on loopback throughout.

mod pods;
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pods::Scratch;
use support::service::{cairn, output_text, ServiceScheduler};

/// A deploy of two small pods on a loaded machine.
const DEPLOY: Duration = Duration::from_secs(120);
/// A one-shot command.
const COMMAND: Duration = Duration::from_secs(60);

/// Two pods whose task counts on stdout and stderr, with a volume (so there are reservations
/// and volumes to uninstall), and a link out of its sandbox that it planted itself.
const SPEC: &str = r#"
name: ticker
pods:
  data:
    count: 2
    tasks:
      node:
        goal: RUNNING
        cmd: 'ln -sf /etc/hostname leak; i=0; while true; do i=$((i+1)); echo "tick $i"; echo "warn $i" >&2; sleep 0.3; done'
        cpus: 0.1
        memory: 32
        volume:
          path: vol
          type: ROOT
          size: 10
"#;

/// A test's directory with the spec in it, and `cairn run` of it deployed there.
fn deployed(name: &str, env: &[(&str, &str)]) -> (Scratch, ServiceScheduler) {
    let scratch = Scratch::new(&format!("lifecycle-{name}"));
    let spec = scratch.root.join("svc.yml");
    std::fs::write(&spec, SPEC).unwrap();
    let mut run = ServiceScheduler::run(
        &spec,
        &scratch.work_dir(),
        scratch.root.join("run.err"),
        &["--agents", "2"],
        env,
    );
    run.wait_for("deploy COMPLETE", DEPLOY, |l| {
        (l == "deploy COMPLETE").then_some(())
    });
    (scratch, run)
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cairn <args> --work-dir <scratch's>`.
fn in_work_dir(scratch: &Scratch, args: &[&str]) -> std::process::Output {
    let work = scratch.work_dir();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--work-dir", work.to_str().unwrap()]);
    cairn(&all, COMMAND)
}

/// The numbers of the `<word> N` lines of `text`.
fn counted(text: &str, word: &str) -> Vec<u64> {
    text.lines()
        .filter_map(|l| l.strip_prefix(word)?.trim().parse().ok())
        .collect()
}

#[test]
fn logs_prints_the_last_lines_of_a_tasks_stdout_or_stderr_and_names_the_pods_when_one_is_unknown() {
    // Logging on, so that the run's stderr (a file here) has log lines to judge.
    let (scratch, run) = deployed("logs", &[("CAIRN_LOG", "info")]);

    // The task has just started: once it wrote more than three lines, three are shown.
    let until = Instant::now() + COMMAND;
    let out = loop {
        let out = in_work_dir(&scratch, &["logs", "data-0", "--lines", "3"]);
        assert!(out.status.success(), "{}", output_text(&out));
        if counted(&text(&out), "tick ")
            .first()
            .is_some_and(|n| *n > 1)
        {
            break out;
        }
        assert!(Instant::now() < until, "{}", output_text(&out));
        std::thread::sleep(Duration::from_millis(200));
    };
    let ticks = counted(&text(&out), "tick ");
    assert_eq!(ticks.len(), 3, "{}", output_text(&out));
    assert!(
        ticks.windows(2).all(|w| w[1] == w[0] + 1),
        "three consecutive lines: {ticks:?}"
    );
    assert_eq!(text(&out).lines().count(), 3, "{}", output_text(&out));

    let out = in_work_dir(&scratch, &["logs", "data-0/node", "--stderr", "-n", "2"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        counted(&text(&out), "warn ").len(),
        2,
        "{}",
        output_text(&out)
    );
    assert!(!text(&out).contains("tick"), "{}", output_text(&out));

    for (asked, says) in [
        ("data-9", ["no pod `data-9`", "its pods: data-0, data-1"]),
        ("data-0/server", ["no task `server`", "its tasks: node"]),
    ] {
        let out = in_work_dir(&scratch, &["logs", asked]);
        assert!(!out.status.success(), "{}", output_text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(says.iter().all(|s| err.contains(s)), "{asked}: {err}");
    }

    // The run's log file has log lines, and no terminal colour codes in them.
    let log = run.stderr();
    assert!(log.contains("INFO"), "logging was on: {log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file: {log:?}");
}

#[test]
fn logs_follow_prints_new_lines_while_it_runs_and_goes_on_after_the_task_restarts() {
    let (scratch, _run) = deployed("follow", &[]);
    let work = scratch.work_dir();
    let mut follow = std::process::Command::new(support::cairn_binary())
        .args(["logs", "data-0", "-f", "-n", "1", "--work-dir"])
        .arg(&work)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line);
        }
    });
    let ticks = || counted(&lines.lock().unwrap().join("\n"), "tick ");
    let until = Instant::now() + COMMAND;
    // The last line, then lines the task writes after the command started.
    while ticks().len() < 5 {
        assert!(Instant::now() < until, "no new lines: {:?}", ticks());
        std::thread::sleep(Duration::from_millis(100));
    }
    let seen = ticks();
    assert!(
        seen.windows(2).all(|w| w[1] == w[0] + 1),
        "followed in order, nothing twice: {seen:?}"
    );

    let out = in_work_dir(&scratch, &["pod", "restart", "data-0"]);
    assert!(out.status.success(), "{}", output_text(&out));
    // The relaunched task counts from 1 again: the follower found its new sandbox.
    let until = Instant::now() + DEPLOY;
    loop {
        let now = ticks();
        if now.len() > seen.len() && now[seen.len()..].contains(&1) {
            break;
        }
        assert!(
            Instant::now() < until,
            "the restarted task's lines never came: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = follow.kill();
    let out = follow.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("data-0: relaunched as"), "{err}");
}

/// `GET <agent>/files/read` of `path` with `token`: the status.
async fn files_read(agent: &str, path: &str, token: Option<&str>) -> u16 {
    let client = support::http_client();
    let url = reqwest::Url::parse_with_params(
        &format!("http://{agent}/files/read"),
        &[("path", path), ("offset", "0")],
    )
    .unwrap();
    let mut request = client.get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn files_read_serves_only_what_is_inside_a_sandbox() {
    let (scratch, _run) = deployed("files", &[]);
    let cluster = scratch.work_dir().join("cluster");
    let token = std::fs::read_to_string(cluster.join("operator-token")).unwrap();
    let token = Some(token.trim());
    let master = std::fs::read_to_string(cluster.join("master")).unwrap();
    let get = |url: String| async move {
        let answer = support::http_client().get(&url).send().await.unwrap();
        answer.json::<serde_json::Value>().await.unwrap()
    };
    let state = get(format!("{}/state", master.trim())).await;
    let agent = state["slaves"][0]["pid"]
        .as_str()
        .and_then(|p| p.split_once('@'))
        .map(|(_, a)| a.to_string())
        .unwrap();
    let agent_state = get(format!("http://{agent}/state")).await;
    let executor = &agent_state["frameworks"][0]["executors"][0];
    let task = executor["tasks"][0]["id"].as_str().unwrap();
    let sandbox = format!("{}/tasks/{task}", executor["directory"].as_str().unwrap());

    let stdout = format!("{sandbox}/stdout");
    assert_eq!(files_read(&agent, &stdout, token).await, 200);
    assert_eq!(
        files_read(&agent, &stdout, None).await,
        401,
        "a sandbox needs the token"
    );
    let dotdot = format!("{sandbox}/../../../../../../../../operator-token");
    assert_eq!(files_read(&agent, &dotdot, token).await, 404, "{dotdot}");
    assert_eq!(files_read(&agent, "/etc/hostname", token).await, 404);
    // The task linked `leak` to /etc/hostname in its own sandbox.
    let leak = format!("{sandbox}/leak");
    let until = Instant::now() + COMMAND;
    while std::fs::symlink_metadata(Path::new(&leak)).is_err() {
        assert!(Instant::now() < until, "the task made no link");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(files_read(&agent, &leak, token).await, 403, "{leak}");
}

/// Pids of every process whose environment names a sandbox under `dir`, and of the executors
/// the agents checkpointed.
fn processes_of(dir: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = pods::pod_sessions(dir)
        .into_iter()
        .map(|s| s as u32)
        .collect();
    for f in glob_executors(dir) {
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap_or_default())
                .unwrap_or_default();
        if let Some(pid) = doc["pid"].as_u64() {
            pids.push(pid as u32);
        }
    }
    pids
}

fn glob_executors(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for agent in std::fs::read_dir(dir.join("cluster/agents"))
        .into_iter()
        .flatten()
        .flatten()
    {
        out.extend(
            std::fs::read_dir(agent.path().join("executors"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path()),
        );
    }
    out
}

fn alive(pid: u32) -> bool {
    support::pid_alive(pid)
}

#[test]
fn a_second_run_is_told_who_runs_the_work_dir_and_cluster_down_stops_them_all() {
    let (scratch, mut run) = deployed("down", &[]);
    let work = scratch.work_dir();
    let master = std::fs::read_to_string(work.join("cluster/master")).unwrap();
    let master = master.trim();

    for second in [
        vec![
            "run".to_string(),
            scratch.root.join("svc.yml").display().to_string(),
        ],
        vec!["cluster".to_string()],
    ] {
        let mut args: Vec<&str> = second.iter().map(String::as_str).collect();
        args.extend(["--listen", "127.0.0.1:0"]);
        let out = in_work_dir(&scratch, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}", output_text(&out));
        assert!(
            err.contains("running already")
                && err.contains(&format!("pid {}", run.pid()))
                && err.contains(master)
                && err.contains("cairn cluster down"),
            "{second:?}: {err}"
        );
    }
    run.assert_alive();

    let tasks = processes_of(&work);
    assert!(tasks.len() >= 2, "executors and tasks run: {tasks:?}");
    let out = in_work_dir(&scratch, &["cluster", "down"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        text(&out).contains(&format!("stopped `cairn run` (pid {}", run.pid())),
        "{}",
        output_text(&out)
    );
    assert!(run.exited(), "the run is gone");
    let left: Vec<u32> = tasks.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "still running: {left:?}");
    assert!(processes_of(&work).into_iter().all(|p| !alive(p)));

    // Nothing runs there now, and the commands that need the cluster say so.
    let out = in_work_dir(&scratch, &["cluster", "agent", "list"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no embedded cluster runs in"),
        "{}",
        output_text(&out)
    );
}

#[tokio::test]
async fn cluster_agent_refuses_a_work_dir_without_a_cluster_and_leaves_other_clusters_alone() {
    let cluster = support::ClusterProcess::start("lifecycle-agent").await;
    let empty = cluster.scratch.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let stop_0 = |work_dir: &Path, more: &[&str]| {
        let mut args = vec!["cluster", "agent", "stop", "0", "--work-dir"];
        args.push(work_dir.to_str().unwrap());
        args.extend(more);
        cairn(&args, COMMAND)
    };
    // The other cluster's token at hand, as the old default (127.0.0.1:5050) would have had.
    let token = cluster.operator_token_path();
    let out = stop_0(&empty, &["--operator-token", token.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no embedded cluster runs in") && err.contains("--master"),
        "{err}"
    );
    let agents = cluster.agents().await;
    assert!(
        agents.iter().all(|a| a["status"] == "running"),
        "{agents:?}"
    );

    // Given that cluster's work dir, the command finds it.
    let out = stop_0(cluster.service_work_dir(), &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    let agents = cluster.agents().await;
    assert_eq!(agents[0]["status"], "stopped", "{agents:?}");

    // And lists them, for people and for scripts.
    let work = cluster.service_work_dir().to_str().unwrap();
    let out = cairn(&["cluster", "agent", "list", "--work-dir", work], COMMAND);
    assert!(out.status.success(), "{}", output_text(&out));
    let rows: Vec<Vec<String>> = text(&out)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(rows[0][..4], ["INDEX", "HOSTNAME", "ENDPOINT", "STATUS"]);
    assert_eq!(rows[1][0], "0");
    assert_eq!(rows[1][3], "stopped", "{rows:?}");
    let out = cairn(
        &["cluster", "agent", "list", "--json", "--work-dir", work],
        COMMAND,
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["agents"][0]["status"], "stopped", "{doc}");
    assert_eq!(doc["agents"][1]["status"], "running", "{doc}");
}

/// What a finished uninstall leaves: no process, no volume directory, no stored service.
fn assert_nothing_left(work: &Path, tasks: &[u32]) {
    let left: Vec<u32> = tasks.iter().copied().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "tasks still running: {left:?}");
    for agent in std::fs::read_dir(work.join("cluster/agents"))
        .unwrap()
        .flatten()
    {
        let role = agent.path().join("volumes/roles/ticker-role");
        let volumes: Vec<_> = std::fs::read_dir(&role)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(volumes.is_empty(), "volumes left: {volumes:?}");
    }
    let stored = cairn::stored_targets(&work.join("state")).unwrap();
    assert!(stored.is_empty(), "the state is gone");
    assert!(
        cairn_cluster::running(&work.join("cluster"))
            .unwrap()
            .is_none(),
        "the cluster started for the uninstall stopped"
    );
}

/// The lines of an uninstall: a handful, with counts, none per reservation.
fn assert_quiet(out: &std::process::Output) {
    let stdout = text(out);
    assert!(
        !stdout
            .lines()
            .any(|l| l.contains(" unreserve-") && l.contains("PREPARED")),
        "a line per reservation: {stdout}"
    );
    assert!(stdout.lines().count() <= 25, "{stdout}");
    assert!(
        !stdout.contains("force-complete-uninstall"),
        "names an option that does not exist: {stdout}"
    );
    assert!(stdout.contains("ticker: uninstalled"), "{stdout}");
}

#[test]
fn uninstall_after_run_stopped_starts_the_cluster_itself_and_removes_everything_quietly() {
    let (scratch, mut run) = deployed("uninstall", &[]);
    let work = scratch.work_dir();
    let tasks = processes_of(&work);
    run.stop();
    assert!(tasks.iter().any(|p| alive(*p)), "tasks outlive run");

    let out = cairn(&["uninstall", "--work-dir", work.to_str().unwrap()], DEPLOY);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        text(&out).contains("no cluster runs in"),
        "{}",
        output_text(&out)
    );
    assert_quiet(&out);
    assert_nothing_left(&work, &tasks);
}

/// A master that answers `GET /version` and nothing else (every other request: 503), as one
/// that is going down does; its URL.
fn master_answering_only_version() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let answer = if head.starts_with(b"GET /version ") {
                "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}"
            } else {
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = conn.write_all(answer.as_bytes());
        }
    });
    url
}

#[test]
fn uninstall_stops_saying_so_when_the_master_does_not_answer_and_changes_nothing() {
    let (scratch, mut run) = deployed("uninstall-unreachable", &[]);
    let work = scratch.work_dir();
    run.stop();

    // Nobody listens: said at once.
    let out = in_work_dir(&scratch, &["uninstall", "--master", "http://127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the master"),
        "{}",
        output_text(&out)
    );

    // It answers the first look, then nothing more: said after --master-timeout.
    let master = master_answering_only_version();
    let started = Instant::now();
    let out = in_work_dir(
        &scratch,
        &["uninstall", "--master", &master, "--master-timeout", "2s"],
    );
    assert!(!out.status.success(), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no answer from the Mesos master at {master}"))
            && err.contains("run it again"),
        "{err}"
    );
    assert!(started.elapsed() < COMMAND, "it stopped by itself");
    assert_eq!(
        cairn::stored_targets(&work.join("state")).unwrap().len(),
        1,
        "the service is still stored"
    );
}

#[test]
fn run_with_uninstall_removes_the_service_it_had_run() {
    let (scratch, mut run) = deployed("run-uninstall", &[]);
    let work = scratch.work_dir();
    let tasks = processes_of(&work);
    run.stop();
    let spec = scratch.root.join("svc.yml");
    let out = cairn(
        &[
            "run",
            spec.to_str().unwrap(),
            "--uninstall",
            "--listen",
            "127.0.0.1:0",
            "--work-dir",
            work.to_str().unwrap(),
        ],
        DEPLOY,
    );
    assert!(out.status.success(), "{}", output_text(&out));
    assert_quiet(&out);
    assert_nothing_left(&work, &tasks);
}
