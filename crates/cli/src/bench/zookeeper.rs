//! `cairn bench zookeeper`: the flagship example as a user meets it, timed. `cairn run` of
//! `examples/zookeeper.yml` (this executable, a fresh work dir, the embedded 3-agent cluster)
//! until the ensemble serves: one leader and two followers, as each member's `srvr` says on its
//! agent's address. Then a rolling update of one zoo.cfg value (`syncLimit`, the spec's
//! `ZK_SYNC_LIMIT`, changed and handed to `cairn update`) while a client (the `zookeeper-client` crate)
//! creates znodes one after another through the members' connect string: the longest time
//! without an acknowledged write is the longest quorum gap, and the acknowledged writes give
//! the latency percentiles.
//!
//! The example's files are built into the executable, so the bench runs wherever `cairn` does;
//! ZooKeeper itself is Debian's `zookeeper` package. Everything started is stopped at the end
//! (or on a signal): `cairn run` is killed, then every pod process found by the work dir in its
//! environment, and the work dir is removed unless `--keep`.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use zookeeper_client as zk;

use super::service::{clean_work_dir, cores, http_client, new_work_dir, percentile, Signals};
use crate::duration;

/// The example, as in the repository.
const SPEC: &str = include_str!("../../../../examples/zookeeper.yml");
const TEMPLATES: &[(&str, &str)] = &[
    (
        "zoo.cfg.mustache",
        include_str!("../../../../examples/zookeeper/zoo.cfg.mustache"),
    ),
    (
        "myid.mustache",
        include_str!("../../../../examples/zookeeper/myid.mustache"),
    ),
    (
        "4lw.sh.mustache",
        include_str!("../../../../examples/zookeeper/4lw.sh.mustache"),
    ),
];
/// What the example runs: the server's jars, its log binding and a Java runtime.
const NEEDED: &[&str] = &[
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/slf4j-simple.jar",
    "/usr/bin/java",
];
const MEMBERS: usize = 3;
/// The example's client port, the same on every agent.
const CLIENT_PORT: u16 = 31181;
/// The example's syncLimit, and the one the rolling update sets.
const SYNC_LIMIT_BEFORE: &str = "5";
const SYNC_LIMIT_AFTER: &str = "6";
const POLL: Duration = Duration::from_millis(100);
/// The client's pace between writes: a steady trickle that shows a gap to the tenth of a second
/// without loading the two cores the ensemble needs.
const WRITE_PACE: Duration = Duration::from_millis(10);
/// Writes acknowledged before the update starts: the client is connected and steady.
const WARM_WRITES: usize = 100;

#[derive(Args, Debug)]
pub struct ZookeeperBenchArgs {
    /// Keep the work dir (the cluster, the state, the members' sandboxes and logs).
    #[arg(long)]
    keep: bool,
    /// Give up when the ensemble does not serve, or the rolling update does not end, within
    /// this long.
    #[arg(long, default_value = "5m", value_parser = duration::parse)]
    timeout: Duration,
}

pub fn run(args: ZookeeperBenchArgs) -> anyhow::Result<()> {
    if let Some(missing) = NEEDED.iter().find(|p| !Path::new(p).exists()) {
        bail!("{missing} is missing: the example runs Debian's zookeeper package (apt-get install zookeeper)");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut signals = Signals::install()?;
        let work_dir = new_work_dir("zookeeper")?;
        // The bench's future owns `cairn run` (killed on drop); the pods outlive it and are
        // killed by the clean-up, found by the work dir in their environment.
        let result = signals.or_interrupted(bench(&work_dir, &args)).await;
        let cleaned = clean_work_dir(&work_dir, args.keep || result.is_err());
        let figures = result?;
        cleaned?;
        print(&figures);
        Ok(())
    })
}

/// What the bench measured.
struct Figures {
    serving: Duration,
    deploy_complete: Option<Duration>,
    rollout: Duration,
    writes: Writes,
}

async fn bench(work_dir: &Path, args: &ZookeeperBenchArgs) -> anyhow::Result<Figures> {
    let spec = write_example(work_dir)?;
    let exe = std::env::current_exe().context("finding the cairn executable")?;
    let log_path = work_dir.join("run.log");
    let started = Instant::now();
    let mut run = tokio::process::Command::new(&exe)
        .arg("run")
        .arg(&spec)
        .arg("--work-dir")
        .arg(work_dir)
        .args(["--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_path)?)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} run", exe.display()))?;
    // `cairn run` says where its master is, and when the deploy plan completes.
    let (master_tx, mut master_rx) = tokio::sync::watch::channel(None::<String>);
    let (complete_tx, complete_rx) = tokio::sync::watch::channel(None::<Duration>);
    let stdout = run.stdout.take().context("cairn run's stdout")?;
    let mut out_log = std::fs::File::create(work_dir.join("run.out"))?;
    tokio::spawn(async move {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = writeln!(out_log, "{line}");
            if let Some(m) = line
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .filter(|_| line.contains("embedded cluster: master"))
            {
                let _ = master_tx.send(Some(m.trim_end_matches(',').to_string()));
            }
            if line.starts_with("deploy COMPLETE") || line.starts_with("deploy: COMPLETE") {
                complete_tx.send_if_modified(|c| {
                    let first = c.is_none();
                    c.get_or_insert(started.elapsed());
                    first
                });
            }
        }
    });
    let master = tokio::time::timeout(args.timeout, master_rx.wait_for(Option::is_some))
        .await
        .map_err(|_| anyhow::anyhow!("cairn run named no master within {:?}", args.timeout))
        .and_then(|m| m.map_err(|_| anyhow::anyhow!("cairn run ended: {}", log_tail(&log_path))))?
        .clone()
        .unwrap_or_default();
    let http = http_client()?;
    eprintln!("bench: cairn run's master at {master}; waiting for the ensemble");

    let members = until(
        &mut run,
        &log_path,
        args.timeout,
        "the ensemble serving",
        || {
            let http = http.clone();
            let master = master.clone();
            async move {
                let members = running(&http, &master).await;
                ensemble_serves(&members).then_some(members)
            }
        },
    )
    .await?;
    let serving = started.elapsed();
    // The plan completes once every member's readiness check has seen it serve.
    let mut complete_rx = complete_rx;
    let deploy_complete = tokio::time::timeout(args.timeout, complete_rx.wait_for(Option::is_some))
        .await
        .ok()
        .and_then(|c| c.ok().and_then(|c| *c));
    eprintln!(
        "bench: serving after {:.1} s; rolling update of syncLimit",
        serving.as_secs_f64()
    );

    let connect: Vec<String> = members
        .values()
        .map(|m| format!("{}:{CLIENT_PORT}", m.address))
        .collect();
    let connect = connect.join(",");
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = tokio::spawn(write_until(connect.clone(), stop.clone(), acked.clone()));
    until(
        &mut run,
        &log_path,
        args.timeout,
        "the client writing",
        || {
            let n = acked.load(Ordering::SeqCst);
            async move { (n >= WARM_WRITES).then_some(()) }
        },
    )
    .await?;

    let changed = SPEC.replace(
        &format!("ZK_SYNC_LIMIT: \"{SYNC_LIMIT_BEFORE}\""),
        &format!("ZK_SYNC_LIMIT: \"{SYNC_LIMIT_AFTER}\""),
    );
    if changed == SPEC {
        stop.store(true, Ordering::SeqCst);
        bail!("the example sets no ZK_SYNC_LIMIT of {SYNC_LIMIT_BEFORE} to change");
    }
    std::fs::write(&spec, changed)?;
    let update_started = Instant::now();
    let out = tokio::process::Command::new(&exe)
        .arg("update")
        .arg(&spec)
        .arg("--state-dir")
        .arg(work_dir.join("state"))
        .arg("--no-wait")
        .stdin(Stdio::null())
        .output()
        .await?;
    if !out.status.success() {
        stop.store(true, Ordering::SeqCst);
        bail!(
            "cairn update: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let before = members;
    let updated = until(
        &mut run,
        &log_path,
        args.timeout,
        "every member relaunched with the new syncLimit",
        || {
            let http = http.clone();
            let master = master.clone();
            let before = before.clone();
            async move {
                let members = running(&http, &master).await;
                let all_new = (0..MEMBERS).all(|i| {
                    members.get(&i).map(|m| &m.task_id) != before.get(&i).map(|m| &m.task_id)
                });
                let applied = members.values().all(|m| {
                    four_letter_word(&m.address, "conf")
                        .contains(&format!("syncLimit={SYNC_LIMIT_AFTER}"))
                });
                (all_new && applied && ensemble_serves(&members)).then_some(())
            }
        },
    )
    .await;
    let rollout = update_started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let writes = writer.await?;
    updated?;
    if writes.lost > 0 {
        bail!(
            "{} acknowledged writes were not found when read back",
            writes.lost
        );
    }
    Ok(Figures {
        serving,
        deploy_complete,
        rollout,
        writes,
    })
}

/// The example's svc.yml and templates in `dir`, as the repository has them; the svc.yml's path.
fn write_example(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir.join("zookeeper"))?;
    for (name, text) in TEMPLATES {
        std::fs::write(dir.join("zookeeper").join(name), text)?;
    }
    let spec = dir.join("zookeeper.yml");
    std::fs::write(&spec, SPEC)?;
    Ok(spec)
}

/// Polls `check` until it gives a value, `cairn run` ends (an error with its log's end) or
/// `timeout` passes.
async fn until<T, F, Fut>(
    run: &mut tokio::process::Child,
    log: &Path,
    timeout: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(t) = check().await {
            return Ok(t);
        }
        if let Some(status) = run.try_wait()? {
            bail!(
                "cairn run exited ({status}) before {what}: {}",
                log_tail(log)
            );
        }
        if Instant::now() > deadline {
            bail!(
                "{what}: not within {timeout:?}; cairn run's log ends: {}",
                log_tail(log)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// A member's running task.
#[derive(Debug, Clone)]
struct Member {
    task_id: String,
    address: String,
}

/// The members with a TASK_RUNNING task, by index, from the master's operator API.
async fn running(http: &reqwest::Client, master: &str) -> BTreeMap<usize, Member> {
    let call = |kind: &'static str| {
        http.post(format!("{master}/api/v1"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(format!(r#"{{"type":"{kind}"}}"#))
            .send()
    };
    let json = |r: Result<reqwest::Response, reqwest::Error>| async move {
        match r {
            Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    };
    let agents = json(call("GET_AGENTS").await).await;
    let tasks = json(call("GET_TASKS").await).await;
    let addresses: BTreeMap<&str, &str> = agents["get_agents"]["agents"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            let info = &a["agent_info"];
            Some((info["id"]["value"].as_str()?, info["hostname"].as_str()?))
        })
        .collect();
    tasks["get_tasks"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["state"] == "TASK_RUNNING")
        .filter_map(|t| {
            let index = t["name"]
                .as_str()?
                .strip_prefix("zookeeper-")?
                .strip_suffix("-server")?
                .parse()
                .ok()?;
            let address = addresses.get(t["agent_id"]["value"].as_str()?)?;
            Some((
                index,
                Member {
                    task_id: t["task_id"]["value"].as_str()?.to_string(),
                    address: address.to_string(),
                },
            ))
        })
        .collect()
}

/// Whether the three members serve as one ensemble: one leader, two followers.
fn ensemble_serves(members: &BTreeMap<usize, Member>) -> bool {
    let modes: Vec<String> = members
        .values()
        .map(|m| {
            four_letter_word(&m.address, "srvr")
                .lines()
                .find_map(|l| l.strip_prefix("Mode: "))
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    modes.len() == MEMBERS
        && modes.iter().filter(|m| *m == "leader").count() == 1
        && modes.iter().filter(|m| *m == "follower").count() == MEMBERS - 1
}

/// A four-letter word's answer from the member serving at `address`; empty if none.
fn four_letter_word(address: &str, word: &str) -> String {
    let Ok(addr) = format!("{address}:{CLIENT_PORT}").parse() else {
        return String::new();
    };
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(word.as_bytes()).is_err() {
        return String::new();
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

/// What the client saw while it wrote.
struct Writes {
    /// Each acknowledged write's latency.
    latencies: Vec<Duration>,
    /// The longest time between two acknowledged writes.
    longest_gap: Duration,
    failed: usize,
    /// Acknowledged writes read back as missing or different.
    lost: usize,
}

/// Creates `/cairn-bench/<n>` one after another through `connect` until `stop`; then reads every
/// acknowledged one back.
async fn write_until(
    connect: String,
    stop: Arc<AtomicBool>,
    acked: Arc<std::sync::atomic::AtomicUsize>,
) -> Writes {
    let mut w = Writes {
        latencies: Vec::new(),
        longest_gap: Duration::ZERO,
        failed: 0,
        lost: 0,
    };
    let mut client = None;
    let mut written = Vec::new();
    let mut last_ok = Instant::now();
    let mut n = 0usize;
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    while !stop.load(Ordering::SeqCst) {
        let Some(c) = client.as_ref() else {
            client = connect_client(&connect).await;
            if client.is_none() {
                w.failed += 1;
            }
            continue;
        };
        if n == 0 {
            match c.create("/cairn-bench", b"", &options).await {
                Ok(_) | Err(zk::Error::NodeExists) => {}
                Err(_) => {
                    w.failed += 1;
                    continue;
                }
            }
        }
        let path = format!("/cairn-bench/{n}");
        let t0 = Instant::now();
        let created =
            tokio::time::timeout(Duration::from_secs(5), c.create(&path, b"x", &options)).await;
        match created {
            Ok(Ok(_)) => {
                let now = Instant::now();
                w.latencies.push(now - t0);
                w.longest_gap = w.longest_gap.max(now - last_ok);
                last_ok = now;
                written.push(path);
                acked.fetch_add(1, Ordering::SeqCst);
                n += 1;
            }
            // Applied, though its answer was lost.
            Ok(Err(zk::Error::NodeExists)) => n += 1,
            Ok(Err(zk::Error::SessionExpired | zk::Error::ClientClosed)) => {
                w.failed += 1;
                client = None;
            }
            _ => w.failed += 1,
        }
        tokio::time::sleep(WRITE_PACE).await;
    }
    w.longest_gap = w.longest_gap.max(last_ok.elapsed());
    if let Some(c) = connect_client(&connect).await {
        let _ = c.sync("/cairn-bench").await;
        for path in &written {
            if !matches!(c.get_data(path).await, Ok((data, _)) if data == b"x") {
                w.lost += 1;
            }
        }
    } else {
        w.lost = written.len();
    }
    w
}

/// A session through `connect`, or none if the ensemble does not take one within seconds.
async fn connect_client(connect: &str) -> Option<zk::Client> {
    let attempt = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_connection_timeout(Duration::from_secs(5))
        .connect(connect);
    match tokio::time::timeout(Duration::from_secs(15), attempt).await {
        Ok(Ok(c)) => Some(c),
        _ => {
            tokio::time::sleep(POLL).await;
            None
        }
    }
}

fn print(f: &Figures) {
    let cores = cores();
    let mut latencies = f.writes.latencies.clone();
    latencies.sort_unstable();
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    println!();
    println!("cairn bench zookeeper: examples/zookeeper.yml on the embedded cluster {cores}");
    println!(
        "  cairn run → serving ensemble (1 leader, 2 followers)   {:>8.1} s {cores}",
        f.serving.as_secs_f64()
    );
    if let Some(d) = f.deploy_complete {
        println!(
            "  cairn run → deploy plan COMPLETE                        {:>8.1} s {cores}",
            d.as_secs_f64()
        );
    }
    println!(
        "  rolling update of syncLimit, one member at a time      {:>8.1} s {cores}",
        f.rollout.as_secs_f64()
    );
    println!(
        "    longest quorum gap (no write acknowledged)           {:>8.1} s {cores}",
        f.writes.longest_gap.as_secs_f64()
    );
    println!(
        "    writes acknowledged / failed / lost                  {} / {} / {}",
        latencies.len(),
        f.writes.failed,
        f.writes.lost
    );
    println!(
        "    write latency p50 / p99 / max                        {} / {} / {} {cores}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        ms(latencies.last().copied().unwrap_or_default())
    );
}
