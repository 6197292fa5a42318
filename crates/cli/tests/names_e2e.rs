//! End-to-end tests of the names a caller chooses: framework, task, executor, agent and
//! persistence IDs, roles, volume container paths and URI output files. The cluster maps many of
//! them to directories, so a name such as `..`, an absolute path or one with a NUL in it must be
//! refused where it comes in (with Mesos' words where Mesos has them), and nothing may be made or
//! removed outside the cluster's work directory whatever is sent.
//!
//! The real `cairn cluster` binary on loopback, driven over the Mesos v1 HTTP APIs; a victim
//! directory is planted beside the work directory and must come out untouched.
//!
//! And the names a service author chooses: a spec whose pod type and task names have capitals
//! and `_`, as DC/OS SDK specs do, deployed by the real `cairn scheduler`, published under a
//! DNS label and restarted by its name.

mod support;

use std::path::{Path, PathBuf};

use cairn_proto::scheduler::{Call, CallType};
use cairn_proto::{
    executor, master, AgentId, Bytes, CommandUri, ExecutorId, FrameworkId, Labels, OfferOperation,
    OperationState, Reason, Resource, TaskId, TaskState,
};
use reqwest::StatusCode;
use support::*;

const ROLE: &str = "names";

/// The names every field is tried with: the two special directory names, an absolute path, the
/// root, a path back out of the work directory, a NUL, an empty name and one longer than a
/// file name may be.
fn bad_names(abs: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("'..'", "..".to_string()),
        ("'.'", ".".to_string()),
        ("an absolute path", abs.display().to_string()),
        ("'/'", "/".to_string()),
        ("a way out", "../../../../../../victim".to_string()),
        ("a NUL", "name\0with-nul".to_string()),
        ("an empty name", String::new()),
        ("an over-long name", "x".repeat(256)),
    ]
}

/// A directory with a file in it, planted where a bad name would lead.
fn plant(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("precious"), "keep me").unwrap();
}

fn intact(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("precious")).is_ok_and(|s| s == "keep me")
}

/// What is in a directory, by name, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The directory the cluster's own directory is in (the `--work-dir` it was started with): the
/// victims are planted there, beside the cluster's directory.
fn test_root(cluster: &ClusterProcess) -> PathBuf {
    cluster.work_dir.parent().unwrap().to_path_buf()
}

/// One megabyte of the agent's disk, reserved to [`ROLE`], as the RESERVE before a CREATE.
fn reserved_disk(principal: &str) -> Resource {
    reserved(
        Resource::scalar("disk", 1.0),
        ROLE,
        principal,
        &Labels::new(),
    )
}

#[tokio::test]
async fn a_create_and_destroy_of_a_persistence_id_that_leads_out_of_the_work_dir_are_refused_and_the_victim_survives(
) {
    let cluster = ClusterProcess::start_with(
        "names-victim",
        ClusterOptions {
            agents: 1,
            ..Default::default()
        },
    )
    .await;
    let root = test_root(&cluster);
    // The volume directory is <work>/agents/0/volumes/roles/<role>/<id>: six levels below the
    // test's directory, where the victim is.
    let victim = root.join("victim");
    let abs_victim = root.join("abs-victim");
    plant(&victim);
    plant(&abs_victim);
    let info = modern_framework("victims", ROLE);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info).await;

    for (what, id) in [
        ("a relative way out", "../../../../../../victim".to_string()),
        ("an absolute path", abs_victim.display().to_string()),
    ] {
        let offer = sched.any_offer().await;
        let volume = reserved_disk(&principal).with_persistence(&id, Some(&principal), "data");
        sched
            .accept(
                &offer.id,
                vec![
                    OfferOperation::reserve(vec![reserved_disk(&principal)])
                        .with_id(format!("reserve {what}")),
                    OfferOperation::create(vec![volume.clone()]).with_id(format!("create {what}")),
                    OfferOperation::destroy(vec![volume]).with_id(format!("destroy {what}")),
                ],
            )
            .await;
        for op in ["create", "destroy"] {
            let s = sched.operation_status(&format!("{op} {what}")).await;
            assert_eq!(s.state, OperationState::Error, "{op} of {what}: {s:?}");
            let message = s.message.unwrap_or_default();
            assert!(
                message.contains("Invalid persistence ID for persistent volume"),
                "{op} of {what} says why: {message}"
            );
        }
        // Everything the master sent for this ACCEPT has arrived (and any removal it caused
        // had its turn).
        sched.sync().await;
    }
    assert!(intact(&victim), "the victim beside the work dir survived");
    assert!(
        intact(&abs_victim),
        "the victim at an absolute path survived"
    );
    let agent = cluster.agent_id(0).await;
    let total = cluster.agent_total(&agent).await.unwrap();
    assert!(
        total.iter().all(|r| r.disk.is_none()),
        "no volume was created: {total:#?}"
    );
    assert_eq!(
        listing(&root),
        ["abs-victim", "cluster", "victim"],
        "nothing was made beside the work dir"
    );
}

#[tokio::test]
async fn an_empty_framework_id_is_refused_on_subscribe_and_on_every_call() {
    let cluster = ClusterProcess::start_with(
        "names-empty-fid",
        ClusterOptions {
            agents: 1,
            ..Default::default()
        },
    )
    .await;
    let mut info = modern_framework("empty", ROLE);
    info.id = Some(FrameworkId::new(""));
    let (status, body) = Scheduler::try_subscribe(&cluster.master, info)
        .await
        .err()
        .expect("a SUBSCRIBE with an empty framework id is refused");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("'subscribe.framework_info.id' is not a valid ID: ID must not be empty"),
        "{body}"
    );
    let sched = Scheduler::subscribe(&cluster.master, modern_framework("real", ROLE)).await;
    let (status, body) = sched
        .call(&Call::reconcile(FrameworkId::new(""), vec![]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains("'framework_id' is not a valid ID: ID must not be empty"),
        "{body}"
    );
    let frameworks = cluster.get_frameworks().await.frameworks;
    assert_eq!(
        frameworks.len(),
        1,
        "only the real framework: {frameworks:#?}"
    );
}

/// Where a bad name goes in.
#[derive(Debug, Clone, Copy)]
enum Field {
    SubscribeFrameworkId,
    CallFrameworkId,
    SubscribeRole,
    ReserveRole,
    PersistenceId,
    ContainerPath,
    LaunchTaskId,
    GroupTaskId,
    GroupExecutorId,
    UriOutputFile,
    KillTaskId,
    KillAgentId,
    AcknowledgeAgentId,
    ReconcileTaskId,
    ReconcileAgentId,
    ShutdownExecutorId,
    OperatorAgentId,
    OperatorPersistenceId,
    OperatorContainerPath,
    OperatorTeardownFrameworkId,
    ExecutorApiFrameworkId,
    ExecutorApiExecutorId,
}

const FIELDS: [Field; 22] = [
    Field::SubscribeFrameworkId,
    Field::CallFrameworkId,
    Field::SubscribeRole,
    Field::ReserveRole,
    Field::PersistenceId,
    Field::ContainerPath,
    Field::LaunchTaskId,
    Field::GroupTaskId,
    Field::GroupExecutorId,
    Field::UriOutputFile,
    Field::KillTaskId,
    Field::KillAgentId,
    Field::AcknowledgeAgentId,
    Field::ReconcileTaskId,
    Field::ReconcileAgentId,
    Field::ShutdownExecutorId,
    Field::OperatorAgentId,
    Field::OperatorPersistenceId,
    Field::OperatorContainerPath,
    Field::OperatorTeardownFrameworkId,
    Field::ExecutorApiFrameworkId,
    Field::ExecutorApiExecutorId,
];

impl Field {
    /// What the refusal must say: the field and the rule, so a human knows what to fix.
    fn expected(self) -> &'static str {
        match self {
            Field::SubscribeFrameworkId => "'subscribe.framework_info.id' is not a valid ID",
            Field::CallFrameworkId => "'framework_id' is not a valid ID",
            Field::SubscribeRole => "'FrameworkInfo.roles' contains invalid role",
            Field::ReserveRole => "reservation 0: Role",
            Field::PersistenceId | Field::OperatorPersistenceId => {
                "Invalid persistence ID for persistent volume"
            }
            Field::ContainerPath | Field::OperatorContainerPath => {
                "the volume's 'container_path' must be a path inside the sandbox"
            }
            Field::LaunchTaskId | Field::GroupTaskId => "'TaskInfo.task_id' is not a valid ID",
            Field::GroupExecutorId => "'ExecutorInfo.executor_id' is not a valid ID",
            Field::UriOutputFile => "URI output file",
            Field::KillTaskId => "'kill.task_id' is not a valid ID",
            Field::KillAgentId => "'kill.agent_id' is not a valid ID",
            Field::AcknowledgeAgentId => "'acknowledge.agent_id' is not a valid ID",
            Field::ReconcileTaskId => "'reconcile.tasks.task_id' is not a valid ID",
            Field::ReconcileAgentId => "'reconcile.tasks.agent_id' is not a valid ID",
            Field::ShutdownExecutorId => "'shutdown.executor_id' is not a valid ID",
            Field::OperatorAgentId => "'mark_agent_gone.agent_id' is not a valid ID",
            Field::OperatorTeardownFrameworkId => "'teardown.framework_id' is not a valid ID",
            Field::ExecutorApiFrameworkId => "'framework_id' is not a valid ID",
            Field::ExecutorApiExecutorId => "'executor_id' is not a valid ID",
        }
    }
}

/// How the cluster answered a bad name.
enum Answer {
    /// Refused, with this message.
    Refused(String),
    /// Taken, or refused some other way than a user should see.
    NotRefused(String),
}

/// Everything a row needs: the cluster, a subscribed framework, its agent.
struct Bench<'a> {
    cluster: &'a ClusterProcess,
    sched: Scheduler,
    principal: String,
    agent: AgentId,
    agent_endpoint: String,
    /// The token of the witness pod's executor: the executor API answers only an executor's
    /// own token, and checks the names of a call it authenticated.
    executor_token: String,
    artifact: PathBuf,
    row: usize,
}

impl Bench<'_> {
    /// Sends `bad` in `field`; how the cluster answered.
    async fn send(&mut self, field: Field, bad: &str) -> Answer {
        self.row += 1;
        let row = self.row;
        let fid = self.sched.framework_id.clone();
        let principal = self.principal.clone();
        let small = || {
            vec![
                scalar("cpus", 0.1, ROLE),
                scalar("mem", 32.0, ROLE),
                scalar("disk", 16.0, ROLE),
            ]
        };
        match field {
            Field::SubscribeFrameworkId => {
                let mut info = modern_framework(&format!("bad-{row}"), ROLE);
                info.id = Some(FrameworkId::new(bad));
                match Scheduler::try_subscribe(&self.cluster.master, info).await {
                    Ok(s) => Answer::NotRefused(format!("subscribed as {}", s.framework_id)),
                    Err((StatusCode::BAD_REQUEST, body)) => Answer::Refused(body),
                    Err((status, body)) => Answer::NotRefused(format!("{status}: {body}")),
                }
            }
            Field::SubscribeRole => {
                let info = modern_framework(&format!("bad-{row}"), bad);
                match Scheduler::try_subscribe(&self.cluster.master, info).await {
                    Ok(s) => Answer::NotRefused(format!("subscribed as {}", s.framework_id)),
                    Err((StatusCode::BAD_REQUEST, body)) => Answer::Refused(body),
                    Err((status, body)) => Answer::NotRefused(format!("{status}: {body}")),
                }
            }
            Field::CallFrameworkId => {
                self.call(Call::reconcile(FrameworkId::new(bad), vec![]))
                    .await
            }
            Field::ReserveRole => {
                let role = format!("{ROLE}/{bad}");
                let r = reserved(
                    Resource::scalar("cpus", 0.1),
                    &role,
                    &principal,
                    &Labels::new(),
                )
                .with_allocation_role(ROLE);
                self.operation(OfferOperation::reserve(vec![r]), row).await
            }
            Field::PersistenceId => {
                let volume =
                    reserved_disk(&principal).with_persistence(bad, Some(&principal), "data");
                self.reserve_and_create(volume, row).await
            }
            Field::ContainerPath => {
                let volume = reserved_disk(&principal).with_persistence(
                    format!("volume-{row}"),
                    Some(&principal),
                    bad,
                );
                self.reserve_and_create(volume, row).await
            }
            Field::LaunchTaskId => {
                let offer = self.sched.any_offer().await;
                let t = task(bad, &offer.agent_id, "true", small());
                self.sched
                    .accept(&offer.id, vec![OfferOperation::launch(vec![t])])
                    .await;
                self.task_answer(&TaskId::new(bad), Reason::TaskInvalid)
                    .await
            }
            Field::GroupTaskId | Field::GroupExecutorId => {
                let (task_id, executor_id) = match field {
                    Field::GroupTaskId => (bad.to_string(), format!("exec-{row}")),
                    _ => (format!("task-{row}"), bad.to_string()),
                };
                let offer = self.sched.any_offer().await;
                let t = task(&task_id, &offer.agent_id, "true", small());
                let group = launch_group(pod_executor(&executor_id, &fid, small()), vec![t]);
                self.sched.accept(&offer.id, vec![group]).await;
                self.task_answer(&TaskId::new(task_id), Reason::TaskGroupInvalid)
                    .await
            }
            Field::UriOutputFile => {
                let offer = self.sched.any_offer().await;
                let id = format!("fetch-{row}");
                let mut t = task(&id, &offer.agent_id, "true", small());
                let mut uri = CommandUri::new(self.artifact.display().to_string());
                uri.output_file = Some(bad.to_string());
                t.command.as_mut().unwrap().uris = vec![uri];
                self.sched
                    .accept(&offer.id, vec![OfferOperation::launch(vec![t])])
                    .await;
                self.task_answer(&TaskId::new(id), Reason::TaskInvalid)
                    .await
            }
            Field::KillTaskId => {
                self.call(Call::kill(fid, TaskId::new(bad), None, None))
                    .await
            }
            Field::KillAgentId => {
                self.call(Call::kill(
                    fid,
                    TaskId::new(format!("task-{row}")),
                    Some(AgentId::new(bad)),
                    None,
                ))
                .await
            }
            Field::AcknowledgeAgentId => {
                self.call(Call::acknowledge(
                    fid,
                    AgentId::new(bad),
                    TaskId::new(format!("task-{row}")),
                    Bytes(vec![7; 16]),
                ))
                .await
            }
            Field::ReconcileTaskId | Field::ReconcileAgentId => {
                let (task_id, agent_id) = match field {
                    Field::ReconcileTaskId => (TaskId::new(bad), None),
                    _ => (TaskId::new(format!("task-{row}")), Some(AgentId::new(bad))),
                };
                let tasks = vec![cairn_proto::scheduler::ReconcileTask { task_id, agent_id }];
                self.call(Call::reconcile(fid, tasks)).await
            }
            Field::ShutdownExecutorId => {
                let mut call = Call::new(CallType::Shutdown).with_framework_id(fid);
                call.shutdown = Some(cairn_proto::scheduler::Shutdown {
                    executor_id: ExecutorId::new(bad),
                    agent_id: self.agent.clone(),
                });
                self.call(call).await
            }
            Field::OperatorAgentId => {
                self.operator(&master::Call::mark_agent_gone(AgentId::new(bad)))
                    .await
            }
            Field::OperatorTeardownFrameworkId => {
                self.operator(&master::Call::teardown(FrameworkId::new(bad)))
                    .await
            }
            Field::OperatorPersistenceId | Field::OperatorContainerPath => {
                let (id, path) = match field {
                    Field::OperatorPersistenceId => (bad.to_string(), "data".to_string()),
                    _ => (format!("operator-volume-{row}"), bad.to_string()),
                };
                let mut volume = reserved(
                    Resource::scalar("disk", 1.0),
                    "operator",
                    "ops",
                    &Labels::new(),
                )
                .with_persistence(&id, Some("ops"), &path);
                volume.allocation_info = None;
                self.operator(&master::Call::create_volumes(
                    self.agent.clone(),
                    vec![volume],
                ))
                .await
            }
            Field::ExecutorApiFrameworkId | Field::ExecutorApiExecutorId => {
                let (f, e) = match field {
                    Field::ExecutorApiFrameworkId => (FrameworkId::new(bad), ExecutorId::new("e")),
                    _ => (fid, ExecutorId::new(bad)),
                };
                let call = executor::Call::subscribe(f, e, Default::default());
                let resp = http_client()
                    .post(format!("http://{}/api/v1/executor", self.agent_endpoint))
                    .header("Content-Type", "application/json")
                    .header("Accept", "application/json")
                    .header(
                        "Authorization",
                        cairn_cluster::auth::bearer_authorization(&self.executor_token),
                    )
                    .body(serde_json::to_vec(&call).unwrap())
                    .send()
                    .await
                    .expect("POST /api/v1/executor");
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                match status {
                    StatusCode::BAD_REQUEST => Answer::Refused(body),
                    _ => Answer::NotRefused(format!("{status}: {body}")),
                }
            }
        }
    }

    /// A scheduler call: refused means 400.
    async fn call(&self, call: Call) -> Answer {
        let (status, body) = self.sched.call(&call).await;
        match status {
            StatusCode::BAD_REQUEST => Answer::Refused(body),
            _ => Answer::NotRefused(format!("{status}: {body}")),
        }
    }

    /// An operator call: refused means 400.
    async fn operator(&self, call: &master::Call) -> Answer {
        let (status, body) = self.cluster.operator(call).await;
        match status {
            StatusCode::BAD_REQUEST => Answer::Refused(body),
            _ => Answer::NotRefused(format!("{status}: {body}")),
        }
    }

    /// One operation with an id in an ACCEPT: refused means OPERATION_ERROR.
    async fn operation(&mut self, op: OfferOperation, row: usize) -> Answer {
        let offer = self.sched.any_offer().await;
        let id = format!("op-{row}");
        self.sched
            .accept(&offer.id, vec![op.with_id(id.clone())])
            .await;
        self.operation_answer(&id).await
    }

    async fn operation_answer(&mut self, id: &str) -> Answer {
        let s = self.sched.operation_status(id).await;
        match s.state {
            OperationState::Error => Answer::Refused(s.message.unwrap_or_default()),
            other => Answer::NotRefused(format!("{other:?}: {:?}", s.message)),
        }
    }

    /// RESERVE a megabyte of disk, then CREATE `volume` on it: the CREATE's answer.
    async fn reserve_and_create(&mut self, volume: Resource, row: usize) -> Answer {
        let offer = self.sched.any_offer().await;
        let create = format!("create-{row}");
        self.sched
            .accept(
                &offer.id,
                vec![
                    OfferOperation::reserve(vec![reserved_disk(&self.principal)]),
                    OfferOperation::create(vec![volume]).with_id(create.clone()),
                ],
            )
            .await;
        self.operation_answer(&create).await
    }

    /// The first update of a launched task: refused means TASK_ERROR for `reason`.
    async fn task_answer(&mut self, task: &TaskId, reason: Reason) -> Answer {
        let s = self.sched.any_update(task).await;
        match (s.state, s.reason) {
            (TaskState::Error, Some(r)) if r == reason => {
                Answer::Refused(s.message.unwrap_or_default())
            }
            (state, r) => Answer::NotRefused(format!("{state:?} {r:?}: {:?}", s.message)),
        }
    }
}

#[tokio::test]
async fn every_id_and_path_a_caller_chooses_refuses_names_that_could_leave_the_work_dir() {
    let cluster = ClusterProcess::start_with(
        "names-table",
        ClusterOptions {
            agents: 1,
            ..Default::default()
        },
    )
    .await;
    let root = test_root(&cluster);
    let victim = root.join("victim");
    let abs_victim = root.join("abs-victim");
    plant(&victim);
    plant(&abs_victim);
    let artifact = cluster.scratch.join("artifact.txt");
    std::fs::write(&artifact, "fetched").unwrap();
    let info = modern_framework("table", ROLE);
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info).await;
    let agents = cluster.agents().await;
    // A witness pod, whose executor's token the executor API rows are sent with.
    let offer = sched.any_offer().await;
    let witness = launch_sleeper(&mut sched, &offer, WITNESS, &cluster.scratch).await;
    sched.update(&witness, TaskState::Running).await;
    let mut bench = Bench {
        cluster: &cluster,
        sched,
        principal,
        agent: cluster.agent_id(0).await,
        agent_endpoint: agents[0]["endpoint"].as_str().unwrap().to_string(),
        executor_token: witness_token(&cluster),
        artifact,
        row: 0,
    };

    let mut wrong = Vec::new();
    for field in FIELDS {
        for (what, bad) in bad_names(&abs_victim) {
            match bench.send(field, &bad).await {
                Answer::Refused(message) if message.contains(field.expected()) => {
                    assert!(
                        !message.contains('\0'),
                        "{field:?} with {what}: a NUL is escaped in the message: {message:?}"
                    );
                }
                Answer::Refused(message) => wrong.push(format!(
                    "{field:?} with {what}: refused, but the message does not say {:?}: {message:?}",
                    field.expected()
                )),
                Answer::NotRefused(answer) => {
                    wrong.push(format!("{field:?} with {what}: not refused: {answer}"))
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused with a message naming the field and the rule:\n{}",
        wrong.join("\n")
    );

    // Nothing was made or removed outside the work dir, and nothing of what was refused exists.
    assert!(
        intact(&victim) && intact(&abs_victim),
        "the victims survived"
    );
    assert_eq!(
        listing(&abs_victim),
        ["precious"],
        "nothing was made in the absolute path"
    );
    assert_eq!(
        listing(&root),
        ["abs-victim", "cluster", "victim"],
        "nothing was made beside the work dir"
    );
    let frameworks = cluster.get_frameworks().await.frameworks;
    assert_eq!(
        frameworks.len(),
        1,
        "only the real framework: {frameworks:#?}"
    );
    let total = cluster.agent_total(&bench.agent).await.unwrap();
    assert!(
        total.iter().all(|r| r.disk.is_none()),
        "no volume was created: {total:#?}"
    );
    let tasks = cluster.get_tasks().await.tasks;
    assert!(
        tasks.iter().all(|t| t.task_id.value == WITNESS),
        "no task was launched but the witness: {tasks:#?}"
    );
    let sandboxes: Vec<String> = walk_dirs(&cluster.agent_dir(0).join("slaves"))
        .into_iter()
        .filter(|p| p.parent().and_then(|d| d.file_name()) == Some("executors".as_ref()))
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        sandboxes,
        [WITNESS],
        "no sandbox was made but the witness's"
    );
}

/// The task (and command executor) whose token the executor API rows are sent with.
const WITNESS: &str = "witness";

/// The witness's executor token, from its checkpoint (the cluster's owner can read it).
fn witness_token(cluster: &ClusterProcess) -> String {
    let dir = cluster.agent_dir(0).join("executors");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .next()
        .expect("the witness's executor checkpoint");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(file.path()).unwrap())
        .expect("an executor checkpoint");
    doc["auth_token"].as_str().unwrap_or_default().to_string()
}

/// Every directory under `root`, depth first.
fn walk_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.push(e.path());
                out.extend(walk_dirs(&e.path()));
            }
        }
    }
    out
}

/// The next offer made to `role`; offers to the framework's other roles are declined so that
/// the agent's resources come back for it.
async fn offer_to(sched: &mut Scheduler, role: &str) -> cairn_proto::Offer {
    loop {
        let offer = sched.any_offer().await;
        if offer_role(&offer) == role {
            return offer;
        }
        sched.decline(&offer.id, 0.0).await;
    }
}

#[tokio::test]
async fn a_volume_of_a_role_whose_directory_a_volume_of_another_role_already_has_is_refused() {
    // The agent keeps a volume of role `a/b` in `volumes/roles/a__b/<id>`: role `a__b` would
    // name the same directory, and a DESTROY of one would take the other's data.
    let cluster = ClusterProcess::start_with(
        "names-role-dirs",
        ClusterOptions {
            agents: 1,
            ..Default::default()
        },
    )
    .await;
    let flat = format!("{ROLE}__web");
    let nested = format!("{ROLE}/web");
    // A framework reserves only to the role an offer was allocated to (as Mesos): it takes
    // both roles.
    let mut info = modern_framework("two-roles", ROLE);
    info.roles = vec![nested.clone(), flat.clone()];
    let principal = info.principal.clone().unwrap();
    let mut sched = Scheduler::subscribe(&cluster.master, info).await;

    let offer = offer_to(&mut sched, &nested).await;
    let disk = reserved(
        Resource::scalar("disk", 1.0),
        &nested,
        &principal,
        &Labels::new(),
    )
    .with_allocation_role(&nested);
    let volume = disk
        .clone()
        .with_persistence("shared-id", Some(&principal), "data");
    sched
        .accept(
            &offer.id,
            vec![
                OfferOperation::reserve(vec![disk]),
                OfferOperation::create(vec![volume]).with_id("nested"),
            ],
        )
        .await;
    let s = sched.operation_status("nested").await;
    assert_eq!(s.state, OperationState::Finished, "{s:?}");
    let dir = cluster.volume_dir(0, &nested, "shared-id");
    assert!(dir.is_dir(), "{}", dir.display());
    std::fs::write(dir.join("data.txt"), "the nested role's").unwrap();

    let offer = offer_to(&mut sched, &flat).await;
    let disk = reserved(
        Resource::scalar("disk", 1.0),
        &flat,
        &principal,
        &Labels::new(),
    );
    let volume = disk
        .clone()
        .with_persistence("shared-id", Some(&principal), "data");
    sched
        .accept(
            &offer.id,
            vec![
                OfferOperation::reserve(vec![disk]),
                OfferOperation::create(vec![volume]).with_id("flat"),
            ],
        )
        .await;
    let s = sched.operation_status("flat").await;
    assert_eq!(s.state, OperationState::Error, "{s:?}");
    let message = s.message.unwrap_or_default();
    assert!(message.contains("is already in use"), "{message}");
    assert_eq!(
        std::fs::read_to_string(dir.join("data.txt")).unwrap(),
        "the nested role's"
    );
}

#[tokio::test]
async fn a_link_a_task_planted_in_its_pod_sandbox_is_not_followed_when_the_next_task_joins() {
    // The second wall on its own: every name here is valid, but a running task turned the
    // name the next task of its pod will be reached by (`tasks/<task id>`, beside its own
    // container's directory) into a link out of the work dir.
    let cluster = ClusterProcess::start_with(
        "names-planted-link",
        ClusterOptions {
            agents: 1,
            ..Default::default()
        },
    )
    .await;
    let root = test_root(&cluster);
    let victim = root.join("victim");
    plant(&victim);
    let mut sched = Scheduler::subscribe(&cluster.master, modern_framework("planter", ROLE)).await;
    let small = || {
        vec![
            scalar("cpus", 0.1, ROLE),
            scalar("mem", 32.0, ROLE),
            scalar("disk", 16.0, ROLE),
        ]
    };
    let planted = cluster.scratch.join("planted");
    let planter = |agent: &AgentId| {
        task(
            "planter",
            agent,
            &format!(
                "ln -s {} ../../tasks/joiner && touch {} && exec sleep 3600",
                victim.display(),
                planted.display()
            ),
            small(),
        )
    };
    let offer = sched.any_offer().await;
    let executor = pod_executor("pod", &sched.framework_id, small());
    sched
        .accept(
            &offer.id,
            vec![launch_group(
                executor.clone(),
                vec![planter(&offer.agent_id)],
            )],
        )
        .await;
    sched
        .update(&TaskId::new("planter"), TaskState::Running)
        .await;
    eventually("the planter's link", || planted.exists()).await;

    let offer = sched.any_offer().await;
    // The joiner would write into its own directory: were the link followed, its file would
    // land beside the victim's. The agent refuses to start it instead, naming the link.
    let joiner = task("joiner", &offer.agent_id, "echo joined > joined", small());
    sched
        .accept(&offer.id, vec![launch_group(executor, vec![joiner])])
        .await;
    let s = sched
        .update(&TaskId::new("joiner"), TaskState::Failed)
        .await;
    assert_eq!(s.reason, Some(Reason::ContainerLaunchFailed), "{s:?}");
    let message = s.message.unwrap_or_default();
    assert!(message.contains("not to a task's directory"), "{message}");
    assert_eq!(
        listing(&victim),
        ["precious"],
        "nothing was made through the link"
    );
    // The pod's first task never noticed.
    sched.reconcile(&[(&TaskId::new("planter"), None)]).await;
    assert_eq!(
        sched.reconciled(&TaskId::new("planter")).await.state,
        TaskState::Running
    );
}

/// A service whose pod type and task names are written as DC/OS SDK specs write them: capitals
/// and `_`. Its task advertises a port, so its discovery info is in the master's state.
const SDK_NAMES_SPEC: &str = r#"
name: sdknames
pods:
  Custom_Pod-A:
    count: 1
    tasks:
      serve_http:
        goal: RUNNING
        cmd: 'exec sleep 100000'
        cpus: 0.1
        memory: 32
        ports:
          http: {port: 0, advertise: true}
"#;

/// `cairn scheduler` as a child process; dropping it kills it (the cluster's drop kills the
/// pods).
struct ServiceScheduler {
    child: std::process::Child,
    stdout: PathBuf,
}

impl ServiceScheduler {
    fn output(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }
}

impl Drop for ServiceScheduler {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- scheduler stdout ---\n{}", self.output());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The framework's tasks named `name` in the master's `/master/state`, as (id, state,
/// discovery name).
async fn state_tasks(cluster: &ClusterProcess, name: &str) -> Vec<(String, String, String)> {
    let state: serde_json::Value = http_client()
        .get(format!("{}/master/state", cluster.master))
        .send()
        .await
        .expect("GET /master/state")
        .json()
        .await
        .expect("the state as JSON");
    let mut out = Vec::new();
    for framework in state["frameworks"].as_array().into_iter().flatten() {
        for t in framework["tasks"].as_array().into_iter().flatten() {
            if t["name"] == name {
                let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
                out.push((
                    text(&t["id"]),
                    text(&t["state"]),
                    text(&t["discovery"]["name"]),
                ));
            }
        }
    }
    out
}

/// Polls `/master/state` until the one live task named `name` is RUNNING (and, with `not`,
/// has another id than that): its id and discovery name.
async fn running_task(
    cluster: &ClusterProcess,
    sched: &mut ServiceScheduler,
    name: &str,
    not: Option<&str>,
) -> (String, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if let Ok(Some(status)) = sched.child.try_wait() {
            panic!("the scheduler exited ({status})\n{}", sched.output());
        }
        let tasks = state_tasks(cluster, name).await;
        if let [(id, state, discovery)] = tasks.as_slice() {
            if state == "TASK_RUNNING" && Some(id.as_str()) != not {
                return (id.clone(), discovery.clone());
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no single RUNNING task `{name}` (other than {not:?}) in /master/state: {tasks:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_named_with_capitals_and_underscores_runs_under_a_dns_label_and_restarts_by_its_name()
{
    let cluster = ClusterProcess::start_with(
        "names-sdk",
        ClusterOptions {
            agents: 1,
            ..Default::default()
        },
    )
    .await;
    let spec = cluster.scratch.join("svc.yml");
    std::fs::write(&spec, SDK_NAMES_SPEC).unwrap();
    let state_dir = cluster.scratch.join("state");
    let stdout = cluster.scratch.join("scheduler.out");
    let child = std::process::Command::new(CAIRN)
        .arg("scheduler")
        .arg(&spec)
        .arg("--master")
        .arg(&cluster.master)
        .arg("--state-dir")
        .arg(&state_dir)
        .arg("--credentials")
        .arg(cluster.credentials_path())
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(cluster.scratch.join("scheduler.err")).unwrap())
        .spawn()
        .expect("starting cairn scheduler");
    let mut sched = ServiceScheduler { child, stdout };

    // The Mesos task keeps the names as written; what DNS publishes is a label.
    let name = "Custom_Pod-A-0-serve_http";
    let (first, discovery) = running_task(&cluster, &mut sched, name, None).await;
    assert_eq!(discovery, "custom-pod-a-0-serve-http");

    // The operator names the pod instance as written, capitals and `_` and all.
    let restart = std::process::Command::new(CAIRN)
        .args(["pod", "restart", "Custom_Pod-A-0", "--state-dir"])
        .arg(&state_dir)
        .output()
        .expect("running cairn pod restart");
    assert!(
        restart.status.success(),
        "{}{}",
        String::from_utf8_lossy(&restart.stdout),
        String::from_utf8_lossy(&restart.stderr)
    );
    let (second, discovery) = running_task(&cluster, &mut sched, name, Some(&first)).await;
    assert_ne!(second, first, "a new task");
    assert_eq!(discovery, "custom-pod-a-0-serve-http");
}
