//! `cairn endpoints [NAME]`: how a client reaches the running service, from its scheduler's
//! API. For one endpoint it also prints the addresses as one connect string (`a:p,b:p,c:p`),
//! which a ZooKeeper client (or Kafka's `--bootstrap-server`) takes as it is.

use anyhow::Context as _;
use clap::Args;

use crate::update_cmd::{running_api, RunningService};

#[derive(Args)]
pub struct EndpointsArgs {
    /// One endpoint (a port name, e.g. `client`); all of them when left out.
    name: Option<String>,
    /// Print the API's JSON instead: the list of names, or the endpoint's
    /// `{"address": [...], "dns": [...]}`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    target: RunningService,
}

pub fn run(args: EndpointsArgs) -> anyhow::Result<()> {
    let client = running_api(&args.target)?;
    let rt = crate::runtime()?;
    rt.block_on(async {
        let names = client.endpoints().await?;
        let Some(name) = args.name else {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&names)?);
            } else if names.is_empty() {
                println!("no endpoints: no running task advertises a port");
            } else {
                for name in &names {
                    print_endpoint(&client, name).await?;
                }
            }
            return Ok(());
        };
        let Some(endpoint) = client.endpoint(&name).await? else {
            anyhow::bail!(cairn::api::unknown_endpoint(
                &name,
                names.iter().map(String::as_str)
            ));
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&endpoint)?);
        } else {
            print_one(&name, &endpoint);
            println!("connect: {}", endpoint.connect_string());
        }
        Ok(())
    })
}

/// One endpoint of the listing; it may have gone since the names were read.
async fn print_endpoint(client: &cairn::api::ApiClient, name: &str) -> anyhow::Result<()> {
    let endpoint = client
        .endpoint(name)
        .await
        .with_context(|| format!("reading endpoint {name}"))?;
    if let Some(endpoint) = endpoint {
        print_one(name, &endpoint);
    }
    Ok(())
}

fn print_one(name: &str, endpoint: &cairn::core::scheduler::Endpoint) {
    println!("{name}:");
    for (address, dns) in endpoint.address.iter().zip(&endpoint.dns) {
        println!("  {address:<24} {dns}");
    }
    if let Some(vip) = &endpoint.vip {
        println!("  vip {vip}");
    }
}
