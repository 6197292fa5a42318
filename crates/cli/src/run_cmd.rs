//! `cairn run`, `cairn scheduler`, `cairn uninstall` and `cairn validate`: a svc.yml in, a service (or its
//! problems, or its plan) out. The work is the sdk's (`cairn::run_with`); this is flags.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn::core::scheduler::{TakeoverChoice, DEFAULT_MAX_PODS_PER_OFFER};
use cairn::spec::ServiceSpec;
use cairn::RunOptions;
use clap::Args;

use crate::cluster_cmd::UserArgs;
use crate::duration;
use crate::update_cmd::RunningService;

#[derive(Args)]
pub struct RunArgs {
    /// The service spec: a svc.yml, rendered as a Mustache template with the environment.
    spec: PathBuf,
    /// A Mesos master (http://host:5050). Without it, an embedded cluster runs in this process.
    #[arg(long)]
    master: Option<String>,
    /// Where the embedded cluster (<DIR>/cluster) and the state (<DIR>/state) live.
    #[arg(long, default_value = ".cairn")]
    work_dir: PathBuf,
    /// Where the state store lives instead of <work-dir>/state.
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Where the embedded master listens [default: 127.0.0.1:5050, or a free port if taken].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// How many agents a new embedded cluster gets.
    #[arg(long, default_value_t = cairn::DEFAULT_AGENTS)]
    agents: usize,
    /// What one agent of a new embedded cluster offers besides the default resources, as
    /// INDEX=RESOURCES (`1=gpus:2`); repeat for more agents (as `cairn cluster`).
    #[arg(long, value_name = "INDEX=RESOURCES")]
    agent_extra_resources: Vec<String>,
    /// The domain the embedded cluster resolves task names under, <task>.<service>.<DOMAIN>
    /// (as `cairn cluster --dns-domain`) [default: --service-tld, which names the tasks under
    /// it; the two must be the same].
    #[arg(long, value_name = "DOMAIN")]
    dns_domain: Option<String>,
    /// Where the scheduler's HTTP API listens (port 0: any free port; the address is written to
    /// <state-dir>/<service>.api, where `cairn update` finds it).
    #[arg(long, default_value = cairn::DEFAULT_API)]
    api: SocketAddr,
    #[command(flatten)]
    users: UserArgs,
    /// The framework credentials file (Mesos' JSON format) holding the service principal's
    /// credential, added when missing [default: <work-dir>/cluster/credentials, a `cairn
    /// cluster`'s on .cairn/cluster].
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// The secret of the service's principal, for a Mesos master (instead of --credentials).
    #[arg(long, conflicts_with = "credentials")]
    secret_file: Option<PathBuf>,
    /// The most pod instances launched from one offer at a time (one ACCEPT); the rest of the
    /// offer comes back at the master's next allocation. A Mesos master handles an ACCEPT as
    /// one step and answers nothing else meanwhile.
    #[arg(long, default_value_t = DEFAULT_MAX_PODS_PER_OFFER,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_pods_per_offer: usize,
    #[command(flatten)]
    takeover: TakeoverArgs,
    #[command(flatten)]
    artifacts: ArtifactArgs,
    /// Remove the service instead of running it: its tasks, reservations, volumes, framework
    /// and state (the stored spec of the service SPEC names), on the work dir's embedded
    /// cluster (or --master), as `cairn uninstall` does.
    #[arg(long, conflicts_with = "force")]
    uninstall: bool,
    #[command(flatten)]
    uninstall_how: UninstallHow,
    #[command(flatten)]
    access: ApiAccessArgs,
}

/// Who may read what of the scheduler's API.
#[derive(Args)]
pub struct ApiAccessArgs {
    /// Serve GET /v1/health and GET /v1/metrics without the API's token, for a load balancer
    /// or Prometheus (which carry none). Every other route still needs the token.
    #[arg(long)]
    open_health_metrics: bool,
}

#[derive(Args)]
pub struct ArtifactArgs {
    /// The host agents reach the scheduler's API at, to fetch config templates and their
    /// renderer [default: the API's address, or this machine's hostname when --api listens on
    /// every address]. On a real cluster, a name or address the agents can reach.
    #[arg(long)]
    api_host: Option<String>,
    /// The domain tasks are named under: FRAMEWORK_HOST is <service>.<TLD> (Mesos-DNS's
    /// default domain is `mesos`).
    #[arg(long, default_value = cairn::core::scheduler::DEFAULT_SERVICE_TLD)]
    service_tld: String,
}

impl ArtifactArgs {
    fn apply(self, options: &mut RunOptions) {
        options.api_host = self.api_host;
        options.scheduler.service_tld = self.service_tld;
    }
}

/// The operator's answer when the takeover check stopped an earlier start.
#[derive(Args)]
pub struct TakeoverArgs {
    /// Take over this framework of the service, whose id the state store lost (the check's
    /// message names it). Lost task records are rebuilt from the master.
    #[arg(long, value_name = "FRAMEWORK_ID", conflicts_with = "force")]
    adopt_framework: Option<String>,
    /// Start although the takeover check refused: register a new framework when the stored one
    /// was torn down or is unknown to the master, and release the reservations the state store
    /// does not know (their volumes' data is deleted).
    #[arg(long)]
    force: bool,
}

impl TakeoverArgs {
    fn choice(self) -> TakeoverChoice {
        match (self.adopt_framework, self.force) {
            (Some(id), _) => TakeoverChoice::Adopt(id),
            (None, true) => TakeoverChoice::Force,
            (None, false) => TakeoverChoice::Check,
        }
    }
}

#[derive(Args)]
pub struct SchedulerArgs {
    /// The service spec: a svc.yml, rendered as a Mustache template with the environment.
    spec: PathBuf,
    /// The Mesos master (http://host:5050), or a `cairn cluster`.
    #[arg(long)]
    master: String,
    /// Where the state store lives.
    #[arg(long, default_value = ".cairn/state")]
    state_dir: PathBuf,
    /// How long a pod may stay failed before it is replaced elsewhere, with fresh volumes
    /// [default: the spec's `replacement-failure-policy`, else 20m].
    #[arg(long, value_parser = duration::parse)]
    permanent_failure_timeout: Option<Duration>,
    /// Where the scheduler's HTTP API listens (port 0: any free port; the address is written to
    /// <state-dir>/<service>.api, where `cairn update` finds it).
    #[arg(long, default_value = cairn::DEFAULT_API)]
    api: SocketAddr,
    /// The most pod instances launched from one offer at a time (one ACCEPT); the rest of the
    /// offer comes back at the master's next allocation. A Mesos master handles an ACCEPT as
    /// one step and answers nothing else meanwhile.
    #[arg(long, default_value_t = DEFAULT_MAX_PODS_PER_OFFER,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_pods_per_offer: usize,
    #[command(flatten)]
    takeover: TakeoverArgs,
    /// The framework credentials file (Mesos' JSON format) holding the service principal's
    /// credential, added when missing [default: <work-dir>/cluster/credentials, a `cairn
    /// cluster`'s on .cairn/cluster].
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// The secret of the service's principal, for a Mesos master (instead of --credentials).
    #[arg(long, conflicts_with = "credentials")]
    secret_file: Option<PathBuf>,
    #[command(flatten)]
    artifacts: ArtifactArgs,
    #[command(flatten)]
    access: ApiAccessArgs,
}

#[derive(Args)]
pub struct UninstallArgs {
    /// Which service, and where: its work dir (`cairn run --work-dir`, default `.cairn`) holds
    /// the state and the embedded cluster, which is started for the uninstall when it is not
    /// running; `--master` names another master. Its scheduler must be stopped. The service
    /// and its spec are read from the state.
    #[command(flatten)]
    target: RunningService,
    #[command(flatten)]
    how: UninstallHow,
    /// Uninstall through this framework of the service, whose id the state store lost (the
    /// takeover check's message names it).
    #[arg(long, value_name = "FRAMEWORK_ID")]
    adopt_framework: Option<String>,
    /// The framework credentials file (Mesos' JSON format) holding the service principal's
    /// credential, added when missing [default: <work-dir>/cluster/credentials].
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// The secret of the service's principal, for a Mesos master (instead of --credentials).
    #[arg(long, conflicts_with = "credentials")]
    secret_file: Option<PathBuf>,
}

/// How an uninstall goes: `cairn uninstall` and `cairn run --uninstall` take these.
#[derive(Args)]
pub struct UninstallHow {
    /// How long to wait for agents that hold the service's reservations but make no offers;
    /// past it, the uninstall finishes without them and fails naming them.
    #[arg(long, default_value = "5m", value_parser = duration::parse)]
    agent_timeout: Duration,
    /// Stop waiting for this agent at once (its reservations stay behind). Repeatable.
    #[arg(long = "force-agent", value_name = "AGENT")]
    force_agents: Vec<String>,
    /// How long the master may leave the uninstall without an answer before it stops, saying
    /// so (run it again to go on from where it was).
    #[arg(long, default_value = "2m", value_parser = duration::parse)]
    master_timeout: Duration,
}

impl UninstallHow {
    /// Uninstalling, as these flags say; through framework `adopt` when the state lost its id.
    fn apply(self, options: &mut RunOptions, adopt: Option<String>) {
        options.force_agents = self.force_agents;
        options.scheduler.uninstall = true;
        options.scheduler.uninstall_agent_timeout = Some(self.agent_timeout);
        options.driver.give_up_after = Some(self.master_timeout);
        if let Some(id) = adopt {
            options.scheduler.takeover = TakeoverChoice::Adopt(id);
        }
    }
}

#[derive(Args)]
pub struct ValidateArgs {
    /// The service spec: a svc.yml, rendered as a Mustache template with the environment.
    spec: PathBuf,
}

/// `cairn run`: the scheduler, and the embedded cluster unless `--master` is given.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let spec = load(&args.spec)?;
    anyhow::ensure!(args.agents > 0, "--agents must be at least 1");
    if args.uninstall {
        let target = RunningService {
            work_dir: args.work_dir.clone(),
            state_dir: args.state_dir.clone(),
            service: Some(spec.name.clone()),
            api: None,
            master: args.master.clone(),
        };
        let (allowed_users, allow_root) = args.users.policy()?;
        let mut options = RunOptions {
            listen: args.listen,
            allowed_users,
            allow_root,
            ..RunOptions::default()
        };
        args.uninstall_how
            .apply(&mut options, args.takeover.adopt_framework);
        return uninstall_service(&target, options, args.credentials, args.secret_file);
    }
    let (allowed_users, allow_root) = args.users.policy()?;
    let agent_extra_resources =
        crate::cluster_cmd::agent_extra_resources(&args.agent_extra_resources, args.agents)?;
    let mut options = RunOptions {
        master: args.master,
        work_dir: args.work_dir,
        state_dir: args.state_dir,
        listen: args.listen,
        agents: args.agents,
        agent_extra_resources,
        api: Some(args.api),
        allowed_users,
        allow_root,
        credentials: args.credentials,
        secret_file: args.secret_file,
        open_health_metrics: args.access.open_health_metrics,
        ..RunOptions::default()
    };
    options.scheduler.takeover = args.takeover.choice();
    options.scheduler.max_pods_per_offer = args.max_pods_per_offer;
    args.artifacts.apply(&mut options);
    if let Some(domain) = &args.dns_domain {
        let domain = crate::cluster_cmd::dns_domain(domain)?;
        anyhow::ensure!(
            domain == options.scheduler.service_tld,
            "--dns-domain {domain} and --service-tld {} differ: the tasks would be named under \
             one and resolved under the other: give both the same domain",
            options.scheduler.service_tld
        );
    }
    cairn::run_with(spec, options)?;
    Ok(())
}

/// `cairn scheduler`: only the scheduler, against any Mesos-compatible master.
pub fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let spec = load(&args.spec)?;
    let mut options = RunOptions {
        master: Some(args.master),
        state_dir: Some(args.state_dir),
        api: Some(args.api),
        credentials: args.credentials,
        secret_file: args.secret_file,
        open_health_metrics: args.access.open_health_metrics,
        ..RunOptions::default()
    };
    if let Some(timeout) = args.permanent_failure_timeout {
        options.scheduler.replacement.permanent_failure_timeout = Some(timeout);
        options.scheduler.replacement_from_operator = true;
    }
    options.scheduler.takeover = args.takeover.choice();
    options.scheduler.max_pods_per_offer = args.max_pods_per_offer;
    args.artifacts.apply(&mut options);
    cairn::run_with(spec, options)?;
    Ok(())
}

/// `cairn uninstall`: the scheduler in uninstall mode with the stored spec, until the service's
/// tasks, reservations, volumes, framework and state are gone.
pub fn uninstall(args: UninstallArgs) -> anyhow::Result<()> {
    let mut options = RunOptions::default();
    args.how.apply(&mut options, args.adopt_framework);
    uninstall_service(&args.target, options, args.credentials, args.secret_file)
}

/// Uninstalls the service `target` names, with `options` (uninstalling already): against
/// `--master`, else the work dir's running cluster, else the work dir's embedded cluster,
/// started in this process for the uninstall. Refused while the service's scheduler runs (two
/// schedulers would fight over one framework), and when the master cannot be reached.
fn uninstall_service(
    target: &RunningService,
    mut options: RunOptions,
    credentials: Option<PathBuf>,
    secret_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let state_dir = target.state_dir();
    let spec = stored_service(&state_dir, target.service.as_deref())?;
    let rt = crate::runtime()?;
    if let Some(api) = cairn::api::ApiClient::find(&state_dir, &spec.name)? {
        if rt.block_on(api.status()).is_ok() {
            anyhow::bail!(
                "{}: its scheduler is running (API at {}): stop it first (Ctrl-C its `cairn \
                 run`), then uninstall; nothing was changed",
                spec.name,
                api.base()
            );
        }
    }
    let cluster_dir = target.cluster_dir();
    let master = match &target.master {
        Some(m) => Some(m.clone()),
        None => match cairn_cluster::running(&cluster_dir)? {
            Some(_) => Some(target.master()?),
            None if cluster_dir.join("master.json").exists() => {
                println!(
                    "{}: no cluster runs in {}: starting it for the uninstall",
                    spec.name,
                    cluster_dir.display()
                );
                None
            }
            None => anyhow::bail!(
                "{}: no master to uninstall from: no cluster runs in {} and none ever ran \
                 there; name the service's master with --master URL",
                spec.name,
                cluster_dir.display()
            ),
        },
    };
    if let Some(url) = &master {
        rt.block_on(reachable(url))?;
    }
    drop(rt);
    options.master = master;
    options.work_dir = target.work_dir.clone();
    options.state_dir = Some(state_dir);
    options.credentials = credentials;
    options.secret_file = secret_file;
    match cairn::run_with(spec, options) {
        Err(e @ cairn::Error::MasterUnreachable { .. }) => anyhow::bail!(
            "{e}: the uninstall did not finish; run it again once the master answers (it goes \
             on from where it was)"
        ),
        other => Ok(other?),
    }
}

/// Whether a master answers at `url`: an uninstall against one that does not would wait for it
/// forever.
async fn reachable(url: &str) -> anyhow::Result<()> {
    let client = cairn_cluster::http_client::build_plain(|| {
        reqwest::Client::builder().timeout(Duration::from_secs(10))
    })?;
    let version = format!("{}/version", url.trim_end_matches('/'));
    client.get(&version).send().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot reach the master at {url} ({}); nothing was changed. Is it running? (without \
             --master, `cairn uninstall` starts the work dir's embedded cluster itself)",
            cairn_cluster::http_client::error_chain(&e)
        )
    })?;
    Ok(())
}

/// `cairn validate`: the spec's problems, or the plans it would deploy with.
pub fn validate(args: ValidateArgs) -> anyhow::Result<()> {
    let spec = load(&args.spec)?;
    let plans = cairn::preview_plans(&spec)?;
    let pods: Vec<String> = spec
        .pods
        .iter()
        .map(|p| format!("{} x{}", p.type_name, p.count))
        .collect();
    println!(
        "{}: valid. Service {} (role {}), pods: {}",
        args.spec.display(),
        spec.name,
        spec.role,
        pods.join(", ")
    );
    for plan in plans {
        println!("plan {} ({})", plan.name, plan.strategy);
        for phase in plan.phases {
            println!("  phase {} ({})", phase.name, phase.strategy);
            for step in phase.steps {
                println!("    step {}", step.name);
            }
        }
    }
    for plan in spec.plans_not_run() {
        println!(
            "plan {} ({}): idle until started: cairn plan start {} [-p KEY=VALUE]...",
            plan.name,
            plan.strategy.as_str(),
            plan.name
        );
        let expanded = cairn::core::plan::ExpandedPlan::new(&spec, plan.clone());
        for phase in expanded.phases {
            println!(
                "  phase {} ({})",
                phase.spec.name,
                phase.spec.strategy.as_str()
            );
            for step in phase.steps.unwrap_or_default() {
                println!("    step {}", step.name);
            }
        }
    }
    Ok(())
}

/// The stored target of service `name` under `state_dir`, or of the only service stored there
/// when no name is given.
pub(crate) fn stored_service(state_dir: &Path, name: Option<&str>) -> anyhow::Result<ServiceSpec> {
    let mut stored = cairn::stored_targets(state_dir)?;
    if let Some(name) = name {
        return stored
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| anyhow::anyhow!("no service `{name}` under {}", state_dir.display()));
    }
    match stored.len() {
        0 => anyhow::bail!("no service is stored under {}", state_dir.display()),
        1 => Ok(stored.remove(0)),
        _ => anyhow::bail!(
            "{} holds several services ({}); choose one with --service",
            state_dir.display(),
            stored
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Loads a spec; the error names the file and lists every problem with its path.
pub(crate) fn load(path: &Path) -> anyhow::Result<ServiceSpec> {
    match cairn::load_spec(path) {
        Ok(spec) => Ok(spec),
        Err(cairn::Error::Spec(errors)) => Err(anyhow::anyhow!("{}: {errors}", path.display())),
        Err(e) => Err(e.into()),
    }
}
