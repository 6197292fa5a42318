//! The driver's connection handling against a fake master that misbehaves on cue: one that goes
//! silent after SUBSCRIBED, and one that drops the stream. The scheduler inside is the real one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cairn::driver::{Driver, DriverOptions, Snapshot};
use cairn::mesos::Client;
use cairn::spec::{PodSpec, ServiceSpec, TaskSpec};
use cairn::store::MemStore;
use cairn::SchedulerConfig;
use cairn_core::scheduler::Scheduler;
use cairn_core::store::StoredState;
use cairn_proto::recordio;
use cairn_proto::scheduler::{Call, CallType, Event};
use cairn_proto::FrameworkId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};

const DEADLINE: Duration = Duration::from_secs(20);
const FRAMEWORK_ID: &str = "fake-master-0001";

/// How the fake master treats a subscription after sending SUBSCRIBED.
#[derive(Clone, Copy)]
enum AfterSubscribed {
    /// Keeps the connection open and says nothing more (a hung master or a dead network path).
    Silence,
    /// Closes the connection.
    Hangup,
}

/// Every call the fake master received, in order.
type Received = Arc<Mutex<Vec<Call>>>;

/// What the fake master's operator API answers to GET_STATE: a master holding nothing.
const EMPTY_STATE: &str = r#"{"type":"GET_STATE","get_state":{}}"#;

/// A master that accepts every call, answers SUBSCRIBE with SUBSCRIBED (heartbeat interval
/// 0.2 s) and then does what `after` says.
async fn fake_master(after: AfterSubscribed) -> (String, Received) {
    fake_master_with(after, EMPTY_STATE).await
}

/// [`fake_master`] whose GET_STATE answers `state`.
async fn fake_master_with(after: AfterSubscribed, state: &'static str) -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let received: Received = Arc::default();
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(sock, log.clone(), after, state));
        }
    });
    (url, received)
}

async fn serve(mut sock: TcpStream, log: Received, after: AfterSubscribed, state: &str) {
    // One request per connection is all the driver needs of a fake: answers close it.
    let Some((path, body)) = read_request(&mut sock).await else {
        return;
    };
    if path == "/api/v1" {
        // The operator API's GET_STATE before every SUBSCRIBE.
        let answer = state.as_bytes();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n",
            answer.len()
        );
        let _ = sock.write_all(head.as_bytes()).await;
        let _ = sock.write_all(answer).await;
        return;
    }
    let Ok(call) = serde_json::from_slice::<Call>(&body) else {
        return;
    };
    let subscribe = call.type_ == CallType::Subscribe;
    log.lock().unwrap().push(call);
    if !subscribe {
        let _ = sock
            .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        return;
    }
    let record = recordio::encode_json(&Event::subscribed(
        FrameworkId::new(FRAMEWORK_ID),
        0.2,
        None,
    ));
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmesos-stream-id: stream-{}\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n",
        log.lock().unwrap().len(),
        record.len()
    )
    .into_bytes();
    reply.extend_from_slice(&record);
    reply.extend_from_slice(b"\r\n");
    let _ = sock.write_all(&reply).await;
    match after {
        AfterSubscribed::Hangup => {}
        AfterSubscribed::Silence => {
            // Hold the connection until the client gives up on it.
            let mut buf = [0u8; 1024];
            while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
        }
    }
}

/// Reads one HTTP request: its path and body.
async fn read_request(sock: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let path = text.split(' ').nth(1)?.to_string();
                return Some((path, buf[end + 4..end + 4 + length].to_vec()));
            }
        }
    }
}

fn scheduler() -> Scheduler {
    let spec = ServiceSpec::builder("driven")
        .pod(
            PodSpec::builder("p").task(
                TaskSpec::builder("t")
                    .cmd("sleep 1000")
                    .cpus(0.1)
                    .memory_mb(32),
            ),
        )
        .build()
        .unwrap();
    Scheduler::new(
        SchedulerConfig::default(),
        spec,
        StoredState::default(),
        cairn::driver::now(),
    )
    .unwrap()
}

fn subscribes(received: &Received) -> Vec<Call> {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.type_ == CallType::Subscribe)
        .cloned()
        .collect()
}

/// Polls `cond` until it holds or the deadline passes.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Running {
    snapshots: watch::Receiver<Snapshot>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<Result<(), cairn::Error>>,
}

fn start(master: &str) -> Running {
    let driver = Driver::with_options(
        scheduler(),
        Box::new(MemStore::default()),
        Client::new(master).unwrap(),
        DriverOptions {
            // Short enough for a test, long enough to see that it is waited.
            backoff_min: Duration::from_millis(300),
            ..DriverOptions::default()
        },
    );
    let snapshots = driver.watch();
    let (tx, rx) = oneshot::channel();
    let done = tokio::spawn(driver.run(async {
        let _ = rx.await;
    }));
    Running {
        snapshots,
        stop: Some(tx),
        done,
    }
}

impl Running {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(DEADLINE, self.done)
            .await
            .expect("the driver stops in time")
            .expect("the driver task does not panic")
            .expect("a stopped driver returns Ok");
    }
}

#[tokio::test]
async fn a_driver_whose_master_goes_silent_resubscribes_with_its_framework_id() {
    let (master, received) = fake_master(AfterSubscribed::Silence).await;
    let mut running = start(&master);

    eventually("the first subscription", || {
        running.snapshots.borrow().connected
    })
    .await;
    assert_eq!(
        running
            .snapshots
            .borrow_and_update()
            .framework_id
            .as_deref(),
        Some(FRAMEWORK_ID)
    );
    let first = subscribes(&received);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].framework_id, None, "a new framework has no id yet");

    // Heartbeats every 0.2 s and none comes: after 5 intervals the stream counts as dead.
    eventually("a second SUBSCRIBE", || subscribes(&received).len() >= 2).await;
    let again = &subscribes(&received)[1];
    assert_eq!(
        again.framework_id.as_ref().map(|f| f.value.as_str()),
        Some(FRAMEWORK_ID)
    );
    assert_eq!(
        again
            .subscribe
            .as_ref()
            .and_then(|s| s.framework_info.id.as_ref())
            .map(|f| f.value.as_str()),
        Some(FRAMEWORK_ID),
        "a re-subscription names the framework in framework_info too"
    );
    running.stop().await;
}

#[tokio::test]
async fn a_driver_whose_stream_is_dropped_waits_before_resubscribing() {
    let (master, received) = fake_master(AfterSubscribed::Hangup).await;
    let running = start(&master);
    let t0 = tokio::time::Instant::now();
    eventually("three SUBSCRIBEs", || subscribes(&received).len() >= 3).await;
    // Each subscription got as far as SUBSCRIBED, which resets the backoff: a wait of the
    // minimum comes before each new attempt, never a tight loop.
    assert!(
        t0.elapsed() >= Duration::from_millis(600),
        "re-subscribed without backing off: {:?}",
        t0.elapsed()
    );
    running.stop().await;
}

#[tokio::test]
async fn a_stopped_driver_sends_no_teardown() {
    let (master, received) = fake_master(AfterSubscribed::Silence).await;
    let running = start(&master);
    let mut snapshots = running.snapshots.clone();
    eventually("the subscription", || {
        snapshots.borrow_and_update().connected
    })
    .await;
    running.stop().await;
    assert!(
        !received
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.type_ == CallType::Teardown),
        "stopping must leave the framework (and its tasks) to fail over"
    );
    assert!(snapshots.borrow().stopped);
}

#[tokio::test]
async fn a_driver_whose_framework_was_torn_down_stops_with_the_way_out_and_subscribes_nothing() {
    // Goal: after an operator's TEARDOWN a scheduler retried forever. Method: the store names
    // a framework the master lists as completed; the driver stops at its first takeover check
    // with the refusal, and never SUBSCRIBEs.
    const TORN_DOWN: &str = r#"{"type":"GET_STATE","get_state":{"get_frameworks":{
        "completed_frameworks":[{"framework_info":{"user":"root","name":"driven",
        "id":{"value":"old-0001"},"roles":["driven-role"]},
        "active":false,"connected":false,"recovered":false}]}}}"#;
    let (master, received) = fake_master_with(AfterSubscribed::Hangup, TORN_DOWN).await;
    let stored = StoredState {
        framework_id: Some(FrameworkId::new("old-0001")),
        ..StoredState::default()
    };
    let spec = scheduler().spec().clone();
    let sched = Scheduler::new(
        SchedulerConfig::default(),
        spec,
        stored,
        cairn::driver::now(),
    )
    .unwrap();
    let driver = Driver::new(
        sched,
        Box::new(MemStore::default()),
        Client::new(&master).unwrap(),
    );
    let result = tokio::time::timeout(DEADLINE, driver.run(std::future::pending()))
        .await
        .expect("the driver stops by itself");
    let err = result.expect_err("refused").to_string();
    assert!(
        err.contains("old-0001") && err.contains("torn down"),
        "{err}"
    );
    assert!(
        err.contains("cairn uninstall") && err.contains("--force"),
        "{err}"
    );
    assert!(subscribes(&received).is_empty(), "nothing subscribed");
}

#[tokio::test]
async fn an_operator_command_shows_in_the_snapshot_by_the_time_it_is_answered() {
    let (master, _received) = fake_master(AfterSubscribed::Silence).await;
    let driver = Driver::with_options(
        scheduler(),
        Box::new(MemStore::default()),
        Client::new(&master).unwrap(),
        DriverOptions {
            // Nothing else would publish during the test: what shows is the command's doing.
            publish_interval: Duration::from_secs(3600),
            ..DriverOptions::default()
        },
    );
    let snapshots = driver.watch();
    let (requests, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        driver
            .serve(
                async {
                    let _ = stopped.await;
                },
                Some(&mut rx),
            )
            .await
    });
    // Subscribed first: commands are served on a subscription, and its start publishes.
    eventually("the driver subscribed", || snapshots.borrow().connected).await;
    let (reply, answer) = oneshot::channel();
    requests
        .send(cairn::driver::Request::Command {
            command: cairn_core::plan::Command::Interrupt {
                plan: "deploy".into(),
                phase: None,
            },
            reply,
        })
        .unwrap();
    tokio::time::timeout(DEADLINE, answer)
        .await
        .expect("the command is answered")
        .unwrap()
        .expect("the interrupt is accepted");
    let deploy = snapshots
        .borrow()
        .plans
        .iter()
        .find(|p| p.name == "deploy")
        .cloned()
        .expect("a deploy plan");
    assert!(
        deploy.interrupted,
        "an operator who asks right after the answer sees the plan interrupted"
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(DEADLINE, serving).await;
}
