//! The executor's HTTP client for the agent's `/api/v1/executor`: one
//! streaming SUBSCRIBE at a time, and UPDATE calls posted strictly in order.

use std::time::Duration;

use cairn_proto::executor::{Call, Event};
use cairn_proto::recordio::Decoder;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use tokio::sync::mpsc;

use super::runtime::Input;

/// A SUBSCRIBE whose response headers take longer than this is given up and
/// retried: the agent answers at once when it is alive.
const SUBSCRIBE_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// One UPDATE POST; the agent answers 202 at once.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct AgentClient {
    client: reqwest::Client,
    url: String,
    /// `Authorization` of every call: the executor's token, when it has one.
    authorization: Option<String>,
}

impl std::fmt::Debug for AgentClient {
    // The token stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl AgentClient {
    pub fn new(url: String, token: Option<&str>) -> Self {
        let client = crate::http_client::build_plain(|| {
            reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                // The agent is on a loopback address; a proxy from the
                // environment must not get in the way.
                .no_proxy()
                .tcp_nodelay(true)
        })
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot build the agent HTTP client; using the default one");
            reqwest::Client::new()
        });
        AgentClient {
            client,
            url,
            authorization: token.map(crate::auth::bearer_authorization),
        }
    }

    /// A POST of `call` with the headers every call carries.
    fn request(&self, call: &Call) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .json(call);
        if let Some(auth) = &self.authorization {
            request = request.header(AUTHORIZATION, auth);
        }
        request
    }

    /// Runs subscription `generation` to its end: POSTs the SUBSCRIBE, then
    /// forwards every event of the RecordIO stream. Ends with
    /// `SubscribeFailed` or `StreamClosed`.
    pub async fn run_subscription(
        &self,
        generation: u64,
        call: Call,
        inputs: mpsc::UnboundedSender<Input>,
    ) {
        let request = self.request(&call).send();
        let mut response = match tokio::time::timeout(SUBSCRIBE_RESPONSE_TIMEOUT, request).await {
            Ok(Ok(response)) if response.status() == reqwest::StatusCode::OK => response,
            Ok(Ok(response)) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                let reason = format!("the agent answered {status}: {}", body.trim());
                let _ = inputs.send(Input::SubscribeFailed { generation, reason });
                return;
            }
            Ok(Err(error)) => {
                let reason = format!("cannot reach the agent: {error}");
                let _ = inputs.send(Input::SubscribeFailed { generation, reason });
                return;
            }
            Err(_elapsed) => {
                let reason = "the agent did not answer the SUBSCRIBE in time".to_owned();
                let _ = inputs.send(Input::SubscribeFailed { generation, reason });
                return;
            }
        };

        let mut decoder = Decoder::new();
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(error) => {
                    tracing::info!(%error, "the agent stream broke");
                    break;
                }
            };
            let records = match decoder.feed(&chunk) {
                Ok(records) => records,
                Err(error) => {
                    tracing::warn!(%error, "the agent stream is not valid RecordIO; dropping it");
                    break;
                }
            };
            for record in records {
                match serde_json::from_slice::<Event>(&record) {
                    Ok(event) => {
                        let event = Box::new(event);
                        if inputs.send(Input::Event { generation, event }).is_err() {
                            return;
                        }
                    }
                    // One event we cannot read must not cost us the stream.
                    Err(error) => tracing::warn!(%error, "unreadable event from the agent skipped"),
                }
            }
        }
        let _ = inputs.send(Input::StreamClosed { generation });
    }

    /// POSTs one call; any answer but 2xx is a failure.
    pub async fn post(&self, call: &Call) -> Result<(), String> {
        let response = self
            .request(call)
            .timeout(POST_TIMEOUT)
            .send()
            .await
            .map_err(|error| format!("cannot reach the agent: {error}"))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err(format!("the agent answered {status}: {}", body.trim()))
        }
    }
}

/// Posts calls one after another, in the order received. After a failure
/// the rest of that subscription's calls are dropped: the core re-subscribes
/// and the SUBSCRIBE carries every unacknowledged update, in order.
pub async fn run_poster(
    agent: AgentClient,
    mut calls: mpsc::UnboundedReceiver<(u64, Call)>,
    inputs: mpsc::UnboundedSender<Input>,
) {
    let mut failed_generation = None;
    while let Some((generation, call)) = calls.recv().await {
        if failed_generation == Some(generation) {
            continue;
        }
        if let Err(reason) = agent.post(&call).await {
            tracing::warn!(%reason, generation, "an update did not reach the agent");
            failed_generation = Some(generation);
            if inputs.send(Input::PostFailed { generation }).is_err() {
                return;
            }
        }
    }
}
