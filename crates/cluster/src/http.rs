//! HTTP: the master's scheduler, operator, state and fault-injection endpoints, and each
//! agent's executor endpoint. A guard checks every request's credentials first (as Mesos
//! authenticates before anything else); handlers then check the request the way Mesos does, in
//! its order, and hand the call to the state under the lock.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, MethodRouter};
use axum::Extension;
use axum::Router;
use cairn_proto::scheduler::{Call, CallType};
use cairn_proto::{executor, master};
use futures_util::Stream;

use crate::cluster::{now, Inner};
use crate::serve::StreamCloser;
use crate::state::framework_reply;
use crate::stream::{self, EventReceiver, StreamCut};

type Shared = Arc<Inner>;

/// Who may call a route. Every route of the master and of the agents is in [`master_routes`]
/// or [`agent_routes`], and the routers are built from those tables, so a route cannot be
/// served without a guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A read: `GET` (or `HEAD`) from a loopback caller is served to anyone, as Mesos' defaults
    /// serve their read endpoints unauthenticated; from any other caller it needs the
    /// operator's token or a framework credential. Any other method needs the operator's token.
    Read,
    /// A framework's HTTP Basic credential (unless framework authentication is off).
    Framework,
    /// The operator's token.
    Operator,
    /// The operator API: a well-formed `GET_*` call is served as [`Access::Read`] serves a
    /// `GET` (to anyone on loopback, to a framework credential from elsewhere); every other
    /// call needs the operator's token.
    OperatorApi,
    /// The token of the executor the call is about (`MESOS_EXECUTOR_AUTHENTICATION_TOKEN`).
    Executor,
}

struct MasterRoute {
    path: &'static str,
    access: Access,
    handler: fn() -> MethodRouter<Shared>,
}

/// The master's routes. A new route goes here, with the access it needs.
const MASTER_ROUTES: &[MasterRoute] = &[
    MasterRoute {
        path: "/api/v1/scheduler",
        access: Access::Framework,
        handler: || any(scheduler),
    },
    MasterRoute {
        path: "/master/api/v1/scheduler",
        access: Access::Framework,
        handler: || any(scheduler),
    },
    MasterRoute {
        path: "/api/v1",
        access: Access::OperatorApi,
        handler: || any(operator),
    },
    MasterRoute {
        path: "/api/v1/operator",
        access: Access::OperatorApi,
        handler: || any(operator),
    },
    MasterRoute {
        path: "/master/api/v1",
        access: Access::OperatorApi,
        handler: || any(operator),
    },
    MasterRoute {
        path: "/version",
        access: Access::Read,
        handler: || get(version),
    },
    MasterRoute {
        path: "/master/version",
        access: Access::Read,
        handler: || get(version),
    },
    MasterRoute {
        path: "/health",
        access: Access::Read,
        handler: || get(health),
    },
    MasterRoute {
        path: "/master/health",
        access: Access::Read,
        handler: || get(health),
    },
    MasterRoute {
        path: "/state",
        access: Access::Read,
        handler: || get(state),
    },
    MasterRoute {
        path: "/master/state",
        access: Access::Read,
        handler: || get(state),
    },
    MasterRoute {
        path: "/state.json",
        access: Access::Read,
        handler: || get(state),
    },
    MasterRoute {
        path: "/master/state.json",
        access: Access::Read,
        handler: || get(state),
    },
    // The other v0 reads tools use, under `/master/` and, as Mesos' master also answers
    // them, at the top.
    MasterRoute {
        path: "/master/state-summary",
        access: Access::Read,
        handler: || get(state_summary),
    },
    MasterRoute {
        path: "/state-summary",
        access: Access::Read,
        handler: || get(state_summary),
    },
    MasterRoute {
        path: "/master/slaves",
        access: Access::Read,
        handler: || get(slaves),
    },
    MasterRoute {
        path: "/slaves",
        access: Access::Read,
        handler: || get(slaves),
    },
    MasterRoute {
        path: "/master/frameworks",
        access: Access::Read,
        handler: || get(frameworks),
    },
    MasterRoute {
        path: "/frameworks",
        access: Access::Read,
        handler: || get(frameworks),
    },
    MasterRoute {
        path: "/master/tasks",
        access: Access::Read,
        handler: || get(tasks),
    },
    MasterRoute {
        path: "/tasks",
        access: Access::Read,
        handler: || get(tasks),
    },
    MasterRoute {
        path: "/master/roles",
        access: Access::Read,
        handler: || get(roles),
    },
    MasterRoute {
        path: "/roles",
        access: Access::Read,
        handler: || get(roles),
    },
    MasterRoute {
        path: "/master/flags",
        access: Access::Read,
        handler: || get(flags),
    },
    MasterRoute {
        path: "/flags",
        access: Access::Read,
        handler: || get(flags),
    },
    MasterRoute {
        path: "/master/redirect",
        access: Access::Read,
        handler: || get(redirect),
    },
    MasterRoute {
        path: "/redirect",
        access: Access::Read,
        handler: || get(redirect),
    },
    MasterRoute {
        path: "/metrics/snapshot",
        access: Access::Read,
        handler: || get(metrics),
    },
    // Listing the agents (GET) is a read; adding one (POST) is the operator's, as every
    // method but GET of a read route is.
    MasterRoute {
        path: "/cluster/agents",
        access: Access::Read,
        handler: || get(agents).post(add_agent),
    },
    MasterRoute {
        path: "/cluster/agents/{agent}/{action}",
        access: Access::Operator,
        handler: || post(agent_action),
    },
];

type AgentState = (Shared, usize);

struct AgentRoute {
    path: &'static str,
    access: Access,
    handler: fn() -> MethodRouter<AgentState>,
}

/// Each agent's routes: at the top, and under `/slave(1)` (the agent's process in Mesos, the
/// path of the URL its offers carry), as a Mesos agent answers both.
const AGENT_ROUTES: &[AgentRoute] = &[
    AgentRoute {
        path: "/api/v1/executor",
        access: Access::Executor,
        handler: || any(executor_api),
    },
    AgentRoute {
        path: "/slave(1)/api/v1/executor",
        access: Access::Executor,
        handler: || any(executor_api),
    },
    AgentRoute {
        path: "/health",
        access: Access::Read,
        handler: || get(health),
    },
    AgentRoute {
        path: "/slave(1)/health",
        access: Access::Read,
        handler: || get(health),
    },
    // What runs on the agent, and where each executor's sandbox is (Mesos' agent `/state`):
    // a read, as the master's `/state` is.
    AgentRoute {
        path: "/state",
        access: Access::Read,
        handler: || get(agent_state),
    },
    AgentRoute {
        path: "/slave(1)/state",
        access: Access::Read,
        handler: || get(agent_state),
    },
    // A sandbox holds what only its task's user may read (sandboxes are 0750): served through
    // the agent, which reads as the cluster's user, it needs the operator's token, even on
    // loopback.
    AgentRoute {
        path: "/files/read",
        access: Access::Operator,
        handler: || get(files_read),
    },
    AgentRoute {
        path: "/files/browse",
        access: Access::Operator,
        handler: || get(files_browse),
    },
];

/// Every route of the master, with the access it needs.
pub fn master_routes() -> Vec<(&'static str, Access)> {
    MASTER_ROUTES.iter().map(|r| (r.path, r.access)).collect()
}

/// Every route of an agent, with the access it needs.
pub fn agent_routes() -> Vec<(&'static str, Access)> {
    AGENT_ROUTES.iter().map(|r| (r.path, r.access)).collect()
}

pub(crate) fn master_router(inner: Shared) -> Router {
    let mut router = Router::new();
    for r in MASTER_ROUTES {
        let guard = from_fn_with_state(Guard::new(inner.clone(), r.access, None), guard);
        router = router.route(r.path, (r.handler)().layer(guard));
    }
    router.with_state(inner)
}

pub(crate) fn agent_router(inner: Shared, agent: usize) -> Router {
    let mut router = Router::new();
    for r in AGENT_ROUTES {
        let guard = from_fn_with_state(Guard::new(inner.clone(), r.access, Some(agent)), guard);
        router = router.route(r.path, (r.handler)().layer(guard));
    }
    router.with_state((inner, agent))
}

/// The state of a route's guard.
#[derive(Clone)]
struct Guard {
    inner: Shared,
    access: Access,
    agent: Option<usize>,
}

impl Guard {
    fn new(inner: Shared, access: Access, agent: Option<usize>) -> Guard {
        Guard {
            inner,
            access,
            agent,
        }
    }
}

/// Who a framework caller proved to be: `None` when framework authentication is off.
#[derive(Clone)]
struct FrameworkCaller(Option<String>);

/// An operator API caller: with the operator's token, or a loopback caller limited to reads.
#[derive(Clone, Copy)]
struct OperatorCaller {
    reads_only: bool,
}

/// The executor an agent's caller proved to be (by the token only that executor was given).
#[derive(Clone)]
struct ExecutorCaller {
    framework_id: cairn_proto::FrameworkId,
    executor_id: cairn_proto::ExecutorId,
    container: String,
}

/// 401 with a challenge of `scheme` in `realm` (Mesos answers with the status and the
/// `WWW-Authenticate` header; the body only says what is missing).
fn unauthorized(scheme: &str, realm: &str, extra: &str, message: &str) -> Response {
    let challenge = format!("{scheme} realm=\"{realm}\"{extra}");
    let mut resp = text(401, message);
    if let Ok(v) = header::HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

fn from_loopback(request: &Request) -> bool {
    // Without the peer's address (a router served without connect info) nobody is on loopback.
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| peer.ip().to_canonical().is_loopback())
}

impl Guard {
    fn operator_token(&self, headers: &HeaderMap) -> bool {
        authorization(headers)
            .and_then(crate::auth::parse_bearer)
            .is_some_and(|t| crate::auth::secrets_match(&self.inner.auth.operator_token, t))
    }

    /// The principal of a valid framework credential in the request, if any.
    fn framework_principal(&self, headers: &HeaderMap) -> Option<String> {
        let creds = self.inner.auth.frameworks.as_ref()?;
        let (principal, secret) = authorization(headers).and_then(crate::auth::parse_basic)?;
        creds.verify(&principal, &secret).then_some(principal)
    }

    fn executor(&self, headers: &HeaderMap) -> Option<ExecutorCaller> {
        let token = authorization(headers).and_then(crate::auth::parse_bearer)?;
        let agent = self.agent?;
        self.inner.with(|s| {
            let rt = s.agents.get(agent)?.runtime.as_ref()?;
            rt.executors
                .values()
                .find(|e| {
                    !e.auth_token.is_empty() && crate::auth::secrets_match(&e.auth_token, token)
                })
                .map(|e| ExecutorCaller {
                    framework_id: e.framework_id.clone(),
                    executor_id: e.info.executor_id.clone(),
                    container: e.container_id.clone(),
                })
        })
    }
}

/// Checks a request against its route's [`Access`] before the handler sees it.
async fn guard(State(g): State<Guard>, mut request: Request, next: Next) -> Response {
    use crate::auth::realm;
    let headers = request.headers();
    match g.access {
        Access::Read => {
            let read = matches!(*request.method(), Method::GET | Method::HEAD);
            let allowed = g.operator_token(headers)
                || (read && (from_loopback(&request) || g.framework_principal(headers).is_some()));
            if !allowed {
                return if read {
                    unauthorized(
                        "Basic",
                        realm::READONLY,
                        "",
                        "a read from beyond loopback needs a credential",
                    )
                } else {
                    unauthorized(
                        "Bearer",
                        realm::READWRITE,
                        "",
                        "the operator's token (Authorization: Bearer) is required",
                    )
                };
            }
        }
        Access::Framework => {
            let caller = if g.inner.auth.frameworks.is_none() {
                FrameworkCaller(None)
            } else {
                match g.framework_principal(headers) {
                    Some(p) => FrameworkCaller(Some(p)),
                    None => {
                        return unauthorized(
                            "Basic",
                            realm::SCHEDULER,
                            "",
                            "a framework credential (HTTP Basic, principal:secret) is required",
                        )
                    }
                }
            };
            request.extensions_mut().insert(caller);
        }
        Access::Operator => {
            if !g.operator_token(headers) {
                return unauthorized(
                    "Bearer",
                    realm::READWRITE,
                    "",
                    "the operator's token (Authorization: Bearer) is required",
                );
            }
        }
        Access::OperatorApi => {
            let caller = if g.operator_token(headers) {
                OperatorCaller { reads_only: false }
            } else if from_loopback(&request) || g.framework_principal(headers).is_some() {
                OperatorCaller { reads_only: true }
            } else {
                return unauthorized(
                    "Bearer",
                    realm::READWRITE,
                    "",
                    "the operator's token (Authorization: Bearer) is required",
                );
            };
            request.extensions_mut().insert(caller);
        }
        Access::Executor => match g.executor(headers) {
            Some(caller) => {
                request.extensions_mut().insert(caller);
            }
            None => {
                let presented = authorization(headers).is_some();
                return unauthorized(
                    "Bearer",
                    realm::EXECUTOR,
                    if presented {
                        ",error=\"invalid_token\""
                    } else {
                        ""
                    },
                    "the executor's token (MESOS_EXECUTOR_AUTHENTICATION_TOKEN) is required",
                );
            }
        },
    }
    // Changes this request makes wait for the state's lock as HTTP requests (the master's
    // event queue metrics tell them apart).
    crate::cluster::HTTP_REQUEST
        .scope((), next.run(request))
        .await
}

fn text(status: u16, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message.into(),
    )
        .into_response()
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => text(500, format!("encoding the response: {e}")),
    }
}

/// Every v1 endpoint takes only POST (405 first), then a JSON body (400/415).
fn check_post(method: &Method, headers: &HeaderMap) -> Result<(), Box<Response>> {
    if method != Method::POST {
        return Err(Box::new(text(
            405,
            format!("Expecting one of {{ 'POST' }}, but received '{method}'"),
        )));
    }
    check_content_type(headers)
}

/// Mesos compares the Content-Type exactly; cairn also accepts a `; charset=utf-8` suffix.
fn check_content_type(headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Err(Box::new(text(
            400,
            "Expecting 'Content-Type' to be present",
        )));
    };
    let ct = ct.to_str().unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if media == "application/json" {
        return Ok(());
    }
    if media == "application/x-protobuf" {
        return Err(Box::new(text(
            415,
            "Content-Type 'application/x-protobuf' is not supported by cairn cluster: use 'application/json'",
        )));
    }
    Err(Box::new(text(
        415,
        format!(
            "Expecting 'Content-Type' of application/json or application/x-protobuf, got '{ct}'"
        ),
    )))
}

/// A missing Accept, `*/*`, `application/*` or `application/json` all mean JSON.
fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|a| a.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|part| {
        let media = part.split(';').next().unwrap_or("").trim();
        matches!(media, "*/*" | "application/*" | "application/json" | "")
    })
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Box<Response>> {
    serde_json::from_slice(body)
        .map_err(|e| Box::new(text(400, format!("Failed to parse body into {what}: {e}"))))
}

/// Whether the body names its call type explicitly as `UNKNOWN`. Mesos' JSON parser drops an
/// enum value name it does not know, so `"type": "FROBNICATE"` leaves the call without a type
/// (400 "Expecting 'type' to be present"), while `"type": "UNKNOWN"` is a call of the unknown
/// type (501). Our parser maps both to `Unknown`; this tells them apart.
fn names_unknown_type(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct TypeName {
        #[serde(rename = "type")]
        type_: Option<String>,
    }
    serde_json::from_slice::<TypeName>(body).is_ok_and(|t| t.type_.as_deref() == Some("UNKNOWN"))
}

/// An event stream that tells the cluster when the client has gone.
struct EventStream {
    rx: EventReceiver,
    on_close: Option<Box<dyn FnOnce() + Send>>,
}

impl Stream for EventStream {
    type Item = Result<Bytes, StreamCut>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(f) = self.on_close.take() {
            f();
        }
    }
}

fn stream_response(
    rx: EventReceiver,
    stream_id: Option<&str>,
    on_close: Box<dyn FnOnce() + Send>,
) -> Response {
    let body = Body::from_stream(EventStream {
        rx,
        on_close: Some(on_close),
    });
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(id) = stream_id.and_then(|s| header::HeaderValue::from_str(s).ok()) {
        resp.headers_mut().insert("Mesos-Stream-Id", id);
    }
    resp
}

async fn scheduler(
    State(inner): State<Shared>,
    closer: Option<Extension<StreamCloser>>,
    Extension(FrameworkCaller(principal)): Extension<FrameworkCaller>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = check_post(&method, &headers) {
        return *r;
    }
    let mut call: Call = match parse(&body, "Call") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if call.type_ == CallType::Unknown && !names_unknown_type(&body) {
        return text(
            400,
            "Failed to validate scheduler::Call: Expecting 'type' to be present",
        );
    }
    if let Err(e) = call.validate() {
        return text(400, format!("Failed to validate scheduler::Call: {e}"));
    }
    let stream_id = headers
        .get("Mesos-Stream-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if call.type_ == CallType::Subscribe {
        if let (Some(p), Some(sub)) = (&principal, call.subscribe.as_mut()) {
            // Mesos' order and words: a FrameworkInfo naming another principal is invalid; one
            // naming none is given the authenticated one.
            match &sub.framework_info.principal {
                Some(fp) if fp != p => {
                    return text(
                        400,
                        format!(
                            "Failed to validate scheduler::Call: Authenticated principal '{p}' \
                             does not match principal '{fp}' set in `FrameworkInfo`"
                        ),
                    )
                }
                Some(_) => {}
                None => sub.framework_info.principal = Some(p.clone()),
            }
        }
        if !accepts_json(&headers) {
            return text(
                406,
                "Expecting 'Accept' to allow application/json or application/x-protobuf",
            );
        }
        if stream_id.is_some() {
            return text(
                400,
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            );
        }
        let closer = closer.map(|Extension(c)| c);
        let sub = match inner.with(|s| s.subscribe(now(), call, closer)) {
            Ok(sub) => sub,
            Err(e) => return text(e.status, e.message),
        };
        let (fid, sid) = (sub.framework_id.clone(), sub.stream_id.clone());
        let closer = inner.clone();
        let on_close: Box<dyn FnOnce() + Send> = Box::new(move || {
            closer.with(|s| s.framework_stream_closed(now(), &fid, &sid));
        });
        return stream_response(sub.rx, Some(&sub.stream_id), on_close);
    }
    match inner.with(|s| s.handle_call(now(), call, stream_id.as_deref(), principal.as_deref())) {
        Ok(reply) => framework_reply(reply),
        Err(e) => text(e.status, e.message),
    }
}

async fn operator(
    State(inner): State<Shared>,
    closer: Option<Extension<StreamCloser>>,
    Extension(caller): Extension<OperatorCaller>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = match operator_call(&method, &headers, &body) {
        Ok(call) => call,
        // Without the operator's token a caller gets reads and nothing else: not even a hint
        // of what was wrong with anything but a read.
        Err(_) if caller.reads_only => return operator_unauthorized(),
        Err(r) => return *r,
    };
    if caller.reads_only && !call.type_.is_read() {
        return operator_unauthorized();
    }
    if call.type_ == master::CallType::Subscribe {
        // The event stream: the state, then what changes it, until the caller goes.
        let closer = closer.map(|Extension(c)| c);
        let (id, rx) = inner.with(|s| s.operator_subscribe(now(), closer));
        let on_close: Box<dyn FnOnce() + Send> = Box::new(move || {
            inner.with(|s| s.operator_stream_closed(id));
        });
        return stream_response(rx, None, on_close);
    }
    match inner.with(|s| s.operator_call(now(), call)) {
        Ok(crate::state::OperatorReply::Json(resp)) => json_response(StatusCode::OK, &resp),
        Ok(crate::state::OperatorReply::Ok) => StatusCode::OK.into_response(),
        Ok(crate::state::OperatorReply::Accepted) => StatusCode::ACCEPTED.into_response(),
        Err(e) => text(e.status, e.message),
    }
}

fn operator_unauthorized() -> Response {
    unauthorized(
        "Bearer",
        crate::auth::realm::READWRITE,
        "",
        "without the operator's token (Authorization: Bearer) only GET_* calls are served",
    )
}

/// The operator call in a request, after the checks Mesos makes in its order.
fn operator_call(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<master::Call, Box<Response>> {
    check_post(method, headers)?;
    if !accepts_json(headers) {
        return Err(Box::new(text(
            406,
            "Expecting 'Accept' to allow application/json or application/x-protobuf",
        )));
    }
    let call: master::Call = parse(body, "master::Call")?;
    if call.type_ == master::CallType::Unknown && !names_unknown_type(body) {
        return Err(Box::new(text(
            400,
            "Failed to validate master::Call: Expecting 'type' to be present",
        )));
    }
    Ok(call)
}

async fn version() -> Response {
    json_response(StatusCode::OK, &crate::state::version_info())
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn agent_state(State((inner, agent)): State<AgentState>) -> Response {
    match inner.with(|s| s.agent_state_json(agent)) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => text(404, "no such agent"),
    }
}

/// The query of a `/files/*` request.
type FilesQuery = Query<std::collections::BTreeMap<String, String>>;

async fn files_read(State((inner, agent)): State<AgentState>, Query(q): FilesQuery) -> Response {
    let sandboxes = agent_sandboxes(&inner, agent);
    files_answer(move || {
        crate::files::read(
            &sandboxes,
            q.get("path").map(String::as_str),
            q.get("offset").map(String::as_str),
            q.get("length").map(String::as_str),
        )
    })
    .await
}

async fn files_browse(State((inner, agent)): State<AgentState>, Query(q): FilesQuery) -> Response {
    let sandboxes = agent_sandboxes(&inner, agent);
    files_answer(move || crate::files::browse(&sandboxes, q.get("path").map(String::as_str))).await
}

/// The directory an agent's sandboxes live in (`agents/<i>/slaves`).
fn agent_sandboxes(inner: &Shared, agent: usize) -> std::path::PathBuf {
    inner
        .cfg
        .work_dir
        .join("agents")
        .join(agent.to_string())
        .join("slaves")
}

/// Runs a file system read off the async threads and answers with its JSON or its refusal.
async fn files_answer(
    f: impl FnOnce() -> Result<serde_json::Value, crate::files::Refusal> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(doc)) => json_response(StatusCode::OK, &doc),
        Ok(Err((status, message))) => text(status, message),
        Err(e) => text(500, format!("reading the sandbox: {e}")),
    }
}

async fn state(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| s.state_json());
    json_response(StatusCode::OK, &doc)
}

async fn state_summary(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| s.state_summary_json());
    json_response(StatusCode::OK, &doc)
}

/// Query parameters of a v0 read (`?slave_id=...`).
type V0Query = Query<std::collections::BTreeMap<String, String>>;

async fn slaves(State(inner): State<Shared>, Query(q): V0Query) -> Response {
    let doc = inner.with(|s| s.slaves_json(q.get("slave_id").map(String::as_str)));
    json_response(StatusCode::OK, &doc)
}

async fn frameworks(State(inner): State<Shared>, Query(q): V0Query) -> Response {
    let doc = inner.with(|s| s.frameworks_json(q.get("framework_id").map(String::as_str)));
    json_response(StatusCode::OK, &doc)
}

async fn tasks(State(inner): State<Shared>, Query(q): V0Query) -> Response {
    match crate::state::TasksQuery::parse(&q) {
        Ok(q) => json_response(StatusCode::OK, &inner.with(|s| s.tasks_json(&q))),
        Err(e) => text(400, e),
    }
}

async fn roles(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| s.roles_json());
    json_response(StatusCode::OK, &doc)
}

async fn flags(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| s.flags_json());
    json_response(StatusCode::OK, &doc)
}

/// The leading master is this one: 307 to itself, `//host:port` with no scheme, as Mesos
/// answers (a client keeps its own scheme).
async fn redirect(State(inner): State<Shared>) -> Response {
    let location = inner.with(|s| {
        let info = s.master_info();
        format!("//{}:{}", info.hostname.unwrap_or_default(), info.port)
    });
    let mut resp = StatusCode::TEMPORARY_REDIRECT.into_response();
    if let Ok(v) = header::HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn metrics(State(inner): State<Shared>) -> Response {
    let queue = inner.queue();
    let doc = inner.with(|s| s.metrics_snapshot(now(), queue));
    json_response(StatusCode::OK, &doc)
}

async fn agents(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| s.agents_json());
    json_response(StatusCode::OK, &doc)
}

async fn add_agent(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| {
        let i = s.add_agent(now());
        serde_json::json!({"index": i, "id": s.agents[i].id.value})
    });
    json_response(StatusCode::OK, &doc)
}

async fn agent_action(
    State(inner): State<Shared>,
    Path((agent, action)): Path<(String, String)>,
) -> Response {
    let result = inner.with(|s| {
        let now = now();
        let Some(i) = s.find_agent(&agent) else {
            return Err((
                404,
                format!("no agent '{agent}' (give its index, id or hostname)"),
            ));
        };
        match action.as_str() {
            "stop" => s.stop_agent(now, i),
            "restart" => s.restart_agent(now, i),
            "lose" => s.lose_agent(now, i, false),
            other => {
                return Err((
                    404,
                    format!("unknown action '{other}': stop, restart or lose"),
                ))
            }
        }
        .map_err(|e| (409, e))?;
        Ok(s.agents_json())
    });
    match result {
        Ok(doc) => json_response(StatusCode::OK, &doc),
        Err((status, msg)) => text(status, msg),
    }
}

async fn executor_api(
    State((inner, agent)): State<AgentState>,
    closer: Option<Extension<StreamCloser>>,
    Extension(caller): Extension<ExecutorCaller>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = check_post(&method, &headers) {
        return *r;
    }
    let call: executor::Call = match parse(&body, "executor::Call") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if let Err(e) = call.validate() {
        return text(400, format!("Failed to validate executor::Call: {e}"));
    }
    // The token names one executor: it may speak for that one only (Mesos checks the claims of
    // the executor's token against the call the same way, and answers 403).
    if let Err(message) = caller.check(&call) {
        return text(403, message);
    }
    let running = inner.with(|s| {
        s.agents
            .get(agent)
            .is_some_and(|a| a.status == crate::state::AgentStatus::Running)
    });
    if !running {
        return text(503, "Agent is not running");
    }
    match call.type_ {
        executor::CallType::Subscribe => {
            if !accepts_json(&headers) {
                return text(406, "Expecting 'Accept' to allow application/json");
            }
            let closer = closer.map(|Extension(c)| c);
            let result = inner.with(|s| {
                // A live executor of these ids in another container is a relaunch: the old
                // container's token does not speak for it.
                match s.live_container(agent, &call.framework_id, &call.executor_id) {
                    Some(c) if c != caller.container => {
                        return Err(format!(
                            "Executor '{}' of framework '{}' runs in another container",
                            call.executor_id, call.framework_id
                        ))
                    }
                    _ => {}
                }
                s.executor_subscribe(now(), agent, &call, closer)
                    .map(|(conn, rx)| {
                        let container = s
                            .live_container(agent, &call.framework_id, &call.executor_id)
                            .unwrap_or_default();
                        (conn, rx, container)
                    })
            });
            match result {
                Ok((conn, rx, container)) => {
                    let closer = inner.clone();
                    let on_close: Box<dyn FnOnce() + Send> = Box::new(move || {
                        closer.with(|s| s.executor_stream_closed(agent, &container, conn));
                    });
                    stream_response(rx, None, on_close)
                }
                Err(message) => {
                    // An executor the agent does not know has no business running: it is told
                    // to shut down, which kills what it still runs.
                    tracing::warn!("{message}: telling it to shut down");
                    let (tx, rx) = stream::channel("an unknown executor", usize::MAX, None);
                    let _ = tx.send(Bytes::from(cairn_proto::recordio::encode_json(
                        &executor::Event::shutdown(),
                    )));
                    drop(tx);
                    stream_response(rx, None, Box::new(|| {}))
                }
            }
        }
        executor::CallType::Update => {
            let Some(update) = call.update else {
                return text(400, "Expecting 'update' to be present");
            };
            let done = inner.with(|s| {
                caller.owns(s, agent, Some(&update.status.task_id))?;
                s.executor_update(
                    now(),
                    agent,
                    &call.framework_id,
                    &call.executor_id,
                    update.status,
                );
                Ok::<(), String>(())
            });
            match done {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(message) => text(403, message),
            }
        }
        executor::CallType::Message => {
            let data = call.message.map(|m| m.data).unwrap_or_default();
            let done = inner.with(|s| {
                caller.owns(s, agent, None)?;
                s.executor_message(agent, &call.framework_id, &call.executor_id, data);
                Ok::<(), String>(())
            });
            match done {
                Ok(()) => StatusCode::ACCEPTED.into_response(),
                Err(message) => text(403, message),
            }
        }
        executor::CallType::Heartbeat => StatusCode::ACCEPTED.into_response(),
        executor::CallType::Unknown => text(501, "Received an unknown call type"),
    }
}

impl ExecutorCaller {
    /// The caller as Mesos prints an executor's principal: its token's claims.
    fn principal(&self) -> String {
        format!(
            "{{\"claims\":{{\"cid\":\"{}\",\"eid\":\"{}\",\"fid\":\"{}\"}}}}",
            self.container, self.executor_id, self.framework_id
        )
    }

    /// That the caller's container is the executor's active one (a relaunched executor's old
    /// container does not speak for the new one), and that `task`, when the agent knows it,
    /// is one of the caller's own tasks: a token must not reach another executor's tasks by
    /// naming them.
    fn owns(
        &self,
        s: &crate::state::ClusterState,
        agent: usize,
        task: Option<&cairn_proto::TaskId>,
    ) -> Result<(), String> {
        let active = s.live_container(agent, &self.framework_id, &self.executor_id);
        if active.is_some_and(|c| c != self.container) {
            return Err(format!(
                "Authenticated principal '{}' does not contain a 'cid' claim with the correct \
                 active ContainerID",
                self.principal()
            ));
        }
        if let Some(task) = task {
            match s.task_container(agent, &self.framework_id, task) {
                Some(c) if c != self.container => {
                    return Err(format!(
                        "Authenticated principal '{}' may not update task '{task}', which is not \
                         a task of executor '{}'",
                        self.principal(),
                        self.executor_id
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the call is this executor's own, in Mesos' words when it is not.
    fn check(&self, call: &executor::Call) -> Result<(), String> {
        let principal = self.principal();
        if call.framework_id != self.framework_id {
            return Err(format!(
                "Authenticated principal '{principal}' does not contain an 'fid' claim with \
                 the framework ID {}, which is set in the call",
                call.framework_id
            ));
        }
        if call.executor_id != self.executor_id {
            return Err(format!(
                "Authenticated principal '{principal}' does not contain an 'eid' claim with \
                 the executor ID {}, which is set in the call",
                call.executor_id
            ));
        }
        Ok(())
    }
}
