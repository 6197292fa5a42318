//! `cairn pod list|status|info|restart|replace|pause|resume`: a running service's pod
//! instances, through its scheduler's API. Readers print a table (or `--json`, the API's JSON);
//! commands print what was accepted. A pod the service does not have, or a refused command,
//! exits non-zero with the reason and changes nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};

use cairn::api::ApiClient;
use cairn::core::scheduler::{PodStatus, PodTaskStatus, CRASH_LOOP_WINDOW};
use cairn::pages::Range;

use crate::table::{self, Table};
use crate::update_cmd::{running_api, RunningService};

#[derive(Subcommand)]
pub enum PodCommand {
    /// List the service's pod instances: agent, tasks ready, paused or crash-looping.
    List(ListArgs),
    /// Each task of one pod (or of every pod): state, agent, since when, its last exit (code
    /// and the last lines of stderr), recent failures; crash-looping and paused tasks say so.
    Status(StatusArgs),
    /// A pod's tasks as last launched: command, resources, volumes, ports, environment
    /// variable names (`--json`: the TaskInfos).
    Info(InfoArgs),
    /// Kill a pod's tasks and relaunch them in place: same agent, reservations and volumes.
    Restart(PodArgs),
    /// Relaunch a pod elsewhere with fresh reservations and volumes (its data is lost); its old
    /// ones are released when their agent offers them (at once if it is gone).
    Replace(PodArgs),
    /// Relaunch a pod's tasks in place running nothing (`sleep`), without health or
    /// readiness checks, so its volumes can be inspected or repaired; it stays paused through
    /// restarts and updates until `resume`.
    Pause(PodArgs),
    /// Relaunch a paused pod's tasks with their own command, on the same volumes.
    Resume(PodArgs),
}

#[derive(Args)]
pub struct PodArgs {
    /// The pod instance, e.g. `data-2`.
    pod: String,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct ListArgs {
    /// Print the API's JSON: every pod instance with its tasks.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct StatusArgs {
    /// One pod instance, e.g. `data-2`; every pod when left out.
    pod: Option<String>,
    /// Print the API's JSON (`GET /v1/pods/{pod}`, or every pod).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct InfoArgs {
    /// The pod instance, e.g. `data-2`.
    pod: String,
    /// Print the TaskInfos as JSON (`GET /v1/pods/{pod}/info`).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

pub fn run(command: PodCommand) -> anyhow::Result<()> {
    let rt = crate::runtime()?;
    match command {
        PodCommand::List(args) => {
            let client = running_api(&args.target)?;
            let pods = rt.block_on(all_pods(&client))?;
            list(&pods, args.json)
        }
        PodCommand::Status(args) => {
            let client = running_api(&args.target)?;
            let pods = match &args.pod {
                Some(pod) => vec![rt.block_on(client.pod(pod))?],
                None => rt.block_on(all_pods(&client))?,
            };
            if args.json {
                match (&args.pod, pods.first()) {
                    (Some(_), Some(pod)) => println!("{}", serde_json::to_string_pretty(pod)?),
                    _ => println!("{}", serde_json::to_string_pretty(&pods)?),
                }
            } else {
                status(&pods);
            }
            Ok(())
        }
        PodCommand::Info(args) => {
            let client = running_api(&args.target)?;
            let infos = rt.block_on(client.pod_info(&args.pod))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&infos)?);
            } else if infos.is_empty() {
                println!("{}: never launched", args.pod);
            } else {
                for info in &infos {
                    print!("{}", describe(info));
                }
            }
            Ok(())
        }
        PodCommand::Restart(a) => command_line(&rt, a, "restart", "restarting in place"),
        PodCommand::Replace(a) => command_line(
            &rt,
            a,
            "replace",
            "replacing on fresh reservations and volumes",
        ),
        PodCommand::Pause(a) => command_line(
            &rt,
            a,
            "pause",
            "pausing: its tasks are relaunched running nothing (`cairn pod status` shows PAUSED)",
        ),
        PodCommand::Resume(a) => command_line(
            &rt,
            a,
            "resume",
            "resuming: its tasks are relaunched with their command",
        ),
    }
}

fn command_line(
    rt: &tokio::runtime::Runtime,
    args: PodArgs,
    action: &str,
    what: &str,
) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    rt.block_on(client.pod_command(&args.pod, action))?;
    println!("{}: {what}", args.pod);
    Ok(())
}

/// Every pod instance, a page at a time.
async fn all_pods(client: &ApiClient) -> anyhow::Result<Vec<PodStatus>> {
    let mut pods = Vec::new();
    loop {
        let page = client
            .pods(Range {
                offset: pods.len(),
                limit: cairn::pages::MAX_LIMIT,
            })
            .await?;
        let done = page.pods.is_empty() || pods.len() + page.pods.len() >= page.total;
        pods.extend(page.pods);
        if done {
            return Ok(pods);
        }
    }
}

fn list(pods: &[PodStatus], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(pods)?);
        return Ok(());
    }
    if pods.is_empty() {
        println!("no pods");
        return Ok(());
    }
    let mut t = Table::new(["pod", "agent", "ready", "status"]);
    for pod in pods {
        let ready = pod.tasks.iter().filter(|t| t.ready).count();
        t.row([
            pod.name.clone(),
            agent(pod),
            format!("{ready}/{}", pod.tasks.len()),
            table::state(&pod_word(pod)),
        ]);
    }
    t.print();
    Ok(())
}

/// One word (or two) for a pod: what an operator looks at first.
fn pod_word(pod: &PodStatus) -> String {
    if pod.crash_looping {
        return "CRASH_LOOPING".into();
    }
    if pod.paused {
        let all = pod.tasks.iter().all(|t| t.paused || t.state.is_none());
        return if all { "PAUSED" } else { "PAUSING" }.into();
    }
    if pod.tasks.iter().any(|t| t.paused) {
        return "RESUMING".into();
    }
    if pod.tasks.iter().all(|t| t.state.is_none()) {
        return "NOT_LAUNCHED".into();
    }
    // The least advanced task speaks for the pod.
    let states: Vec<String> = pod
        .tasks
        .iter()
        .map(|t| t.state.map(|s| s.to_string()).unwrap_or_default())
        .collect();
    match states.iter().find(|s| s.as_str() != "TASK_RUNNING") {
        Some(s) if !s.is_empty() => s.clone(),
        _ if pod.tasks.iter().all(|t| t.ready) => "READY".into(),
        _ => "TASK_RUNNING".into(),
    }
}

fn agent(pod: &PodStatus) -> String {
    pod.hostname
        .clone()
        .or_else(|| pod.agent_id.clone())
        .unwrap_or_else(|| "-".into())
}

fn status(pods: &[PodStatus]) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let mut t = Table::new([
        "pod",
        "task",
        "state",
        "agent",
        "since",
        "failures",
        "last exit",
    ]);
    for pod in pods {
        for task in &pod.tasks {
            t.row([
                pod.name.clone(),
                task.name.clone(),
                table::state(&task_word(task)),
                agent(pod),
                task.since
                    .map(|s| ago(now.saturating_sub(s.as_millis())))
                    .unwrap_or_else(|| "-".into()),
                failures(task),
                task.last_exit
                    .as_ref()
                    .map(|e| e.describe())
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
    }
    if t.is_empty() {
        println!("no pods");
    } else {
        t.print();
    }
}

/// A task's state, with what an operator must not miss.
fn task_word(task: &PodTaskStatus) -> String {
    let mut word = match task.state {
        Some(s) => s.to_string(),
        None if task.task_id.is_empty() => "NOT_LAUNCHED".into(),
        None => "LAUNCHED".into(),
    };
    if task.paused {
        word.push_str(" PAUSED");
    }
    if task.crash_looping {
        word.push_str(" CRASH_LOOPING");
    }
    word
}

fn failures(task: &PodTaskStatus) -> String {
    if task.failures == 0 {
        return "0".into();
    }
    format!("{} in {}m", task.failures, CRASH_LOOP_WINDOW.as_secs() / 60)
}

/// `12s ago`, `5m ago`, `3h ago`, `2d ago`.
fn ago(millis: u64) -> String {
    let s = millis / 1000;
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        7200..=172_799 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// A TaskInfo for people: command, resources, volumes, ports, environment variable names.
fn describe(info: &cairn::proto::TaskInfo) -> String {
    use std::fmt::Write as _;
    let mut out = format!("{} ({})\n", info.name, info.task_id.value);
    let _ = writeln!(out, "  agent     {}", info.agent_id.value);
    if let Some(cmd) = &info.command {
        let text = cmd.value.as_deref().unwrap_or("").trim();
        let mut lines = text.lines();
        let _ = writeln!(out, "  command   {}", lines.next().unwrap_or(""));
        for line in lines {
            let _ = writeln!(out, "            {line}");
        }
        if let Some(user) = &cmd.user {
            let _ = writeln!(out, "  user      {user}");
        }
    }
    let resources = info
        .resources
        .iter()
        .chain(info.executor.iter().flat_map(|e| e.resources.iter()));
    let mut scalars = Vec::new();
    let mut volumes = Vec::new();
    let mut ports = Vec::new();
    for r in info.resources.iter() {
        if let Some(s) = &r.scalar {
            if r.disk
                .as_ref()
                .and_then(|d| d.persistence.as_ref())
                .is_none()
            {
                scalars.push(format!("{} {}", r.name, s.value));
            }
        }
        if let Some(ranges) = &r.ranges {
            for range in &ranges.range {
                ports.push(if range.begin == range.end {
                    range.begin.to_string()
                } else {
                    format!("{}-{}", range.begin, range.end)
                });
            }
        }
    }
    for r in resources {
        if let Some(disk) = &r.disk {
            if let Some(p) = &disk.persistence {
                let path = disk
                    .volume
                    .as_ref()
                    .map(|v| v.container_path.clone())
                    .unwrap_or_default();
                let size = r.scalar.as_ref().map(|s| s.value).unwrap_or_default();
                let line = format!("{path} ({size} MB, {})", p.id);
                if !volumes.contains(&line) {
                    volumes.push(line);
                }
            }
        }
    }
    let _ = writeln!(out, "  resources {}", scalars.join(", "));
    if !ports.is_empty() {
        let _ = writeln!(out, "  ports     {}", ports.join(", "));
    }
    for v in &volumes {
        let _ = writeln!(out, "  volume    {v}");
    }
    let env: Vec<&str> = info
        .command
        .as_ref()
        .and_then(|c| c.environment.as_ref())
        .map(|e| e.variables.iter().map(|v| v.name.as_str()).collect())
        .unwrap_or_default();
    if !env.is_empty() {
        let _ = writeln!(out, "  env       {}", env.join(" "));
    }
    let mut checks = Vec::new();
    if info.health_check.is_some() {
        checks.push("health");
    }
    if info.check.is_some() {
        checks.push("readiness");
    }
    if !checks.is_empty() {
        let _ = writeln!(out, "  checks    {}", checks.join(", "));
    }
    out
}
