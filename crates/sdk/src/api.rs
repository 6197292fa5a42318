//! The scheduler's HTTP API: what the service is doing, and a new spec for it.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /v1/status` | service, master, framework, connected, deployed, target config id |
//! | `GET /v1/plans` | every plan summarised: steps counted by status, phases with their counts (the rollout plan first) |
//! | `GET /v1/plans/{plan}` | one plan summarised, and with `?offset=&limit=` a page of its steps, each with its `message`: why it is where it is (waiting for an offer and which checks refuse, for an earlier step, for `continue`; in flight and how far); 404 naming the plans there are |
//! | `GET /v1/pods` | a page of pod instances and their tasks (`?offset=&limit=`) |
//! | `GET /v1/pods/{pod}` | one pod instance: each task's state, agent, since, ready, last exit (code, message), recent failures, crash-looping; paused; 404 naming the pods there are |
//! | `GET /v1/pods/{pod}/info` | the pod's TaskInfos as last launched (from the store); 404 naming the pods there are |
//! | `GET /v1/health` | 200 healthy, 202 deploying or recovering, 417 errors (a plan's, or a crash-looping task), 503 not connected to the master; the body says why ([`crate::health`]) |
//! | `GET /v1/endpoints` | the names of the service's endpoints (its advertised ports), sorted |
//! | `GET /v1/endpoints/{name}` | one endpoint: `{"address": ["<agent>:<port>", ...], "dns": ["<task>.<FRAMEWORK_HOST>:<port>", ...], "vip": "..."}`, the running tasks in pod-index order; 404 naming the endpoints there are |
//! | `GET /v1/debug/offers` | the recent offers (at most 50, newest last) with each check's verdict, and each failing check counted across the agents' latest offers (`summary`: `cpus: 3 of 3 agents short; largest offer 3.7 of 100.05`); `?step=` (`data-0:[node]` or `data-0`) for one step's pod, 404 naming the steps waiting for an offer |
//! | `GET /v1/metrics` | Prometheus text (0.0.4): the driver's and the API's counters, gauges of the snapshot ([`crate::metrics`]) |
//! | `GET /v1/configurations` | every stored configuration: `[{"id", "target", "stored_at"}]`, oldest first |
//! | `GET /v1/configurations/target`, `.../targetId` | the target's spec (JSON), its id (a JSON string); 503 before the scheduler has one |
//! | `GET /v1/configurations/{id}` | one stored spec; 404 naming the ids there are |
//! | `GET /v1/configurations/{id}/diff/{other}` | `{"from", "to", "diff"}`: a unified diff of the two specs as YAML ([`crate::configs`]) |
//! | `POST /v1/update` | a new spec (the JSON of [`ServiceSpec`]), judged as a restart would; `?paused=true` stages its rollout interrupted (it waits for `continue`) |
//! | `POST /v1/pods/{pod}/restart` | kill the pod's tasks and relaunch them in place |
//! | `POST /v1/pods/{pod}/replace` | relaunch the pod elsewhere with fresh volumes (its data is lost) |
//! | `POST /v1/pods/{pod}/pause`, `.../resume` | relaunch the pod's RUNNING tasks in place with a no-op command and no checks (to inspect or repair its volumes), or with their own again |
//! | `POST /v1/plans/{plan}/continue`, `.../interrupt` | resume or pause a plan (`?phase=` for one phase); under an interrupt no new step starts, a step under way finishes |
//! | `POST /v1/plans/{plan}/start` | start a plan beyond deploy and update; the body, if any, is its parameters (`{"KEY": "VALUE"}`) |
//! | `POST /v1/plans/{plan}/stop` | back to idle, every step to run again at the next start |
//! | `POST /v1/plans/{plan}/force-complete`, `.../restart` | a plan, `?phase=`, or `?phase=&step=` taken as complete, or run again (`forceComplete` too, the SDK's name) |
//!
//! A command answers 200 `{"result": "done"}`, or 409 with the scheduler's reason (nothing
//! changed then). A plan command naming no plan of the service is a 404 naming the plans there
//! are, a pod command naming no pod a 404 naming the pods; a start whose body is not a JSON object of strings, or names a parameter that is no
//! environment variable name, is a 400.
//!
//! Answers stay small whatever the service's size ([`crate::pages`]): a page holds 100 entries
//! unless `limit` says otherwise (at most 1,000); a bad `offset` or `limit` is a 400.
//!
//! `POST /v1/update` answers 202 when the spec is accepted (the scheduler then restarts with
//! it, in process, and rolls it out), 200 when it is the target already, 422 with every
//! violation when a config validator refuses it, 400 when the body is not a valid spec (every
//! number in it bounded by the spec limits), 413 when it is larger than a spec may be, 409
//! when it names another service or the service is uninstalling. A refused spec changes
//! nothing. Updates are taken one at a time: one that arrives while an accepted spec is being
//! applied (until the restarted scheduler is connected again) is a 409 saying so, unless it is
//! that same spec, which is answered 200 like any spec that is the target already. Errors are
//! `{"error": "..."}`.
//!
//! Artifacts, for the agents' fetchers (which carry no token): `GET
//! /v1/artifacts/{key}/template/{configId}/{podType}/{task}/{config}`, the text of a config
//! template of a stored config, and `GET /v1/artifacts/{key}/bootstrap/{id}/bootstrap`, this
//! program's own executable (the renderer a task with `configs` runs first, see
//! [`crate::bootstrap`]). `{key}` is the scheduler's artifact key, a secret kept beside the
//! state (`<state-dir>/<service>.artifact-key`, 0600): without it, or for anything but a
//! template of a config the scheduler holds, the answer is 404, whatever was wrong. The key is
//! in the URIs of the TaskInfos, which whoever may read the master's state sees, as they see
//! every task's command and environment: templates, like those, hold no secret.
//!
//! Served on loopback by default; the address goes to `<state-dir>/<service>.api`, where
//! `cairn update` finds it. Every route, read or command, on loopback or not, needs the token,
//! sent as `Authorization: Bearer`: the stricter choice, as any local user can reach a loopback
//! port and reads name agents, ports and the whole spec. The token is made at the scheduler's
//! first start into `<state-dir>/<service>.api-token` (0600) and read again at every start, so
//! a client holding it keeps working across restarts; the CLI takes `CAIRN_TOKEN` before the
//! file. A missing or wrong token is a 401 with a `WWW-Authenticate: Bearer` challenge, as
//! Mesos answers missing or invalid credentials (there are no roles that would make a 403);
//! the answer never holds a token. With `--open-health-metrics`
//! ([`ApiOptions::open_health_metrics`]) `GET /v1/health` and `GET /v1/metrics` alone answer
//! without it, for a load balancer or Prometheus.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use bytes::Bytes;
use cairn_core::config::ConfigViolation;
use cairn_core::plan::Command;
use cairn_core::scheduler::{Endpoint, PodStatus, UpdateCheck};
use cairn_core::spec::ServiceSpec;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::configs::{ConfigDiff, ConfigEntry, Configurations};
use crate::driver::{Request, Snapshot};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::pages::{PlanAnswer, PlanSummary, PodPage, Range, StepEntry, StepPage};
use crate::Error;

/// How long `POST /v1/update` waits for the scheduler's verdict (it is answered between two
/// events; longer means the scheduler is stuck, and the asker should be told).
const VERDICT_TIMEOUT: Duration = Duration::from_secs(30);

/// The file next to the state store that holds a running scheduler's API address.
pub fn address_file(state_dir: &Path, service: &str) -> PathBuf {
    state_dir.join(format!("{}.api", service.replace('/', "__")))
}

/// Writes a file only its owner may read (0600, the mode a file left by an earlier run is
/// given too): the address leads to the scheduler's API.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

/// The file next to the state store that holds a running scheduler's API token.
pub fn token_file(state_dir: &Path, service: &str) -> PathBuf {
    state_dir.join(format!("{}.api-token", service.replace('/', "__")))
}

/// The token file that goes with an address file (`<service>.api` → `<service>.api-token`).
fn token_file_of(address_file: &Path) -> PathBuf {
    let mut name = address_file.as_os_str().to_owned();
    name.push("-token");
    PathBuf::from(name)
}

/// The environment variable the CLI takes the API's token from, before the token file.
pub const TOKEN_ENV: &str = "CAIRN_TOKEN";

/// The realm of the API's 401 challenge.
const REALM: &str = "cairn-scheduler-api";

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    /// The service's name.
    pub service: String,
    /// The master the scheduler talks to.
    pub master: String,
    /// The framework id, once the master gave one.
    pub framework_id: Option<String>,
    /// Whether a subscription is up.
    pub connected: bool,
    /// Whether the rollout plan is complete.
    pub deployed: bool,
    /// The target config in force (it changes when an accepted spec is rolled out).
    pub config_id: String,
}

/// The answer of `POST /v1/update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateReply {
    /// `accepted`, `unchanged` or `refused`.
    pub result: String,
    /// What refused it, every violation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ConfigViolation>,
}

/// What the artifact routes serve: config templates of the configs the scheduler holds, and
/// the renderer.
#[derive(Debug)]
pub struct Artifacts {
    key: String,
    configs: std::sync::RwLock<std::collections::BTreeMap<String, Arc<ServiceSpec>>>,
    bootstrap: PathBuf,
}

impl Artifacts {
    /// Artifacts under `key`; `bootstrap` is the executable served as the renderer.
    pub fn new(key: impl Into<String>, bootstrap: PathBuf) -> Artifacts {
        Artifacts {
            key: key.into(),
            configs: std::sync::RwLock::new(std::collections::BTreeMap::new()),
            bootstrap,
        }
    }

    /// Serves the templates of these configs (by config id), and no others.
    pub fn serve_configs(&self, configs: impl IntoIterator<Item = (String, ServiceSpec)>) {
        let map = configs
            .into_iter()
            .map(|(id, spec)| (id, Arc::new(spec)))
            .collect();
        // A poisoned lock only means a reader panicked; the map itself is whole.
        *self.configs.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    fn template(&self, config: &str, pod: &str, task: &str, name: &str) -> Option<String> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        configs
            .get(config)?
            .pod(pod)?
            .task(task)?
            .configs
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.template.clone())
    }
}

/// How an [`ApiServer`] serves: where it writes its address, and what it serves besides the
/// snapshot.
#[derive(Debug, Clone, Default)]
pub struct ApiOptions {
    /// Where to write the bound address (`<state-dir>/<service>.api`); the token is kept
    /// beside it (`<file>-token`, 0600): made at the first start, read at the next ones.
    /// `None`: the token is made for this server only, and nothing is written.
    pub file: Option<PathBuf>,
    /// The artifact routes' templates and renderer, if served.
    pub artifacts: Option<Arc<Artifacts>>,
    /// What `GET /v1/metrics` reports (the driver counts into the same).
    pub metrics: Arc<Metrics>,
    /// The configurations the scheduler holds.
    pub configs: Arc<Configurations>,
    /// Whether `GET /v1/health` and `GET /v1/metrics` answer without the token (for a load
    /// balancer or Prometheus, which carry none).
    pub open_health_metrics: bool,
}

struct Api {
    artifacts: Option<Arc<Artifacts>>,
    metrics: Arc<Metrics>,
    configs: Arc<Configurations>,
    service: String,
    snapshot: watch::Receiver<Snapshot>,
    requests: mpsc::UnboundedSender<Request>,
    /// Held while an update is judged, so that updates are judged one at a time; remembers
    /// an accepted one until the scheduler runs it.
    updates: tokio::sync::Mutex<Option<Applying>>,
}

/// An accepted spec the scheduler is restarting with.
struct Applying {
    spec: ServiceSpec,
    /// The target in force when it was accepted: a snapshot naming another, connected, is
    /// the restarted scheduler.
    replaces: String,
    since: std::time::Instant,
}

impl Applying {
    /// Whether the scheduler restarted with the spec runs: a new target, subscribed again.
    fn applied(&self, now: &Snapshot) -> bool {
        now.config_id != self.replaces && now.connected && !now.stopped
    }
}

/// A running API server; dropping it stops the server and removes the address and token
/// files.
pub struct ApiServer {
    addr: SocketAddr,
    file: Option<PathBuf>,
    token: String,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for ApiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiServer")
            .field("addr", &self.addr)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

impl ApiServer {
    /// Serves the API of `service` on `listen`: status from `snapshot`, updates sent to
    /// whichever driver holds the other end of `requests`. Every route needs the token
    /// ([`ApiServer::token`]). With `file`, the token is the one kept in `<file>-token` (made,
    /// 0600, when there is none), and the bound address is written to `file`.
    pub async fn start(
        listen: SocketAddr,
        service: &str,
        snapshot: watch::Receiver<Snapshot>,
        requests: mpsc::UnboundedSender<Request>,
        file: Option<PathBuf>,
    ) -> Result<ApiServer, Error> {
        let listener = Self::bind(listen).await?;
        let options = ApiOptions {
            file,
            ..ApiOptions::default()
        };
        Self::start_on(listener, service, snapshot, requests, options)
    }

    /// Binds the API's address, so that its port is known (the tasks' URIs name it) before
    /// anything is served or written.
    pub async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
        tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::io(format!("binding the scheduler API to {listen}"), e))
    }

    /// Serves the API on a bound `listener` (see [`ApiServer::start`]).
    pub fn start_on(
        listener: tokio::net::TcpListener,
        service: &str,
        snapshot: watch::Receiver<Snapshot>,
        requests: mpsc::UnboundedSender<Request>,
        options: ApiOptions,
    ) -> Result<ApiServer, Error> {
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the scheduler API's address", e))?;
        let ApiOptions {
            file,
            artifacts,
            metrics,
            configs,
            open_health_metrics,
        } = options;
        let token = match &file {
            // The token first: whoever finds the address finds the token beside it.
            Some(f) => kept_token(&token_file_of(f))?,
            None => cairn_cluster::auth::generate_secret(),
        };
        if let Some(f) = &file {
            write_private(f, format!("http://{addr}\n").as_bytes())
                .map_err(|e| Error::io(format!("writing {}", f.display()), e))?;
        }
        let guard = Guard {
            token: token.clone(),
            open_health_metrics,
        };
        let app = router(
            Api {
                artifacts,
                metrics,
                configs,
                service: service.to_string(),
                snapshot,
                requests,
                updates: tokio::sync::Mutex::new(None),
            },
            guard,
        );
        // The cluster's server: header and body timeouts and a connection cap, so a client
        // that sends half a request cannot hold the API's connections forever.
        let task = tokio::spawn(cairn_cluster::serve(
            listener,
            app,
            cairn_cluster::RequestLimits::default(),
            std::future::pending(),
        ));
        Ok(ApiServer {
            addr,
            file,
            token,
            task,
        })
    }

    /// Where the API listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token every request must carry (`Authorization: Bearer`).
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.task.abort();
        // The token stays: the next start serves with it, so a client holding it (a CLI in a
        // loop, a monitor) keeps working across restarts of the scheduler.
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// The token kept in `file`, made (0600) at the first start; a file left readable by others is
/// made private again before it is used.
fn kept_token(file: &Path) -> Result<String, Error> {
    use std::os::unix::fs::PermissionsExt;
    let token = cairn_cluster::auth::ensure_token(file)
        .map_err(|e| Error::Api(format!("the API token: {e}")))?;
    let private = std::fs::Permissions::from_mode(0o600);
    std::fs::set_permissions(file, private)
        .map_err(|e| Error::io(format!("making {} private", file.display()), e))?;
    Ok(token)
}

type ApiState = Arc<Api>;

/// One route of the API.
struct ApiRoute {
    path: &'static str,
    handler: fn() -> MethodRouter<ApiState>,
}

/// Every route of the API. The router is built from this table and guarded as a whole: every
/// route, and the answer to a path that is none, needs the token.
const API_ROUTES: &[ApiRoute] = &[
    ApiRoute {
        path: "/v1/status",
        handler: || get(status),
    },
    ApiRoute {
        path: "/v1/plans",
        handler: || get(plans),
    },
    ApiRoute {
        path: "/v1/plans/{plan}",
        handler: || get(plan),
    },
    ApiRoute {
        path: "/v1/pods",
        handler: || get(pods),
    },
    ApiRoute {
        path: "/v1/pods/{pod}",
        handler: || get(pod_status),
    },
    ApiRoute {
        path: "/v1/health",
        handler: || get(health),
    },
    ApiRoute {
        path: "/v1/endpoints",
        handler: || get(endpoints),
    },
    ApiRoute {
        path: "/v1/endpoints/{name}",
        handler: || get(endpoint),
    },
    ApiRoute {
        path: "/v1/debug/offers",
        handler: || get(debug_offers),
    },
    ApiRoute {
        path: "/v1/metrics",
        handler: || get(metrics),
    },
    ApiRoute {
        path: "/v1/configurations",
        handler: || get(configurations),
    },
    ApiRoute {
        path: "/v1/configurations/target",
        handler: || get(target_configuration),
    },
    ApiRoute {
        path: "/v1/configurations/targetId",
        handler: || get(target_configuration_id),
    },
    ApiRoute {
        path: "/v1/configurations/{id}",
        handler: || get(configuration),
    },
    ApiRoute {
        path: "/v1/configurations/{id}/diff/{other}",
        handler: || get(configuration_diff),
    },
    ApiRoute {
        path: "/v1/update",
        handler: || post(update),
    },
    ApiRoute {
        path: "/v1/pods/{pod}/{action}",
        handler: || get(pod_read).post(pod_command),
    },
    ApiRoute {
        path: "/v1/plans/{plan}/{action}",
        handler: || post(plan_command),
    },
];

/// Every route of the scheduler's API (each needs the token).
pub fn routes() -> Vec<&'static str> {
    API_ROUTES.iter().map(|r| r.path).collect()
}

/// The artifact routes: no token (fetchers send none), the artifact key in the path instead.
const ARTIFACT_ROUTES: &[ApiRoute] = &[
    ApiRoute {
        path: "/v1/artifacts/{key}/template/{config}/{pod}/{task}/{name}",
        handler: || get(template_artifact),
    },
    ApiRoute {
        path: "/v1/artifacts/{key}/bootstrap/{id}/bootstrap",
        handler: || get(bootstrap_artifact),
    },
];

/// The routes that need the artifact key in their path rather than the token.
pub fn artifact_routes() -> Vec<&'static str> {
    ARTIFACT_ROUTES.iter().map(|r| r.path).collect()
}

/// The routes `--open-health-metrics` leaves open to `GET` without the token.
pub const OPEN_WITH_FLAG: &[&str] = &["/v1/health", "/v1/metrics"];

/// What the token middleware checks a request against.
struct Guard {
    token: String,
    open_health_metrics: bool,
}

fn router(api: Api, guard: Guard) -> Router {
    let api = Arc::new(api);
    let metrics = api.metrics.clone();
    let mut router = Router::new();
    for r in API_ROUTES {
        router = router.route(r.path, (r.handler)());
    }
    let guarded = router
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route (see /v1/status)") })
        .with_state(api.clone())
        .layer(from_fn_with_state(Arc::new(guard), require_token));
    let mut artifacts = Router::new();
    for r in ARTIFACT_ROUTES {
        artifacts = artifacts.route(r.path, (r.handler)());
    }
    // Counted outermost, so that refused requests are counted too.
    guarded
        .merge(artifacts.with_state(api))
        .layer(from_fn_with_state(metrics, count_request))
}

/// Counts a request by its route's pattern (never the path sent: an artifact's key is in it,
/// and a caller could make up any number of paths), method and answer.
async fn count_request(
    State(metrics): State<Arc<Metrics>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = match *request.method() {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let response = next.run(request).await;
    metrics.api_request(&route, method, response.status().as_u16());
    response
}

/// The one answer to an artifact request that is not served: it says nothing of why.
fn no_artifact() -> Response {
    error(StatusCode::NOT_FOUND, "no such artifact")
}

/// The artifacts, when `key` is theirs.
fn artifacts_of<'a>(api: &'a Api, key: &str) -> Option<&'a Artifacts> {
    api.artifacts
        .as_deref()
        .filter(|a| cairn_cluster::auth::secrets_match(&a.key, key))
}

async fn template_artifact(
    State(api): State<Arc<Api>>,
    UrlPath((key, config, pod, task, name)): UrlPath<(String, String, String, String, String)>,
) -> Response {
    match artifacts_of(&api, &key).and_then(|a| a.template(&config, &pod, &task, &name)) {
        Some(text) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        None => no_artifact(),
    }
}

/// This program's executable, streamed: it is tens of megabytes.
async fn bootstrap_artifact(
    State(api): State<Arc<Api>>,
    UrlPath((key, _id)): UrlPath<(String, String)>,
) -> Response {
    let Some(artifacts) = artifacts_of(&api, &key) else {
        return no_artifact();
    };
    let file = match tokio::fs::File::open(&artifacts.bootstrap).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(path = %artifacts.bootstrap.display(), "cannot serve the bootstrap artifact: {e}");
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the renderer cannot be read",
            );
        }
    };
    // The file until its end or its first error (which ends the body, and so the fetch).
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt as _;
        let mut file = file?;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    (
        [(header::CONTENT_TYPE, "application/octet-stream")],
        axum::body::Body::from_stream(chunks),
    )
        .into_response()
}

/// Answers 401 to a request without the API's token (missing or wrong, alike: as Mesos
/// answers missing or invalid credentials); passes the others on, and a `GET` of
/// [`OPEN_WITH_FLAG`] when the server was started to leave those open.
async fn require_token(
    State(guard): State<Arc<Guard>>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    if guard.open_health_metrics
        && request.method() == Method::GET
        && OPEN_WITH_FLAG.contains(&request.uri().path())
    {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(cairn_cluster::auth::parse_bearer);
    if given.is_some_and(|t| cairn_cluster::auth::secrets_match(&guard.token, t)) {
        return next.run(request).await;
    }
    // Never the token given, nor the expected one: only what was wrong and where the right one
    // is.
    let what = if given.is_some() {
        "the token given is not this scheduler's"
    } else {
        "no token given"
    };
    let mut resp = error(
        StatusCode::UNAUTHORIZED,
        format!(
            "{what}: the scheduler API needs `Authorization: Bearer <token>`, the token in \
             <state-dir>/<service>.api-token (the CLI reads it there, or from {TOKEN_ENV})"
        ),
    );
    if let Ok(v) = header::HeaderValue::from_str(&format!("Bearer realm=\"{REALM}\"")) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    let page = api.metrics.render(&api.snapshot.borrow());
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], page).into_response()
}

async fn configurations(State(api): State<Arc<Api>>) -> Json<Vec<ConfigEntry>> {
    let target = api.snapshot.borrow().config_id.clone();
    Json(api.configs.list(&target))
}

/// The target's id, once the scheduler has one.
fn target_id(api: &Api) -> Option<String> {
    Some(api.snapshot.borrow().config_id.clone()).filter(|id| !id.is_empty())
}

/// The answer while the scheduler has no target yet (it is starting).
fn no_target() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the scheduler has no target configuration yet",
    )
}

async fn target_configuration(State(api): State<Arc<Api>>) -> Response {
    match target_id(&api) {
        Some(id) => one_configuration(&api, &id),
        None => no_target(),
    }
}

async fn target_configuration_id(State(api): State<Arc<Api>>) -> Response {
    match target_id(&api) {
        Some(id) => Json(id).into_response(),
        None => no_target(),
    }
}

async fn configuration(State(api): State<Arc<Api>>, UrlPath(id): UrlPath<String>) -> Response {
    one_configuration(&api, &id)
}

fn one_configuration(api: &Api, id: &str) -> Response {
    match api.configs.get(id) {
        Some(spec) => Json(&*spec).into_response(),
        None => unknown_configuration(api, id),
    }
}

/// A 404 naming the configurations there are.
fn unknown_configuration(api: &Api, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no configuration `{id}` (configurations: {})",
            api.configs.ids().join(", ")
        ),
    )
}

async fn configuration_diff(
    State(api): State<Arc<Api>>,
    UrlPath((from, to)): UrlPath<(String, String)>,
) -> Response {
    let (Some(old), Some(new)) = (api.configs.get(&from), api.configs.get(&to)) else {
        let missing = if api.configs.get(&from).is_none() {
            &from
        } else {
            &to
        };
        return unknown_configuration(&api, missing);
    };
    Json(ConfigDiff {
        diff: crate::configs::unified_diff(&from, &to, &old.to_yaml(), &new.to_yaml()),
        from,
        to,
    })
    .into_response()
}

async fn status(State(api): State<Arc<Api>>) -> Json<ServiceStatus> {
    let snap = api.snapshot.borrow();
    Json(ServiceStatus {
        service: api.service.clone(),
        master: snap.master.clone(),
        framework_id: snap.framework_id.clone(),
        connected: snap.connected,
        deployed: snap.deployed,
        config_id: snap.config_id.clone(),
    })
}

async fn endpoints(State(api): State<Arc<Api>>) -> Json<Vec<String>> {
    Json(api.snapshot.borrow().endpoints.keys().cloned().collect())
}

async fn endpoint(State(api): State<Arc<Api>>, UrlPath(name): UrlPath<String>) -> Response {
    let snap = api.snapshot.borrow();
    match snap.endpoints.get(&name) {
        Some(e) => Json(e.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            unknown_endpoint(&name, snap.endpoints.keys().map(String::as_str)),
        ),
    }
}

/// What is said of an endpoint the service does not have: the ones it has.
pub fn unknown_endpoint<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        format!("no endpoint `{name}`: the service has none (no running task advertises a port)")
    } else {
        format!("no endpoint `{name}` (endpoints: {})", names.join(", "))
    }
}

async fn plans(State(api): State<Arc<Api>>) -> Response {
    let summaries: Vec<PlanSummary> = api
        .snapshot
        .borrow()
        .plans
        .iter()
        .map(PlanSummary::of)
        .collect();
    Json(summaries).into_response()
}

/// `?offset=&limit=` of a listing.
#[derive(Debug, Deserialize)]
struct PageQuery {
    offset: Option<String>,
    limit: Option<String>,
}

impl PageQuery {
    fn range(&self) -> Result<Option<Range>, String> {
        Range::parse(self.offset.as_deref(), self.limit.as_deref())
    }
}

async fn plan(
    State(api): State<Arc<Api>>,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<PageQuery>,
) -> Response {
    let range = match query.range() {
        Ok(r) => r,
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    let snap = api.snapshot.borrow();
    match snap.plans.iter().find(|p| p.name == name) {
        Some(p) => Json(PlanAnswer {
            summary: PlanSummary::of(p),
            page: range.map(|r| StepPage::of(p, r)),
        })
        .into_response(),
        None => {
            let names: Vec<&str> = snap.plans.iter().map(|p| p.name.as_str()).collect();
            error(
                StatusCode::NOT_FOUND,
                format!("no plan `{name}` (plans: {})", names.join(", ")),
            )
        }
    }
}

/// `?step=` of `GET /v1/debug/offers`.
#[derive(Debug, Deserialize)]
struct StepQuery {
    step: Option<String>,
}

async fn debug_offers(State(api): State<Arc<Api>>, Query(query): Query<StepQuery>) -> Response {
    let snap = api.snapshot.borrow();
    match crate::debug::offers(&snap.plans, &snap.decisions, query.step.as_deref()) {
        Ok(answer) => Json(answer).into_response(),
        Err(unknown) => error(StatusCode::NOT_FOUND, unknown.0),
    }
}

async fn pods(State(api): State<Arc<Api>>, Query(query): Query<PageQuery>) -> Response {
    let range = match query.range() {
        Ok(r) => r.unwrap_or(Range {
            offset: 0,
            limit: crate::pages::DEFAULT_LIMIT,
        }),
        Err(why) => return error(StatusCode::BAD_REQUEST, why),
    };
    Json(PodPage::of(&api.snapshot.borrow().pods, range)).into_response()
}

/// `?phase=&step=` of a plan command.
#[derive(Debug, Deserialize)]
struct PhaseQuery {
    phase: Option<String>,
    step: Option<String>,
}

async fn pod_command(
    State(api): State<Arc<Api>>,
    UrlPath((pod, action)): UrlPath<(String, String)>,
) -> Response {
    if let Some(refusal) = unknown_pod(&api, &pod) {
        return refusal;
    }
    let command = match action.as_str() {
        "restart" => Command::Restart { pod },
        "replace" => Command::Replace { pod },
        "pause" => Command::Pause { pod },
        "resume" => Command::Resume { pod },
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no pod command `{other}` (restart, replace, pause, resume)"),
            )
        }
    };
    run_command(&api, command).await
}

/// A 404 naming (some of) the pods there are, for a pod the service does not have; none
/// before the first snapshot (the scheduler itself answers then).
fn unknown_pod(api: &Api, pod: &str) -> Option<Response> {
    let snap = api.snapshot.borrow();
    if snap.pods.is_empty() || snap.pods.iter().any(|p| p.name == pod) {
        return None;
    }
    Some(error(
        StatusCode::NOT_FOUND,
        unknown_pod_message(pod, snap.pods.iter().map(|p| p.name.as_str())),
    ))
}

/// What is said of a pod the service does not have: the pods it has (the first few of a
/// large service, and how many more).
pub fn unknown_pod_message<'a>(pod: &str, names: impl Iterator<Item = &'a str>) -> String {
    const SHOWN: usize = 20;
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        return format!("no pod `{pod}`: the service has no pods");
    }
    let more = names.len().saturating_sub(SHOWN);
    let shown = names[..names.len().min(SHOWN)].join(", ");
    if more > 0 {
        format!("no pod `{pod}` (pods: {shown} and {more} more)")
    } else {
        format!("no pod `{pod}` (pods: {shown})")
    }
}

async fn pod_status(State(api): State<Arc<Api>>, UrlPath(name): UrlPath<String>) -> Response {
    let snap = api.snapshot.borrow();
    match snap.pods.iter().find(|p| p.name == name) {
        Some(p) => Json(p.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            unknown_pod_message(&name, snap.pods.iter().map(|p| p.name.as_str())),
        ),
    }
}

/// `GET /v1/pods/{pod}/info`; every other read under a pod is no route.
async fn pod_read(
    State(api): State<Arc<Api>>,
    UrlPath((pod, what)): UrlPath<(String, String)>,
) -> Response {
    if what != "info" {
        return error(
            StatusCode::NOT_FOUND,
            format!("no pod read `{what}` (info; restart, replace, pause and resume are POSTs)"),
        );
    }
    let asked = pod.clone();
    match ask(&api, |reply| Request::PodInfo { pod: asked, reply }).await {
        Ok(Some(infos)) => Json(infos).into_response(),
        Ok(None) => {
            let snap = api.snapshot.borrow();
            error(
                StatusCode::NOT_FOUND,
                unknown_pod_message(&pod, snap.pods.iter().map(|p| p.name.as_str())),
            )
        }
        Err(unanswered) => unanswered,
    }
}

async fn health(State(api): State<Arc<Api>>) -> Response {
    let health = crate::health::of(&api.snapshot.borrow());
    (health.code(), Json(health)).into_response()
}

async fn plan_command(
    State(api): State<Arc<Api>>,
    UrlPath((plan, action)): UrlPath<(String, String)>,
    Query(query): Query<PhaseQuery>,
    body: Bytes,
) -> Response {
    let PhaseQuery { phase, step } = query;
    if step.is_some()
        && !matches!(
            action.as_str(),
            "force-complete" | "forceComplete" | "restart"
        )
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("`{action}` takes no step (only force-complete and restart do)"),
        );
    }
    if !body.is_empty() && action != "start" {
        return error(
            StatusCode::BAD_REQUEST,
            format!("`{action}` takes no body (only start does: its parameters)"),
        );
    }
    let command = match action.as_str() {
        "continue" => Command::Continue { plan, phase },
        "interrupt" => Command::Interrupt { plan, phase },
        "start" | "stop" if phase.is_some() => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("`{action}` is for a whole plan: it takes no phase"),
            )
        }
        "start" => match parameters(&body) {
            Ok(parameters) => Command::Start { plan, parameters },
            Err(why) => return error(StatusCode::BAD_REQUEST, why),
        },
        "stop" => Command::Stop { plan },
        "force-complete" | "forceComplete" => Command::ForceComplete { plan, phase, step },
        "restart" => Command::RestartPlan { plan, phase, step },
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!(
                    "no plan command `{other}` \
                     (continue, interrupt, start, stop, force-complete, restart)"
                ),
            )
        }
    };
    if let Some(refusal) = unknown_plan(&api, &command) {
        return refusal;
    }
    run_command(&api, command).await
}

/// A 404 naming the plans there are, for a command naming none of them.
fn unknown_plan(api: &Api, command: &Command) -> Option<Response> {
    let name = match command {
        Command::Continue { plan, .. }
        | Command::Interrupt { plan, .. }
        | Command::Start { plan, .. }
        | Command::Stop { plan }
        | Command::ForceComplete { plan, .. }
        | Command::RestartPlan { plan, .. } => plan,
        _ => return None,
    };
    let snap = api.snapshot.borrow();
    // Before the first snapshot the scheduler itself answers.
    if snap.plans.is_empty() || snap.plans.iter().any(|p| &p.name == name) {
        return None;
    }
    let names: Vec<&str> = snap.plans.iter().map(|p| p.name.as_str()).collect();
    Some(error(
        StatusCode::NOT_FOUND,
        format!("no plan `{name}` (plans: {})", names.join(", ")),
    ))
}

/// A start's parameters: an empty body, or a JSON object of strings.
fn parameters(body: &[u8]) -> Result<std::collections::BTreeMap<String, String>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Default::default());
    }
    let parameters = serde_json::from_slice(body).map_err(|e| {
        format!("the parameters must be a JSON object of strings ({{\"KEY\": \"VALUE\"}}): {e}")
    })?;
    cairn_core::plan::runs::check_parameters(&parameters).map_err(|e| e.0)?;
    Ok(parameters)
}

/// Hands `command` to the driver and says what came of it.
async fn run_command(api: &Api, command: Command) -> Response {
    match ask(api, |reply| Request::Command { command, reply }).await {
        Ok(Ok(())) => Json(serde_json::json!({ "result": "done" })).into_response(),
        Ok(Err(refusal)) => error(StatusCode::CONFLICT, refusal.0),
        Err(unanswered) => unanswered,
    }
}

/// Sends the driver a request made around a reply channel and waits for the reply; a 503 when
/// the scheduler is stopping or does not answer in time.
async fn ask<T>(
    api: &Api,
    request: impl FnOnce(oneshot::Sender<T>) -> Request,
) -> Result<T, Response> {
    let (reply, answer) = oneshot::channel();
    let stopping = || error(StatusCode::SERVICE_UNAVAILABLE, "the scheduler is stopping");
    if api.requests.send(request(reply)).is_err() {
        return Err(stopping());
    }
    match tokio::time::timeout(VERDICT_TIMEOUT, answer).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err(stopping()),
        Err(_) => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the scheduler did not answer within {VERDICT_TIMEOUT:?}"),
        )),
    }
}

/// `?paused=` of `POST /v1/update`.
#[derive(Debug, Deserialize)]
struct UpdateQuery {
    paused: Option<bool>,
}

async fn update(
    State(api): State<Arc<Api>>,
    Query(query): Query<UpdateQuery>,
    body: Bytes,
) -> Response {
    let paused = query.paused.unwrap_or(false);
    let size = &cairn_core::spec::limits::SPEC_BYTES;
    if size.exceeded_by(body.len() as u64) {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the spec {}", size.length_refusal(body.len())),
        );
    }
    let spec: ServiceSpec = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("the body is not a service spec (JSON): {e}"),
            )
        }
    };
    if let Err(errors) = cairn_core::spec::validate(&spec) {
        return error(StatusCode::BAD_REQUEST, format!("invalid spec: {errors}"));
    }
    if spec.name != api.service {
        return error(
            StatusCode::CONFLICT,
            format!(
                "this scheduler runs service `{}`, not `{}`",
                api.service, spec.name
            ),
        );
    }
    let reply = |code: StatusCode, result: &str, violations: Vec<ConfigViolation>| {
        let body = UpdateReply {
            result: result.into(),
            violations,
        };
        (code, Json(body)).into_response()
    };
    // One at a time: the next waits here while this one is judged. Were they all handed to
    // the driver, each would be judged against the target of the moment and every one
    // accepted, the last winning.
    let mut applying = api.updates.lock().await;
    if applying
        .as_ref()
        .is_some_and(|a| a.applied(&api.snapshot.borrow()))
    {
        *applying = None;
    }
    if let Some(a) = applying.as_ref() {
        if a.spec == spec {
            // The same spec again (a retry): it is the target already, as far as the asker is
            // concerned.
            return reply(StatusCode::OK, "unchanged", Vec::new());
        }
        return error(
            StatusCode::CONFLICT,
            format!(
                "another update is being applied: a spec accepted {:.1} s ago is restarting \
                 the scheduler; follow it with `cairn update status` (GET /v1/status shows \
                 its new config_id once it runs), then send this spec again",
                a.since.elapsed().as_secs_f64()
            ),
        );
    }
    let replaces = api.snapshot.borrow().config_id.clone();
    let judged = Box::new(spec.clone());
    let verdict = match ask(&api, |reply| Request::Update {
        spec: judged,
        paused,
        reply,
    })
    .await
    {
        Ok(v) => v,
        Err(unanswered) => return unanswered,
    };
    match verdict {
        Ok(UpdateCheck::Accepted) => {
            *applying = Some(Applying {
                spec,
                replaces,
                since: std::time::Instant::now(),
            });
            reply(StatusCode::ACCEPTED, "accepted", Vec::new())
        }
        Ok(UpdateCheck::Unchanged) => reply(StatusCode::OK, "unchanged", Vec::new()),
        Ok(UpdateCheck::Refused(v)) => reply(StatusCode::UNPROCESSABLE_ENTITY, "refused", v),
        Err(refusal) => error(StatusCode::CONFLICT, refusal.0),
    }
}

/// What `POST /v1/update` said.
#[derive(Debug, Clone, PartialEq)]
pub enum UpdateAnswer {
    /// 202: the scheduler restarts with the spec and rolls it out.
    Accepted,
    /// 200: the spec is the target already.
    Unchanged,
    /// 422: every violation; nothing changed.
    Refused(Vec<ConfigViolation>),
}

/// A client of a running scheduler's API (what `cairn update` uses).
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    /// The API's token; without it every answer is 401.
    token: Option<String>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<hidden>"))
            .finish()
    }
}

impl ApiClient {
    /// A client of the API at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str) -> Result<ApiClient, Error> {
        let http = cairn_cluster::http_client::build_plain(|| {
            reqwest::Client::builder().timeout(VERDICT_TIMEOUT + Duration::from_secs(5))
        })
        .map_err(|e| Error::Api(format!("building an HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: None,
        })
    }

    /// The same client, sending `token` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> ApiClient {
        self.token = Some(token.into());
        self
    }

    /// The same client with the token of `$CAIRN_TOKEN` when it is set, else the one the
    /// scheduler of `service` keeps under `state_dir`, if it is there (a client without one is
    /// answered 401).
    pub fn with_token_from(self, state_dir: &Path, service: &str) -> Result<ApiClient, Error> {
        if let Some(token) = std::env::var_os(TOKEN_ENV) {
            let token = token.to_string_lossy().trim().to_string();
            if !token.is_empty() {
                return Ok(self.with_token(token));
            }
        }
        let file = token_file(state_dir, service);
        match cairn_cluster::auth::read_token(&file) {
            Ok(token) => Ok(self.with_token(token)),
            Err(cairn_cluster::auth::AuthError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(self)
            }
            Err(e) => Err(Error::Api(format!("reading the API token: {e}"))),
        }
    }

    /// The client of the scheduler of `service` whose state is under `state_dir`, if one
    /// wrote its address there (it may have died since: the first call says so), with the
    /// token it wrote beside it.
    pub fn find(state_dir: &Path, service: &str) -> Result<Option<ApiClient>, Error> {
        let file = address_file(state_dir, service);
        match std::fs::read_to_string(&file) {
            Ok(addr) => ApiClient::new(addr.trim())?
                .with_token_from(state_dir, service)
                .map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(format!("reading {}", file.display()), e)),
        }
    }

    /// Where the API is.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Result<ServiceStatus, Error> {
        self.get("/v1/status").await
    }

    /// `GET /v1/plans`: every plan, summarised.
    pub async fn plans(&self) -> Result<Vec<PlanSummary>, Error> {
        self.get("/v1/plans").await
    }

    /// `GET /v1/plans/{plan}`, with a page of its steps when `range` is given.
    pub async fn plan(&self, name: &str, range: Option<Range>) -> Result<PlanAnswer, Error> {
        let query = range.map_or(String::new(), |r| {
            format!("?offset={}&limit={}", r.offset, r.limit)
        });
        self.get(&format!("/v1/plans/{name}{query}")).await
    }

    /// Every step of plan `name`, a page at a time, with the plan's summary as of the last
    /// page.
    pub async fn plan_steps(&self, name: &str) -> Result<(PlanSummary, Vec<StepEntry>), Error> {
        let mut steps = Vec::new();
        loop {
            let range = Range {
                offset: steps.len(),
                limit: crate::pages::MAX_LIMIT,
            };
            let answer = self.plan(name, Some(range)).await?;
            let page = answer.page.unwrap_or(StepPage {
                offset: range.offset,
                limit: range.limit,
                total: 0,
                steps: Vec::new(),
            });
            let done = page.steps.is_empty() || steps.len() + page.steps.len() >= page.total;
            steps.extend(page.steps);
            if done {
                return Ok((answer.summary, steps));
            }
        }
    }

    /// `GET /v1/pods?offset=&limit=`.
    pub async fn pods(&self, range: Range) -> Result<PodPage, Error> {
        self.get(&format!(
            "/v1/pods?offset={}&limit={}",
            range.offset, range.limit
        ))
        .await
    }

    /// `GET /v1/pods/{pod}`: one pod instance's status; an error naming the pods there are
    /// when the service has no such pod.
    pub async fn pod(&self, pod: &str) -> Result<PodStatus, Error> {
        self.get_or_say(&format!("/v1/pods/{pod}")).await
    }

    /// `GET /v1/pods/{pod}/info`: the pod's TaskInfos as last launched.
    pub async fn pod_info(&self, pod: &str) -> Result<Vec<cairn_proto::TaskInfo>, Error> {
        self.get_or_say(&format!("/v1/pods/{pod}/info")).await
    }

    /// `POST /v1/pods/{pod}/{action}` (`restart`, `replace`, `pause`, `resume`): `Ok` once
    /// done; the scheduler's reason when it refused, or the pods there are for an unknown one.
    pub async fn pod_command(&self, pod: &str, action: &str) -> Result<(), Error> {
        self.command(&format!("/v1/pods/{pod}/{action}")).await
    }

    /// `GET /v1/health`: the answer and its HTTP code (every one of them is an answer).
    pub async fn health(&self) -> Result<(StatusCode, Health), Error> {
        let (code, body) = self.send(Method::GET, "/v1/health", None).await?;
        let health = serde_json::from_slice(&body)
            .map_err(|e| Error::Api(format!("GET {}/v1/health: {code}: {e}", self.base)))?;
        Ok((code, health))
    }

    /// `GET /v1/metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, Error> {
        let (code, body) = self.send(Method::GET, "/v1/metrics", None).await?;
        if !code.is_success() {
            return Err(Error::Api(format!(
                "GET {}/v1/metrics: {code}: {}",
                self.base,
                error_text(&body)
            )));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `GET /v1/configurations`: every stored configuration.
    pub async fn configurations(&self) -> Result<Vec<ConfigEntry>, Error> {
        self.get("/v1/configurations").await
    }

    /// `GET /v1/configurations/target`: the target's spec.
    pub async fn target_configuration(&self) -> Result<ServiceSpec, Error> {
        self.get("/v1/configurations/target").await
    }

    /// `GET /v1/configurations/{id}`; an error naming the ones there are when there is no
    /// such configuration.
    pub async fn configuration(&self, id: &str) -> Result<ServiceSpec, Error> {
        self.get_or_say(&format!("/v1/configurations/{id}")).await
    }

    /// `GET /v1/configurations/{from}/diff/{to}`; an error naming the configurations there are
    /// when either is unknown.
    pub async fn configuration_diff(&self, from: &str, to: &str) -> Result<ConfigDiff, Error> {
        self.get_or_say(&format!("/v1/configurations/{from}/diff/{to}"))
            .await
    }

    /// `GET /v1/endpoints`: the names of the service's endpoints.
    pub async fn endpoints(&self) -> Result<Vec<String>, Error> {
        self.get("/v1/endpoints").await
    }

    /// `GET /v1/endpoints/{name}`; `None` when the service has no such endpoint.
    pub async fn endpoint(&self, name: &str) -> Result<Option<Endpoint>, Error> {
        let path = format!("/v1/endpoints/{name}");
        let (code, body) = self.send(Method::GET, &path, None).await?;
        let url = format!("{}{path}", self.base);
        match code {
            StatusCode::NOT_FOUND => Ok(None),
            c if c.is_success() => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| Error::Api(format!("GET {url}: {e}"))),
            c => Err(Error::Api(format!("GET {url}: {c}: {}", error_text(&body)))),
        }
    }

    /// `POST /v1/pods/{pod}/{action}` (`restart`, `replace`) or
    /// `POST /v1/plans/{plan}/{action}[?phase=]` (`continue`, `interrupt`): `Ok` once done, the
    /// scheduler's reason when it refused.
    pub async fn command(&self, path: &str) -> Result<(), Error> {
        let (code, body) = self.send(Method::POST, path, None).await?;
        if code.is_success() {
            return Ok(());
        }
        Err(Error::Api(error_text(&body)))
    }

    /// `POST /v1/plans/{plan}/start` with `parameters`: `Ok` once started, the scheduler's
    /// reason when it refused.
    pub async fn start_plan(
        &self,
        plan: &str,
        parameters: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), Error> {
        let body =
            serde_json::to_value(parameters).map_err(|e| Error::Api(format!("parameters: {e}")))?;
        let (code, body) = self
            .send(
                Method::POST,
                &format!("/v1/plans/{plan}/start"),
                Some(&body),
            )
            .await?;
        if code.is_success() {
            return Ok(());
        }
        Err(Error::Api(error_text(&body)))
    }

    /// `POST /v1/update` with `spec`.
    pub async fn update(&self, spec: &ServiceSpec) -> Result<UpdateAnswer, Error> {
        self.send_update(spec, "/v1/update").await
    }

    /// `POST /v1/update?paused=true` with `spec`: an accepted spec's rollout waits for
    /// `cairn plan continue`.
    pub async fn update_paused(&self, spec: &ServiceSpec) -> Result<UpdateAnswer, Error> {
        self.send_update(spec, "/v1/update?paused=true").await
    }

    /// `GET /v1/debug/offers[?step=]`; the inner `Err` is the scheduler's 404 when no plan
    /// has that step (it names the steps waiting for an offer).
    pub async fn debug_offers(
        &self,
        step: Option<&str>,
    ) -> Result<Result<crate::debug::OffersAnswer, String>, Error> {
        let path = match step {
            Some(s) => format!("/v1/debug/offers?step={}", query_escape(s)),
            None => "/v1/debug/offers".to_string(),
        };
        let (code, body) = self.send(Method::GET, &path, None).await?;
        let url = format!("{}{path}", self.base);
        match code {
            StatusCode::NOT_FOUND => Ok(Err(error_text(&body))),
            c if c.is_success() => serde_json::from_slice(&body)
                .map(Ok)
                .map_err(|e| Error::Api(format!("GET {url}: {e}"))),
            c => Err(Error::Api(format!("GET {url}: {c}: {}", error_text(&body)))),
        }
    }

    async fn send_update(&self, spec: &ServiceSpec, path: &str) -> Result<UpdateAnswer, Error> {
        let spec = serde_json::to_value(spec).map_err(|e| Error::Api(format!("the spec: {e}")))?;
        let (code, body) = self.send(Method::POST, path, Some(&spec)).await?;
        let url = format!("{}/v1/update", self.base);
        match code {
            StatusCode::ACCEPTED => Ok(UpdateAnswer::Accepted),
            StatusCode::OK => Ok(UpdateAnswer::Unchanged),
            StatusCode::UNPROCESSABLE_ENTITY => {
                let reply: UpdateReply = serde_json::from_slice(&body).map_err(|e| {
                    Error::Api(format!("POST {url}: a 422 without violations: {e}"))
                })?;
                Ok(UpdateAnswer::Refused(reply.violations))
            }
            _ => Err(Error::Api(format!(
                "POST {url}: {code}: {}",
                error_text(&body)
            ))),
        }
    }

    /// A GET whose refusal (a 404 naming what there is) is said as the API says it.
    async fn get_or_say<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let (code, body) = self.send(Method::GET, path, None).await?;
        if !code.is_success() {
            return Err(Error::Api(error_text(&body)));
        }
        serde_json::from_slice(&body)
            .map_err(|e| Error::Api(format!("GET {}{path}: {e}", self.base)))
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        let (code, body) = self.send(Method::GET, path, None).await?;
        let url = format!("{}{path}", self.base);
        if !code.is_success() {
            return Err(Error::Api(format!(
                "GET {url}: {code}: {}",
                error_text(&body)
            )));
        }
        serde_json::from_slice(&body).map_err(|e| Error::Api(format!("GET {url}: {e}")))
    }

    /// One request: its status and body, or why there is none.
    async fn send(
        &self,
        method: Method,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), Error> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.header(
                header::AUTHORIZATION,
                cairn_cluster::auth::bearer_authorization(token),
            );
        }
        if let Some(body) = json {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::Api(format!("{method} {url}: {e}")))?;
        let code = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| Error::Api(format!("{method} {url}: reading the answer: {e}")))?;
        if code == StatusCode::UNAUTHORIZED {
            return Err(Error::ApiUnauthorized(format!(
                "{method} {url}: 401: {}",
                error_text(&body)
            )));
        }
        Ok((code, body))
    }
}

/// A query value with what a URL would misread escaped (step names hold `:[],`).
pub fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `error` of an error answer, or the body as text.
fn error_text(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

/// The progress lines `cairn run` prints for a change of plans from `before` to `now`, for a
/// client following a rollout through the API.
pub fn progress_lines(
    before: Option<&[cairn_core::plan::PlanStatus]>,
    now: &[cairn_core::plan::PlanStatus],
) -> Vec<String> {
    let snapshot = |plans: &[cairn_core::plan::PlanStatus]| Snapshot {
        connected: true,
        plans: plans.to_vec(),
        ..Snapshot::default()
    };
    // Connected on both sides, and no plans before the first look: only plan lines come out.
    let before = snapshot(before.unwrap_or_default());
    crate::progress::lines(Some(&before), &snapshot(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::plan::{PhaseStatus, PlanStatus, Status, StepStatus};

    fn plan(step: Status) -> PlanStatus {
        PlanStatus {
            name: "deploy".into(),
            status: Status::InProgress,
            strategy: "serial".into(),
            phases: vec![PhaseStatus {
                name: "data".into(),
                status: Status::InProgress,
                strategy: "serial".into(),
                steps: vec![StepStatus {
                    name: "data-0:[node]".into(),
                    status: step,
                    message: String::new(),
                }],
            }],
            errors: Vec::new(),
            parameters: Default::default(),
            interrupted: false,
        }
    }

    #[tokio::test]
    async fn the_address_file_is_readable_by_its_owner_only_even_when_an_old_one_was_not() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("cairn-api-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = address_file(&dir, "svc");
        // Left by an earlier run, readable by anyone.
        std::fs::write(&file, "http://old\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (_snapshot, rx) = watch::channel(Snapshot::default());
        let (tx, _requests) = mpsc::unbounded_channel();
        let api = ApiServer::start(
            "127.0.0.1:0".parse().unwrap(),
            "svc",
            rx,
            tx,
            Some(file.clone()),
        )
        .await
        .unwrap();
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(format!("{mode:o}"), "600");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            format!("http://{}\n", api.addr())
        );
        drop(api);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn following_a_rollout_prints_plan_lines_only_and_each_change_once() {
        // Goal: `cairn update` prints what `cairn run` would of the plans, and nothing about a
        // connection it does not have. Method: a first look, the same again, then a change.
        let first = [plan(Status::Starting)];
        let lines = progress_lines(None, &first);
        assert_eq!(
            lines,
            [
                "deploy: IN_PROGRESS (1 steps)",
                "deploy: IN_PROGRESS  data-0:[node] STARTING"
            ]
        );
        assert!(progress_lines(Some(&first), &first).is_empty());
        let next = [plan(Status::Complete)];
        assert_eq!(
            progress_lines(Some(&first), &next),
            ["deploy: IN_PROGRESS  data-0:[node] COMPLETE"]
        );
    }
}
