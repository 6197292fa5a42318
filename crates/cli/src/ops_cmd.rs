//! `cairn plan continue|interrupt|start|stop|force-complete|restart PLAN`: operator commands
//! to a running scheduler, through its HTTP API. A refused command changes nothing and says
//! why.

use std::collections::BTreeMap;

use clap::{Args, Subcommand};

use crate::update_cmd::{running_api, RunningService};

#[derive(Subcommand)]
pub enum PlanCommand {
    /// Resume an interrupted plan (or one phase), and advance a canary waiting for it.
    Continue(PlanArgs),
    /// Start nothing new in a plan (or one phase); what is in flight carries on.
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

pub fn plan(command: PlanCommand) -> anyhow::Result<()> {
    let (action, args) = match command {
        PlanCommand::Continue(a) => ("continue", a),
        PlanCommand::Interrupt(a) => ("interrupt", a),
        PlanCommand::Start(a) => return start(a),
        PlanCommand::Stop(a) => {
            send(&a.target, &format!("/v1/plans/{}/stop", a.plan))?;
            println!(
                "{}: stopped; idle until `cairn plan start {}`",
                a.plan, a.plan
            );
            return Ok(());
        }
        PlanCommand::ForceComplete(a) => return element("force-complete", a),
        PlanCommand::Restart(a) => return element("restart", a),
    };
    let mut path = format!("/v1/plans/{}/{action}", args.plan);
    if let Some(phase) = &args.phase {
        path.push_str(&format!("?phase={phase}"));
    }
    send(&args.target, &path)?;
    match &args.phase {
        Some(phase) => println!("{} phase {phase}: {action} done", args.plan),
        None => println!("{}: {action} done", args.plan),
    }
    Ok(())
}

fn start(args: StartArgs) -> anyhow::Result<()> {
    let mut parameters = BTreeMap::new();
    for (key, value) in args.parameters {
        if parameters.insert(key.clone(), value).is_some() {
            anyhow::bail!("parameter {key} is given twice; nothing was sent");
        }
    }
    let client = running_api(&args.target)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(client.start_plan(&args.plan, &parameters))?;
    let with = if parameters.is_empty() {
        "no parameters".to_string()
    } else {
        let pairs: Vec<String> = parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join(" ")
    };
    println!(
        "{}: started with {with}; `cairn update status` shows its steps",
        args.plan
    );
    Ok(())
}

/// `force-complete` or `restart` of a plan, a phase or a step.
fn element(action: &str, args: ElementArgs) -> anyhow::Result<()> {
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
    send(&args.target, &path)?;
    println!("{what}: {action} done");
    Ok(())
}

/// A query value with what a URL would misread escaped (step names hold `:[],`).
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn send(target: &RunningService, path: &str) -> anyhow::Result<()> {
    let client = running_api(target)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(client.command(path))?;
    Ok(())
}
