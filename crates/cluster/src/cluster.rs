//! The running cluster: the lock around [`ClusterState`], the clock that drives it, the
//! executor processes and the HTTP servers of the master and of each agent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::ClusterConfig;
use crate::executor::config::{FETCHER_CACHE_DIR_ENV, FETCHER_CACHE_SIZE_ENV};
use crate::state::{self, ClusterState, Effect, Now, Outgoing, SpawnRequest};
use crate::{hosts, process, sandbox, users};

/// Starting the cluster failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A checkpoint under the work directory could not be read.
    #[error("recovering the cluster from {work_dir}")]
    Recover {
        /// The work directory.
        work_dir: std::path::PathBuf,
        /// What was wrong.
        #[source]
        source: crate::checkpoint::CheckpointError,
    },
    /// The master could not listen on its address.
    #[error("listening on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A credentials or token file could not be read or written.
    #[error("setting up the cluster's credentials")]
    Credentials(#[from] crate::auth::AuthError),
    /// The work directory is another cluster's (a running one), or cannot be claimed.
    #[error(transparent)]
    Claim(#[from] crate::running::ClaimError),
    /// An agent could not listen on its address.
    #[error("agent {agent} listening on {addr}")]
    AgentListen {
        /// The agent's index.
        agent: usize,
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A running embedded cluster. Dropping the handle does not stop it; see [`Cluster::shutdown`].
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
}

tokio::task_local! {
    /// Set while an HTTP request is served: its changes to the state count as HTTP requests
    /// in the master's event queue metrics.
    pub(crate) static HTTP_REQUEST: ();
}

pub(crate) struct Inner {
    state: Mutex<ClusterState>,
    /// Changes waiting for the state's lock: from HTTP requests, and from everything else.
    waiting_http: AtomicUsize,
    waiting_other: AtomicUsize,
    pub(crate) cfg: Arc<ClusterConfig>,
    agent_servers: Mutex<HashMap<usize, oneshot::Sender<()>>>,
    master_addr: SocketAddr,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    /// What callers are checked against.
    pub(crate) auth: crate::auth::ClusterAuth,
    /// Told when a change may have changed the hosts file's names (see `keep_hosts`).
    hosts_changed: tokio::sync::Notify,
    /// The mount namespace each executor gets, its own `/etc/hosts`; `None` when this process
    /// may not make one (not root), and tasks run without it.
    namespace: Option<hosts::Namespace>,
    /// This cluster's claim on its work directory, given up at shutdown.
    claim: Mutex<Option<crate::running::Claim>>,
}

/// The least time between two writes of the hosts file: a burst of launches (an ACCEPT of 32
/// pods, a deploy of thousands) is one write per interval, not one per task.
const HOSTS_WRITE_INTERVAL: Duration = Duration::from_millis(100);

impl Cluster {
    /// Recovers the cluster from its work directory (or creates it), starts every running
    /// agent and the master, and returns once the master accepts connections.
    pub async fn start(mut cfg: ClusterConfig) -> Result<Cluster, ClusterError> {
        // Sandboxes are named by absolute paths (executors run elsewhere, and a sweep for
        // processes without a checkpoint must not take another cluster's for its own).
        if let Ok(abs) = std::path::absolute(&cfg.work_dir) {
            cfg.work_dir = abs;
        }
        sandbox::create_dirs(&cfg.work_dir, sandbox::passage_mode()).map_err(|source| {
            ClusterError::Recover {
                work_dir: cfg.work_dir.clone(),
                source: crate::checkpoint::CheckpointError::Io {
                    path: cfg.work_dir.clone(),
                    source,
                },
            }
        })?;
        // Before anything is read or bound: a second cluster on these checkpoints is refused
        // with the first one's pid and address.
        let claim = crate::running::claim(&cfg.work_dir)?;
        // A credential that cannot be read or written starts nothing.
        let auth = crate::auth::ClusterAuth::open(&cfg)?;
        let listener =
            TcpListener::bind(cfg.listen)
                .await
                .map_err(|source| ClusterError::Listen {
                    addr: cfg.listen,
                    source,
                })?;
        let master_addr = listener
            .local_addr()
            .map_err(|source| ClusterError::Listen {
                addr: cfg.listen,
                source,
            })?;
        cfg.listen = master_addr;
        crate::running::write_master(&cfg.work_dir, &format!("http://{master_addr}")).map_err(
            |source| ClusterError::Recover {
                work_dir: cfg.work_dir.clone(),
                source: crate::checkpoint::CheckpointError::Io {
                    path: cfg.work_dir.join(crate::running::MASTER_FILE),
                    source,
                },
            },
        )?;
        let cfg = Arc::new(cfg);
        let state = state::load(now(), Instant::now, cfg.clone()).map_err(|source| {
            ClusterError::Recover {
                work_dir: cfg.work_dir.clone(),
                source,
            }
        })?;
        let hosts_file =
            hosts::HostsFile::open(&cfg.work_dir).map_err(|source| ClusterError::Recover {
                work_dir: cfg.work_dir.clone(),
                source: crate::checkpoint::CheckpointError::Io {
                    path: cfg.work_dir.join(hosts::FILE_NAME),
                    source,
                },
            })?;
        let namespace =
            hosts::Namespace::new(hosts_file.path()).and_then(|ns| ns.check().map(|()| ns));
        let namespace = match namespace {
            Ok(ns) => Some(ns),
            Err(e) => {
                tracing::warn!(
                    "tasks cannot resolve their stable names (<task>.<framework>.{}): giving each \
                     executor its own /etc/hosts takes a mount namespace, which needs root \
                     (CAP_SYS_ADMIN): {e}. Tasks run without it; a real DNS (Mesos-DNS) still \
                     finds them by the names their schedulers give them",
                    cfg.dns_domain
                );
                None
            }
        };
        let running: Vec<usize> = state
            .agents
            .iter()
            .filter(|a| a.status == state::AgentStatus::Running)
            .map(|a| a.index)
            .collect();
        let (tx, rx) = oneshot::channel();
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            waiting_http: AtomicUsize::new(0),
            waiting_other: AtomicUsize::new(0),
            cfg: cfg.clone(),
            agent_servers: Mutex::new(HashMap::new()),
            master_addr,
            shutdown: Mutex::new(Some(tx)),
            auth,
            hosts_changed: tokio::sync::Notify::new(),
            namespace,
            claim: Mutex::new(Some(claim)),
        });
        // The first write lists what the checkpoints recovered, in the file running executors
        // already hold.
        inner.hosts_changed.notify_one();
        tokio::spawn(inner.clone().keep_hosts(hosts_file));
        for agent in running {
            inner.clone().start_agent_server(agent).await?;
        }
        // Checkpoints of a fresh cluster (and agent ports just chosen) are written now.
        inner.with(|_| ());
        let app = crate::http::master_router(inner.clone());
        tokio::spawn(crate::serve::serve(
            listener,
            app,
            cfg.request_limits,
            async move {
                let _ = rx.await;
            },
        ));
        tokio::spawn(inner.clone().clock());
        tracing::info!("cairn cluster master at http://{master_addr}");
        if !users::switching() {
            tracing::info!(
                "the cluster does not run as root: every task runs as '{}'",
                users::own_name()
            );
        } else if cfg.allow_root {
            tracing::warn!("frameworks may run tasks as root (--allow-root)");
        }
        if inner.auth.frameworks.is_none() {
            tracing::warn!(
                "framework authentication is OFF: any local user can subscribe as any framework, \
                 launch tasks and tear frameworks down"
            );
        }
        Ok(Cluster { inner })
    }

    /// The master's URL, `http://127.0.0.1:5050`.
    pub fn master_url(&self) -> String {
        format!("http://{}", self.inner.master_addr)
    }

    /// How many agents the cluster has (running, stopped or gone).
    pub fn agent_count(&self) -> usize {
        self.inner.lock().agents.len()
    }

    /// The master's address.
    pub fn master_addr(&self) -> SocketAddr {
        self.inner.master_addr
    }

    /// The framework credentials file the master checks; `None` when frameworks need none.
    pub fn credentials_path(&self) -> Option<std::path::PathBuf> {
        self.inner
            .auth
            .frameworks
            .as_ref()
            .map(|f| f.path().to_path_buf())
    }

    /// The file holding the operator's token.
    pub fn operator_token_path(&self) -> std::path::PathBuf {
        self.inner.cfg.operator_token_path()
    }

    /// Stops serving. Executors and their tasks keep running: a restarted cluster recovers them.
    pub fn shutdown(&self) {
        if let Some(tx) = self
            .inner
            .shutdown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
        let servers: Vec<oneshot::Sender<()>> = self
            .inner
            .agent_servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in servers {
            let _ = s.send(());
        }
        // Another cluster may take the directory now: this one writes nothing more to it.
        self.inner
            .claim
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// The time of a change to the state, read where the change comes in: the state never reads the
/// clock itself (see [`Now`]).
pub(crate) fn now() -> Now {
    Now {
        instant: Instant::now(),
        wall: SystemTime::now(),
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, ClusterState> {
        // A panic while holding the lock must not take the whole cluster down with poison.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a change on the state: checkpoints first, then messages, then side effects.
    pub(crate) fn with<R>(self: &Arc<Self>, f: impl FnOnce(&mut ClusterState) -> R) -> R {
        let (result, effects) = {
            let waiting = if HTTP_REQUEST.try_with(|_| ()).is_ok() {
                &self.waiting_http
            } else {
                &self.waiting_other
            };
            waiting.fetch_add(1, Ordering::Relaxed);
            let mut state = self.lock();
            waiting.fetch_sub(1, Ordering::Relaxed);
            let result = f(&mut state);
            let finished = state.finish(Instant::now);
            if finished.hosts_may_change {
                self.hosts_changed.notify_one();
            }
            for out in finished.outbox {
                match out {
                    Outgoing::Framework(tx, bytes)
                    | Outgoing::Executor(tx, bytes)
                    | Outgoing::Operator(tx, bytes) => {
                        let _ = tx.send(bytes);
                    }
                }
            }
            (result, finished.effects)
        };
        for e in effects {
            self.clone().run_effect(e);
        }
        result
    }

    /// Keeps the hosts file true: rewritten when a change may have changed its names (never on
    /// a timer), at most once per [`HOSTS_WRITE_INTERVAL`], and only when its text changed. The
    /// names are read under the lock; the text is made and written outside it.
    async fn keep_hosts(self: Arc<Self>, file: hosts::HostsFile) {
        let mut file = Some(file);
        let mut written: Option<String> = None;
        let mut last_write: Option<Instant> = None;
        loop {
            self.hosts_changed.notified().await;
            if let Some(at) = last_write {
                // Changes meanwhile leave their notice, taken by the next round.
                tokio::time::sleep_until((at + HOSTS_WRITE_INTERVAL).into()).await;
            }
            let entries = self.lock().host_entries();
            let Some(mut f) = file.take() else { return };
            let previous = written.take();
            let result = tokio::task::spawn_blocking(move || {
                // Read each time: the machine's names may change while the cluster runs.
                let machine = std::fs::read_to_string(hosts::MACHINE_HOSTS).unwrap_or_default();
                let text = hosts::render(&machine, &entries);
                let outcome = if previous.as_deref() == Some(text.as_str()) {
                    Ok(false)
                } else {
                    f.write(&text).map(|()| true)
                };
                (f, text, outcome)
            })
            .await;
            let Ok((f, text, outcome)) = result else {
                tracing::error!("the hosts file's writer failed; task names stay as they were");
                return;
            };
            match outcome {
                Ok(true) => {
                    written = Some(text);
                    last_write = Some(Instant::now());
                }
                Ok(false) => written = Some(text),
                // Tried again at the next change; what the file says meanwhile is older.
                Err(e) => tracing::error!("writing {}: {e}", f.path().display()),
            }
            file = Some(f);
        }
    }

    /// The changes waiting for the state's lock now (the master's event queue).
    pub(crate) fn queue(&self) -> state::Queue {
        state::Queue {
            http_requests: self.waiting_http.load(Ordering::Relaxed),
            dispatches: self.waiting_other.load(Ordering::Relaxed),
        }
    }

    fn run_effect(self: Arc<Self>, effect: Effect) {
        match effect {
            // Spawning (fork/exec, sandbox directories) blocks: it runs on the blocking pool so
            // the ACCEPT that caused it is answered at once and the clock keeps ticking.
            Effect::Spawn(req) => {
                tokio::task::spawn_blocking(move || self.spawn_executor(req));
            }
            Effect::KillSession { pid, start } => {
                process::signal_session(pid, start, libc::SIGKILL);
            }
            Effect::TerminateSession { pid, start, grace } => {
                tokio::spawn(async move {
                    tokio::time::sleep(grace).await;
                    if process::session_alive(pid, start) {
                        process::signal_session(pid, start, libc::SIGKILL);
                    }
                });
            }
            Effect::StartAgentServer { agent } => {
                tokio::spawn(async move {
                    if let Err(e) = self.start_agent_server(agent).await {
                        tracing::error!("{e}");
                    }
                });
            }
            Effect::StopAgentServer { agent } => {
                let tx = self
                    .agent_servers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&agent);
                if let Some(tx) = tx {
                    let _ = tx.send(());
                }
            }
            Effect::SweepOrphans {
                agent,
                sweep,
                sandboxes,
                known,
            } => {
                // Reading /proc takes a while on a busy machine: off the async threads, and the
                // agent offers nothing until it is done.
                tokio::task::spawn_blocking(move || {
                    let orphans = process::kill_orphans(&sandboxes, &known);
                    self.with(|s| s.orphans_swept(now(), agent, sweep, &orphans));
                });
            }
            Effect::RemoveDir { root, dir } => {
                tokio::task::spawn_blocking(move || {
                    if let Err(e) = crate::paths::remove_dir_inside(&root, &dir) {
                        tracing::warn!("not removing {}: {e}", dir.display());
                    }
                });
            }
        }
    }

    fn spawn_executor(self: Arc<Self>, req: SpawnRequest) {
        let (program, args) = &self.cfg.executor_command;
        // Who the executor runs as, and its sandbox made that user's: when either cannot be, the
        // executor never starts and its tasks are dropped, saying why.
        let user = self.executor_user(&req).and_then(|user| {
            let owner = user.as_ref().map(|u| (u.uid, u.gid));
            sandbox::create_sandbox(&req.agent_dir, &req.sandbox, owner)
                .map(|()| user)
                .map_err(|e| format!("cannot create the sandbox: {e}"))
        });
        let user = match user {
            Ok(user) => user,
            Err(message) => {
                tracing::error!("{message}");
                self.with(|s| {
                    s.executor_not_started(now(), req.agent, &req.container_id, &message)
                });
                return;
            }
        };
        let owner = user.as_ref().map(|u| (u.uid, u.gid));
        let fetcher_cache = fetcher_cache_dir(&req, owner);
        let open = |name: &str| -> std::io::Result<std::fs::File> {
            use std::os::unix::fs::OpenOptionsExt;
            let path = req.sandbox.join(name);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)?;
            if let Some((uid, gid)) = owner {
                // The file just opened, not whatever the name leads to by now.
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            }
            Ok(file)
        };
        // Then each task's directory with its volumes (the sandbox's own come first): a task
        // that would run without its volume must not run at all.
        let prepared = req.prepare.iter().try_for_each(|want| {
            crate::state::prepare_dir(&req.agent_dir, &req.sandbox, want)
                .map_err(|e| format!("preparing the sandbox {}: {e}", want.dir.display()))
        });
        if let Err(message) = prepared {
            tracing::error!("{message}");
            self.with(|s| s.executor_spawned(now(), req.agent, &req.container_id, Err(message)));
            return;
        }
        let spawn = || -> std::io::Result<tokio::process::Child> {
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args)
                .envs(req.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .current_dir(&req.sandbox)
                // The token goes through a pipe: an environment is readable by every process
                // of the executor's user, which is every other pod's of that user too.
                .stdin(std::process::Stdio::piped())
                .stdout(open("stdout")?)
                .stderr(open("stderr")?)
                .kill_on_drop(false);
            if let Some(dir) = &fetcher_cache {
                cmd.env(FETCHER_CACHE_DIR_ENV, dir).env(
                    FETCHER_CACHE_SIZE_ENV,
                    self.cfg.fetcher_cache_size.to_string(),
                );
            }
            if let Some(ns) = self.namespace.clone() {
                // SAFETY: runs between fork and exec, before the switch to the user below
                // (closures run in the order added; unshare and mount need root); `enter`
                // makes only system calls on a path made before the fork.
                #[allow(unsafe_code)]
                unsafe {
                    cmd.pre_exec(move || ns.enter());
                }
            }
            if let Some(user) = &user {
                if !req.rlimit_ceilings.is_empty() {
                    let ceilings = req.rlimit_ceilings.clone();
                    // SAFETY: runs between fork and exec, before the switch to the user below
                    // (closures run in the order added); `raise_hard` only makes getrlimit and
                    // setrlimit calls on values copied before the fork.
                    #[allow(unsafe_code)]
                    unsafe {
                        cmd.pre_exec(move || {
                            crate::executor::rlimits::raise_hard(&ceilings);
                            Ok(())
                        });
                    }
                }
                users::switch_to(&mut cmd, user);
            }
            cmd.spawn()
        };
        let spawned = spawn();
        match spawned {
            Ok(mut child) => {
                if let Some(mut stdin) = child.stdin.take() {
                    let token = format!("{}\n", req.token);
                    // A line into an empty pipe does not wait; dropping the end closes it.
                    tokio::spawn(async move {
                        use tokio::io::AsyncWriteExt;
                        if let Err(e) = stdin.write_all(token.as_bytes()).await {
                            tracing::warn!("handing an executor its token: {e}");
                        }
                    });
                }
                let pid = child.id().unwrap_or(0);
                let start = process::start_time(pid);
                let (agent, container) = (req.agent, req.container_id.clone());
                self.with(|s| s.executor_spawned(now(), agent, &container, Ok((pid, start))));
                tokio::spawn(async move {
                    let status = child.wait().await;
                    let message = match status {
                        Ok(s) => format!("Executor exited: {s}"),
                        Err(e) => format!("Executor could not be waited for: {e}"),
                    };
                    self.with(|s| {
                        s.executor_terminated(
                            now(),
                            agent,
                            &container,
                            cairn_proto::Reason::ExecutorTerminated,
                            &message,
                        )
                    });
                });
            }
            Err(e) => {
                let msg = format!("{}: {e}", program.display());
                self.with(|s| s.executor_spawned(now(), req.agent, &req.container_id, Err(msg)));
            }
        }
    }

    /// The user an executor is started as: `None` when the cluster does not run as root (it
    /// cannot switch). An error says why its tasks cannot run: no such user, root when root is
    /// not allowed (a uid 0 under another name included), or a work dir or executor program
    /// the user cannot reach (a clone in a private home directory).
    fn executor_user(&self, req: &SpawnRequest) -> Result<Option<users::TaskUser>, String> {
        if !users::switching() {
            return Ok(None);
        }
        let cannot = |why: String| format!("cannot run the executor as user '{}': {why}", req.user);
        let user = users::lookup(&req.user).map_err(|e| cannot(e.describe()))?;
        if user.uid == 0 && !self.cfg.allow_root {
            return Err(cannot(format!(
                "it has uid 0, and {}",
                ClusterConfig::ROOT_REFUSAL
            )));
        }
        users::reachable(&user, &req.sandbox, false)
            .and_then(|()| users::reachable(&user, &self.cfg.executor_command.0, true))
            .map_err(|e| cannot(e.describe()))?;
        Ok(Some(user))
    }

    /// Starts an agent's HTTP server on its own address, with its checkpointed port when it has
    /// one (its executors know that endpoint and will reconnect to it).
    async fn start_agent_server(self: Arc<Self>, agent: usize) -> Result<(), ClusterError> {
        let (ip, port) = {
            let s = self.lock();
            (s.agents[agent].ip, s.agents[agent].port)
        };
        let addr = SocketAddr::from((ip, port));
        let mut attempt = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                // The previous incarnation's listener may still be closing.
                Err(e) if attempt < 50 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(source) => {
                    return Err(ClusterError::AgentListen {
                        agent,
                        addr,
                        source,
                    })
                }
            }
        };
        let bound = listener
            .local_addr()
            .map_err(|source| ClusterError::AgentListen {
                agent,
                addr,
                source,
            })?;
        if port == 0 {
            self.with(|s| {
                s.agents[agent].port = bound.port();
                s.mark(state::Dirty::Agent(agent));
            });
        }
        let (tx, rx) = oneshot::channel();
        self.agent_servers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(agent, tx);
        let app = crate::http::agent_router(self.clone(), agent);
        tokio::spawn(crate::serve::serve(
            listener,
            app,
            self.cfg.request_limits,
            async move {
                let _ = rx.await;
            },
        ));
        Ok(())
    }

    /// The cluster's clock: heartbeats, timeouts, retries, allocation.
    async fn clock(self: Arc<Self>) {
        let tick = self
            .cfg
            .allocation_interval
            .min(Duration::from_millis(100))
            .max(Duration::from_millis(10));
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_pid_check = Instant::now();
        loop {
            interval.tick().await;
            if self
                .shutdown
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none()
            {
                return;
            }
            let now = now();
            let check_pids = now.instant.duration_since(last_pid_check) >= Duration::from_secs(1);
            if check_pids {
                last_pid_check = now.instant;
            }
            self.with(|s| {
                s.framework_tick(now);
                s.rescind_expired_offers(now);
                s.agent_health_tick(now);
                for agent in 0..s.agents.len() {
                    s.agent_tick(now, agent, check_pids);
                }
                s.allocate(now, Instant::now);
            });
        }
    }
}

/// The agent's fetcher cache for an executor's user, `<agent>/fetcher-cache/<user>`: 0700 and
/// the user's (the executor fetches as that user), made when missing. `None` when it cannot be
/// made (a user name that is no file name, a full disk): that executor fetches without a
/// cache, as Mesos' fetcher does when its cache cannot serve.
fn fetcher_cache_dir(req: &SpawnRequest, owner: Option<sandbox::Owner>) -> Option<PathBuf> {
    let make = || -> Result<PathBuf, crate::paths::PathError> {
        let root = crate::paths::join_inside(&req.agent_dir, &["fetcher-cache"])?;
        crate::paths::create_dir_inside_as(
            &req.agent_dir,
            &root,
            Some(sandbox::passage_mode()),
            None,
        )?;
        let dir = crate::paths::join_inside(&root, &[&req.user])?;
        crate::paths::create_dir_inside_as(&req.agent_dir, &dir, Some(0o700), owner)?;
        if let Some((uid, gid)) = owner {
            // Made by an earlier run that did not switch users, it may be someone else's.
            std::os::unix::fs::lchown(&dir, Some(uid), Some(gid)).map_err(|source| {
                crate::paths::PathError::Io {
                    path: dir.clone(),
                    source,
                }
            })?;
        }
        Ok(dir)
    };
    make()
        .inspect_err(|e| tracing::warn!("no fetcher cache for user '{}': {e}", req.user))
        .ok()
}
