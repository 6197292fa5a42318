//! `cairn logs POD[/TASK] [--stderr] [-f] [--lines N]`: a task's output, read the way one reads
//! it on a Mesos cluster. The scheduler's API names the task's latest launch (its id and
//! agent); the master's `/state` gives that agent's address; the agent's `/state` gives the
//! executor's sandbox (`directory`), in which a task of a group has `tasks/<task id>`; and the
//! agent's `/files/read` serves `stdout` or `stderr` from there. Nothing is read from the local
//! disk, so the same command works against a remote or a real Mesos cluster.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{bail, Context as _};
use cairn::core::scheduler::PodStatus;
use clap::Args;
use serde::Deserialize;

use crate::update_cmd::{running_api, RunningService};

/// How often a followed file is read for more.
const FOLLOW_POLL: Duration = Duration::from_millis(300);
/// How often, while following, the scheduler is asked whether the task was relaunched.
const RELAUNCH_CHECK: Duration = Duration::from_secs(2);
/// The most read back from the end of a file to find its last lines.
const MOST_BACK: u64 = 8 << 20;

#[derive(Args)]
pub struct LogsArgs {
    /// The pod instance (`data-0`), or one task of it (`data-0/node`); a pod of several tasks
    /// needs the task unless only one of them runs.
    target_task: String,
    /// The task's stderr instead of its stdout.
    #[arg(long)]
    stderr: bool,
    /// Keep printing what the task writes (across its relaunches) until interrupted.
    #[arg(short, long)]
    follow: bool,
    /// How many of the last lines to print first (0: none, only what comes with --follow).
    #[arg(short = 'n', long, default_value_t = 20)]
    lines: usize,
    #[command(flatten)]
    target: RunningService,
}

pub fn run(args: LogsArgs) -> anyhow::Result<()> {
    let rt = crate::runtime()?;
    rt.block_on(logs(args))
}

/// Where a task's file is: which agent serves it, at which path.
#[derive(Debug, Clone, PartialEq)]
struct TaskFile {
    task_id: String,
    /// The task's state when it was located.
    state: Option<cairn::proto::TaskState>,
    agent: String,
    path: String,
}

/// What reads files from agents: an HTTP client, and the operator's token when the master is
/// the work dir's own cluster (never sent to a master named by URL: it is that cluster's
/// secret).
struct Reader {
    http: reqwest::Client,
    token: Option<String>,
}

async fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let (pod, task) = match args.target_task.split_once('/') {
        Some((p, t)) => (p.to_string(), Some(t.to_string())),
        None => (args.target_task.clone(), None),
    };
    let api = running_api(&args.target)?;
    let master = args.target.master()?;
    let own_master = crate::update_cmd::running_master(&args.target.cluster_dir()).ok();
    let token = if own_master.as_deref() == Some(master.as_str()) {
        cairn_cluster::auth::read_token(
            &args
                .target
                .cluster_dir()
                .join(cairn_cluster::auth::OPERATOR_TOKEN_FILE),
        )
        .ok()
    } else {
        None
    };
    let reader = Reader {
        http: cairn_cluster::http_client::build_plain(|| {
            reqwest::Client::builder().timeout(Duration::from_secs(30))
        })?,
        token,
    };
    let name = if args.stderr { "stderr" } else { "stdout" };
    let mut file = locate(&api, &reader, &master, &pod, task.as_deref(), name).await?;
    let size = reader.size(&file).await?;
    let start = reader.start_of_last_lines(&file, size, args.lines).await?;
    let mut offset = reader.copy(&file, start, size).await?;
    if size == 0 {
        // Silence would read as a broken command; say it, where scripts do not read it.
        eprintln!(
            "({} has written nothing to its {name} yet{})",
            file.task_id,
            if args.follow { "; following" } else { "" }
        );
    }
    if !args.follow {
        return Ok(());
    }
    let mut checked = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(FOLLOW_POLL) => {}
        }
        // A file gone (the sandbox of a task that was replaced and cleaned up) is not the end:
        // the relaunch check below finds the new one.
        if let Ok(size) = reader.size(&file).await {
            offset = reader.copy(&file, offset, size).await?;
        }
        if checked.elapsed() < RELAUNCH_CHECK {
            continue;
        }
        checked = tokio::time::Instant::now();
        let Ok(now) = locate(&api, &reader, &master, &pod, task.as_deref(), name).await else {
            continue;
        };
        if now.task_id == file.task_id && now.state != file.state {
            if let Some(state) = now.state.filter(|s| s.is_terminal()) {
                // Said once: a task that stays down (a FINISH task done, a pod waiting to be
                // relaunched) writes nothing more until the pod launches it again.
                eprintln!(
                    "--- {pod}: the task is {state}; waiting for a relaunch (Ctrl-C ends) ---"
                );
            }
            file.state = now.state;
        }
        if now.task_id != file.task_id {
            // What the old launch wrote last, then the new one from its start.
            if let Ok(size) = reader.size(&file).await {
                reader.copy(&file, offset, size).await?;
            }
            eprintln!("--- {pod}: relaunched as {} ---", now.task_id);
            file = now;
            offset = 0;
        }
    }
}

/// The file `name` of the task `task` of `pod` names, in its latest launch's sandbox.
async fn locate(
    api: &cairn::api::ApiClient,
    reader: &Reader,
    master: &str,
    pod: &str,
    task: Option<&str>,
    name: &str,
) -> anyhow::Result<TaskFile> {
    let pods = all_pods(api).await?;
    let Some(found) = pods.iter().find(|p| p.name == pod) else {
        let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "no pod `{pod}` in this service; its pods: {}",
            if names.is_empty() {
                "none yet".to_string()
            } else {
                names.join(", ")
            }
        );
    };
    let short = |full: &str| {
        full.strip_prefix(pod)
            .and_then(|r| r.strip_prefix('-'))
            .unwrap_or(full)
            .to_string()
    };
    let tasks: Vec<String> = found.tasks.iter().map(|t| short(&t.name)).collect();
    let chosen = match task {
        Some(t) => found
            .tasks
            .iter()
            .find(|x| short(&x.name) == t || x.name == t)
            .with_context(|| {
                format!(
                    "pod {pod} has no task `{t}`; its tasks: {}",
                    tasks.join(", ")
                )
            })?,
        None => {
            let running: Vec<_> = found
                .tasks
                .iter()
                .filter(|t| t.state == Some(cairn::proto::TaskState::Running))
                .collect();
            match (found.tasks.as_slice(), running.as_slice()) {
                ([only], _) => only,
                (_, [only]) => *only,
                _ => bail!(
                    "pod {pod} has tasks {}: name one ({pod}/{})",
                    tasks.join(", "),
                    tasks.first().map_or("TASK", String::as_str)
                ),
            }
        }
    };
    let task_name = short(&chosen.name);
    if chosen.task_id.is_empty() {
        bail!("{pod}/{task_name} was never launched: it has no output yet");
    }
    let agent_id = found
        .agent_id
        .as_deref()
        .with_context(|| format!("{pod} has no agent"))?;
    let agent = reader.agent_address(master, agent_id).await?;
    let sandbox = reader
        .sandbox(&agent, &chosen.task_id)
        .await?
        .with_context(|| {
            format!(
                "{pod}/{task_name}: agent {agent_id} ({agent}) has no sandbox of task {} (the \
                 agent forgot it, or it is not running)",
                chosen.task_id
            )
        })?;
    Ok(TaskFile {
        task_id: chosen.task_id.clone(),
        state: chosen.state,
        agent,
        path: format!("{sandbox}/{name}"),
    })
}

async fn all_pods(api: &cairn::api::ApiClient) -> anyhow::Result<Vec<PodStatus>> {
    let mut pods = Vec::new();
    loop {
        let page = api
            .pods(cairn::pages::Range {
                offset: pods.len(),
                limit: 1000,
            })
            .await?;
        let done = page.pods.is_empty() || pods.len() + page.pods.len() >= page.total;
        pods.extend(page.pods);
        if done {
            return Ok(pods);
        }
    }
}

#[derive(Deserialize)]
struct MasterState {
    #[serde(default)]
    slaves: Vec<MasterAgent>,
}

#[derive(Deserialize)]
struct MasterAgent {
    id: String,
    /// `slave(1)@host:port`.
    pid: String,
}

#[derive(Deserialize)]
struct AgentState {
    #[serde(default)]
    frameworks: Vec<AgentFramework>,
}

#[derive(Deserialize)]
struct AgentFramework {
    #[serde(default)]
    executors: Vec<AgentExecutor>,
    #[serde(default)]
    completed_executors: Vec<AgentExecutor>,
}

#[derive(Deserialize)]
struct AgentExecutor {
    id: String,
    directory: String,
    #[serde(default)]
    tasks: Vec<AgentTask>,
    #[serde(default)]
    completed_tasks: Vec<AgentTask>,
}

#[derive(Deserialize)]
struct AgentTask {
    id: String,
}

#[derive(Deserialize)]
struct FileData {
    data: String,
    offset: u64,
}

impl Reader {
    /// A read anyone may make (a master's or an agent's `/state`), as JSON.
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> anyhow::Result<T> {
        let reading = || format!("reading {url}");
        self.http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(reading)?
            .json()
            .await
            .with_context(reading)
    }

    /// `host:port` of the agent, from the master's `/state`.
    async fn agent_address(&self, master: &str, agent_id: &str) -> anyhow::Result<String> {
        let state: MasterState = self.get_json(&format!("{master}/state")).await?;
        state
            .slaves
            .iter()
            .find(|a| a.id == agent_id)
            .and_then(|a| a.pid.split_once('@').map(|(_, addr)| addr.to_string()))
            .with_context(|| format!("the master at {master} does not know agent {agent_id}"))
    }

    /// The task's sandbox on the agent: its executor's directory, and in it `tasks/<task id>`
    /// for a task of a group (a command task's executor has the task's own id and sandbox).
    async fn sandbox(&self, agent: &str, task_id: &str) -> anyhow::Result<Option<String>> {
        let state: AgentState = self.get_json(&format!("http://{agent}/state")).await?;
        let executors = state
            .frameworks
            .iter()
            .flat_map(|f| f.executors.iter().chain(&f.completed_executors));
        for e in executors {
            if !e
                .tasks
                .iter()
                .chain(&e.completed_tasks)
                .any(|t| t.id == task_id)
            {
                continue;
            }
            return Ok(Some(if e.id == task_id {
                e.directory.clone()
            } else {
                format!("{}/tasks/{task_id}", e.directory)
            }));
        }
        Ok(None)
    }

    async fn read(
        &self,
        file: &TaskFile,
        offset: i64,
        length: Option<u64>,
    ) -> anyhow::Result<FileData> {
        let url = format!("http://{}/files/read", file.agent);
        let mut query = vec![("path", file.path.clone()), ("offset", offset.to_string())];
        if let Some(l) = length {
            query.push(("length", l.to_string()));
        }
        let url = reqwest::Url::parse_with_params(&url, &query)
            .with_context(|| format!("the agent's address {}", file.agent))?;
        let mut request = self.http.get(url);
        if let Some(t) = &self.token {
            request = request.header(
                reqwest::header::AUTHORIZATION,
                cairn_cluster::auth::bearer_authorization(t),
            );
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("reading {} from {}", file.path, file.agent))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!(
                "reading {} from agent {}: {status}: {}",
                file.path,
                file.agent,
                body.trim()
            );
        }
        Ok(response.json().await?)
    }

    /// The file's size (a read at offset -1).
    async fn size(&self, file: &TaskFile) -> anyhow::Result<u64> {
        Ok(self.read(file, -1, None).await?.offset)
    }

    /// Where the last `lines` lines of the file start.
    async fn start_of_last_lines(
        &self,
        file: &TaskFile,
        size: u64,
        lines: usize,
    ) -> anyhow::Result<u64> {
        if lines == 0 {
            return Ok(size);
        }
        let mut back = 64 * 1024;
        loop {
            let start = size.saturating_sub(back);
            let text = self.collect(file, start, size).await?;
            // A last line without its newline counts as a line too.
            let body = text.strip_suffix('\n').unwrap_or(&text);
            let newlines: Vec<usize> = body.match_indices('\n').map(|(i, _)| i).collect();
            if newlines.len() >= lines {
                let cut = newlines[newlines.len() - lines] + 1;
                return Ok(start + cut as u64);
            }
            if start == 0 || back >= MOST_BACK {
                return Ok(start);
            }
            back *= 4;
        }
    }

    /// Hands `f` the file's bytes from `from` to `to`, a chunk at a time (an agent returns at
    /// most 64 KiB per read); where it got to.
    async fn chunks(
        &self,
        file: &TaskFile,
        from: u64,
        to: u64,
        mut f: impl FnMut(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<u64> {
        let mut at = from;
        while at < to {
            let chunk = self.read(file, at as i64, Some(to - at)).await?;
            if chunk.data.is_empty() {
                break;
            }
            at = chunk.offset + chunk.data.len() as u64;
            f(&chunk.data)?;
        }
        Ok(at)
    }

    /// The file's text from `from` to `to`.
    async fn collect(&self, file: &TaskFile, from: u64, to: u64) -> anyhow::Result<String> {
        let mut out = String::new();
        self.chunks(file, from, to, |data| {
            out.push_str(data);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// Prints the file from `from` to `to`; where it got to.
    async fn copy(&self, file: &TaskFile, from: u64, to: u64) -> anyhow::Result<u64> {
        self.chunks(file, from, to, |data| {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(data.as_bytes())?;
            Ok(stdout.flush()?)
        })
        .await
    }
}
