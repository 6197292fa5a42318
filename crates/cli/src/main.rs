//! The `cairn` command line.

mod bench;
mod cluster_cmd;
mod config_cmd;
mod debug_cmd;
mod duration;
mod endpoints_cmd;
mod logs_cmd;
mod mesos_client;
mod plan_cmd;
mod pod_cmd;
mod run_cmd;
mod table;
mod update_cmd;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Stateful services on Mesos, and an embedded cluster to run them on"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Deploy a service (svc.yml) and keep it running; starts an embedded cluster unless --master.
    Run(run_cmd::RunArgs),
    /// Run only the scheduler of a service against a Mesos master.
    Scheduler(run_cmd::SchedulerArgs),
    /// Roll out a new spec of a deployed service, or show how a rollout goes (`update status`).
    ///
    /// With its scheduler running, the spec is handed to it: judged as a restart would judge it
    /// (refused: every violation is printed, nothing changes, the exit status is non-zero),
    /// then rolled out while this command prints the progress. Without a running scheduler
    /// the check is offline, and starting the scheduler with the spec rolls it out.
    Update(update_cmd::UpdateArgs),
    /// How clients reach a running service: every advertised port of its running tasks, as
    /// `<agent>:<port>` and `<task>.<FRAMEWORK_HOST>:<port>`; for one endpoint also the
    /// connect string (`a:p,b:p,c:p`).
    Endpoints(endpoints_cmd::EndpointsArgs),
    /// Print a task's stdout (or stderr), and follow it with -f: `cairn logs data-0`,
    /// `cairn logs data-0/node --stderr -f`. Read from its agent's `/files/read`, as on Mesos.
    Logs(logs_cmd::LogsArgs),
    /// The target configuration of a running service, as YAML.
    Describe(config_cmd::DescribeArgs),
    /// The configurations a running service's scheduler holds: list, show one, diff two.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// The pods of a running service: list, status, info; restart, replace, pause, resume.
    #[command(subcommand)]
    Pod(pod_cmd::PodCommand),
    /// A running service's plans: list, show (each step's status and why), and continue,
    /// interrupt, start (with parameters), stop, force-complete, restart.
    #[command(subcommand)]
    Plan(plan_cmd::PlanCommand),
    /// Why a running service's step waits: `debug offers [STEP]` shows the recent offers,
    /// each check's verdict, and the failing checks counted across agents.
    #[command(subcommand)]
    Debug(debug_cmd::DebugCommand),
    /// Remove a service: its tasks, reservations, volumes, framework and state.
    ///
    /// Kills its tasks, releases its reservations and volumes, tears down its framework and
    /// deletes its state. Stop its scheduler first; the spec is read from the state.
    Uninstall(run_cmd::UninstallArgs),
    /// Check a service spec: print every problem, or the plans it would deploy with.
    Validate(run_cmd::ValidateArgs),
    /// Run the embedded single-machine Mesos-compatible cluster, or act on a running one.
    Cluster(Box<cluster_cmd::ClusterArgs>),
    /// Measure the embedded cluster.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Run a pod's executor (started by a cluster agent; speaks Mesos' v1 executor API).
    #[command(hide = true)]
    Executor,
}

fn main() -> std::process::ExitCode {
    // Fetched into a task's sandbox as `bootstrap`, this binary renders the task's config
    // templates (with the SDK's flags, which clap would refuse) and does nothing else.
    if cairn::is_bootstrap_invocation() {
        return cairn::bootstrap_main();
    }
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Validate(_)
            | Command::Endpoints(_)
            | Command::Pod(_)
            | Command::Plan(_)
            | Command::Logs(_)
            | Command::Debug(_)
            | Command::Describe(_)
            | Command::Config(_)
    ) {
        // A command that prints and exits is often piped into `head` or `grep -q`: a closed
        // pipe ends it quietly, as it ends any Unix tool, instead of a panic in `println!`.
        // The long-running commands keep Rust's ignored SIGPIPE: their sockets and children's
        // pipes report a closed peer as an error, which they handle.
        // SAFETY: no other thread exists yet, and SIG_DFL is a valid disposition.
        #[allow(unsafe_code)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL)
        };
    }
    // `run` and `scheduler` tell their story on stdout; the cluster's notices would bury it.
    init_logging(match cli.command {
        Command::Run(_) | Command::Scheduler(_) | Command::Uninstall(_) => cairn::LOG_FILTER,
        // The ZooKeeper bench's client expects lost connections (it measures them): its
        // warnings about each would bury the figures.
        Command::Bench(bench::BenchCommand::Zookeeper(_)) => {
            "warn,cairn_cluster=info,cairn_cli=info,zookeeper_client=error"
        }
        _ => "warn,cairn_cluster=info,cairn_cli=info",
    });
    let result = match cli.command {
        Command::Run(args) => run_cmd::run(args),
        Command::Scheduler(args) => run_cmd::scheduler(args),
        Command::Validate(args) => run_cmd::validate(args),
        Command::Update(args) => update_cmd::run(args),
        Command::Uninstall(args) => run_cmd::uninstall(args),
        Command::Endpoints(args) => endpoints_cmd::run(args),
        Command::Logs(args) => logs_cmd::run(args),
        Command::Describe(args) => config_cmd::describe(args),
        Command::Config(c) => config_cmd::run(c),
        Command::Pod(c) => pod_cmd::run(c),
        Command::Plan(c) => plan_cmd::run(c),
        Command::Debug(c) => debug_cmd::run(c),
        Command::Cluster(args) => cluster_cmd::run(*args),
        Command::Bench(c) => bench::run(c),
        Command::Executor => cairn::executor_main().map_err(Into::into),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The runtime a command that talks to a cluster or a scheduler runs its requests on: one
/// thread is plenty for a request at a time, and starts at once.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn init_logging(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    // Colour only on a terminal: stderr sent to a log file is read later, without one.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
