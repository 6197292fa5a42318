//! The Mesos client against the embedded cluster (the real protocol path), and against a fake
//! master for the answers the cluster never gives: a redirect to the leader, and 503.

use std::path::PathBuf;
use std::time::Duration;

use cairn::mesos::{Client, MesosError};
use cairn_cluster::{Cluster, ClusterConfig};
use cairn_proto::scheduler::{Call, CallType, EventType};
use cairn_proto::{FrameworkId, FrameworkInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DEADLINE: Duration = Duration::from_secs(20);

struct TestCluster {
    cluster: Cluster,
    dir: PathBuf,
}

impl TestCluster {
    async fn start(name: &str) -> TestCluster {
        let dir =
            std::env::temp_dir().join(format!("cairn-mesos-client-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut cfg = ClusterConfig::new(&dir);
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        cfg.agents = 1;
        cfg.allocation_interval = Duration::from_millis(100);
        cfg.heartbeat_interval = Duration::from_secs(1);
        let cluster = Cluster::start(cfg).await.expect("starting the cluster");
        TestCluster { cluster, dir }
    }
}

impl TestCluster {
    /// The credential the cluster generated for frameworks.
    fn credential(&self) -> cairn_cluster::auth::Credential {
        let path = self
            .cluster
            .credentials_path()
            .expect("frameworks authenticate");
        cairn_cluster::auth::ensure_credential(&path, cairn_cluster::auth::DEFAULT_PRINCIPAL)
            .unwrap()
            .0
    }

    /// A client of the cluster with that credential.
    fn client(&self) -> Client {
        Client::new(&self.cluster.master_url())
            .unwrap()
            .with_credential(self.credential())
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.cluster.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn framework(name: &str) -> FrameworkInfo {
    FrameworkInfo {
        user: "nobody".into(),
        name: name.into(),
        failover_timeout: Some(60.0),
        ..Default::default()
    }
}

#[tokio::test]
async fn subscribing_yields_a_stream_id_then_subscribed_then_heartbeats_and_offers() {
    let c = TestCluster::start("subscribe").await;
    let client = c.client();
    let (stream_id, mut events) = client.subscribe(framework("t")).await.unwrap();
    assert!(!stream_id.is_empty());
    assert_eq!(client.stream_id().as_deref(), Some(stream_id.as_str()));

    let first = tokio::time::timeout(DEADLINE, events.recv())
        .await
        .expect("SUBSCRIBED in time")
        .expect("an event")
        .expect("not an error");
    assert_eq!(first.type_, EventType::Subscribed);
    let framework_id = first.subscribed.unwrap().framework_id;

    let (mut heartbeat, mut offers) = (false, false);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !(heartbeat && offers) {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("a heartbeat and offers in time")
            .expect("the stream is open")
            .expect("not an error");
        heartbeat |= event.type_ == EventType::Heartbeat;
        offers |= event.type_ == EventType::Offers;
    }

    // A call on the stream is accepted ...
    client
        .call(&Call::revive(framework_id.clone(), vec![]))
        .await
        .expect("REVIVE is accepted");
    // ... and one claiming another stream is refused with the master's reason.
    match client
        .call_on("not-the-stream", &Call::revive(framework_id, vec![]))
        .await
    {
        Err(MesosError::Status {
            code: 400, body, ..
        }) => assert!(!body.is_empty()),
        other => panic!("expected a 400, got {other:?}"),
    }
}

#[tokio::test]
async fn a_broken_stream_ends_with_one_error_then_nothing() {
    let c = TestCluster::start("broken").await;
    let client = c.client();
    let (_, mut events) = client.subscribe(framework("t")).await.unwrap();
    let first = events.recv().await.unwrap().unwrap();
    let framework_id = first.subscribed.unwrap().framework_id;
    // TEARDOWN closes every connection of the framework, the stream included.
    client.call(&Call::teardown(framework_id)).await.unwrap();
    let end = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => return e,
                None => panic!("the stream ended without saying why"),
            }
        }
    })
    .await
    .expect("the stream ends in time");
    assert!(
        matches!(
            end,
            MesosError::Disconnected { .. } | MesosError::Http { .. }
        ),
        "{end:?}"
    );
    assert!(events.recv().await.is_none());
}

#[tokio::test]
async fn a_subscription_without_a_valid_credential_is_refused_as_unauthenticated() {
    // Goal: a master that authenticates frameworks refuses one without a credential, or with
    // a wrong secret, and the client says so (naming the principal) rather than a bare status.
    let c = TestCluster::start("unauthenticated").await;
    let anonymous = Client::new(&c.cluster.master_url()).unwrap();
    match anonymous.subscribe(framework("t")).await {
        Err(MesosError::Unauthenticated {
            principal: None, ..
        }) => {}
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
    let wrong = Client::new(&c.cluster.master_url())
        .unwrap()
        .with_credential(cairn_cluster::auth::Credential {
            principal: cairn_cluster::auth::DEFAULT_PRINCIPAL.into(),
            secret: "guessed".into(),
        });
    match wrong.subscribe(framework("t")).await {
        Err(e @ MesosError::Unauthenticated { .. }) => {
            assert!(e.to_string().contains("principal 'cairn'"), "{e}")
        }
        other => panic!("expected Unauthenticated, got {other:?}"),
    }
}

#[tokio::test]
async fn a_driver_refused_for_its_credential_stops_with_the_reason_instead_of_retrying() {
    // Goal: retrying a refused credential only hides the problem; the driver stops and says
    // why. Method: a driver without a credential against the cluster, which must end on its
    // own (the stop signal never fires).
    let c = TestCluster::start("driver-unauthenticated").await;
    let spec = cairn::spec::ServiceSpec::builder("noauth")
        .pod(
            cairn::spec::PodSpec::builder("p").count(1).task(
                cairn::spec::TaskSpec::builder("t")
                    .cmd("sleep 100")
                    .cpus(0.1)
                    .memory_mb(32),
            ),
        )
        .build()
        .unwrap();
    let scheduler = cairn_core::scheduler::Scheduler::new(
        cairn_core::scheduler::SchedulerConfig::default(),
        spec,
        cairn_core::store::StoredState::default(),
        cairn::driver::now(),
    )
    .unwrap();
    let dir = c.dir.join("state");
    let store = cairn::store::FileStore::open(&dir).unwrap();
    let driver = cairn::driver::Driver::new(
        scheduler,
        Box::new(store),
        Client::new(&c.cluster.master_url()).unwrap(),
    );
    let ended = tokio::time::timeout(DEADLINE, driver.run(std::future::pending()))
        .await
        .expect("the driver stops by itself");
    match ended {
        Err(cairn::Error::Mesos(MesosError::Unauthenticated { .. })) => {}
        other => panic!("expected an Unauthenticated error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_call_before_any_subscription_is_refused_without_touching_the_network() {
    let client = Client::new("http://127.0.0.1:9").unwrap();
    let call = Call::new(CallType::Revive).with_framework_id(FrameworkId::new("x"));
    assert!(matches!(
        client.call(&call).await,
        Err(MesosError::Protocol(_))
    ));
}

/// A master that is not the leader: it answers `503` `unavailable` times, then redirects every
/// request to `leader` with a protocol-relative Location, as Mesos does.
async fn fake_follower(leader: String, unavailable: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut answered = 0;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 64 * 1024];
            let _ = sock.read(&mut buf).await;
            let reply = if answered < unavailable {
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\nconnection: close\r\n\r\nno leader"
                    .to_string()
            } else {
                format!(
                    "HTTP/1.1 307 Temporary Redirect\r\nlocation: //{leader}/api/v1/scheduler\r\n\
                     content-length: 0\r\nconnection: close\r\n\r\n"
                )
            };
            answered += 1;
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_follower_master_redirects_to_the_leader_and_the_client_stays_there() {
    let c = TestCluster::start("redirect").await;
    let leader = c.cluster.master_addr().to_string();
    let follower = fake_follower(leader.clone(), 2).await;
    let client = Client::new(&follower)
        .unwrap()
        .with_credential(c.credential());

    let (_, mut events) = client.subscribe(framework("t")).await.unwrap();
    assert_eq!(client.master(), format!("http://{leader}"));
    let first = events.recv().await.unwrap().unwrap();
    assert_eq!(first.type_, EventType::Subscribed);
}

#[tokio::test]
async fn a_master_that_stays_unavailable_is_reported_as_503() {
    let follower = fake_follower("127.0.0.1:9".into(), usize::MAX).await;
    let client = Client::new(&follower).unwrap();
    match client.subscribe(framework("t")).await {
        Err(MesosError::Status { code: 503, .. }) => {}
        other => panic!("expected a 503, got {:?}", other.map(|(id, _)| id)),
    }
}
