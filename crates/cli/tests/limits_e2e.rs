//! The embedded cluster under abuse, with the real binary: clients that send half a request or
//! never read their events, frameworks that sit on offers, and work directories that lost a
//! file. Each test checks what a user of the cluster would notice.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_proto::scheduler::{Call, EventType, ReconcileTask};
use cairn_proto::{FrameworkId, Labels, TaskId, TaskState};
use reqwest::StatusCode;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROLE: &str = "limits";

// ---------------------------------------------------------------------------
// Raw connections
// ---------------------------------------------------------------------------

/// Sends `bytes` on a fresh connection to `addr` and reads until the server closes it; what
/// it answered and how long that took, or `None` if it was still open after `within`.
async fn closed_within(addr: &str, bytes: &[u8], within: Duration) -> Option<(Duration, String)> {
    let mut conn = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    conn.write_all(bytes)
        .await
        .expect("sending the partial request");
    let start = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((start + within).into(), conn.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((start.elapsed(), String::from_utf8_lossy(&answer).into()))
            }
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

/// The three ways to leave a request unfinished: half a request line, half the headers, and
/// a body shorter than its Content-Length.
fn partial_requests(path: &str) -> [(&'static str, Vec<u8>); 3] {
    [
        ("half a request line", format!("POST {path}").into_bytes()),
        (
            "half the headers",
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Ty").into_bytes(),
        ),
        (
            "a body shorter than its Content-Length",
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: 100\r\n\r\n{{\"type\":"
            )
            .into_bytes(),
        ),
    ]
}

/// The default header and body timeouts of every cairn server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

async fn get_ok(url: &str, token: Option<&str>) {
    let mut req = http_client().get(url);
    if let Some(t) = token {
        req = req.header(
            "Authorization",
            cairn_cluster::auth::bearer_authorization(t),
        );
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
}

#[tokio::test]
async fn partial_requests_are_closed_by_the_master_an_agent_and_the_scheduler_api_in_time_and_others_are_served_meanwhile(
) {
    let cluster = ClusterProcess::start("partial-requests").await;
    let master = cluster.master.trim_start_matches("http://").to_string();
    let agent = cluster.agents().await[0]["endpoint"]
        .as_str()
        .expect("an agent endpoint")
        .to_string();
    // The scheduler's API, as `cairn run` serves it.
    let (_snapshot_tx, snapshot) = tokio::sync::watch::channel(cairn::driver::Snapshot::default());
    let (requests, _requests_rx) = tokio::sync::mpsc::unbounded_channel();
    let api = cairn::api::ApiServer::start(
        "127.0.0.1:0".parse().unwrap(),
        "limits",
        snapshot,
        requests,
        None,
    )
    .await
    .expect("the scheduler API starts");
    let api_token = api.token().to_string();
    let api = api.addr().to_string();

    let servers = [
        ("the master", master.as_str(), "/api/v1/scheduler"),
        ("an agent", agent.as_str(), "/api/v1/executor"),
        ("the scheduler API", api.as_str(), "/v1/update"),
    ];
    let mut pending = Vec::new();
    for (server, addr, path) in servers {
        for (what, bytes) in partial_requests(path) {
            let addr = addr.to_string();
            pending.push(tokio::spawn(async move {
                let closed = closed_within(&addr, &bytes, REQUEST_TIMEOUT + DEADLINE).await;
                (server, what, closed)
            }));
        }
    }
    // While nine connections hang, each server answers everyone else at once.
    let asked = Instant::now();
    get_ok(&format!("http://{master}/health"), None).await;
    get_ok(&format!("http://{agent}/health"), None).await;
    get_ok(&format!("http://{api}/v1/status"), Some(&api_token)).await;
    assert!(
        asked.elapsed() < REQUEST_TIMEOUT / 2,
        "the servers answered only after {:?}",
        asked.elapsed()
    );
    for p in pending {
        let (server, what, closed) = p.await.unwrap();
        let Some((after, answer)) = closed else {
            panic!("{server} kept a connection with {what} open");
        };
        assert!(
            after < REQUEST_TIMEOUT + Duration::from_secs(10),
            "{server} closed a connection with {what} only after {after:?}"
        );
        if what.starts_with("a body") {
            assert!(
                answer.starts_with("HTTP/1.1 408"),
                "{server} answered an unfinished body with {answer:?}"
            );
        }
    }
    get_ok(&format!("http://{master}/health"), None).await;
    get_ok(&format!("http://{agent}/health"), None).await;
    get_ok(&format!("http://{api}/v1/status"), Some(&api_token)).await;
}

// ---------------------------------------------------------------------------
// A subscriber that never reads
// ---------------------------------------------------------------------------

/// The cluster process's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// A framework that subscribes on a raw socket with a small receive buffer, reads its
/// SUBSCRIBED event and then nothing more.
struct SilentSubscriber {
    conn: tokio::net::TcpStream,
    framework_id: FrameworkId,
    stream_id: String,
}

impl SilentSubscriber {
    async fn subscribe(master: &str, name: &str) -> SilentSubscriber {
        let addr: std::net::SocketAddr = master.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut conn = socket
            .connect(addr)
            .await
            .expect("connecting to the master");
        let info = framework(name, ROLE, &[]);
        let authorization = cluster_credential(master, info.principal.as_deref().unwrap())
            .map(|c| format!("Authorization: {}\r\n", c.authorization()))
            .unwrap_or_default();
        let body = serde_json::to_vec(&Call::subscribe(info)).expect("a call");
        let head = format!(
            "POST /api/v1/scheduler HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\n{authorization}Content-Length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&body).await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + DEADLINE;
        let (framework_id, stream_id) = loop {
            let n = tokio::time::timeout_at(deadline.into(), conn.read(&mut buf))
                .await
                .expect("the SUBSCRIBED event in time")
                .expect("reading the subscription");
            assert!(n > 0, "the master closed the subscription");
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen).to_string();
            let stream_id = text.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("mesos-stream-id")
                    .then(|| v.trim().to_string())
            });
            let fid = text.find("\"framework_id\":{\"value\":\"").map(|i| {
                let rest = &text[i + 25..];
                rest[..rest.find('"').unwrap_or(0)].to_string()
            });
            if let (Some(s), Some(f)) = (stream_id, fid.filter(|f| !f.is_empty())) {
                break (FrameworkId::new(f), s);
            }
        };
        SilentSubscriber {
            conn,
            framework_id,
            stream_id,
        }
    }

    /// Reads what is left until the master closes the connection; false if it does not
    /// within the deadline.
    async fn closed_by_master(&mut self) -> bool {
        let deadline = Instant::now() + DEADLINE;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match tokio::time::timeout_at(deadline.into(), self.conn.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => {}
                Err(_) => return false,
            }
        }
    }
}

#[tokio::test]
async fn a_framework_that_never_reads_its_events_is_cut_off_while_the_master_stays_small_and_other_frameworks_go_on(
) {
    let cluster = ClusterProcess::start("silent-subscriber").await;
    let mut good = Scheduler::subscribe(&cluster.master, framework("reader", ROLE, &[])).await;
    let mut silent = SilentSubscriber::subscribe(&cluster.master, "never-reads").await;
    let baseline = rss_kib(cluster.pid());

    // The silent framework asks, on other connections, for answers it will never read: each
    // RECONCILE of 2,000 unknown tasks puts 2,000 updates on its stream (half a megabyte).
    let tasks: Vec<ReconcileTask> = (0..2000)
        .map(|i| ReconcileTask {
            task_id: TaskId::new(format!("no-such-task-with-a-longish-name-{i:05}")),
            agent_id: None,
        })
        .collect();
    let call = serde_json::to_vec(&Call::reconcile(silent.framework_id.clone(), tasks)).unwrap();
    let http = http_client();
    let credential = cluster.credential("never-reads-principal").unwrap();
    let mut peak = baseline;
    let mut refused = None;
    for i in 0..300 {
        let resp = http
            .post(format!("{}/api/v1/scheduler", cluster.master))
            .header("Content-Type", "application/json")
            .header("Authorization", credential.authorization())
            .header("Mesos-Stream-Id", &silent.stream_id)
            .body(call.clone())
            .send()
            .await
            .expect("a RECONCILE call");
        if resp.status() != StatusCode::ACCEPTED {
            refused = Some((i, resp.status(), resp.text().await.unwrap_or_default()));
            break;
        }
        peak = peak.max(rss_kib(cluster.pid()));
    }
    peak = peak.max(rss_kib(cluster.pid()));
    let grown_mib = peak.saturating_sub(baseline) / 1024;
    eprintln!("FIGURES baseline {baseline} KiB peak {peak} KiB refused {refused:?}");
    assert!(
        grown_mib < 64,
        "the master grew by {grown_mib} MiB for a framework that reads nothing (from {} MiB)",
        baseline / 1024
    );
    // It was cut off: its calls are refused as a disconnected framework's are, and its
    // connection is closed.
    let (after, status, body) = refused.expect("the silent framework was never cut off");
    assert_eq!(status, StatusCode::FORBIDDEN, "after {after} calls: {body}");
    assert!(silent.closed_by_master().await, "its stream is still open");
    let fid = silent.framework_id.clone();
    cluster
        .wait_for_frameworks("the silent framework to be disconnected", |f| {
            f.frameworks
                .iter()
                .any(|f| f.framework_info.id.as_ref() == Some(&fid) && !f.connected)
        })
        .await;
    // The framework that reads saw nothing of it, and goes on.
    good.sync().await;
    good.any_offer().await;
    // The cut-off framework may come back, as any disconnected framework does.
    let mut back = Scheduler::resubscribe(
        &cluster.master,
        &framework("never-reads", ROLE, &[]),
        &silent.framework_id,
    )
    .await;
    back.sync().await;
}

// ---------------------------------------------------------------------------
// Offers held forever
// ---------------------------------------------------------------------------

#[tokio::test]
async fn an_offer_left_unanswered_is_rescinded_after_the_offer_timeout_and_offered_again() {
    let cluster = ClusterProcess::start_with(
        "offer-timeout",
        ClusterOptions {
            agents: 1,
            extra_args: vec!["--offer-timeout".into(), "2s".into()],
            ..ClusterOptions::default()
        },
    )
    .await;
    let mut sched = Scheduler::subscribe(&cluster.master, framework("holder", ROLE, &[])).await;
    let first = sched.any_offer().await;
    let offered_at = Instant::now();
    sched
        .wait_for("the offer's RESCIND", |e| {
            (e.type_ == EventType::Rescind
                && e.rescind.as_ref().is_some_and(|r| r.offer_id == first.id))
            .then_some(())
        })
        .await;
    // Not at once: when its 2 s were up (less the time the offer took to reach us).
    assert!(
        offered_at.elapsed() >= Duration::from_secs(1),
        "rescinded after {:?}, before its timeout",
        offered_at.elapsed()
    );
    // Its resources are back in the pool: offered again, in a new offer.
    let again = sched.any_offer().await;
    assert_ne!(again.id, first.id);
    assert_eq!(again.agent_id, first.agent_id);
    let cpus = |o: &cairn_proto::Offer| offered(o, "cpus").map(|r| r.scalar_value()).sum::<f64>();
    assert!((cpus(&again) - cpus(&first)).abs() < 1e-6);
    // An ACCEPT of the rescinded offer launches nothing.
    let t = task(
        "late",
        &first.agent_id,
        "sleep 100",
        vec![scalar("cpus", 0.1, ROLE)],
    );
    let late = Call::accept(
        sched.framework_id.clone(),
        vec![first.id.clone()],
        vec![cairn_proto::OfferOperation::launch(vec![t])],
        None,
    );
    sched.call_ok(&late).await;
    let s = sched.any_update(&TaskId::new("late")).await;
    assert!(s.state.is_terminal(), "{s:?}");
}

// ---------------------------------------------------------------------------
// Lost files
// ---------------------------------------------------------------------------

/// A cluster with one pod on a reserved volume, its task running as `pid`.
struct PodOnVolume {
    cluster: ClusterProcess,
    info: cairn_proto::FrameworkInfo,
    framework_id: FrameworkId,
    agent: cairn_proto::AgentId,
    index: usize,
    pid: u32,
    labels: Labels,
}

const TASK: &str = "keeper";
const VOLUME: &str = "keeper-vol";

async fn pod_on_volume(
    name: &str,
    options: ClusterOptions,
    on_agent: Option<usize>,
) -> PodOnVolume {
    let cluster = ClusterProcess::start_with(name, options).await;
    let info = modern_framework("files", ROLE);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info.clone()).await;
    let offer = match on_agent {
        Some(i) => {
            let id = cluster.agent_id(i).await;
            sched.offer_from(&id).await
        }
        None => sched.any_offer().await,
    };
    let pid_file = cluster.scratch.join("keeper.pid");
    launch_volume_pod(
        &mut sched,
        &offer,
        VolumePod {
            role: ROLE,
            principal: &principal,
            resource_id: "keeper-1",
            volume: VOLUME,
            task: TASK,
            executor: "keeper-exec",
            command: format!("echo precious > data/precious && {}", sleeper(&pid_file)),
        },
    )
    .await;
    sched.update(&TaskId::new(TASK), TaskState::Running).await;
    let pid = read_pid(&pid_file).await;
    let index = cluster.agent_index(&offer.agent_id).await;
    PodOnVolume {
        framework_id: sched.framework_id.clone(),
        cluster,
        info,
        agent: offer.agent_id,
        index,
        pid,
        labels: Labels::from_pairs([("resource_id", "keeper-1")]),
    }
}

/// Whether an offer carries anything reserved with the pod's labels.
fn carries_reservation(offer: &cairn_proto::Offer, labels: &Labels) -> bool {
    offer
        .resources
        .iter()
        .any(|r| r.reservation_labels() == Some(labels))
}

async fn restart_answer(cluster: &ClusterProcess, agent: usize) -> (StatusCode, String) {
    let resp = cluster
        .as_operator(
            http_client().post(format!("{}/cluster/agents/{agent}/restart", cluster.master)),
        )
        .send()
        .await
        .expect("POST restart");
    let status = resp.status();
    (status, resp.text().await.unwrap_or_default())
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

#[tokio::test]
async fn an_agent_that_lost_its_checkpoint_while_its_pod_runs_is_held_back_and_offers_nothing_until_it_is_restored(
) {
    let mut pod = pod_on_volume("lost-agent-json", ClusterOptions::default(), None).await;
    let checkpoint = pod.cluster.agent_dir(pod.index).join("agent.json");
    let backup = pod.cluster.scratch.join("agent.json.backup");
    pod.cluster.stop().await;
    copy(&checkpoint, &backup);
    std::fs::remove_file(&checkpoint).unwrap();
    pod.cluster.start_again().await;

    // The pod runs on, and nothing of its agent is offered: not its reservation, and not the
    // same resources as free ones either.
    assert!(pid_alive(pod.pid));
    let mut sched = Scheduler::resubscribe(&pod.cluster.master, &pod.info, &pod.framework_id).await;
    let agent = pod.agent.clone();
    sched
        .expect_no_offer("from the held-back agent", Duration::from_secs(3), |o| {
            o.agent_id == agent
        })
        .await;
    sched
        .offer("from the other agents", |o| o.agent_id != agent)
        .await;
    // Loudly, naming the file and what to do.
    let log = pod.cluster.log();
    let line = log
        .lines()
        .find(|l| l.contains("held back"))
        .unwrap_or_else(|| panic!("no word of the held-back agent in the log:\n{log}"));
    assert!(line.contains(&checkpoint.display().to_string()), "{line}");
    assert!(line.contains("cairn cluster agent restart"), "{line}");
    let listed = &pod.cluster.agents().await[pod.index];
    assert_ne!(listed["status"], "running", "{listed}");
    assert!(
        listed["held_back"]
            .as_str()
            .is_some_and(|h| h.contains("agent.json")),
        "{listed}"
    );
    // Its task is still known where it runs: unreachable once the agent stays silent past
    // the ping timeout, as for any agent that is down, never gone.
    let id = TaskId::new(TASK);
    sched.reconcile(&[(&id, Some(&pod.agent))]).await;
    let s = sched.reconciled(&id).await;
    assert!(
        matches!(s.state, TaskState::Running | TaskState::Unreachable),
        "{s:?}"
    );
    // It cannot be restarted while the file is missing: the answer says why.
    let (status, body) = restart_answer(&pod.cluster, pod.index).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("agent.json"), "{body}");

    // With the file back, it starts with its reservation and volume, and its pod is still
    // the same process.
    copy(&backup, &checkpoint);
    pod.cluster.agent_action(pod.index, "restart").await;
    let total = pod
        .cluster
        .agent_total(&pod.agent)
        .await
        .expect("the agent");
    assert!(
        total.iter().any(|r| r.persistence_id() == Some(VOLUME)),
        "{total:#?}"
    );
    sched.offer_from(&pod.agent).await;
    sched.reconcile(&[(&id, Some(&pod.agent))]).await;
    assert_eq!(sched.reconciled(&id).await.state, TaskState::Running);
    assert!(pid_alive(pod.pid));
}

#[tokio::test]
async fn an_agent_whose_volume_directory_is_gone_is_held_back_until_the_operator_accepts_the_loss()
{
    let mut pod = pod_on_volume("lost-volume", ClusterOptions::default(), None).await;
    let volume = pod.cluster.volume_dir(pod.index, ROLE, VOLUME);
    pod.cluster.stop().await;
    std::fs::remove_dir_all(&volume).unwrap();
    pod.cluster.start_again().await;

    // Nothing of the agent is offered: its pod's reservation would come with an empty
    // directory in place of its data.
    let mut sched = Scheduler::resubscribe(&pod.cluster.master, &pod.info, &pod.framework_id).await;
    let agent = pod.agent.clone();
    sched
        .expect_no_offer(
            "from the agent that lost a volume",
            Duration::from_secs(3),
            |o| o.agent_id == agent,
        )
        .await;
    let log = pod.cluster.log();
    let line = log
        .lines()
        .find(|l| l.contains("held back"))
        .unwrap_or_else(|| panic!("no word of the held-back agent in the log:\n{log}"));
    assert!(line.contains(&volume.display().to_string()), "{line}");
    let (status, body) = restart_answer(&pod.cluster, pod.index).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains(VOLUME), "{body}");

    // The operator accepts that the data is gone: an empty directory, and the agent starts.
    std::fs::create_dir_all(&volume).unwrap();
    pod.cluster.agent_action(pod.index, "restart").await;
    sched.offer_from(&pod.agent).await;
    assert!(!volume.join("precious").exists());
}

#[tokio::test]
async fn pod_processes_whose_executor_checkpoint_is_lost_are_killed_before_their_agent_offers_their_reservation(
) {
    let mut pod = pod_on_volume("lost-executor-json", ClusterOptions::default(), None).await;
    let executors = pod.cluster.agent_dir(pod.index).join("executors");
    pod.cluster.stop().await;
    for f in std::fs::read_dir(&executors).unwrap().flatten() {
        std::fs::remove_file(f.path()).unwrap();
    }
    assert!(pid_alive(pod.pid));
    pod.cluster.start_again().await;

    let mut sched = Scheduler::resubscribe(&pod.cluster.master, &pod.info, &pod.framework_id).await;
    let labels = pod.labels.clone();
    let agent = pod.agent.clone();
    let offer = sched
        .offer("with the pod's reservation", |o| {
            o.agent_id == agent && carries_reservation(o, &labels)
        })
        .await;
    // By the time the reservation is offered for a relaunch, the old process is gone: two
    // copies of the pod never share the volume.
    assert!(
        !pid_alive(pod.pid),
        "the pod's old process still runs while its reservation is offered: {offer:#?}"
    );
    assert!(
        offer
            .resources
            .iter()
            .any(|r| r.persistence_id() == Some(VOLUME)),
        "the volume stays with the agent: {offer:#?}"
    );
    let log = pod.cluster.log();
    assert!(
        log.contains("killed pod processes") && log.contains(&pod.pid.to_string()),
        "the log does not say what was killed:\n{log}"
    );
    let id = TaskId::new(TASK);
    sched.reconcile(&[(&id, Some(&pod.agent))]).await;
    let s = sched.reconciled(&id).await;
    assert!(s.state != TaskState::Running, "{s:?}");
}

#[tokio::test]
async fn a_lost_master_checkpoint_recovers_every_agent_on_disk_with_its_pods_reservations_and_volumes(
) {
    // The pod runs on an agent added after the start: the master's checkpoint was the only
    // record that there are four agents.
    let mut cluster = ClusterProcess::start_with(
        "lost-master-json-setup",
        ClusterOptions {
            agents: 1,
            ..ClusterOptions::default()
        },
    )
    .await;
    let resp = cluster
        .as_operator(http_client().post(format!("{}/cluster/agents", cluster.master)))
        .send()
        .await
        .expect("POST /cluster/agents");
    assert!(
        resp.status().is_success(),
        "adding an agent: {}",
        resp.status()
    );
    let added = cluster.agent_id(1).await;
    let info = modern_framework("files", ROLE);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info.clone()).await;
    let offer = sched.offer_from(&added).await;
    let pid_file = cluster.scratch.join("keeper.pid");
    launch_volume_pod(
        &mut sched,
        &offer,
        VolumePod {
            role: ROLE,
            principal: &principal,
            resource_id: "keeper-1",
            volume: VOLUME,
            task: TASK,
            executor: "keeper-exec",
            command: sleeper(&pid_file),
        },
    )
    .await;
    let id = TaskId::new(TASK);
    sched.update(&id, TaskState::Running).await;
    let pid = read_pid(&pid_file).await;
    let fid = sched.framework_id.clone();
    drop(sched);

    cluster.stop().await;
    std::fs::remove_file(cluster.work_dir.join("master.json")).unwrap();
    cluster.start_again().await;

    let agents = cluster.agents().await;
    assert_eq!(agents.len(), 2, "{agents:#?}");
    assert_eq!(agents[1]["id"].as_str(), Some(added.value.as_str()));
    assert_eq!(agents[1]["status"], "running");
    let total = cluster.agent_total(&added).await.expect("the added agent");
    assert!(
        total.iter().any(|r| r.persistence_id() == Some(VOLUME)),
        "{total:#?}"
    );
    let mut sched = Scheduler::resubscribe(&cluster.master, &info, &fid).await;
    sched.reconcile(&[(&id, Some(&added))]).await;
    assert_eq!(sched.reconciled(&id).await.state, TaskState::Running);
    assert!(pid_alive(pid));
    assert!(
        cluster.log().contains("master.json is missing"),
        "{}",
        cluster.log()
    );
}
