//! `cairn update SPEC` and `cairn update status`: a new spec for a deployed service, and how
//! its rollout goes.
//!
//! With a scheduler running (its API address is in `<state-dir>/<service>.api`), the spec is
//! handed to it: it judges the spec as a restart would, and on acceptance restarts itself with
//! it and rolls it out; this command follows the rollout plan until it completes. Without one,
//! the same validators run offline against the stored target, and an accepted spec is rolled
//! out by starting the scheduler with it. Either way a refused spec changes nothing.
//!
//! The spec is rendered with this command's environment, but its `TASKCFG_*` settings are the
//! scheduler's: a running scheduler routes its own into the spec it is handed, and this
//! environment's are not sent (a note says so when there are any). Offline, they are routed
//! as a scheduler started from this environment would.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cairn::api::{ApiClient, UpdateAnswer};
use cairn::core::config::ConfigViolation;
use cairn::core::plan::{PhaseStatus, PlanStatus, Status, StepStatus};
use cairn::pages::{PlanSummary, StepEntry};
use cairn::spec::ServiceSpec;
use clap::{Args, Subcommand};

use crate::duration;
use crate::run_cmd::{load, stored_service};

/// How often the rollout is looked at while following it.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// Plans of at most this many steps are shown (and followed) step by step; larger ones as
/// counts, with only their steps in flight listed.
const STEPS_SHOWN: usize = 100;

/// The most in-flight steps listed for a large plan.
const IN_FLIGHT_SHOWN: usize = 20;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UpdateArgs {
    #[command(subcommand)]
    command: Option<UpdateCommand>,
    /// The new service spec: a svc.yml, rendered as a Mustache template with the environment.
    spec: Option<PathBuf>,
    #[command(flatten)]
    target: RunningService,
    /// Return once the spec is accepted instead of following the rollout to its end.
    #[arg(long)]
    no_wait: bool,
    /// Stage the rollout interrupted: the scheduler takes the spec, but no pod is touched
    /// until `cairn plan continue PLAN` (needs a running scheduler).
    #[arg(long)]
    paused: bool,
    /// Give up following the rollout after this long (it goes on without us).
    #[arg(long, default_value = "1h", value_parser = duration::parse)]
    timeout: Duration,
}

#[derive(Subcommand)]
enum UpdateCommand {
    /// The rollout plan of a running service, step by step.
    Status(StatusArgs),
}

#[derive(Args)]
struct StatusArgs {
    #[command(flatten)]
    target: RunningService,
}

/// Which running service a command acts on: the one whose work directory (`cairn run
/// --work-dir`, default `.cairn`) holds the embedded cluster (`<work-dir>/cluster`, its master's
/// address in `<work-dir>/cluster/master`) and the state (`<work-dir>/state`, the scheduler's API
/// address in `<service>.api`). `--master` and `--api` name them instead.
#[derive(Args, Clone)]
pub struct RunningService {
    /// The service's work directory, as given to `cairn run` (its cluster in <DIR>/cluster, its
    /// state in <DIR>/state).
    #[arg(long, default_value = ".cairn")]
    pub work_dir: PathBuf,
    /// The state store of the service, instead of <work-dir>/state (as given to `cairn
    /// scheduler` or `cairn run --state-dir`).
    #[arg(long)]
    pub state_dir: Option<PathBuf>,
    /// Which service, when the state dir holds more than one.
    #[arg(long)]
    pub service: Option<String>,
    /// The running scheduler's API (http://host:port), instead of the address it wrote to
    /// <state-dir>/<service>.api.
    #[arg(long)]
    pub api: Option<String>,
    /// The Mesos master (http://host:5050), instead of the embedded cluster's of the work dir.
    #[arg(long)]
    pub master: Option<String>,
}

impl RunningService {
    /// The state store's directory: `--state-dir`, or `<work-dir>/state`.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.work_dir.join("state"))
    }

    /// The embedded cluster's directory, `<work-dir>/cluster`.
    pub fn cluster_dir(&self) -> PathBuf {
        self.work_dir.join("cluster")
    }

    /// The master to talk to: `--master`, or the one the work dir's embedded cluster runs.
    /// Never a guess: with neither, the error says what was looked for.
    pub fn master(&self) -> anyhow::Result<String> {
        if let Some(m) = &self.master {
            return Ok(m.trim_end_matches('/').to_string());
        }
        running_master(&self.cluster_dir())
    }
}

/// The master of the cluster running on `cluster_dir`, or an error naming the directory and
/// how to start one or name another.
pub fn running_master(cluster_dir: &std::path::Path) -> anyhow::Result<String> {
    let running = cairn_cluster::running(cluster_dir)
        .with_context(|| format!("looking for a cluster in {}", cluster_dir.display()))?;
    match running {
        Some(cairn_cluster::RunningCluster {
            master: Some(url), ..
        }) => Ok(url),
        Some(r) => anyhow::bail!(
            "the embedded cluster in {} is starting ({r}); try again in a moment",
            cluster_dir.display()
        ),
        None => anyhow::bail!(
            "no embedded cluster runs in {} (start it with `cairn run SPEC` or `cairn cluster`, \
             or name a master with --master URL)",
            cluster_dir.display()
        ),
    }
}

/// The API client of the running scheduler `target` names.
pub fn running_api(target: &RunningService) -> anyhow::Result<ApiClient> {
    let state_dir = target.state_dir();
    let service = match (&target.service, &target.api) {
        (Some(s), _) => s.clone(),
        // Only to find the token beside the state: an API named by its URL may belong to a
        // scheduler whose state is elsewhere.
        (None, Some(url)) => match stored_service(&state_dir, None) {
            Ok(spec) => spec.name,
            Err(_) => return Ok(ApiClient::new(url)?),
        },
        (None, None) => stored_service(&state_dir, None)?.name,
    };
    if let Some(url) = &target.api {
        return Ok(ApiClient::new(url)?.with_token_from(&state_dir, &service)?);
    }
    ApiClient::find(&state_dir, &service)?.with_context(|| {
        format!(
            "no running scheduler of {service} under {} (no {service}.api)",
            state_dir.display()
        )
    })
}

pub fn run(args: UpdateArgs) -> anyhow::Result<()> {
    let rt = crate::runtime()?;
    match args.command {
        Some(UpdateCommand::Status(s)) => rt.block_on(status(s)),
        None => {
            let path = args.spec.clone().context(
                "a spec to update to is needed: cairn update SPEC (or cairn update status)",
            )?;
            let spec = load(&path)?;
            rt.block_on(update(&args, &path, spec))
        }
    }
}

async fn update(
    args: &UpdateArgs,
    path: &std::path::Path,
    spec: ServiceSpec,
) -> anyhow::Result<()> {
    let state_dir = args.target.state_dir();
    let client = match &args.target.api {
        Some(url) => Some(ApiClient::new(url)?.with_token_from(&state_dir, &spec.name)?),
        None => ApiClient::find(&state_dir, &spec.name)?,
    };
    // The running scheduler, if its API answers; a stale address file (a killed scheduler)
    // falls back to the offline check.
    let running = match client {
        Some(c) => match c.status().await {
            Ok(status) => Some((c, status)),
            // A scheduler that refuses us is running: checking offline would mislead.
            Err(e)
                if args.target.api.is_some() || matches!(e, cairn::Error::ApiUnauthorized(_)) =>
            {
                return Err(e.into())
            }
            Err(e) => {
                println!(
                    "{}: no scheduler answers ({e}); checking offline",
                    spec.name
                );
                None
            }
        },
        None => None,
    };
    let Some((client, before)) = running else {
        anyhow::ensure!(
            !args.paused,
            "{}: --paused stages a rollout in a running scheduler, and none answers; nothing \
             was changed",
            spec.name
        );
        return offline(args, path, &spec);
    };
    let own = operator_taskcfg();
    if !own.is_empty() {
        // The spec goes without them: the scheduler routes its own, which its tasks have had
        // since it started; these would silently win here and be lost at its next restart.
        println!(
            "{}: note: {} of this environment {} not used: the tasks get the running \
             scheduler's own TASKCFG_* settings (its environment's); to change them, restart \
             the scheduler with the new values",
            spec.name,
            own.keys().cloned().collect::<Vec<_>>().join(", "),
            if own.len() == 1 { "is" } else { "are" }
        );
    }
    let answer = if args.paused {
        client.update_paused(&spec).await?
    } else {
        client.update(&spec).await?
    };
    match answer {
        UpdateAnswer::Unchanged => {
            println!(
                "{}: the spec is the target already; nothing to roll out",
                spec.name
            );
            Ok(())
        }
        UpdateAnswer::Refused(violations) => refused(path, &violations),
        UpdateAnswer::Accepted if args.paused => staged(&client, &before.config_id, args).await,
        UpdateAnswer::Accepted => {
            println!(
                "{}: update accepted by the scheduler at {}; rolling out",
                spec.name,
                client.base()
            );
            if args.no_wait {
                return Ok(());
            }
            follow(&client, &before.config_id, args.timeout).await
        }
    }
}

/// A paused update: once the scheduler runs the new target, says which plan waits.
async fn staged(client: &ApiClient, old_config: &str, args: &UpdateArgs) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + args.timeout;
    loop {
        if let (Ok(status), Ok(plans)) = (client.status().await, client.plans().await) {
            if status.config_id != old_config && status.connected {
                // The API lists the rollout plan first.
                let plan = plans.first().map_or("deploy", |p| p.name.as_str());
                println!(
                    "{}: update accepted and staged as config {}: plan {plan} is interrupted, \
                     no pod changes until `cairn plan continue {plan}`",
                    status.service, status.config_id
                );
                return Ok(());
            }
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the scheduler took the spec but does not run it after {:?}; `cairn update status` \
             shows where it is",
            args.timeout
        );
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// The plans as `cairn run` shows them: every step of a plan of at most [`STEPS_SHOWN`]
/// steps; a larger plan with its phases only (its progress is told by [`count_lines`]).
async fn plans_to_follow(
    client: &ApiClient,
) -> Result<(Vec<PlanSummary>, Vec<PlanStatus>), cairn::Error> {
    let summaries = client.plans().await?;
    let mut plans = Vec::new();
    for summary in &summaries {
        let steps = if summary.steps.total <= STEPS_SHOWN {
            client.plan_steps(&summary.name).await?.1
        } else {
            Vec::new()
        };
        plans.push(with_steps(summary, steps));
    }
    Ok((summaries, plans))
}

/// A summary and its steps as a plan with phases and steps.
fn with_steps(summary: &PlanSummary, steps: Vec<StepEntry>) -> PlanStatus {
    let mut phases: Vec<PhaseStatus> = summary
        .phases
        .iter()
        .map(|p| PhaseStatus {
            name: p.name.clone(),
            status: p.status,
            strategy: p.strategy.clone(),
            steps: Vec::new(),
        })
        .collect();
    for step in steps {
        let at = match phases.iter().position(|p| p.name == step.phase) {
            Some(at) => at,
            None => {
                phases.push(PhaseStatus {
                    name: step.phase.clone(),
                    status: Status::Pending,
                    strategy: String::new(),
                    steps: Vec::new(),
                });
                phases.len() - 1
            }
        };
        phases[at].steps.push(StepStatus {
            name: step.name,
            status: step.status,
            message: step.message,
        });
    }
    PlanStatus {
        name: summary.name.clone(),
        status: summary.status,
        strategy: summary.strategy.clone(),
        phases,
        errors: summary.errors.clone(),
        parameters: summary.parameters.clone(),
        interrupted: summary.interrupted,
    }
}

/// A line for each large plan whose counts changed since `before`.
fn count_lines(
    before: &std::collections::BTreeMap<String, String>,
    now: &[PlanSummary],
) -> (Vec<String>, std::collections::BTreeMap<String, String>) {
    let mut lines = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for plan in now.iter().filter(|p| p.steps.total > STEPS_SHOWN) {
        let line = format!(
            "{}: {:<12} {} of {} steps: {}",
            plan.name,
            plan.status.as_str(),
            plan.steps.count(Status::Complete),
            plan.steps.total,
            plan.steps.words()
        );
        if before.get(&plan.name) != Some(&line) {
            lines.push(line.clone());
        }
        seen.insert(plan.name.clone(), line);
    }
    (lines, seen)
}

/// Prints the rollout's progress until the scheduler runs a new target and its rollout plan
/// is complete.
async fn follow(client: &ApiClient, old_config: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: Option<Vec<PlanStatus>> = None;
    let mut last_counts = std::collections::BTreeMap::new();
    loop {
        // While the scheduler restarts, the API may briefly report the old one, or fail.
        if let (Ok(status), Ok((summaries, plans))) =
            (client.status().await, plans_to_follow(client).await)
        {
            if status.config_id != old_config {
                for line in cairn::api::progress_lines(last.as_deref(), &plans) {
                    println!("{line}");
                }
                let (lines, counts) = count_lines(&last_counts, &summaries);
                for line in lines {
                    println!("{line}");
                }
                last_counts = counts;
                // The rollout and any decommission; recovery is not the update's business.
                let done = summaries
                    .iter()
                    .filter(|p| p.name != "recovery")
                    .all(|p| p.status == Status::Complete);
                if done && status.connected {
                    println!(
                        "{}: update complete (config {})",
                        status.service, status.config_id
                    );
                    return Ok(());
                }
                last = Some(plans);
            }
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the rollout is still going after {timeout:?}; `cairn update status` shows it"
        );
        tokio::time::sleep(FOLLOW_POLL).await;
    }
}

/// No scheduler running: the validators against the stored target, offline.
/// The `TASKCFG_*` settings of this command's environment.
fn operator_taskcfg() -> std::collections::BTreeMap<String, String> {
    cairn::spec::taskcfg_settings(std::env::vars())
}

fn offline(args: &UpdateArgs, path: &std::path::Path, new: &ServiceSpec) -> anyhow::Result<()> {
    // Judged as a scheduler started from this environment would run it: with its TASKCFG_*.
    let mut new = new.clone();
    cairn::spec::route_task_env(&mut new, &operator_taskcfg());
    let new = &new;
    let state_dir = args.target.state_dir();
    let old = cairn::stored_target(&state_dir, &new.name)?;
    if old.is_none() {
        println!(
            "{}: no stored target under {}: this is a first install",
            new.name,
            state_dir.display()
        );
    }
    if old.as_ref() == Some(new) {
        println!(
            "{}: the spec is the stored target already; nothing to roll out",
            new.name
        );
        return Ok(());
    }
    let violations = cairn::core::config::validate_update(
        old.as_ref(),
        new,
        &cairn::core::config::default_validators(),
    );
    if !violations.is_empty() {
        return refused(path, &violations);
    }
    println!(
        "update accepted: restart the scheduler with the new spec \
         (cairn scheduler {} --master <URL> --state-dir {})",
        path.display(),
        state_dir.display()
    );
    Ok(())
}

fn refused(path: &std::path::Path, violations: &[ConfigViolation]) -> anyhow::Result<()> {
    for v in violations {
        println!(
            "{}: {}: {}",
            v.validator,
            v.path.as_deref().unwrap_or("-"),
            v.message
        );
    }
    anyhow::bail!(
        "{}: update refused ({} violation{}); nothing was changed",
        path.display(),
        violations.len(),
        if violations.len() == 1 { "" } else { "s" }
    )
}

async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    let status = client.status().await?;
    let summaries = client.plans().await?;
    let mut shown = Vec::new();
    for summary in &summaries {
        shown.push(client.plan_steps(&summary.name).await?);
    }
    let rollout = shown.first().map(|(s, steps)| (s, steps.as_slice()));
    println!(
        "{}: config {}, {}, {}",
        status.service,
        status.config_id,
        if status.connected {
            format!("connected to {}", status.master)
        } else {
            format!("not connected to {}", status.master)
        },
        rollout_words(status.deployed, rollout)
    );
    for (summary, steps) in &shown {
        print!("{}", describe_plan(summary, steps));
    }
    Ok(())
}

/// Where the rollout is, in words: a plan held only by pods whose agents are unreachable is
/// not rolling anything out (nothing is launched or killed until they are back), and an
/// interrupted one waits for an operator.
fn rollout_words(deployed: bool, rollout: Option<(&PlanSummary, &[StepEntry])>) -> String {
    let Some((plan, steps)) = rollout.filter(|_| !deployed) else {
        return "rolled out".into();
    };
    let unfinished: Vec<&StepEntry> = steps
        .iter()
        .filter(|s| s.status != Status::Complete)
        .collect();
    let unreachable = unfinished
        .iter()
        .filter(|s| s.message.contains("is TASK_UNREACHABLE"))
        .count();
    if unreachable > 0 && unreachable == unfinished.len() {
        return format!(
            "rolled out, {unreachable} pod{} unreachable (waiting for {} agent to come back)",
            if unreachable == 1 { "" } else { "s" },
            if unreachable == 1 { "its" } else { "their" }
        );
    }
    if plan.interrupted {
        return format!(
            "rollout interrupted (`cairn plan continue {}` resumes it)",
            plan.name
        );
    }
    "rolling out".into()
}

/// A plan as a tree: plan, phases, steps, each with its status. A plan of more than
/// [`STEPS_SHOWN`] steps shows its phases with their steps counted, and lists only the steps
/// in flight (neither pending nor complete), at most [`IN_FLIGHT_SHOWN`] of them.
pub fn describe_plan(summary: &PlanSummary, steps: &[StepEntry]) -> String {
    use std::fmt::Write as _;
    let step_line = |out: &mut String, step: &StepEntry| {
        let _ = write!(out, "    {} {}", step.name, step.status);
        if !step.message.is_empty() {
            let _ = write!(out, "  ({})", step.message);
        }
        out.push('\n');
    };
    let mut out = format!(
        "plan {} ({}): {}\n",
        summary.name, summary.strategy, summary.status
    );
    if !summary.parameters.is_empty() {
        let pairs: Vec<String> = summary
            .parameters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "  parameters: {}", pairs.join(" "));
    }
    for e in &summary.errors {
        let _ = writeln!(out, "  error: {e}");
    }
    if summary.steps.total <= STEPS_SHOWN {
        let plan = with_steps(summary, steps.to_vec());
        for phase in &plan.phases {
            let _ = writeln!(
                out,
                "  phase {} ({}): {}",
                phase.name, phase.strategy, phase.status
            );
            for step in &phase.steps {
                step_line(
                    &mut out,
                    &StepEntry {
                        phase: phase.name.clone(),
                        name: step.name.clone(),
                        status: step.status,
                        message: step.message.clone(),
                    },
                );
            }
        }
        return out;
    }
    let _ = writeln!(
        out,
        "  {} steps: {}",
        summary.steps.total,
        summary.steps.words()
    );
    for phase in &summary.phases {
        let _ = writeln!(
            out,
            "  phase {} ({}): {}  {}",
            phase.name,
            phase.strategy,
            phase.status,
            phase.steps.words()
        );
    }
    if summary.phases_total > summary.phases.len() {
        let _ = writeln!(
            out,
            "  ... and {} more phases",
            summary.phases_total - summary.phases.len()
        );
    }
    let in_flight: Vec<&StepEntry> = steps
        .iter()
        .filter(|s| !matches!(s.status, Status::Pending | Status::Complete))
        .collect();
    if !in_flight.is_empty() {
        let _ = writeln!(out, "  in flight:");
    }
    for step in in_flight.iter().take(IN_FLIGHT_SHOWN) {
        step_line(&mut out, step);
    }
    if in_flight.len() > IN_FLIGHT_SHOWN {
        let _ = writeln!(
            out,
            "    ... and {} more in flight",
            in_flight.len() - IN_FLIGHT_SHOWN
        );
    }
    let _ = writeln!(
        out,
        "  (GET /v1/plans/{}?offset=&limit= lists every step)",
        summary.name
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn::pages::StepCounts;

    fn summary(total: usize, complete: usize) -> PlanSummary {
        let mut steps = StepCounts {
            total,
            ..StepCounts::default()
        };
        steps.by_status.insert("COMPLETE".into(), complete);
        steps.by_status.insert("STARTING".into(), 1);
        steps
            .by_status
            .insert("PENDING".into(), total - complete - 1);
        PlanSummary {
            name: "deploy".into(),
            status: Status::InProgress,
            strategy: "serial".into(),
            errors: Vec::new(),
            parameters: Default::default(),
            interrupted: false,
            phases_total: 1,
            phases: vec![cairn::pages::PhaseSummary {
                name: "data".into(),
                status: Status::InProgress,
                strategy: "serial".into(),
                steps: steps.clone(),
            }],
            steps,
        }
    }

    fn entry(name: &str, status: Status) -> StepEntry {
        StepEntry {
            phase: "data".into(),
            name: name.into(),
            status,
            message: String::new(),
        }
    }

    #[test]
    fn a_small_plan_is_shown_step_by_step() {
        let steps = [
            entry("data-0:[node]", Status::Complete),
            entry("data-1:[node]", Status::Starting),
            entry("data-2:[node]", Status::Pending),
        ];
        let text = describe_plan(&summary(3, 1), &steps);
        assert_eq!(
            text,
            "plan deploy (serial): IN_PROGRESS\n  phase data (serial): IN_PROGRESS\n    \
             data-0:[node] COMPLETE\n    data-1:[node] STARTING\n    data-2:[node] PENDING\n"
        );
    }

    #[test]
    fn a_large_plan_is_shown_as_counts_and_its_steps_in_flight() {
        let mut steps: Vec<StepEntry> = (0..9_000)
            .map(|i| entry(&format!("data-{i}:[node]"), Status::Complete))
            .collect();
        steps.push(entry("data-9000:[node]", Status::Starting));
        steps.extend((9_001..10_000).map(|i| entry(&format!("data-{i}:[node]"), Status::Pending)));
        let text = describe_plan(&summary(10_000, 9_000), &steps);
        assert!(text.lines().count() < 10, "{text}");
        assert!(
            text.contains("10000 steps: 9000 COMPLETE, 1 STARTING, 999 PENDING"),
            "{text}"
        );
        assert!(text.contains("    data-9000:[node] STARTING"), "{text}");
        assert!(!text.contains("data-1:[node]"), "{text}");
    }

    #[test]
    fn a_rollout_held_only_by_unreachable_pods_is_not_said_to_be_rolling_out() {
        let mut step = entry("data-1:[node]", Status::Started);
        step.message = "data-1-node is TASK_UNREACHABLE".into();
        let steps = [entry("data-0:[node]", Status::Complete), step];
        let plan = summary(2, 1);
        assert_eq!(
            rollout_words(false, Some((&plan, &steps))),
            "rolled out, 1 pod unreachable (waiting for its agent to come back)"
        );
        let starting = [entry("data-1:[node]", Status::Starting)];
        assert_eq!(
            rollout_words(false, Some((&plan, &starting))),
            "rolling out"
        );
        assert_eq!(rollout_words(true, None), "rolled out");
    }
}
