//! The Mesos v1 scheduler HTTP client: SUBSCRIBE on a dedicated connection whose RecordIO
//! event stream is decoded as it arrives, and every other call on separate connections carrying
//! the stream's `Mesos-Stream-Id`.
//!
//! It speaks the protocol and decides nothing: what to call and when is the scheduler's
//! business, reconnecting is the [driver](crate::driver)'s. What it does handle is what any
//! master may answer: `307` to the leading master (its `Location` is protocol-relative,
//! `//host:port/path`; the client follows it and keeps talking to the leader afterwards) and
//! `503` while a master has no leader or is recovering (retried a few times with backoff).
//! With a [credential](Client::with_credential), every request carries it as HTTP Basic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn_cluster::auth::Credential;
use cairn_proto::master;
use cairn_proto::scheduler::{Call, Event};
use cairn_proto::{DecodeError, Decoder, FrameworkInfo};
use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{StatusCode, Url};
use tokio::sync::mpsc;

/// Mesos compares the media type exactly: no `; charset=` suffix.
const JSON: &str = "application/json";
const STREAM_ID: &str = "Mesos-Stream-Id";
const SCHEDULER_PATH: &str = "/api/v1/scheduler";
/// The master's operator API (reads: what it holds, for the takeover check and agent removals).
const OPERATOR_PATH: &str = "/api/v1";
/// The Mesos docs suggest about 75 s for a call; a master answers at once (202) or not at all.
const CALL_TIMEOUT: Duration = Duration::from_secs(75);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// A chain of redirects longer than this is a loop between confused masters.
const MAX_REDIRECTS: usize = 5;
/// Waits between retries of a `503`: about 4 s in all, then the caller decides.
const RETRY_503: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
/// Events buffered between the stream reader and the driver. When full, the reader stops
/// reading and TCP pushes back on the master, which is what Mesos expects of a slow scheduler.
const EVENT_BUFFER: usize = 1024;

/// What went wrong talking to a Mesos master.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MesosError {
    /// The request did not get an HTTP answer (connection refused, reset, timed out).
    #[error("{context}")]
    Http {
        /// What the client was doing.
        context: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The master answered with an error status (Mesos puts the reason in a plain-text body).
    #[error("{context}: the master answered {code}: {body}")]
    Status {
        /// What the client was doing.
        context: String,
        /// The HTTP status code.
        code: u16,
        /// The body, trimmed.
        body: String,
    },
    /// The event stream is not RecordIO of `Event` JSON, or a response broke the protocol.
    #[error("decoding the event stream from {master}")]
    Decode {
        /// The master's URL.
        master: String,
        /// The cause.
        #[source]
        source: DecodeError,
    },
    /// The master answered in a way the protocol does not allow (e.g. no stream id).
    #[error("{0}")]
    Protocol(String),
    /// The event stream ended.
    #[error("the event stream from {master} ended")]
    Disconnected {
        /// The master's URL.
        master: String,
    },
    /// The master requires a framework credential and did not accept the one sent (or none
    /// was sent). Retrying cannot help.
    #[error(
        "{context}: the master refused {} (401 Unauthorized); a `cairn cluster` keeps framework \
         credentials in <work-dir>/credentials (give it with --credentials FILE), a Mesos master \
         takes the service principal's secret (--secret-file FILE)",
        match principal { Some(p) => format!("the credential of principal '{p}'"), None => "a framework without a credential".to_string() }
    )]
    Unauthenticated {
        /// What the client was doing.
        context: String,
        /// The principal whose credential was sent, if any.
        principal: Option<String>,
    },
}

impl MesosError {
    /// Whether trying again later may succeed: no answer at all, or a master that is not
    /// ready (5xx). A refusal (4xx) or an answer that breaks the protocol will not change.
    pub fn is_transient(&self) -> bool {
        match self {
            MesosError::Http { .. } | MesosError::Disconnected { .. } => true,
            MesosError::Status { code, .. } => *code >= 500,
            MesosError::Decode { .. }
            | MesosError::Protocol(_)
            | MesosError::Unauthenticated { .. } => false,
        }
    }
}

/// A Mesos v1 scheduler API client. Cheap to clone; clones share the connection pool, the
/// current leader's address and the current stream id.
#[derive(Clone)]
pub struct Client {
    calls: reqwest::Client,
    shared: Arc<Mutex<Shared>>,
    /// The framework's credential, sent as HTTP Basic on every request.
    credential: Option<Credential>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("master", &self.master())
            .field("credential", &self.credential)
            .finish()
    }
}

#[derive(Debug)]
struct Shared {
    /// `http://host:port` of the master last known to lead.
    master: Url,
    stream_id: Option<String>,
}

/// The events of one subscription, in the order the master sent them. The stream's end (or a
/// broken connection) arrives as one final `Err`, then `None`.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<Result<Event, MesosError>>,
}

impl Events {
    /// The next event; `None` once the stream is over and its error has been delivered.
    pub async fn recv(&mut self) -> Option<Result<Event, MesosError>> {
        self.rx.recv().await
    }

    /// The next event if one has arrived already; `None` when none has (or the stream is over:
    /// `recv` then says so).
    pub fn try_recv(&mut self) -> Option<Result<Event, MesosError>> {
        self.rx.try_recv().ok()
    }
}

impl Client {
    /// A client of the master at `master` (`http://host:5050`; a path is ignored).
    pub fn new(master: &str) -> Result<Client, MesosError> {
        let url = Url::parse(master)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                MesosError::Protocol(format!(
                    "`{master}` is not a master URL (expected http://host:port)"
                ))
            })?;
        let calls = cairn_cluster::http_client::build_plain(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(CALL_TIMEOUT)
        })
        .map_err(|source| MesosError::Http {
            context: "building the HTTP client".into(),
            source,
        })?;
        Ok(Client {
            calls,
            shared: Arc::new(Mutex::new(Shared {
                master: origin(&url),
                stream_id: None,
            })),
            credential: None,
        })
    }

    /// The same client, authenticating every request with `credential` (HTTP Basic, as a
    /// Mesos master with `--authenticate_http_frameworks` expects).
    pub fn with_credential(mut self, credential: Credential) -> Client {
        self.credential = Some(credential);
        self
    }

    /// The principal this client authenticates as, if any.
    pub fn principal(&self) -> Option<&str> {
        self.credential.as_ref().map(|c| c.principal.as_str())
    }

    /// The master the client talks to now (`http://host:port`): the one it was given, or the
    /// leader a redirect named since.
    pub fn master(&self) -> String {
        self.lock()
            .master
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// The stream id of the latest subscription, if any.
    pub fn stream_id(&self) -> Option<String> {
        self.lock().stream_id.clone()
    }

    /// Subscribes (a new framework when `framework_info.id` is unset, else re-subscribes it)
    /// on a connection of its own, and returns the stream id and the events. The first event
    /// is SUBSCRIBED, or ERROR when the master refuses.
    pub async fn subscribe(
        &self,
        framework_info: FrameworkInfo,
    ) -> Result<(String, Events), MesosError> {
        // A client per subscription: the stream holds its connection for as long as it lives,
        // and nothing else may queue behind it. No overall timeout, which would cut the stream;
        // the driver's heartbeat watchdog notices a silent one.
        let http = cairn_cluster::http_client::build_plain(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_keepalive(Duration::from_secs(15))
                .pool_max_idle_per_host(0)
        })
        .map_err(|source| MesosError::Http {
            context: "building the HTTP client".into(),
            source,
        })?;
        let call = Call::subscribe(framework_info);
        let response = self.post(&http, &call, None, "SUBSCRIBE").await?;
        let master = self.master();
        let stream_id = response
            .headers()
            .get(STREAM_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                MesosError::Protocol(format!(
                    "SUBSCRIBE to {master}: the answer has no {STREAM_ID} header"
                ))
            })?;
        self.lock().stream_id = Some(stream_id.clone());
        let (tx, rx) = mpsc::channel(EVENT_BUFFER);
        tokio::spawn(read_stream(response, master, tx));
        Ok((stream_id, Events { rx }))
    }

    /// Sends `call` with the latest subscription's stream id.
    pub async fn call(&self, call: &Call) -> Result<(), MesosError> {
        let stream_id = self.stream_id().ok_or_else(|| {
            MesosError::Protocol(format!(
                "{} before SUBSCRIBE: there is no stream id to send",
                call.type_
            ))
        })?;
        self.call_on(&stream_id, call).await
    }

    /// Sends `call` as part of subscription `stream_id`. A call made for a subscription that
    /// has since been replaced is refused by the master (400), which is the point: offers and
    /// the like of an old subscription mean nothing in the new one.
    pub async fn call_on(&self, stream_id: &str, call: &Call) -> Result<(), MesosError> {
        let context = call.type_.to_string();
        let response = self
            .post(&self.calls, call, Some(stream_id), &context)
            .await?;
        // 202 for almost every call, 200 with a body for UPDATE_FRAMEWORK; the body means
        // nothing to us, but reading it returns the connection to the pool.
        let _ = response.bytes().await;
        Ok(())
    }

    /// POSTs a scheduler `call`, following redirects to the leader and retrying `503`s; any
    /// other status but 200/202 is an error.
    async fn post(
        &self,
        http: &reqwest::Client,
        call: &Call,
        stream_id: Option<&str>,
        what: &str,
    ) -> Result<reqwest::Response, MesosError> {
        self.post_json(http, SCHEDULER_PATH, call, stream_id, what)
            .await
    }

    /// POSTs `call` as JSON to `path` on the master we know as leader, following redirects
    /// to the leader and retrying `503`s, with the framework's credential when it has one
    /// (reads are open on loopback; a master elsewhere may authenticate them too); any other
    /// status but 200/202 is an error.
    async fn post_json(
        &self,
        http: &reqwest::Client,
        path: &str,
        call: &impl serde::Serialize,
        stream_id: Option<&str>,
        what: &str,
    ) -> Result<reqwest::Response, MesosError> {
        let body = serde_json::to_vec(call).map_err(|e| {
            MesosError::Protocol(format!("{what}: the call does not serialise: {e}"))
        })?;
        let mut redirects = 0;
        let mut retries = RETRY_503.iter();
        loop {
            let url = self
                .lock()
                .master
                .join(path)
                .expect("a path joins onto an http origin");
            let mut request = http
                .post(url.clone())
                .header(CONTENT_TYPE, JSON)
                .header(ACCEPT, JSON)
                .body(body.clone());
            if let Some(c) = &self.credential {
                request = request.header(AUTHORIZATION, c.authorization());
            }
            if let Some(id) = stream_id {
                let value = HeaderValue::from_str(id).map_err(|_| {
                    MesosError::Protocol(format!("stream id `{id}` is not a header value"))
                })?;
                request = request.header(STREAM_ID, value);
            }
            let response = request.send().await.map_err(|source| MesosError::Http {
                context: format!("{what} to {url}"),
                source,
            })?;
            let status = response.status();
            match status {
                StatusCode::OK | StatusCode::ACCEPTED => return Ok(response),
                StatusCode::TEMPORARY_REDIRECT
                | StatusCode::PERMANENT_REDIRECT
                | StatusCode::FOUND
                | StatusCode::MOVED_PERMANENTLY
                | StatusCode::SEE_OTHER
                    if redirects < MAX_REDIRECTS =>
                {
                    redirects += 1;
                    let leader =
                        leader_from(&url, response.headers().get(LOCATION)).ok_or_else(|| {
                            MesosError::Protocol(format!(
                                "{what} to {url}: {status} without a usable Location"
                            ))
                        })?;
                    tracing::info!("{what}: {url} redirects to the leading master {leader}");
                    self.lock().master = leader;
                }
                StatusCode::SERVICE_UNAVAILABLE => match retries.next() {
                    Some(wait) => {
                        tracing::debug!("{what} to {url}: 503, retrying in {wait:?}");
                        tokio::time::sleep(*wait).await;
                    }
                    None => return Err(status_error(what, &url, response).await),
                },
                StatusCode::UNAUTHORIZED => {
                    return Err(MesosError::Unauthenticated {
                        context: format!("{what} to {url}"),
                        principal: self.principal().map(str::to_string),
                    })
                }
                _ => return Err(status_error(what, &url, response).await),
            }
        }
    }

    /// The operator API's GET_STATE: the master's frameworks, agents, tasks and executors, in
    /// one consistent answer (the takeover check's input).
    pub async fn get_state(&self) -> Result<master::GetState, MesosError> {
        let response = self
            .operator(&master::Call::new(master::CallType::GetState))
            .await?;
        response
            .get_state
            .ok_or_else(|| MesosError::Protocol("GET_STATE: the answer has no `get_state`".into()))
    }

    /// The operator API's GET_AGENTS: the registered agents and what each holds.
    pub async fn get_agents(&self) -> Result<master::GetAgents, MesosError> {
        let response = self
            .operator(&master::Call::new(master::CallType::GetAgents))
            .await?;
        response.get_agents.ok_or_else(|| {
            MesosError::Protocol("GET_AGENTS: the answer has no `get_agents`".into())
        })
    }

    /// One read of the operator API (`POST /api/v1`, JSON), following redirects to the leader
    /// and retrying `503`s as scheduler calls do. No stream id: reads need no subscription.
    pub async fn operator(&self, call: &master::Call) -> Result<master::Response, MesosError> {
        let what = format!("{:?}", call.type_);
        let response = self
            .post_json(&self.calls, OPERATOR_PATH, call, None, &what)
            .await?;
        let url = response.url().clone();
        let bytes = response.bytes().await.map_err(|source| MesosError::Http {
            context: format!("reading the answer to {what} from {url}"),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|e| {
            MesosError::Protocol(format!(
                "{what} to {url}: the answer is not an operator response: {e}"
            ))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // The guarded values are replaced whole; a panic elsewhere cannot leave them torn.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads the SUBSCRIBE response until it ends or the receiver goes away.
async fn read_stream(
    mut response: reqwest::Response,
    master: String,
    tx: mpsc::Sender<Result<Event, MesosError>>,
) {
    let mut decoder = Decoder::new();
    let end = loop {
        let chunk = tokio::select! {
            chunk = response.chunk() => chunk,
            // The driver dropped the stream (heartbeats stopped, or it is stopping): dropping
            // the response closes the connection, which tells the master we are gone.
            () = tx.closed() => return,
        };
        match chunk {
            Ok(Some(bytes)) => match decoder.feed_json::<Event>(&bytes) {
                Ok(events) => {
                    for event in events {
                        if tx.send(Ok(event)).await.is_err() {
                            return;
                        }
                    }
                }
                Err(source) => {
                    break MesosError::Decode {
                        master: master.clone(),
                        source,
                    }
                }
            },
            Ok(None) => break MesosError::Disconnected { master },
            Err(source) => {
                break MesosError::Http {
                    context: format!("reading the event stream from {master}"),
                    source,
                }
            }
        }
    };
    let _ = tx.send(Err(end)).await;
}

async fn status_error(what: &str, url: &Url, response: reqwest::Response) -> MesosError {
    let code = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    MesosError::Status {
        context: format!("{what} to {url}"),
        code,
        body: body.trim().chars().take(1000).collect(),
    }
}

/// The leader's origin from a redirect's `Location`: Mesos writes `//host:port/path`, which
/// takes the scheme of the request.
fn leader_from(request: &Url, location: Option<&HeaderValue>) -> Option<Url> {
    let location = location?.to_str().ok()?;
    let target = request.join(location).ok()?;
    target.host()?;
    Some(origin(&target))
}

fn origin(url: &Url) -> Url {
    let mut o = url.clone();
    o.set_path("/");
    o.set_query(None);
    o.set_fragment(None);
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_protocol_relative_location_names_the_leader_with_the_request_scheme() {
        let request = Url::parse("http://10.0.0.1:5050/api/v1/scheduler").unwrap();
        let location = HeaderValue::from_static("//10.0.0.2:5050/api/v1/scheduler");
        let leader = leader_from(&request, Some(&location)).unwrap();
        assert_eq!(leader.as_str(), "http://10.0.0.2:5050/");
    }

    #[test]
    fn a_client_refuses_a_master_that_is_not_an_http_url() {
        assert!(Client::new("127.0.0.1:5050").is_err());
        assert!(Client::new("zk://127.0.0.1:2181/mesos").is_err());
        let c = Client::new("http://127.0.0.1:5050/some/path").unwrap();
        assert_eq!(c.master(), "http://127.0.0.1:5050");
    }
}
