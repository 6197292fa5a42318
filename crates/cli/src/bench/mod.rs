//! `cairn bench`: what the benchmarks start, measure and print, kept apart from the commands
//! that run services. Each starts its own cluster (or real Mesos) and scheduler as processes
//! and measures them from outside, through `/proc` and the master's answers.

mod api;
mod cluster;
mod mesos;
mod procfs;
mod service;
mod zookeeper;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Launch many pods on a fresh `cairn cluster`: launches/s, launch latency, cluster RSS.
    Cluster(cluster::ClusterBenchArgs),
    /// Deploy N pods with `cairn scheduler` on a fresh cluster: time to all RUNNING, scheduler
    /// RSS; with --mesos, the same deploy on real Mesos too, and the ratio.
    Deploy(service::DeployArgs),
    /// The scheduler's API at N pods: latency of pods, plans and metrics, and the scheduler's
    /// CPU while serving a steady request rate.
    Api(api::ApiBenchArgs),
    /// Kill tasks and the scheduler of a deployed service: relaunch and reconciliation times.
    Recovery(service::RecoveryArgs),
    /// `cairn run examples/zookeeper.yml` to a serving ensemble, then a rolling update under a
    /// writing client: the time to serve, the longest quorum gap, write latencies.
    Zookeeper(zookeeper::ZookeeperBenchArgs),
}

/// Runs one benchmark.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Cluster(args) => cluster::run_cluster_bench(args),
        BenchCommand::Deploy(args) => service::run_deploy(args),
        BenchCommand::Api(args) => api::run(args),
        BenchCommand::Recovery(args) => service::run_recovery(args),
        BenchCommand::Zookeeper(args) => zookeeper::run(args),
    }
}
