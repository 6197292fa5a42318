//! The conformance suite: the same scenarios against real Apache Mesos and against `cairn
//! cluster`, recording the shape of every answer (which fields, of which types, with which enum
//! values: never ids, times or counts), so that a difference between the two is a diff.
//!
//! Each scenario drives a cluster the way a Mesos v1 framework or operator tool does: SUBSCRIBE
//! and heartbeats, offers in both reservation formats, persistent volumes, a task group under
//! the default executor (what its tasks see: environment, sandbox, volume paths), KILL with a
//! grace period, health checks, reconciliation, failover, decline filters, REVIVE and
//! SUPPRESS, and the operator calls cairn uses. Where the two differ for a reason, the
//! difference is listed in [`KNOWN`] with that reason (and in DESIGN.md); any other line that
//! only one side has fails the test.
//!
//! Both recordings and their diff are written to `target/tmp/conformance/`. Without a real
//! Mesos (`CAIRN_TEST_MESOS` unset) the scenarios still run against `cairn cluster`, checking
//! what they assert, and the comparison is skipped with a message.

#[path = "../support/mod.rs"]
mod support;

mod scenarios;
mod shape;

use std::path::PathBuf;

use shape::{Known, Record};
use support::mesos::{self, MesosCluster};
use support::{ClusterOptions, ClusterProcess};

/// Differences between `cairn cluster` and Mesos that are deliberate, each with its reason.
/// A prefix covers every line that starts with it; a `*` stands for any run of characters (one
/// field wherever it appears). Keep DESIGN.md's list the same.
pub const KNOWN: &[Known] = &[
    Known {
        prefix: "pods.task.volume.mode = ",
        why: "a persistent volume's directory is 0700 on cairn (only the user of the pod that \
              uses it may enter), 0755 on Mesos (every user of the machine may read a pod's \
              data); its owner is the same on both",
    },
    Known {
        prefix: "pods.update.TASK_STARTING.update.status.container_status.network_infos",
        why: "a race on Mesos: its agent adds the network only when the task's nested \
              container already exists as it handles TASK_STARTING, which the default executor \
              sends just before it asks for the container; cairn makes the task's container \
              before TASK_STARTING, so it always adds it",
    },
    Known {
        prefix: "pods.update.TASK_RUNNING.checked.update.status.message",
        why: "cairn's executor says what a check said (`HTTP 200`, a command's exit code and \
              the tail of its output) in the message of its check updates, so that a plan can \
              show why a task is not ready; Mesos' executors send no message there",
    },
    Known {
        prefix: "operator.*.get_tasks.tasks[].statuses[].message = ",
        why: "the same check updates, as the master keeps them in the task's statuses (the \
              pod scenario's checked task still runs when the operator views are read)",
    },
    // Capabilities cairn's master and agents do not advertise, having no such machinery: a
    // client that sees one uses it.
    Known {
        prefix: "*capabilities[]* = \"AGENT_UPDATE\"",
        why: "the master's agents are its own and never re-register with a changed AgentInfo",
    },
    Known {
        prefix: "*capabilities[]* = \"AGENT_DRAINING\"",
        why: "no draining: DRAIN_AGENT, DEACTIVATE_AGENT and REACTIVATE_AGENT answer 501",
    },
    Known {
        prefix: "*capabilities[]* = \"QUOTA_V2\"",
        why: "no quota: UPDATE_QUOTA answers 501",
    },
    Known {
        prefix: "*capabilities[]* = \"RESIZE_VOLUME\"",
        why: "no GROW_VOLUME or SHRINK_VOLUME",
    },
    Known {
        prefix: "*capabilities[]* = \"RESOURCE_PROVIDER\"",
        why: "no resource providers",
    },
    Known {
        prefix: "*capabilities[]* = \"TASK_RESOURCE_LIMITS\"",
        why: "TaskInfo.limits is not enforced (nor are requests: no cgroups)",
    },
    Known {
        prefix: "endpoints./*state.capabilities = []",
        why: "the master advertises none of Mesos' master capabilities (the three above)",
    },
    // Flags of machinery cairn does not have, which it does not claim.
    Known {
        prefix: "endpoints./*flags.agent_reregister_timeout =",
        why: "agents run in the master's process and recover with it; none is waited for",
    },
    Known {
        prefix: "endpoints./*flags.authentication_v0_timeout =",
        why: "no v0 (SASL) authentication: frameworks use HTTP only",
    },
    Known {
        prefix: "endpoints./*flags.authenticators =",
        why: "no v0 (SASL) authenticators: frameworks use HTTP only",
    },
    Known {
        prefix: "endpoints./*flags.initialize_driver_logging =",
        why: "no scheduler or executor driver library",
    },
    Known {
        prefix: "endpoints./*flags.log_auto_initialize =",
        why: "no replicated log",
    },
    Known {
        prefix: "endpoints./*flags.max_unreachable_tasks_per_framework =",
        why: "no cap: an unreachable agent's tasks stay in the books (they still run, and come \
              back with their agent)",
    },
    Known {
        prefix: "endpoints./*flags.min_allocatable_resources =",
        why: "no minimum: cairn offers whatever an agent has left",
    },
    Known {
        prefix: "endpoints./*flags.offer_constraints_re2_",
        why: "no offer constraints",
    },
    Known {
        prefix: "endpoints./*flags.recovery_agent_removal_limit =",
        why: "a restarted master removes no agent that does not come back",
    },
    Known {
        prefix: "endpoints./*flags.registry",
        why: "the registry is master.json in the work dir, neither in_memory nor a replicated \
              log, with none of the registry's tunables",
    },
    Known {
        prefix: "endpoints./*flags.webui_dir =",
        why: "no web UI",
    },
    Known {
        prefix: "endpoints./*flags.zk_session_timeout =",
        why: "no ZooKeeper",
    },
    Known {
        prefix: "endpoints./*flags.offer_timeout =",
        why: "cairn's default offer timeout is a minute; Mesos' is none (the flag is unset)",
    },
    Known {
        prefix: "endpoints./*flags.credentials =",
        why: "cairn authenticates frameworks by default; the Mesos of the suite runs without \
              --credentials",
    },
];

/// A cluster the scenarios run against.
pub enum Backend {
    Cairn(ClusterProcess),
    Mesos(MesosCluster),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Cairn(_) => "cairn",
            Backend::Mesos(_) => "mesos",
        }
    }

    pub fn master(&self) -> &str {
        match self {
            Backend::Cairn(c) => &c.master,
            Backend::Mesos(m) => &m.master,
        }
    }

    /// An operator API call (`POST /api/v1`) with the operator's credential where the cluster
    /// needs one; the status and the body as JSON (`null` when empty or not JSON).
    pub async fn operator(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        let (status, text) = match self {
            Backend::Cairn(c) => c.operator_raw(&body).await,
            Backend::Mesos(m) => m.operator_raw(&body).await,
        };
        (
            status.as_u16(),
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A GET of the master: the status, the headers a client reads, and the body as JSON.
    pub async fn get(&self, path: &str) -> (u16, Option<String>, serde_json::Value) {
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(support::DEADLINE)
            .build()
            .expect("an HTTP client");
        let resp = http
            .get(format!("{}{path}", self.master()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.name()));
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("Location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_string);
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            location,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// A GET of an agent (`host:port`) with `query`, with the operator's token where the
    /// cluster needs one for it (cairn's `/files/*`): the status and the body as JSON.
    pub async fn agent_get(
        &self,
        agent: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let url = reqwest::Url::parse_with_params(&format!("http://{agent}{path}"), query)
            .expect("an agent URL");
        let mut request = support::http_client().get(url);
        if let Backend::Cairn(c) = self {
            if let Some(token) = c.operator_token() {
                request = request.bearer_auth(token);
            }
        }
        let resp = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} of agent {agent} on {}: {e}", self.name()));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Where a persistent volume of `role` lives on the agent with this id.
    pub async fn volume_dir(
        &self,
        agent: &cairn_proto::AgentId,
        role: &str,
        persistence_id: &str,
    ) -> PathBuf {
        match self {
            Backend::Cairn(c) => {
                let i = c.agent_index(agent).await;
                c.volume_dir(i, role, persistence_id)
            }
            Backend::Mesos(m) => m.volume_dir(agent, role, persistence_id).await,
        }
    }
}

async fn record_all(backend: &Backend) -> Record {
    let mut record = Record::default();
    scenarios::run_all(backend, &mut record).await;
    record
}

fn write_out(name: &str, text: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("conformance");
    std::fs::create_dir_all(&dir).expect("the conformance output dir");
    std::fs::write(dir.join(name), text).expect("writing a conformance record");
}

fn lines(record: &Record) -> String {
    record.lines().map(|l| format!("{l}\n")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cairn_cluster_answers_every_scenario_with_the_shapes_real_mesos_answers_with() {
    let cairn = Backend::Cairn(
        ClusterProcess::start_with(
            "conformance",
            ClusterOptions {
                agents: 2,
                ..ClusterOptions::default()
            },
        )
        .await,
    );
    let cairn_record = record_all(&cairn).await;
    write_out("cairn.txt", &lines(&cairn_record));
    drop(cairn);

    let Some(home) = mesos::installation("the comparison with real Mesos") else {
        return;
    };
    let mesos = Backend::Mesos(MesosCluster::start(&home, "conformance", 2).await);
    let mesos_record = record_all(&mesos).await;
    write_out("mesos.txt", &lines(&mesos_record));
    drop(mesos);

    let (only_cairn, only_mesos) = shape::diff(&cairn_record, &mesos_record, KNOWN);
    let mut diff = String::new();
    for l in &only_mesos {
        diff.push_str(&format!("- mesos  {l}\n"));
    }
    for l in &only_cairn {
        diff.push_str(&format!("+ cairn  {l}\n"));
    }
    write_out("diff.txt", &diff);
    assert!(
        diff.is_empty(),
        "cairn cluster answers differently from Mesos in {} lines (each must be fixed, or \
         explained in KNOWN and DESIGN.md):\n{diff}",
        only_cairn.len() + only_mesos.len()
    );
}
