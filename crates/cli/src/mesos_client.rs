//! A small Mesos v1 scheduler client over HTTP: SUBSCRIBE on a dedicated connection whose
//! RecordIO event stream is decoded as it arrives, and calls (ACCEPT, ACKNOWLEDGE, TEARDOWN, ...)
//! on other connections carrying the stream id. Plus one-shot operator API calls.
//!
//! It is deliberately thin: it speaks the protocol and nothing else, so that what uses it (the
//! cluster benchmark) decides what to launch and when.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::{bail, Context};
use cairn_cluster::auth::Credential;
use cairn_proto::scheduler::{Call, Event, EventType};
use cairn_proto::{Decoder, FrameworkId, FrameworkInfo};

/// Mesos requires the exact media type, without parameters.
const JSON: &str = "application/json";
const STREAM_ID: &str = "Mesos-Stream-Id";
/// A call is answered at once (202 or 200); this only guards against a wedged master.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The calls side of a subscribed framework. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct SchedulerClient {
    http: reqwest::Client,
    url: String,
    framework_id: FrameworkId,
    stream_id: String,
    /// The framework's credential as an `Authorization` value, sent with every call.
    authorization: Option<String>,
}

/// The SUBSCRIBE response: the framework's events, in order, as the master writes them.
pub struct EventStream {
    response: reqwest::Response,
    decoder: Decoder,
    ready: VecDeque<Event>,
}

impl SchedulerClient {
    /// Subscribes a new framework (or re-subscribes one whose `info.id` is set) and waits for
    /// SUBSCRIBED, which is consumed here: the stream returned starts after it.
    /// With a `credential`, every request authenticates with it (HTTP Basic).
    pub async fn subscribe(
        http: reqwest::Client,
        master: &str,
        info: FrameworkInfo,
        credential: Option<&Credential>,
    ) -> anyhow::Result<(SchedulerClient, EventStream)> {
        let url = format!("{}/api/v1/scheduler", master.trim_end_matches('/'));
        let authorization = credential.map(Credential::authorization);
        let mut request = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, JSON)
            .header(reqwest::header::ACCEPT, JSON);
        if let Some(auth) = &authorization {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        let response = request
            .body(serde_json::to_vec(&Call::subscribe(info))?)
            .send()
            .await
            .with_context(|| format!("SUBSCRIBE to {url}"))?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            let body = response.text().await.unwrap_or_default();
            bail!("SUBSCRIBE to {url}: HTTP {status}: {body}");
        }
        let stream_id = response
            .headers()
            .get(STREAM_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .with_context(|| format!("SUBSCRIBE to {url}: no {STREAM_ID} header"))?;
        let mut events = EventStream {
            response,
            decoder: Decoder::new(),
            ready: VecDeque::new(),
        };
        let first = events
            .next()
            .await?
            .context("the event stream ended before SUBSCRIBED")?;
        let framework_id = match (first.type_, first.subscribed, first.error) {
            (EventType::Subscribed, Some(s), _) => s.framework_id,
            (EventType::Error, _, Some(e)) => bail!("SUBSCRIBE refused: {}", e.message),
            (other, ..) => bail!("expected SUBSCRIBED as the first event, got {other}"),
        };
        let client = SchedulerClient {
            http,
            url,
            framework_id,
            stream_id,
            authorization,
        };
        Ok((client, events))
    }

    pub fn framework_id(&self) -> &FrameworkId {
        &self.framework_id
    }

    /// Sends one call on behalf of the subscribed framework; any 2xx is success.
    pub async fn call(&self, call: &Call) -> anyhow::Result<()> {
        let mut request = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, JSON)
            .header(STREAM_ID, &self.stream_id);
        if let Some(auth) = &self.authorization {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        let response = request
            .timeout(CALL_TIMEOUT)
            .body(serde_json::to_vec(call)?)
            .send()
            .await
            .with_context(|| format!("{} call", call.type_))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            bail!("{} call: HTTP {status}: {body}", call.type_);
        }
        Ok(())
    }
}

impl EventStream {
    /// The next event; `None` once the master closed the stream cleanly.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            let Some(chunk) = self
                .response
                .chunk()
                .await
                .context("reading the event stream")?
            else {
                if !self.decoder.is_empty() {
                    bail!("the event stream ended inside a record");
                }
                return Ok(None);
            };
            let events: Vec<Event> = self
                .decoder
                .feed_json(&chunk)
                .context("decoding the event stream")?;
            self.ready.extend(events);
        }
    }
}

/// One call to the master's operator API (`POST /api/v1`), e.g. `{"type":"GET_TASKS"}`.
/// With the operator's `token` (needed for every call but `GET_*`).
pub async fn operator_call(
    http: &reqwest::Client,
    master: &str,
    token: Option<&str>,
    call: &serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let url = format!("{}/api/v1", master.trim_end_matches('/'));
    let mut request = http
        .post(&url)
        .header(reqwest::header::CONTENT_TYPE, JSON)
        .header(reqwest::header::ACCEPT, JSON);
    if let Some(token) = token {
        request = request.header(
            reqwest::header::AUTHORIZATION,
            cairn_cluster::auth::bearer_authorization(token),
        );
    }
    let response = request
        .timeout(CALL_TIMEOUT)
        .body(call.to_string())
        .send()
        .await
        .with_context(|| format!("operator call {call} to {url}"))?;
    let status = response.status();
    let body = response.text().await?;
    if !status.is_success() {
        bail!("operator call {call}: HTTP {status}: {body}");
    }
    if body.is_empty() {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_str(&body).with_context(|| format!("operator call {call}: reply {body}"))
}
