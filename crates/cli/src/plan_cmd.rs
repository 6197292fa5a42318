//! `cairn plan list|show|start|stop|interrupt|continue|force-complete|restart`: a running
//! service's plans, through its scheduler's HTTP API. The readers print a table or a tree for
//! people and the API's JSON with `--json`; a refused command changes nothing and says why.

use std::collections::BTreeMap;

use anyhow::Context as _;
use cairn::api::{query_escape, ApiClient};
use clap::{Args, Subcommand};

use crate::table::{self, Table};
use crate::update_cmd::{describe_plan, running_api, RunningService};

#[derive(Subcommand)]
pub enum PlanCommand {
    /// Every plan: status, strategy, steps complete of all, whether it is interrupted.
    List(ListArgs),
    /// One plan (the rollout plan by default): its phases and steps, each with its status and
    /// why it is where it is. A plan of more than 100 steps is counted, its steps in flight
    /// listed.
    Show(ShowArgs),
    /// Resume an interrupted plan (or one phase), and advance a canary waiting for it.
    Continue(PlanArgs),
    /// Start nothing new in a plan (or one phase); a step already under way finishes (a pod
    /// taken down for it comes back). Kept across scheduler restarts and updates.
    Interrupt(PlanArgs),
    /// Start a plan beyond deploy and update (a backup, a repair): its tasks get the
    /// parameters as environment variables. A complete plan runs again.
    Start(StartArgs),
    /// Stop a started plan: back to idle, every step to run again at the next start (what is
    /// in flight carries on).
    Stop(StopArgs),
    /// Take a plan, a phase or a step as complete, whatever its tasks do.
    ForceComplete(ElementArgs),
    /// Run a plan, a phase or a step again (a whole plan starts with its last parameters).
    Restart(ElementArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// The API's JSON (`GET /v1/plans`), pretty-printed.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The plan (default: the rollout plan, `deploy` or `update`).
    plan: Option<String>,
    /// The plan's summary and every step, as the API answers them, pretty-printed.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct StartArgs {
    /// The plan, e.g. `backup`.
    plan: String,
    /// A parameter for the plan's tasks, as an environment variable: `-p KEY=VALUE`
    /// (repeatable).
    #[arg(short = 'p', long = "parameter", value_name = "KEY=VALUE", value_parser = parse_parameter)]
    parameters: Vec<(String, String)>,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct StopArgs {
    /// The plan.
    plan: String,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct ElementArgs {
    /// The plan.
    plan: String,
    /// One phase of it (all of them when left out).
    phase: Option<String>,
    /// One step of that phase, e.g. `hello-0:[sidecar]` (all of them when left out).
    step: Option<String>,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct PlanArgs {
    /// The plan, e.g. `deploy`.
    plan: String,
    /// Only this phase.
    #[arg(long)]
    phase: Option<String>,
    #[command(flatten)]
    target: RunningService,
}

/// `KEY=VALUE`, split at the first `=`; the key an environment variable name.
fn parse_parameter(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "`{text}` is not KEY=VALUE (e.g. -p BACKUP_NAME=nightly; an empty value is KEY=)"
        ));
    };
    let mut one = BTreeMap::new();
    one.insert(key.to_string(), value.to_string());
    cairn::core::plan::runs::check_parameters(&one).map_err(|e| e.0)?;
    Ok((key.to_string(), value.to_string()))
}

pub fn run(command: PlanCommand) -> anyhow::Result<()> {
    let rt = crate::runtime()?;
    match command {
        PlanCommand::List(a) => rt.block_on(list(a)),
        PlanCommand::Show(a) => rt.block_on(show(a)),
        PlanCommand::Start(a) => rt.block_on(start(a)),
        PlanCommand::Stop(a) => {
            let client = running_api(&a.target)?;
            rt.block_on(client.command(&format!("/v1/plans/{}/stop", a.plan)))?;
            println!(
                "{}: stopped; idle until `cairn plan start {}`",
                a.plan, a.plan
            );
            Ok(())
        }
        PlanCommand::Continue(a) => rt.block_on(gate("continue", a)),
        PlanCommand::Interrupt(a) => rt.block_on(gate("interrupt", a)),
        PlanCommand::ForceComplete(a) => rt.block_on(element("force-complete", a)),
        PlanCommand::Restart(a) => rt.block_on(element("restart", a)),
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    let plans = client.plans().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plans)?);
        return Ok(());
    }
    let mut t = Table::new(["plan", "status", "strategy", "steps", "interrupted"]);
    for p in &plans {
        t.row([
            p.name.clone(),
            table::state(p.status.as_str()),
            p.strategy.clone(),
            format!(
                "{}/{}",
                p.steps.count(cairn::core::plan::Status::Complete),
                p.steps.total
            ),
            if p.interrupted { "yes" } else { "no" }.to_string(),
        ]);
    }
    t.print();
    Ok(())
}

async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    let name = match args.plan {
        Some(p) => p,
        // The API lists the rollout plan first.
        None => client
            .plans()
            .await?
            .first()
            .map(|p| p.name.clone())
            .context("the scheduler has no plan to show")?,
    };
    let (summary, steps) = client.plan_steps(&name).await?;
    if args.json {
        let answer = serde_json::json!({ "summary": summary, "steps": steps });
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    if summary.interrupted {
        println!(
            "plan {name} is interrupted: no new step starts until `cairn plan continue {name}`"
        );
    }
    print!("{}", describe_plan(&summary, &steps));
    Ok(())
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    let mut parameters = BTreeMap::new();
    for (key, value) in args.parameters {
        if parameters.insert(key.clone(), value).is_some() {
            anyhow::bail!("parameter {key} is given twice; nothing was sent");
        }
    }
    let client = running_api(&args.target)?;
    client.start_plan(&args.plan, &parameters).await?;
    let with = if parameters.is_empty() {
        "no parameters".to_string()
    } else {
        let pairs: Vec<String> = parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join(" ")
    };
    println!(
        "{}: started with {with}; `cairn plan show {}` shows its steps",
        args.plan, args.plan
    );
    Ok(())
}

/// `continue` or `interrupt` of a plan or one phase.
async fn gate(action: &str, args: PlanArgs) -> anyhow::Result<()> {
    let mut path = format!("/v1/plans/{}/{action}", args.plan);
    if let Some(phase) = &args.phase {
        path.push_str(&format!("?phase={}", query_escape(phase)));
    }
    let client: ApiClient = running_api(&args.target)?;
    client.command(&path).await?;
    let what = match &args.phase {
        Some(phase) => format!("{} phase {phase}", args.plan),
        None => args.plan.clone(),
    };
    match action {
        "interrupt" => println!(
            "{what}: interrupted; no new step starts (one under way finishes) until \
             `cairn plan continue {}`",
            args.plan
        ),
        _ => println!("{what}: continue done"),
    }
    Ok(())
}

/// `force-complete` or `restart` of a plan, a phase or a step.
async fn element(action: &str, args: ElementArgs) -> anyhow::Result<()> {
    let mut path = format!("/v1/plans/{}/{action}", args.plan);
    let mut what = format!("plan {}", args.plan);
    if let Some(phase) = &args.phase {
        path.push_str(&format!("?phase={}", query_escape(phase)));
        what = format!("phase {phase} of {what}");
        if let Some(step) = &args.step {
            path.push_str(&format!("&step={}", query_escape(step)));
            what = format!("step {step} of {what}");
        }
    }
    running_api(&args.target)?.command(&path).await?;
    println!("{what}: {action} done");
    Ok(())
}
