//! Serving HTTP with limits a client cannot outwait: a request's head and its body must each
//! arrive within a timeout, a server holds a bounded number of connections, and an event stream
//! whose reader fell too far behind can have its connection closed (see [`StreamCloser`]).
//!
//! Every HTTP server cairn runs goes through [`serve`]: the master, each agent and the
//! scheduler's API. Streaming *responses* are not timed: a SUBSCRIBE stream lives as long as
//! its client reads it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};

/// The largest request body any cairn server reads: axum's own default for its extractors,
/// kept here because bodies are now read before the handler runs.
pub(crate) const MAX_REQUEST_BODY: usize = 2 * 1024 * 1024;

/// How long a client may take to send a request, and how many connections one server holds.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// A request's line and headers must arrive within this, counted from when the connection
    /// is ready for the next request (so an idle keep-alive connection is closed after it too,
    /// as most servers do; clients open a new one).
    pub header_timeout: Duration,
    /// A request's whole body must arrive within this, counted from the end of its headers.
    pub body_timeout: Duration,
    /// Connections served at once; more wait in the kernel's accept queue until one closes.
    pub max_connections: usize,
}

impl Default for RequestLimits {
    /// Ten seconds for a head and for a body (loopback sends a 2 MB body in milliseconds), and
    /// 4096 connections: room for a thousand pods' executors on one agent, well inside the
    /// usual file descriptor limit.
    fn default() -> Self {
        RequestLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Closes the connection a request came in on. Every request served by [`serve`] carries one
/// in its extensions: a handler that answers with an event stream keeps it, so the stream can
/// be cut off when its reader falls too far behind, even while the connection waits for that
/// reader to take what was already written.
#[derive(Clone, Default)]
pub(crate) struct StreamCloser(Arc<Notify>);

impl StreamCloser {
    /// Closes the connection at once; the response being sent on it is dropped.
    pub(crate) fn close(&self) {
        self.0.notify_one();
    }
}

/// Serves `app` on `listener` until `shutdown` completes (connections then finish what they
/// are doing), with `limits` applied to every connection and request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: RequestLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits,
        read_body_in_time,
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Dropping the receiver tells every connection to finish gracefully.
    let (stop_tx, stop_rx) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    if !is_connection_error(&e) {
                        // Out of file descriptors, most likely: give connections time to close.
                        tracing::error!("accepting a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    continue;
                }
            },
        };
        let closer = StreamCloser::default();
        // The peer's address goes with every request: whether it is on loopback decides what
        // a caller without credentials may read.
        let service = TowerToHyperService::new(
            app.clone()
                .layer(Extension(closer.clone()))
                .layer(Extension(ConnectInfo(peer))),
        );
        let stopped = stop_tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = Builder::new(TokioExecutor::new()).http1_only();
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            let mut stopping = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!("connection ended: {e}");
                        }
                        break;
                    }
                    // Dropping the connection closes the socket and drops the response.
                    _ = closer.0.notified() => break,
                    _ = stopped.closed(), if !stopping => {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        });
    }
    drop(listener);
    drop(stop_rx);
}

fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}

/// Reads the whole request body before the handler runs, within the body timeout. A body that
/// does not arrive in time is answered 408 and its connection closed.
async fn read_body_in_time(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_REQUEST_BODY} bytes"),
        );
    }
    let read = axum::body::to_bytes(body, MAX_REQUEST_BODY);
    match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(e)) => refuse(
            StatusCode::BAD_REQUEST,
            format!("reading the request body: {e}"),
        ),
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {:?}",
                limits.body_timeout
            ),
        ),
    }
}

/// A refusal after which the connection is not reused: what is left of the body on it is junk.
fn refuse(status: StatusCode, message: String) -> Response {
    (
        status,
        [
            (header::CONNECTION, "close"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        message,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn start(limits: RequestLimits) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().route("/", get(|| async { "hello" }));
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        addr
    }

    /// Sends a GET on `conn` and reads the first bytes of the answer; `None` if none came
    /// within `within`.
    async fn get_on(conn: &mut TcpStream, within: Duration) -> Option<String> {
        conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        match tokio::time::timeout(within, conn.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_connection_past_the_cap_waits_until_another_closes() {
        let addr = start(RequestLimits {
            max_connections: 1,
            ..RequestLimits::default()
        })
        .await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        let answer = get_on(&mut first, Duration::from_secs(10)).await;
        assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
        // The kernel accepts the second connection, the server does not serve it yet.
        let mut second = TcpStream::connect(addr).await.unwrap();
        assert_eq!(get_on(&mut second, Duration::from_millis(500)).await, None);
        drop(first);
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(10), second.read(&mut buf))
            .await
            .expect("served once the first connection closed")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn a_half_sent_request_is_cut_off_after_the_header_timeout_and_whole_ones_are_answered() {
        let addr = start(RequestLimits {
            header_timeout: Duration::from_millis(300),
            ..RequestLimits::default()
        })
        .await;
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(10), idle.read(&mut buf))
            .await
            .expect("the half-sent request is cut off")
            .unwrap_or(0);
        assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&buf[..n]));
        let mut busy = TcpStream::connect(addr).await.unwrap();
        for _ in 0..3 {
            let answer = get_on(&mut busy, Duration::from_secs(10)).await;
            assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
        }
    }
}
