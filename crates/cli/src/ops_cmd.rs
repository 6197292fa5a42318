//! `cairn pod restart|replace POD` and `cairn plan continue|interrupt PLAN`: operator commands
//! to a running scheduler, through its HTTP API. A refused command changes nothing and says
//! why.

use clap::{Args, Subcommand};

use crate::update_cmd::{running_api, RunningService};

#[derive(Subcommand)]
pub enum PodCommand {
    /// Kill a pod's tasks and relaunch them in place: same agent, reservations and volumes.
    Restart(PodArgs),
    /// Relaunch a pod elsewhere with fresh reservations and volumes (its data is lost); its old
    /// ones are released when their agent offers them (at once if it is gone).
    Replace(PodArgs),
}

#[derive(Args)]
pub struct PodArgs {
    /// The pod instance, e.g. `data-2`.
    pod: String,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Subcommand)]
pub enum PlanCommand {
    /// Resume an interrupted plan (or one phase), and advance a canary waiting for it.
    Continue(PlanArgs),
    /// Start nothing new in a plan (or one phase); what is in flight carries on.
    Interrupt(PlanArgs),
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

pub fn pod(command: PodCommand) -> anyhow::Result<()> {
    let (action, args) = match command {
        PodCommand::Restart(a) => ("restart", a),
        PodCommand::Replace(a) => ("replace", a),
    };
    let path = format!("/v1/pods/{}/{action}", args.pod);
    send(&args.target, &path)?;
    println!("{}: {action} accepted", args.pod);
    Ok(())
}

pub fn plan(command: PlanCommand) -> anyhow::Result<()> {
    let (action, args) = match command {
        PlanCommand::Continue(a) => ("continue", a),
        PlanCommand::Interrupt(a) => ("interrupt", a),
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

fn send(target: &RunningService, path: &str) -> anyhow::Result<()> {
    let client = running_api(target)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(client.command(path))?;
    Ok(())
}
