//! An author's overrides, end to end and in process: the sdk's driver runs the real scheduler
//! with a custom offer check and a plan customizer against an embedded cluster whose pods are
//! real `cairn executor` processes. The check keeps data pods off one agent; the customizer
//! deploys the data phase in parallel; the decision records say why the agent was refused.

use std::time::Duration;

use cairn::core::offer::{OfferCheck, OfferView, PlacementContext, PodRequirement};
use cairn::core::plan::PlanCustomizer;
use cairn::core::scheduler::Scheduler;
use cairn::core::store::StoredState;
use cairn::driver::{now, Driver, Snapshot};
use cairn::mesos::Client;
use cairn::spec::{PlanSpec, PodSpec, ServiceSpec, Strategy, TaskSpec, VolumeSpec};
use cairn::store::FileStore;
use cairn::{Overrides, SchedulerConfig};
use cairn_cluster::{Cluster, ClusterConfig};

mod pods;
use pods::Scratch;

const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");
const DEPLOY_DEADLINE: Duration = Duration::from_secs(120);
const REFUSED_HOST: &str = "127.0.0.2";

struct KeepDataOff;

impl OfferCheck for KeepDataOff {
    fn name(&self) -> &str {
        "keep-data-off"
    }

    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        _: &PlacementContext,
    ) -> Result<(), String> {
        if req.pod_instance.pod_type() == "data" && offer.facts.hostname == REFUSED_HOST {
            return Err(format!("data pods are kept off {REFUSED_HOST}"));
        }
        Ok(())
    }
}

struct ParallelData;

impl PlanCustomizer for ParallelData {
    fn customize(&self, mut plan: PlanSpec) -> PlanSpec {
        for phase in plan.phases.iter_mut().filter(|p| p.pod == "data") {
            phase.strategy = Strategy::Parallel;
        }
        plan
    }
}

fn my_service() -> ServiceSpec {
    let node = |name: &str, count: u32| {
        PodSpec::builder(name)
            .count(count)
            .placement(r#"[["hostname", "MAX_PER", "2"]]"#)
            .task(
                TaskSpec::builder("node")
                    .cmd("sleep 100000")
                    .cpus(0.1)
                    .memory_mb(64)
                    .volume(VolumeSpec::root("my-service-container-path", 5000)),
            )
    };
    ServiceSpec::builder("my-service")
        .pod(node("metadata", 2))
        .pod(node("data", 3))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authors_offer_check_keeps_data_pods_off_the_agent_it_refuses() {
    let scratch = Scratch::new("overrides");
    let mut cfg = ClusterConfig::new(scratch.work_dir().join("cluster"));
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.allocation_interval = Duration::from_millis(200);
    // The test binary cannot be an executor; the cairn binary can.
    cfg.executor_command = (CAIRN.into(), vec!["executor".into()]);
    let cluster = Cluster::start(cfg).await.unwrap();

    let overrides = Overrides {
        checks: vec![Box::new(KeepDataOff)],
        plan_customizer: Some(Box::new(ParallelData)),
        ..Overrides::default()
    };
    let scheduler = Scheduler::with_overrides(
        SchedulerConfig::default(),
        my_service(),
        StoredState::default(),
        now(),
        overrides,
    )
    .unwrap();
    let store = FileStore::open(scratch.work_dir().join("state")).unwrap();
    // The cluster's owner adds the service's credential to the cluster's file.
    let (credential, _) = cairn_cluster::auth::ensure_credential(
        &cluster.credentials_path().unwrap(),
        &my_service().principal,
    )
    .unwrap();
    let driver = Driver::new(
        scheduler,
        Box::new(store),
        Client::new(&cluster.master_url())
            .unwrap()
            .with_credential(credential),
    );
    let mut snapshots = driver.watch();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(driver.run(async {
        let _ = stopped.await;
    }));

    let deployed: Snapshot = tokio::time::timeout(DEPLOY_DEADLINE, async {
        loop {
            {
                let s = snapshots.borrow_and_update();
                if s.deployed && s.connected {
                    return s.clone();
                }
            }
            snapshots.changed().await.expect("the driver runs");
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not deployed in time: {:#?}", snapshots.borrow().plans));

    let data: Vec<_> = deployed
        .pods
        .iter()
        .filter(|p| p.pod_type == "data")
        .collect();
    assert_eq!(data.len(), 3);
    for pod in &data {
        assert_ne!(
            pod.hostname.as_deref(),
            Some(REFUSED_HOST),
            "{} landed on the refused agent",
            pod.name
        );
    }
    let deploy = deployed.plans.iter().find(|p| p.name == "deploy").unwrap();
    let phase = deploy.phases.iter().find(|p| p.name == "data").unwrap();
    assert_eq!(
        phase.strategy, "parallel",
        "the customizer's plan is the one deployed"
    );
    assert!(
        deployed.decisions.iter().any(|d| d.hostname == REFUSED_HOST
            && d.evaluations.iter().any(|e| e
                .failure()
                .is_some_and(|f| f.starts_with("keep-data-off: data pods are kept off")))),
        "no decision record shows the author's check refusing {REFUSED_HOST}"
    );

    let _ = stop.send(());
    running.await.unwrap().unwrap();
    cluster.shutdown();
}
