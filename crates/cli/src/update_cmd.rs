//! `cairn update SPEC` and `cairn update status`: a new spec for a deployed service, and how
//! its rollout goes.
//!
//! With a scheduler running (its API address is in `<state-dir>/<service>.api`), the spec is
//! handed to it: it judges the spec as a restart would, and on acceptance restarts itself with
//! it and rolls it out; this command follows the rollout plan until it completes. Without one,
//! the same validators run offline against the stored target, and an accepted spec is rolled
//! out by starting the scheduler with it. Either way a refused spec changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cairn::api::{ApiClient, UpdateAnswer};
use cairn::core::config::ConfigViolation;
use cairn::core::plan::{PlanStatus, Status};
use cairn::spec::ServiceSpec;
use clap::{Args, Subcommand};

use crate::duration;
use crate::run_cmd::{load, stored_service};

/// How often the rollout is looked at while following it.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct UpdateArgs {
    #[command(subcommand)]
    command: Option<UpdateCommand>,
    /// The new service spec: a svc.yml, rendered as a Mustache template with the environment.
    spec: Option<PathBuf>,
    /// The state store of the service, as given to `cairn scheduler` or `cairn run`.
    #[arg(long, default_value = ".cairn/state")]
    state_dir: PathBuf,
    /// The running scheduler's API (http://host:port), instead of the address it wrote to
    /// <state-dir>/<service>.api.
    #[arg(long)]
    api: Option<String>,
    /// Return once the spec is accepted instead of following the rollout to its end.
    #[arg(long)]
    no_wait: bool,
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

/// Which running scheduler a command talks to.
#[derive(Args)]
pub struct RunningService {
    /// The state store of the service, as given to `cairn scheduler` or `cairn run`.
    #[arg(long, default_value = ".cairn/state")]
    state_dir: PathBuf,
    /// Which service, when the state dir holds more than one.
    #[arg(long)]
    service: Option<String>,
    /// The running scheduler's API (http://host:port), instead of the address it wrote to
    /// <state-dir>/<service>.api.
    #[arg(long)]
    api: Option<String>,
}

/// The API client of the running scheduler `target` names.
pub fn running_api(target: &RunningService) -> anyhow::Result<ApiClient> {
    if let Some(url) = &target.api {
        return Ok(ApiClient::new(url)?);
    }
    let service = match &target.service {
        Some(s) => s.clone(),
        None => stored_service(&target.state_dir, None)?.name,
    };
    ApiClient::find(&target.state_dir, &service)?.with_context(|| {
        format!(
            "no running scheduler of {service} under {} (no {service}.api)",
            target.state_dir.display()
        )
    })
}

pub fn run(args: UpdateArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
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
    let client = match &args.api {
        Some(url) => Some(ApiClient::new(url)?),
        None => ApiClient::find(&args.state_dir, &spec.name)?,
    };
    // The running scheduler, if its API answers; a stale address file (a killed scheduler)
    // falls back to the offline check.
    let running = match client {
        Some(c) => match c.status().await {
            Ok(status) => Some((c, status)),
            Err(e) if args.api.is_some() => return Err(e.into()),
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
        return offline(args, path, &spec);
    };
    match client.update(&spec).await? {
        UpdateAnswer::Unchanged => {
            println!(
                "{}: the spec is the target already; nothing to roll out",
                spec.name
            );
            Ok(())
        }
        UpdateAnswer::Refused(violations) => refused(path, &violations),
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

/// Prints the rollout's progress until the scheduler runs a new target and its rollout plan
/// is complete.
async fn follow(client: &ApiClient, old_config: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last: Option<Vec<PlanStatus>> = None;
    loop {
        // While the scheduler restarts, the API may briefly report the old one, or fail.
        if let (Ok(status), Ok(plans)) = (client.status().await, client.plans().await) {
            if status.config_id != old_config {
                for line in cairn::api::progress_lines(last.as_deref(), &plans) {
                    println!("{line}");
                }
                // The rollout and any decommission; recovery is not the update's business.
                let done = plans
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
fn offline(args: &UpdateArgs, path: &std::path::Path, new: &ServiceSpec) -> anyhow::Result<()> {
    let old = cairn::stored_target(&args.state_dir, &new.name)?;
    if old.is_none() {
        println!(
            "{}: no stored target under {}: this is a first install",
            new.name,
            args.state_dir.display()
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
        args.state_dir.display()
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
    let plans = client.plans().await?;
    println!(
        "{}: config {}, {}, {}",
        status.service,
        status.config_id,
        if status.connected {
            format!("connected to {}", status.master)
        } else {
            format!("not connected to {}", status.master)
        },
        if status.deployed {
            "rolled out"
        } else {
            "rolling out"
        }
    );
    for plan in &plans {
        print!("{}", describe_plan(plan));
    }
    Ok(())
}

/// A plan as a tree: plan, phases, steps, each with its status.
fn describe_plan(plan: &PlanStatus) -> String {
    use std::fmt::Write as _;
    let mut out = format!("plan {} ({}): {}\n", plan.name, plan.strategy, plan.status);
    for e in &plan.errors {
        let _ = writeln!(out, "  error: {e}");
    }
    for phase in &plan.phases {
        let _ = writeln!(
            out,
            "  phase {} ({}): {}",
            phase.name, phase.strategy, phase.status
        );
        for step in &phase.steps {
            let _ = write!(out, "    {} {}", step.name, step.status);
            if !step.message.is_empty() {
                let _ = write!(out, "  ({})", step.message);
            }
            out.push('\n');
        }
    }
    out
}
