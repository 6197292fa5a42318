//! HTTP: the master's scheduler, operator, state and fault-injection endpoints, and each
//! agent's executor endpoint. Handlers check the request the way Mesos does, in its order, and
//! hand the call to the state under the lock.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Extension;
use axum::Router;
use cairn_proto::scheduler::{Call, CallType};
use cairn_proto::{executor, master};
use futures_util::Stream;

use crate::cluster::Inner;
use crate::serve::StreamCloser;
use crate::state::framework_reply;
use crate::stream::{self, EventReceiver, StreamCut};

type Shared = Arc<Inner>;

pub(crate) fn master_router(inner: Shared) -> Router {
    Router::new()
        .route("/api/v1/scheduler", any(scheduler))
        .route("/master/api/v1/scheduler", any(scheduler))
        .route("/api/v1", any(operator))
        .route("/api/v1/operator", any(operator))
        .route("/master/api/v1", any(operator))
        .route("/version", get(version))
        .route("/master/version", get(version))
        .route("/health", get(health))
        .route("/master/health", get(health))
        .route("/state", get(state))
        .route("/master/state", get(state))
        .route("/state.json", get(state))
        .route("/master/state.json", get(state))
        .route("/cluster/agents", get(agents).post(add_agent))
        .route("/cluster/agents/{agent}/{action}", post(agent_action))
        .with_state(inner)
}

pub(crate) fn agent_router(inner: Shared, agent: usize) -> Router {
    Router::new()
        .route("/api/v1/executor", any(executor_api))
        .route("/health", get(health))
        .with_state((inner, agent))
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
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = check_post(&method, &headers) {
        return *r;
    }
    let call: Call = match parse(&body, "Call") {
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
        let sub = match inner.with(|s| s.subscribe(call, closer)) {
            Ok(sub) => sub,
            Err(e) => return text(e.status, e.message),
        };
        let (fid, sid) = (sub.framework_id.clone(), sub.stream_id.clone());
        let closer = inner.clone();
        let on_close: Box<dyn FnOnce() + Send> = Box::new(move || {
            closer.with(|s| s.framework_stream_closed(&fid, &sid));
        });
        return stream_response(sub.rx, Some(&sub.stream_id), on_close);
    }
    match inner.with(|s| s.handle_call(call, stream_id.as_deref())) {
        Ok(reply) => framework_reply(reply),
        Err(e) => text(e.status, e.message),
    }
}

async fn operator(
    State(inner): State<Shared>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = check_post(&method, &headers) {
        return *r;
    }
    if !accepts_json(&headers) {
        return text(
            406,
            "Expecting 'Accept' to allow application/json or application/x-protobuf",
        );
    }
    let call: master::Call = match parse(&body, "master::Call") {
        Ok(c) => c,
        Err(r) => return *r,
    };
    if call.type_ == master::CallType::Unknown && !names_unknown_type(&body) {
        return text(
            400,
            "Failed to validate master::Call: Expecting 'type' to be present",
        );
    }
    match inner.with(|s| s.operator_call(call)) {
        Ok(crate::state::OperatorReply::Json(resp)) => json_response(StatusCode::OK, &resp),
        Ok(crate::state::OperatorReply::Ok) => StatusCode::OK.into_response(),
        Ok(crate::state::OperatorReply::Accepted) => StatusCode::ACCEPTED.into_response(),
        Err(e) => text(e.status, e.message),
    }
}

async fn version() -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({
            "version": cairn_proto::MESOS_VERSION,
            "build_date": "",
            "build_time": 0,
            "build_user": "cairn",
            "git_sha": env!("CARGO_PKG_VERSION"),
        }),
    )
}

async fn health() -> StatusCode {
    StatusCode::OK
}

async fn state(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| s.state_json());
    json_response(StatusCode::OK, &doc)
}

async fn agents(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| s.agents_json());
    json_response(StatusCode::OK, &doc)
}

async fn add_agent(State(inner): State<Shared>) -> Response {
    let doc = inner.with(|s| {
        let i = s.add_agent();
        serde_json::json!({"index": i, "id": s.agents[i].id.value})
    });
    json_response(StatusCode::OK, &doc)
}

async fn agent_action(
    State(inner): State<Shared>,
    Path((agent, action)): Path<(String, String)>,
) -> Response {
    let result = inner.with(|s| {
        let Some(i) = s.find_agent(&agent) else {
            return Err((
                404,
                format!("no agent '{agent}' (give its index, id or hostname)"),
            ));
        };
        match action.as_str() {
            "stop" => s.stop_agent(i),
            "restart" => s.restart_agent(i),
            "lose" => s.lose_agent(i, false),
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
    State((inner, agent)): State<(Shared, usize)>,
    closer: Option<Extension<StreamCloser>>,
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
                s.executor_subscribe(agent, &call, closer)
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
            inner.with(|s| {
                s.executor_update(agent, &call.framework_id, &call.executor_id, update.status)
            });
            StatusCode::ACCEPTED.into_response()
        }
        executor::CallType::Message => {
            let data = call.message.map(|m| m.data).unwrap_or_default();
            inner.with(|s| s.executor_message(agent, &call.framework_id, &call.executor_id, data));
            StatusCode::ACCEPTED.into_response()
        }
        executor::CallType::Heartbeat => StatusCode::ACCEPTED.into_response(),
        executor::CallType::Unknown => text(501, "Received an unknown call type"),
    }
}
