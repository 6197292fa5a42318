//! `cairn::run`: one call that turns a spec into a running service.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_cluster::auth::{Credential, CREDENTIALS_FILE};
#[cfg(feature = "embedded-cluster")]
use cairn_cluster::{Cluster, ClusterError};
use cairn_cluster::{ClusterConfig, FrameworkAuth};
use cairn_core::offer::OfferCheck;
use cairn_core::plan::PlanCustomizer;
use cairn_core::plan::{PlanStatus, Status};
use cairn_core::scheduler::{
    Command, Overrides, Scheduler, SchedulerConfig, TakeoverChoice, UNINSTALL_PLAN,
};
use cairn_core::spec::ServiceSpec;
use cairn_core::store::{Store, StoredState};
use tokio::sync::{mpsc, watch};

use crate::api::ApiServer;
use crate::configs::Configurations;
use crate::driver::{now, Driver, DriverOptions, Outcome, Snapshot};
use crate::executor::{executor_main, is_executor_invocation};
use crate::mesos::Client;
use crate::store::FileStore;
use crate::Error;

/// Where the embedded master listens unless told otherwise: Mesos' own port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5050";
/// How many agents a new embedded cluster gets.
pub const DEFAULT_AGENTS: usize = 3;

const USAGE: &str = "\
usage: <service> [--master URL] [--work-dir DIR] [--state-dir DIR] [--listen ADDR] [--agents N] [--api ADDR]
                 [--allowed-users USER,...] [--allow-root] [--credentials FILE | --secret-file FILE]
                 [--adopt-framework ID | --force] [--api-host HOST] [--service-tld TLD]
                 [--open-health-metrics]
                 [--agent-extra-resources INDEX=RESOURCES]...

  --master URL        a Mesos master (http://host:5050); without it, an embedded cluster is started
  --work-dir DIR      where the embedded cluster and the state live (default .cairn)
  --state-dir DIR     where the state store lives (default <work-dir>/state)
  --listen ADDR       where the embedded master listens (default 127.0.0.1:5050; taken -> another port)
  --agents N          agents of a new embedded cluster (default 3)
  --agent-extra-resources INDEX=RESOURCES
                      what one agent of a new embedded cluster offers besides the default
                      resources (`1=gpus:2`, `0=cpus(slave_public):1;mem(slave_public):512`);
                      repeat for more agents (as `cairn run` and `cairn cluster`)
  --api ADDR          where the scheduler's HTTP API listens (default 127.0.0.1:0: a free port,
                      written to <state-dir>/<service>.api; its token is kept in
                      <service>.api-token, made at the first start)
  --open-health-metrics
                      serve GET /v1/health and /v1/metrics without the token (for a load
                      balancer or Prometheus); every other route still needs it
  --allowed-users USER,...  the only users the embedded cluster runs tasks as (default: any but root)
  --allow-root        let the embedded cluster run tasks as root
  --credentials FILE  the framework credentials file (Mesos' JSON format) holding the service
                      principal's credential, which is added when missing (default
                      <work-dir>/cluster/credentials, the embedded cluster's)
  --secret-file FILE  the secret of the service's principal, for a Mesos master
  --api-host HOST     the host agents reach the API at, for config templates (default: the API's
                      address, or this machine's hostname when it listens on every address)
  --service-tld TLD   the domain of FRAMEWORK_HOST, <service>.<TLD> (default mesos, Mesos-DNS's),
                      under which the embedded cluster resolves the tasks' names
  --adopt-framework ID
                      take over this framework of the service, whose id the state store lost
  --force             start although the takeover check refused: register a new framework when
                      the stored one was torn down or is unknown, and release the reservations
                      the state store does not know";

/// How [`run_with`] runs a service. `Default` is what `cairn::run` does without flags.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The Mesos master; `None` starts the embedded cluster in this process.
    pub master: Option<String>,
    /// Where the embedded cluster (`<work-dir>/cluster`) and the state (`<work-dir>/state`) live.
    pub work_dir: PathBuf,
    /// Where the state store lives instead of `<work-dir>/state`.
    pub state_dir: Option<PathBuf>,
    /// Where the embedded master listens. `None`: [`DEFAULT_LISTEN`], or any free port when
    /// that one is taken.
    pub listen: Option<SocketAddr>,
    /// How many agents a new embedded cluster gets (a recovered one keeps its own).
    pub agents: usize,
    /// What some agents of a new embedded cluster offer besides the default resources, by
    /// agent index (GPUs, static reservations to a role): `cairn run --agent-extra-resources`.
    pub agent_extra_resources: std::collections::BTreeMap<usize, cairn_proto::Resources>,
    /// The scheduler's tunables. [`RunOptions::default`] gives it the process environment's
    /// `TASKCFG_*` settings ([`SchedulerConfig::taskcfg`]), as `cairn scheduler` and `cairn run`
    /// have them: the scheduler routes them into every spec it takes.
    pub scheduler: SchedulerConfig,
    /// The driver's timing.
    pub driver: DriverOptions,
    /// Uninstalling (`scheduler.uninstall`): agents to stop waiting for at once
    /// (`Command::ForceCompleteUninstall`); their reservations stay behind.
    pub force_agents: Vec<String>,
    /// Where the scheduler's HTTP API listens ([`DEFAULT_API`]: loopback, any free port; the
    /// address goes to `<state-dir>/<service>.api`, its token to `<service>.api-token`).
    /// `None`: no API.
    pub api: Option<SocketAddr>,
    /// The only users the embedded cluster runs tasks as; `None`: any user but root.
    pub allowed_users: Option<Vec<String>>,
    /// Whether the embedded cluster may run tasks as root.
    pub allow_root: bool,
    /// The framework credentials file (Mesos' JSON format) the service principal's credential
    /// is taken from, and added to (with a fresh secret) when it has none: the file of a
    /// `cairn cluster`, which re-reads it. `None`: `<work-dir>/cluster/credentials`, the
    /// embedded cluster's (with `--master`, used only when it exists).
    pub credentials: Option<PathBuf>,
    /// A file holding the secret of the service's principal, for a master whose credentials
    /// file cairn does not keep (a Mesos master). Takes precedence over `credentials`.
    pub secret_file: Option<PathBuf>,
    /// The host the agents reach the API at (`--api-host`): its artifacts (config templates,
    /// the renderer) are fetched from there. `None`: the API's own address, or this machine's
    /// hostname when it listens on every address.
    pub api_host: Option<String>,
    /// Whether the API answers `GET /v1/health` and `GET /v1/metrics` without its token.
    pub open_health_metrics: bool,
}

/// Where the scheduler's API listens unless told otherwise: loopback, a free port.
pub const DEFAULT_API: &str = "127.0.0.1:0";

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            master: None,
            work_dir: PathBuf::from(".cairn"),
            state_dir: None,
            listen: None,
            agents: DEFAULT_AGENTS,
            agent_extra_resources: Default::default(),
            scheduler: SchedulerConfig {
                taskcfg: cairn_core::spec::taskcfg_settings(std::env::vars()),
                ..SchedulerConfig::default()
            },
            driver: DriverOptions::default(),
            force_agents: Vec::new(),
            api: Some(DEFAULT_API.parse().expect("a socket address")),
            allowed_users: None,
            allow_root: false,
            credentials: None,
            secret_file: None,
            api_host: None,
            open_health_metrics: false,
        }
    }
}

impl RunOptions {
    /// Reads the flags `cairn::run` accepts (the arguments after the program name).
    /// `Ok(None)` for `--help`, after printing the usage.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Option<RunOptions>, Error> {
        let mut opts = RunOptions::default();
        // Read once every flag is: their agents are checked against `--agents`.
        let mut extra_resources = Vec::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            if flag == "--help" || flag == "-h" {
                println!("{USAGE}");
                return Ok(None);
            }
            if flag == "--force" {
                opts.scheduler.takeover = TakeoverChoice::Force;
                continue;
            }
            if flag == "--open-health-metrics" && inline.is_none() {
                opts.open_health_metrics = true;
                continue;
            }
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| Error::Usage(format!("{flag} needs a value\n{USAGE}")))
            };
            match flag.as_str() {
                "--master" => opts.master = Some(value()?),
                "--adopt-framework" => opts.scheduler.takeover = TakeoverChoice::Adopt(value()?),
                "--work-dir" => opts.work_dir = PathBuf::from(value()?),
                "--state-dir" => opts.state_dir = Some(PathBuf::from(value()?)),
                "--listen" => {
                    let v = value()?;
                    opts.listen = Some(v.parse().map_err(|_| {
                        Error::Usage(format!(
                            "--listen {v}: expected an address like 127.0.0.1:5050"
                        ))
                    })?);
                }
                "--api" => {
                    let v = value()?;
                    opts.api = Some(v.parse().map_err(|_| {
                        Error::Usage(format!(
                            "--api {v}: expected an address like 127.0.0.1:8080"
                        ))
                    })?);
                }
                "--allowed-users" => {
                    let v = value()?;
                    let users: Vec<String> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(str::to_string)
                        .collect();
                    if users.is_empty() || users.iter().any(|u| u == "root") {
                        return Err(Error::Usage(format!(
                            "--allowed-users {v}: name at least one user, and not root \
                             (--allow-root allows root)"
                        )));
                    }
                    opts.allowed_users = Some(users);
                }
                "--allow-root" if inline.is_none() => opts.allow_root = true,
                "--credentials" => opts.credentials = Some(PathBuf::from(value()?)),
                "--secret-file" => opts.secret_file = Some(PathBuf::from(value()?)),
                "--api-host" => opts.api_host = Some(value()?),
                "--service-tld" => opts.scheduler.service_tld = value()?,
                "--agents" => {
                    let v = value()?;
                    opts.agents = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::Usage(format!("--agents {v}: expected a number > 0"))
                    })?;
                }
                "--agent-extra-resources" => extra_resources.push(value()?),
                _ => return Err(Error::Usage(format!("unknown argument `{arg}`\n{USAGE}"))),
            }
        }
        opts.agent_extra_resources =
            cairn_cluster::parse_agent_extra_resources(&extra_resources, opts.agents)
                .map_err(Error::Usage)?;
        Ok(Some(opts))
    }

    /// The state store's directory: `--state-dir`, or `<work-dir>/state`.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir
            .clone()
            .unwrap_or_else(|| self.work_dir.join("state"))
    }

    /// The credential the service's framework authenticates with, if it has one: the secret
    /// of `principal` from `secret_file`, or its credential in the credentials file (added
    /// there when missing). Without `--master` the embedded cluster's file is always used
    /// (and made); with one, the default file only when it exists.
    pub fn framework_credential(&self, principal: &str) -> Result<Option<Credential>, Error> {
        if let Some(file) = &self.secret_file {
            let secret = cairn_cluster::auth::read_token(file).map_err(Error::Credentials)?;
            return Ok(Some(Credential {
                principal: principal.to_string(),
                secret,
            }));
        }
        let path = match &self.credentials {
            Some(p) => absolute(p)?,
            None => {
                let p = absolute(&self.work_dir.join("cluster").join(CREDENTIALS_FILE))?;
                if self.master.is_some() && !p.exists() {
                    return Ok(None);
                }
                p
            }
        };
        let (credential, added) =
            cairn_cluster::auth::ensure_credential(&path, principal).map_err(Error::Credentials)?;
        if added {
            println!(
                "added a credential for principal {principal} to {}",
                path.display()
            );
        }
        Ok(Some(credential))
    }
}

/// Runs `spec` as a service: the one call a service's `main` makes.
///
/// * Started as `<program> executor` (the embedded cluster starts each pod's executor by
///   running the service's own binary that way), it runs the executor instead.
/// * Otherwise it reads `--master`, `--work-dir`, `--state-dir`, `--listen` and `--agents`
///   from the command line; without `--master` it starts the embedded cluster in this process;
///   then it runs the scheduler until Ctrl-C, printing the deploy plan's progress and where
///   every pod is. Stopping leaves the tasks running; running again takes over.
///
/// [`Service`] does the same with an author's replacements for the scheduler's defaults.
pub fn run(spec: ServiceSpec) -> Result<(), Error> {
    Service::new(spec).run()
}

/// [`run`] with explicit options: no command line, no logging set-up, never an executor
/// (what `cairn run` uses after parsing its own flags).
pub fn run_with(spec: ServiceSpec, options: RunOptions) -> Result<(), Error> {
    Service::new(spec).run_with(options)
}

/// A service and the defaults its author replaced (DESIGN.md: defaults are traits).
///
/// ```no_run
/// # fn spec() -> cairn::spec::ServiceSpec { unimplemented!() }
/// # struct MyCheck;
/// # impl cairn::core::offer::OfferCheck for MyCheck {
/// #     fn name(&self) -> &str { "mine" }
/// #     fn check(&self, _: &cairn::core::offer::PodRequirement, _: &cairn::core::offer::OfferView,
/// #              _: &cairn::core::offer::PlacementContext) -> Result<(), String> { Ok(()) }
/// # }
/// fn main() -> Result<(), cairn::Error> {
///     cairn::Service::new(spec()).offer_check(MyCheck).run()
/// }
/// ```
#[derive(Debug)]
#[must_use = "a service does nothing until run"]
pub struct Service {
    spec: ServiceSpec,
    overrides: Overrides,
}

impl Service {
    /// `spec` with every default in place.
    pub fn new(spec: ServiceSpec) -> Service {
        Service {
            spec,
            overrides: Overrides::default(),
        }
    }

    /// Replaces all overrides at once.
    pub fn overrides(mut self, overrides: Overrides) -> Service {
        self.overrides = overrides;
        self
    }

    /// Adds an offer check, run after the built-in ones: an offer it refuses takes no pod, and
    /// its reason shows in the decision records.
    pub fn offer_check(mut self, check: impl OfferCheck + 'static) -> Service {
        self.overrides.checks.push(Box::new(check));
        self
    }

    /// Reshapes the deploy plan (strategies, phases, steps).
    pub fn plan_customizer(mut self, customizer: impl PlanCustomizer + 'static) -> Service {
        self.overrides.plan_customizer = Some(Box::new(customizer));
        self
    }

    /// Runs the service as [`run`] does: executor when started as one, flags from the
    /// command line, logging to stderr.
    pub fn run(self) -> Result<(), Error> {
        if crate::bootstrap::is_bootstrap_invocation() {
            // The renderer of config templates, in a task's sandbox: nothing else.
            std::process::exit(match crate::bootstrap::bootstrap_main() {
                c if c == std::process::ExitCode::SUCCESS => 0,
                _ => 1,
            });
        }
        if is_executor_invocation() {
            return executor_main();
        }
        init_logging();
        match RunOptions::from_args(std::env::args().skip(1))? {
            Some(options) => self.run_with(options),
            None => Ok(()),
        }
    }

    /// Runs the service with explicit options, as [`run_with`] does.
    pub fn run_with(self, options: RunOptions) -> Result<(), Error> {
        // A scheduler alone is one loop: a single-threaded runtime keeps it small (measured:
        // the multi-threaded one's per-thread allocator arenas put a 1,000-pod scheduler over
        // 64 MB). With the embedded cluster in-process, two workers: the scheduler's loop and
        // the cluster's servers; more would only compete with the pods for a laptop's cores.
        let rt = if options.master.is_some() {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
        }
        .map_err(|e| Error::io("starting the tokio runtime", e))?;
        rt.block_on(serve(self.spec, options, self.overrides))
    }
}

/// The deploy plan (and any other plan) `spec` would start with on an empty cluster: what
/// `cairn validate` prints. Nothing is contacted or written.
pub fn preview_plans(spec: &ServiceSpec) -> Result<Vec<PlanStatus>, Error> {
    let scheduler = Scheduler::new(
        SchedulerConfig::default(),
        spec.clone(),
        StoredState::default(),
        now(),
    )?;
    Ok(scheduler.plans())
}

/// The target spec stored for `service` under `state_dir` (the `--state-dir` of
/// `cairn scheduler`), or `None` when there is none. Reads only: a running scheduler may hold
/// the store.
pub fn stored_target(state_dir: &Path, service: &str) -> Result<Option<ServiceSpec>, Error> {
    let dir = state_dir.join(service.replace('/', "__"));
    if !dir.is_dir() {
        return Ok(None);
    }
    let stored = StoredState::from_entries(&FileStore::snapshot(&dir)?)?;
    Ok(stored
        .target
        .as_ref()
        .and_then(|id| stored.configs.get(id).cloned()))
}

/// The target spec of every service stored under `state_dir`, by service name.
pub fn stored_targets(state_dir: &Path) -> Result<Vec<ServiceSpec>, Error> {
    let listing = match std::fs::read_dir(state_dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("listing {}", state_dir.display()), e)),
    };
    let mut specs = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", state_dir.display()), e))?;
        if !entry.path().is_dir() {
            continue;
        }
        let stored = StoredState::from_entries(&FileStore::snapshot(&entry.path())?)?;
        if let Some(spec) = stored.target.as_ref().and_then(|id| stored.configs.get(id)) {
            specs.push(spec.clone());
        }
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(specs)
}

/// Reads a svc.yml, renders it with the process environment, parses and validates it.
pub fn load_spec(path: &Path) -> Result<ServiceSpec, Error> {
    use std::io::Read as _;
    let read_error = |source| Error::ReadSpec {
        path: path.to_path_buf(),
        source,
    };
    // No more than a spec may hold is read: a larger file is refused by its size, not loaded.
    let limit = &cairn_core::spec::limits::SPEC_BYTES;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(limit.max + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if limit.exceeded_by(bytes.len() as u64) {
        let size = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(Error::Spec(cairn_core::SpecErrors::from(
            cairn_core::SpecError::new(
                "spec",
                format!(
                    "the file is {size} bytes long, more than the limit of {} {}",
                    limit.max, limit.what
                ),
            ),
        )));
    }
    let template = String::from_utf8(bytes)
        .map_err(|e| read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    let mut env: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    // `uris: [{{BOOTSTRAP_URI}}]` in a spec written for the SDK: cairn's own renderer, unless
    // the environment names another.
    env.entry("BOOTSTRAP_URI".into())
        .or_insert_with(|| cairn_core::spec::BOOTSTRAP_URI.into());
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    Ok(cairn_core::spec::parse_yaml_with(
        &template,
        &env,
        &BesideSpec(dir),
    )?)
}

/// Reads `configs:` templates relative to the spec's directory.
struct BesideSpec(PathBuf);

impl cairn_core::spec::TemplateFiles for BesideSpec {
    fn read(&self, path: &str) -> Result<String, String> {
        use std::io::Read as _;
        let limit = &cairn_core::spec::limits::TEMPLATE_BYTES;
        let file = self.0.join(path);
        let mut bytes = Vec::new();
        std::fs::File::open(&file)
            .and_then(|f| f.take(limit.max + 1).read_to_end(&mut bytes))
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        String::from_utf8(bytes).map_err(|_| format!("{} is not UTF-8 text", file.display()))
    }
}

async fn serve(spec: ServiceSpec, options: RunOptions, overrides: Overrides) -> Result<(), Error> {
    // Before anything is written (state, credentials): a binary without the embedded cluster
    // has nothing to run the service on unless it is given a master.
    if options.master.is_none() && !cfg!(feature = "embedded-cluster") {
        return Err(Error::NoEmbeddedCluster);
    }
    let work_dir = absolute(&options.work_dir)?;
    let state_dir = absolute(&options.state_dir())?;
    // Before anything is bound or written: a cluster already running on the work dir (a `cairn
    // cluster`, another `cairn run`) is said with its pid and address, not found out as an
    // address in use, or as a second scheduler on the same state.
    if options.master.is_none() {
        let cluster_dir = work_dir.join("cluster");
        if let Ok(Some(running)) = cairn_cluster::running(&cluster_dir) {
            return Err(Error::ClusterRunning {
                work_dir: options.work_dir.clone(),
                running,
            });
        }
    }
    // Everything that can refuse to start is done before a cluster is started or a master
    // contacted: a bad state, a refused config change or a user the embedded cluster cannot
    // run tasks as launches nothing.
    let cluster_config = embedded_config(&work_dir.join("cluster"), &options)?;
    if options.master.is_none() {
        check_users(&spec, &cluster_config)?;
    }
    let mut options = options;
    // The API's port is bound first, before anything is served or written: the tasks' URIs
    // name it (config templates, the renderer). It outlives each scheduler: an accepted update
    // restarts the scheduler in this process, and the API (same address) then reports the new
    // one. An address in use refuses to start with nothing started.
    let listener = match options.api {
        Some(listen) => Some(ApiServer::bind(listen).await?),
        None => {
            if needs_artifacts(&spec) {
                return Err(Error::Usage(format!(
                    "{}: its tasks' config templates are served by the scheduler's API, which is off",
                    spec.name
                )));
            }
            None
        }
    };
    let artifacts = match &listener {
        Some(l) => {
            let addr = l
                .local_addr()
                .map_err(|e| Error::io("reading the scheduler API's address", e))?;
            let key = artifact_key(&state_dir, &spec.name)?;
            let (bootstrap, bootstrap_id) = own_executable()?;
            options.scheduler.api = Some(cairn_core::scheduler::ApiEndpoint {
                host: options.api_host.clone().unwrap_or_else(|| api_host(addr)),
                port: addr.port(),
                artifact_key: key.clone(),
                bootstrap_id,
            });
            Some(Arc::new(crate::api::Artifacts::new(key, bootstrap)))
        }
        None => None,
    };
    let started = start_scheduler(&spec, &state_dir, &options, overrides)?;
    // Both outlive each scheduler, as the API does: counts carry on across an update.
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let configs = Arc::new(crate::configs::Configurations::new());
    started.serve_configs(artifacts.as_deref(), &configs);
    // `--adopt-framework` / `--force` answer this start's takeover check only: a scheduler
    // restarted in process (an accepted update) checks afresh.
    options.scheduler.takeover = TakeoverChoice::Check;
    let recovering = started.scheduler.framework_id().cloned();
    let uninstalling = started.scheduler.is_uninstalling();
    let uninstall_since = started.uninstall_since;
    let mut scheduler = started.scheduler;
    let mut store = started.store;
    let credential = options.framework_credential(&spec.principal)?;
    for agent in &options.force_agents {
        scheduler
            .handle_command(
                now(),
                Command::ForceCompleteUninstall {
                    agent: agent.clone(),
                },
            )
            .map_err(|r| Error::Usage(format!("--force-agent {agent}: {}", r.0)))?;
    }

    let (requests_tx, mut requests) = mpsc::unbounded_channel();
    let (api_snapshot, api_rx) = watch::channel(Snapshot::default());
    let api_snapshot = Arc::new(api_snapshot);
    let api = match listener {
        Some(listener) => {
            let file = crate::api::address_file(&state_dir, &spec.name);
            let api = ApiServer::start_on(
                listener,
                &spec.name,
                api_rx,
                requests_tx,
                crate::api::ApiOptions {
                    file: Some(file),
                    artifacts: artifacts.clone(),
                    metrics: metrics.clone(),
                    configs: configs.clone(),
                    open_health_metrics: options.open_health_metrics,
                },
            )?;
            println!("{}: API at http://{}", spec.name, api.addr());
            Some(api)
        }
        None => None,
    };
    let (cluster, master) = match &options.master {
        Some(m) => (None, m.clone()),
        None => {
            let cluster = start_embedded(cluster_config, &options).await?;
            let url = cluster.master_url();
            (Some(cluster), url)
        }
    };
    match &recovering {
        Some(id) => println!(
            "{}: taking over framework {} at {master}",
            spec.name, id.value
        ),
        None => println!("{}: registering with {master}", spec.name),
    }

    let client = match credential {
        Some(c) => Client::new(&master)?.with_credential(c),
        None => Client::new(&master)?,
    };
    let stop = stop_signal();
    tokio::pin!(stop);
    let mut spec = spec;
    let (result, seen) = loop {
        let driver = Driver::with_options(
            scheduler,
            Box::new(store),
            client.clone(),
            options.driver.clone(),
        )
        .with_metrics(metrics.clone());
        let printer = tokio::spawn(crate::progress::print(driver.watch(), spec.name.clone()));
        let forward = tokio::spawn(forward(driver.watch(), api_snapshot.clone()));
        let watch = tokio::spawn(uninstall_waiting(driver.watch()));
        let result = driver.serve(&mut stop, Some(&mut requests)).await;
        // The printer ends when the driver's snapshot channel closes; give it its last lines.
        let _ = printer.await;
        let _ = forward.await;
        let seen = watch.await.unwrap_or_default();
        match result {
            Ok(Outcome::Update {
                spec: new,
                overrides,
            }) => {
                println!(
                    "{}: update accepted; restarting the scheduler with the new spec",
                    spec.name
                );
                spec = *new;
                let next = start_scheduler(&spec, &state_dir, &options, overrides)?;
                next.serve_configs(artifacts.as_deref(), &configs);
                scheduler = next.scheduler;
                store = next.store;
            }
            Ok(Outcome::Stopped) => break (Ok(()), seen),
            Err(e) => break (Err(e), seen),
        }
    };
    drop(api);
    if let Some(cluster) = cluster {
        cluster.shutdown();
    }
    if uninstalling && result.is_ok() {
        if seen.finished {
            // The state is gone; the key and the token that went with it go too.
            let _ = std::fs::remove_file(artifact_key_file(&state_dir, &spec.name));
            let _ = std::fs::remove_file(crate::api::token_file(&state_dir, &spec.name));
            // And so does its emptied store's directory (only its lock file is left).
            if let Err(e) = FileStore::remove_if_empty(&state_dir, &spec.name) {
                tracing::warn!("{}: leaving its empty state directory: {e}", spec.name);
            }
        }
        return uninstall_outcome(&spec.name, seen, uninstall_since, &options);
    }
    if result.is_ok() {
        println!(
            "{}: stopped. Tasks keep running; run again to take over.",
            spec.name
        );
    }
    result
}

/// A scheduler built from the store, and the store.
struct Started {
    scheduler: Scheduler,
    store: FileStore,
    /// When the uninstall started (an earlier run may have started it), for telling a
    /// finished uninstall from one that gave up on silent agents.
    uninstall_since: u64,
    /// Every config the scheduler holds, by id (the target's among them), with when it was
    /// stored: whose templates the artifact routes serve, and what the API lists.
    configs: Vec<(String, ServiceSpec, Option<u64>)>,
}

impl Started {
    /// Hands the scheduler's configs to the artifact routes and the configurations API.
    fn serve_configs(&self, artifacts: Option<&crate::api::Artifacts>, configs: &Configurations) {
        if let Some(a) = artifacts {
            a.serve_configs(
                self.configs
                    .iter()
                    .map(|(id, spec, _)| (id.clone(), spec.clone())),
            );
        }
        configs.set(self.configs.iter().cloned());
    }
}

/// Opens the service's store and builds its scheduler with `spec`; a refused config change
/// is said on the terminal (the stored target then runs).
fn start_scheduler(
    spec: &ServiceSpec,
    state_dir: &Path,
    options: &RunOptions,
    overrides: Overrides,
) -> Result<Started, Error> {
    let store = FileStore::open_service(state_dir, &spec.name)?;
    let stored = StoredState::from_entries(&store.load()?)?;
    let uninstall_since = stored
        .properties
        .get(UNINSTALLING_PROPERTY)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
        .unwrap_or_else(|| now().as_millis());
    let mut configs: Vec<(String, ServiceSpec, Option<u64>)> = stored
        .configs
        .iter()
        .map(|(id, spec)| (id.0.clone(), spec.clone(), stored.config_stored_at(id)))
        .collect();
    // The target this start stores, if new, is stored at this time.
    let at = now();
    let scheduler = Scheduler::with_overrides(
        options.scheduler.clone(),
        spec.clone(),
        stored,
        at,
        overrides,
    )?;
    let target = scheduler.config_id().0.clone();
    if !configs.iter().any(|(id, _, _)| *id == target) {
        configs.push((target, scheduler.spec().clone(), Some(at.as_millis())));
    }
    println!("{}: state in {}", spec.name, store.dir().display());
    for plan in spec.plans_not_run() {
        println!(
            "{}: plan {}: {}",
            spec.name,
            plan.name,
            scheduler.plan_state(&plan.name)
        );
    }
    for violation in scheduler.config_errors() {
        println!(
            "{}: config change refused, the stored target stays in force: {}: {}: {}",
            spec.name,
            violation.validator,
            violation.path.as_deref().unwrap_or("-"),
            violation.message
        );
    }
    Ok(Started {
        scheduler,
        store,
        uninstall_since,
        configs,
    })
}

/// Whether a task of `spec` fetches an artifact of the scheduler: config templates, or the
/// renderer as `{{BOOTSTRAP_URI}}`.
fn needs_artifacts(spec: &ServiceSpec) -> bool {
    spec.pods.iter().any(|p| {
        p.uris.iter().any(|u| u == cairn_core::spec::BOOTSTRAP_URI)
            || p.tasks.iter().any(|t| {
                !t.configs.is_empty() || t.uris.iter().any(|u| u == cairn_core::spec::BOOTSTRAP_URI)
            })
    })
}

/// The file beside the state that keeps the service's artifact key.
fn artifact_key_file(state_dir: &Path, service: &str) -> PathBuf {
    state_dir.join(format!("{}.artifact-key", service.replace('/', "__")))
}

/// The artifact key of the service: read from beside the state, or made (0600) on its first
/// start. Kept across starts, so the URIs of tasks launched before a restart still fetch.
fn artifact_key(state_dir: &Path, service: &str) -> Result<String, Error> {
    let file = artifact_key_file(state_dir, service);
    if file.exists() {
        return cairn_cluster::auth::read_token(&file).map_err(Error::Credentials);
    }
    // The state dir is private (as the store makes it); its ancestors get the usual mode:
    // they may be the work dir, which the tasks' users must be able to pass.
    {
        use std::os::unix::fs::DirBuilderExt as _;
        let creating = |e| Error::io(format!("creating {}", state_dir.display()), e);
        if let Some(parent) = state_dir.parent() {
            std::fs::create_dir_all(parent).map_err(creating)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(state_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(creating(e)),
            _ => {}
        }
    }
    let key = cairn_cluster::auth::generate_secret();
    cairn_cluster::auth::write_private(&file, format!("{key}\n").as_bytes())
        .map_err(Error::Credentials)?;
    Ok(key)
}

/// The program to serve as the renderer, and an id of its build for its URL: this process's
/// executable (through `/proc/self/exe`, which still reads after the file was replaced), with
/// its size and modification time.
fn own_executable() -> Result<(PathBuf, String), Error> {
    let path = PathBuf::from("/proc/self/exe");
    let path = if path.exists() {
        path
    } else {
        std::env::current_exe().map_err(|e| Error::io("finding this program's executable", e))?
    };
    let meta = std::fs::metadata(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok((path, format!("{:x}-{modified:x}", meta.len())))
}

/// The host the agents reach the API at, by default: its own address, unless it listens on
/// every address (then this machine's hostname).
fn api_host(addr: SocketAddr) -> String {
    if !addr.ip().is_unspecified() {
        return addr.ip().to_string();
    }
    let mut buf = [0u8; 256];
    // SAFETY: gethostname(2) writes at most `buf.len()` bytes into the buffer we own.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if rc == 0 && !name.is_empty() => name.to_string(),
        _ => "localhost".to_string(),
    }
}

/// Copies one driver's snapshots to the API's channel until that driver stops.
async fn forward(mut from: watch::Receiver<Snapshot>, to: Arc<watch::Sender<Snapshot>>) {
    loop {
        to.send_replace(from.borrow_and_update().clone());
        if from.changed().await.is_err() {
            to.send_replace(from.borrow().clone());
            return;
        }
    }
}

/// The property (under `Properties/`) the scheduler keeps the uninstall's start (ms) in.
const UNINSTALLING_PROPERTY: &str = "uninstalling";

/// What the snapshots said of an uninstall: whether it finished, and the agents the uninstall
/// plan last waited for before it did.
#[derive(Debug, Default)]
struct UninstallWatch {
    finished: bool,
    waiting: Vec<String>,
}

async fn uninstall_waiting(mut rx: tokio::sync::watch::Receiver<Snapshot>) -> UninstallWatch {
    let mut seen = UninstallWatch::default();
    loop {
        {
            let snap = rx.borrow_and_update();
            if let Some(plan) = snap.plans.iter().find(|p| p.name == UNINSTALL_PLAN) {
                let done = plan
                    .phases
                    .iter()
                    .any(|ph| ph.name == "deregister-service" && ph.status == Status::Complete);
                if done {
                    seen.finished = true;
                } else {
                    seen.waiting = blocking_agents(plan, &snap.pods);
                }
            }
            if snap.stopped {
                return seen;
            }
        }
        if rx.changed().await.is_err() {
            return seen;
        }
    }
}

/// The agents an uninstall plan waits for: those of tasks still to be killed, and those still
/// to offer back reservations and volumes.
fn blocking_agents(plan: &PlanStatus, pods: &[cairn_core::scheduler::PodStatus]) -> Vec<String> {
    let mut agents = std::collections::BTreeSet::new();
    for phase in &plan.phases {
        if let Some(agent) = phase.name.strip_prefix("unreserve-resources-") {
            agents.insert(agent.to_string());
        }
        if phase.name != "kill-tasks" {
            continue;
        }
        for step in phase.steps.iter().filter(|s| s.status != Status::Complete) {
            let Some(task) = step.name.strip_prefix("kill-task-") else {
                continue;
            };
            let agent = pods
                .iter()
                .find(|p| p.tasks.iter().any(|t| t.name == task))
                .and_then(|p| p.agent_id.clone());
            agents.extend(agent);
        }
    }
    agents.into_iter().collect()
}

/// The outcome of an uninstall run: done, gave up on silent agents (their reservations stay),
/// or stopped before the end.
fn uninstall_outcome(
    service: &str,
    seen: UninstallWatch,
    since_ms: u64,
    options: &RunOptions,
) -> Result<(), Error> {
    if !seen.finished {
        return Err(Error::Uninstall(format!(
            "{service}: the uninstall stopped before it finished; run it again to continue"
        )));
    }
    let timed_out = options
        .scheduler
        .uninstall_agent_timeout
        .is_some_and(|t| now().as_millis() >= since_ms.saturating_add(t.as_millis() as u64));
    if timed_out && !seen.waiting.is_empty() {
        return Err(Error::Uninstall(format!(
            "{service}: uninstalled, but the agent timeout passed before these agents offered \
             back the service's reservations and volumes, which stay behind: {}",
            seen.waiting.join(", ")
        )));
    }
    println!("{service}: uninstalled");
    Ok(())
}

/// The embedded cluster `options` ask for, in `work_dir`.
fn embedded_config(work_dir: &Path, options: &RunOptions) -> Result<ClusterConfig, Error> {
    let mut cfg = ClusterConfig::new(work_dir);
    cfg.agents = options.agents;
    cfg.agent_extra_resources = options.agent_extra_resources.clone();
    if let Some(file) = &options.credentials {
        cfg.framework_auth = FrameworkAuth::File(absolute(file)?);
    }
    let default_listen: SocketAddr = DEFAULT_LISTEN.parse().expect("a socket address");
    cfg.listen = options.listen.unwrap_or(default_listen);
    cfg.allowed_users = options.allowed_users.clone();
    cfg.allow_root = options.allow_root;
    // One process names the tasks and resolves them: under one domain.
    cfg.dns_domain = options.scheduler.service_tld.clone();
    Ok(cfg)
}

/// Whether the embedded cluster can run the service's tasks as the users the spec names (the
/// service's, and each pod's own): allowed, existing, and able to reach the work dir and the
/// executor program when the cluster runs as root.
fn check_users(spec: &ServiceSpec, cfg: &ClusterConfig) -> Result<(), Error> {
    let mut users: Vec<&str> = vec![&spec.user];
    users.extend(spec.pods.iter().filter_map(|p| p.user.as_deref()));
    users.sort_unstable();
    users.dedup();
    for user in users {
        cairn_cluster::check_task_user(cfg, user).map_err(|source| Error::User {
            service: spec.name.clone(),
            source,
        })?;
    }
    Ok(())
}

/// Built without the embedded cluster, none ever runs: no value of this type exists.
#[cfg(not(feature = "embedded-cluster"))]
enum Cluster {}

#[cfg(not(feature = "embedded-cluster"))]
impl Cluster {
    fn master_url(&self) -> String {
        match *self {}
    }

    fn shutdown(self) {
        match self {}
    }
}

#[cfg(not(feature = "embedded-cluster"))]
async fn start_embedded(_cfg: ClusterConfig, _options: &RunOptions) -> Result<Cluster, Error> {
    Err(Error::NoEmbeddedCluster)
}

#[cfg(feature = "embedded-cluster")]
async fn start_embedded(cfg: ClusterConfig, options: &RunOptions) -> Result<Cluster, Error> {
    let work_dir = cfg.work_dir.clone();
    let mut cfg = cfg;
    let cluster = match Cluster::start(cfg.clone()).await {
        Err(ClusterError::Listen { addr, source })
            if options.listen.is_none() && source.kind() == std::io::ErrorKind::AddrInUse =>
        {
            cfg.listen = SocketAddr::new(addr.ip(), 0);
            let cluster = Cluster::start(cfg).await.map_err(Error::Cluster)?;
            println!(
                "{addr} is in use; the embedded master listens on {} instead",
                cluster.master_url()
            );
            cluster
        }
        Err(ClusterError::Claim(cairn_cluster::running::ClaimError::Running {
            running, ..
        })) => {
            return Err(Error::ClusterRunning {
                work_dir: options.work_dir.clone(),
                running,
            })
        }
        other => other.map_err(Error::Cluster)?,
    };
    println!(
        "embedded cluster: master {}, {} agents, work dir {}",
        cluster.master_url(),
        cluster.agent_count(),
        work_dir.display()
    );
    Ok(cluster)
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

fn absolute(p: &Path) -> Result<PathBuf, Error> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io("reading the current directory", e))?;
    Ok(cwd.join(p))
}

/// `cairn::run` is a whole program's main, so it sets up logging: warnings and cairn's own
/// notices on stderr (`CAIRN_LOG` as an `EnvFilter` changes that). The terminal's story is told
/// on stdout by the progress printer.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(crate::LOG_FILTER));
    // Fails only when the program installed a subscriber already, which then wins.
    // Colour only on a terminal: stderr sent to a file is read later, without one.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<RunOptions>, Error> {
        RunOptions::from_args(args.iter().map(|a| a.to_string()))
    }

    #[test]
    fn the_takeover_flags_set_the_operator_s_answer_for_this_start() {
        let o = parse(&[]).unwrap().unwrap();
        assert_eq!(o.scheduler.takeover, TakeoverChoice::Check);
        let o = parse(&["--force"]).unwrap().unwrap();
        assert_eq!(o.scheduler.takeover, TakeoverChoice::Force);
        let o = parse(&["--adopt-framework", "abc-0001"]).unwrap().unwrap();
        assert_eq!(
            o.scheduler.takeover,
            TakeoverChoice::Adopt("abc-0001".into())
        );
        let o = parse(&["--adopt-framework=abc-0002"]).unwrap().unwrap();
        assert_eq!(
            o.scheduler.takeover,
            TakeoverChoice::Adopt("abc-0002".into())
        );
        let err = parse(&["--adopt-framework"]).unwrap_err().to_string();
        assert!(err.contains("--adopt-framework needs a value"), "{err}");
    }
}
