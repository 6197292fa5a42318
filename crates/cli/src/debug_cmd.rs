//! `cairn debug offers [STEP]`: why a step waits for an offer. The recent offers the
//! scheduler looked at, each check's verdict on them, and the failing checks counted across
//! agents (`cpus: 3 of 3 agents short; largest offer 3.7 of 100.05`).

use clap::{Args, Subcommand};

use crate::table::{self, Table};
use crate::update_cmd::{running_api, RunningService};

/// Offers listed in the table (the newest); `--json` has every one the API gives.
const OFFERS_SHOWN: usize = 20;

#[derive(Subcommand)]
pub enum DebugCommand {
    /// The recent offers and each check's verdict, with every failing check counted across
    /// agents; for one step (`data-0:[node]`, or its pod `data-0`) only its pod's.
    Offers(OffersArgs),
}

#[derive(Args)]
pub struct OffersArgs {
    /// A step (`data-0:[node]`) or its pod instance (`data-0`); every pod when left out.
    step: Option<String>,
    /// The API's JSON (`GET /v1/debug/offers`), pretty-printed.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

pub fn run(command: DebugCommand) -> anyhow::Result<()> {
    let DebugCommand::Offers(args) = command;
    let client = running_api(&args.target)?;
    let rt = crate::runtime()?;
    let answer = match rt.block_on(client.debug_offers(args.step.as_deref()))? {
        Ok(a) => a,
        Err(not_found) => anyhow::bail!("{not_found}"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(());
    }
    let mut t = Table::new(["agent", "offer", "outcome", "pod", "check", "verdict"]);
    let skip = answer.offers.len().saturating_sub(OFFERS_SHOWN);
    for r in &answer.offers[skip..] {
        if r.evaluations.is_empty() {
            t.row([
                r.hostname.clone(),
                r.offer_id.clone(),
                r.outcome.clone(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for e in &r.evaluations {
            let (check, verdict) = match e.checks.iter().find(|c| !c.passed) {
                Some(c) => (c.check.clone(), table::state("refused") + ": " + &c.reason),
                None => ("all".to_string(), table::state("passed")),
            };
            t.row([
                r.hostname.clone(),
                r.offer_id.clone(),
                r.outcome.clone(),
                e.pod_instance.clone(),
                check,
                verdict,
            ]);
        }
    }
    if !t.is_empty() {
        t.print();
    }
    if skip > 0 {
        println!("({skip} earlier offers: --json lists them)");
    }
    let whom = answer.pod.as_deref().unwrap_or("every pod");
    if answer.report.offers == 0 {
        println!("{whom}: {}", answer.summary);
    } else {
        println!(
            "{whom}: {} (from {} offers of {} agents)",
            answer.summary, answer.report.offers, answer.report.agents
        );
    }
    Ok(())
}
