//! `cairn bench api`: the scheduler's HTTP API at a thousand pods. The service is set up as
//! `cairn bench deploy` sets it up (a fresh `cairn cluster`, `cairn scheduler` of N `sleep`
//! pods, in processes of their own); then, once every pod runs:
//!
//! * latency: requests one after another to each route measured (`GET /v1/pods`, a page of
//!   100; `/v1/pods?limit=1000`, all of them; `/v1/plans`; a page of the deploy plan's steps;
//!   `/v1/metrics`), p50 and p99 of each;
//! * load: requests at a steady rate (100/s by default, the routes in turn, each sent on time
//!   whether the one before was answered or not) for a while (20 s), with the scheduler's CPU
//!   (user + system, `/proc/<pid>/stat`) over that time, as a share of one core, and the
//!   latencies under that load.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;

use super::service::{cores, cpu_time, http_client, percentile, runtime, Bench, Signals, SERVICE};
use crate::duration;

#[derive(Args, Debug)]
pub struct ApiBenchArgs {
    /// How many pods the service has.
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// How many agents the cluster has.
    #[arg(long, default_value_t = 3)]
    agents: usize,
    /// Requests per route for the latencies, one after another.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Requests per second while the scheduler's CPU is measured.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// For how long.
    #[arg(long, default_value = "20s", value_parser = duration::parse)]
    duration: Duration,
    /// Keep the work dir (cluster and scheduler logs, state, sandboxes).
    #[arg(long)]
    keep: bool,
    /// Give up if the pods are not all running within this time.
    #[arg(long, default_value = "10m", value_parser = duration::parse)]
    timeout: Duration,
}

/// The routes measured: a name to print and the path asked.
const ROUTES: &[(&str, &str)] = &[
    ("GET /v1/pods (a page of 100)", "/v1/pods"),
    ("GET /v1/pods?limit=1000", "/v1/pods?offset=0&limit=1000"),
    ("GET /v1/plans", "/v1/plans"),
    (
        "GET /v1/plans/deploy (a page of 100 steps)",
        "/v1/plans/deploy?offset=0&limit=100",
    ),
    ("GET /v1/metrics", "/v1/metrics"),
];

pub fn run(args: ApiBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.pods > 0 && args.agents > 0 && args.requests > 0 && args.rate > 0,
        "--pods, --agents, --requests and --rate must be at least 1"
    );
    runtime()?.block_on(async {
        let mut signals = Signals::install()?;
        let bench = Bench::start(&mut signals, None, args.agents, args.keep).await?;
        let result = signals.or_interrupted(measure(&bench, &args)).await;
        let figures = bench.finish(result, args.keep).await?;
        print(&args, &figures);
        Ok(())
    })
}

/// What was measured.
struct Figures {
    deployed_in: Duration,
    /// Per route: (sorted latencies one at a time, sorted latencies under load).
    latencies: Vec<(Vec<Duration>, Vec<Duration>)>,
    /// Bytes of each route's answer.
    sizes: Vec<usize>,
    sent: usize,
    failed: usize,
    load_wall: Duration,
    scheduler_cpu: Option<Duration>,
}

async fn measure(bench: &Bench, args: &ApiBenchArgs) -> anyhow::Result<Figures> {
    let mut sched = bench.start_scheduler(args.pods).await?;
    let result = measure_on(bench, args, &mut sched).await;
    sched.kill().await;
    let figures = result?;
    bench.teardown().await?;
    Ok(figures)
}

async fn measure_on(
    bench: &Bench,
    args: &ApiBenchArgs,
    sched: &mut super::service::SchedulerProcess,
) -> anyhow::Result<Figures> {
    let deployed = bench.wait_deployed(sched, args.pods, args.timeout).await?;
    if let Some(why) = &deployed.stopped_short {
        anyhow::bail!("{} of {} pods run: {why}", deployed.running, args.pods);
    }
    eprintln!(
        "bench: {} pods running; measuring the API",
        deployed.running
    );
    let base = std::fs::read_to_string(cairn::api::address_file(&bench.state_dir, SERVICE))
        .context("the scheduler's API address")?
        .trim()
        .to_string();
    let token = cairn_cluster::auth::read_token(&cairn::api::token_file(&bench.state_dir, SERVICE))
        .context("the scheduler's API token")?;
    let http = http_client()?;
    let get = |path: &'static str| {
        let (http, url, token) = (http.clone(), format!("{base}{path}"), token.clone());
        async move {
            let started = Instant::now();
            let response = http.get(&url).bearer_auth(&token).send().await?;
            let ok = response.status().is_success();
            let body = response.bytes().await?;
            anyhow::ensure!(ok, "GET {url}: {}", String::from_utf8_lossy(&body));
            anyhow::Ok((started.elapsed(), body.len()))
        }
    };

    // One after another.
    let mut latencies = Vec::new();
    let mut sizes = Vec::new();
    for (_, path) in ROUTES {
        let mut times = Vec::with_capacity(args.requests);
        let mut size = 0;
        for _ in 0..args.requests {
            let (took, bytes) = get(path).await?;
            times.push(took);
            size = bytes;
        }
        times.sort_unstable();
        latencies.push((times, Vec::new()));
        sizes.push(size);
    }

    // At a steady rate, the scheduler's CPU measured over it.
    let total = (f64::from(args.rate) * args.duration.as_secs_f64()).round() as usize;
    let every = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let cpu_before = cpu_time(sched.pid);
    let began = Instant::now();
    let mut in_flight = tokio::task::JoinSet::new();
    for i in 0..total {
        tokio::time::sleep_until((began + every * i as u32).into()).await;
        let route = i % ROUTES.len();
        let request = get(ROUTES[route].1);
        in_flight.spawn(async move { (route, request.await) });
    }
    let mut failed = 0;
    while let Some(done) = in_flight.join_next().await {
        match done {
            Ok((route, Ok((took, _)))) => latencies[route].1.push(took),
            _ => failed += 1,
        }
    }
    let load_wall = began.elapsed();
    let scheduler_cpu = cpu_before
        .zip(cpu_time(sched.pid))
        .map(|(before, after)| after.saturating_sub(before));
    for (_, loaded) in &mut latencies {
        loaded.sort_unstable();
    }
    Ok(Figures {
        deployed_in: deployed.all_running,
        latencies,
        sizes,
        sent: total,
        failed,
        load_wall,
        scheduler_cpu,
    })
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn print(args: &ApiBenchArgs, f: &Figures) {
    println!();
    println!(
        "cairn bench api: {} pods on {} agents of cairn cluster, deployed in {:.1} s {}",
        args.pods,
        args.agents,
        f.deployed_in.as_secs_f64(),
        cores()
    );
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>10}   {:>10} {:>10}",
        "route", "bytes", "p50", "p99", "p50 load", "p99 load"
    );
    for (((name, _), (alone, loaded)), size) in ROUTES.iter().zip(&f.latencies).zip(&f.sizes) {
        println!(
            "{name:<44} {size:>10} {:>10} {:>10}   {:>10} {:>10}",
            ms(percentile(alone, 50.0)),
            ms(percentile(alone, 99.0)),
            ms(percentile(loaded, 50.0)),
            ms(percentile(loaded, 99.0)),
        );
    }
    println!();
    println!(
        "latencies: {} requests per route one after another; load: {} requests at {}/s over {:.1} s ({} failed), the routes in turn",
        args.requests,
        f.sent,
        args.rate,
        f.load_wall.as_secs_f64(),
        f.failed
    );
    match f.scheduler_cpu {
        Some(cpu) => println!(
            "scheduler CPU under load: {:.2} s user+sys in {:.1} s = {:.1}% of one core {}",
            cpu.as_secs_f64(),
            f.load_wall.as_secs_f64(),
            cpu.as_secs_f64() / f.load_wall.as_secs_f64().max(1e-9) * 100.0,
            cores()
        ),
        None => println!("scheduler CPU under load: unknown (its /proc/<pid>/stat was unreadable)"),
    }
}
