//! `cairn describe` and `cairn config list|show|diff`: the configurations a running scheduler
//! holds, from its API. Specs are shown as YAML (their stored form), `--json` gives the API's
//! JSON.

use clap::{Args, Subcommand};

use crate::table::{self, Table};
use crate::update_cmd::{running_api, RunningService};

#[derive(Args)]
pub struct DescribeArgs {
    /// Print the API's JSON instead of YAML.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Every stored configuration: its id, when it was stored, and which is the target.
    List(ListArgs),
    /// One configuration as YAML (`target` for the target).
    Show(ShowArgs),
    /// What changed from configuration A to B: a line diff of the two as YAML.
    Diff(DiffArgs),
}

#[derive(Args)]
pub struct ListArgs {
    /// Print the API's JSON instead: `[{"id", "target", "stored_at"}]`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct ShowArgs {
    /// The configuration's id (`cairn config list`), or `target`.
    id: String,
    /// Print the API's JSON instead of YAML.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The configuration the diff goes from (an id, or `target`).
    from: String,
    /// The configuration it goes to (an id, or `target`).
    to: String,
    /// Print the API's JSON instead: `{"from", "to", "diff"}`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

/// `cairn describe`: the target configuration.
pub fn describe(args: DescribeArgs) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    crate::runtime()?.block_on(async {
        let spec = client.target_configuration().await?;
        print_spec(&spec, args.json)
    })
}

pub fn run(command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::List(args) => list(args),
        ConfigCommand::Show(args) => show(args),
        ConfigCommand::Diff(args) => diff(args),
    }
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    crate::runtime()?.block_on(async {
        let configs = client.configurations().await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&configs)?);
            return Ok(());
        }
        let mut t = Table::new(["id", "stored", "target"]);
        for c in &configs {
            let stored = c.stored_at.map_or("-".to_string(), |ms| {
                format!("{} UTC", cairn_cluster::utc_date(ms / 1000))
            });
            let target = if c.target {
                table::state("TARGET")
            } else {
                String::new()
            };
            t.row([c.id.clone(), stored, target]);
        }
        if t.is_empty() {
            println!("no configurations: the scheduler has stored none yet");
        } else {
            t.print();
        }
        Ok(())
    })
}

/// `target` stands for the target's id.
async fn resolve(client: &cairn::api::ApiClient, id: &str) -> anyhow::Result<String> {
    if id != "target" {
        return Ok(id.to_string());
    }
    let configs = client.configurations().await?;
    configs
        .into_iter()
        .find(|c| c.target)
        .map(|c| c.id)
        .ok_or_else(|| anyhow::anyhow!("the scheduler has no target configuration yet"))
}

fn show(args: ShowArgs) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    crate::runtime()?.block_on(async {
        let id = resolve(&client, &args.id).await?;
        print_spec(&client.configuration(&id).await?, args.json)
    })
}

fn diff(args: DiffArgs) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    crate::runtime()?.block_on(async {
        let from = resolve(&client, &args.from).await?;
        let to = resolve(&client, &args.to).await?;
        let diff = client.configuration_diff(&from, &to).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&diff)?);
        } else if diff.diff.is_empty() {
            println!("{from} and {to} are the same");
        } else {
            print!("{}", diff.diff);
        }
        Ok(())
    })
}

fn print_spec(spec: &cairn::spec::ServiceSpec, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(spec)?);
    } else {
        print!("{}", spec.to_yaml());
    }
    Ok(())
}
