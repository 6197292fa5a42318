//! ACCEPT and the resource operations: RESERVE, UNRESERVE, CREATE, DESTROY, LAUNCH and
//! LAUNCH_GROUP, applied in order, each seeing the result of the ones before it.

use std::collections::BTreeSet;

use cairn_proto::scheduler::{self, Accept};
use cairn_proto::{
    CapabilityType, ExecutorType, FrameworkId, OfferOperation, OperationId, OperationState,
    OperationStatus, OperationType, Reason, Resource, Resources, TaskInfo, TaskState, Uuid,
};

use cairn_proto::operations::{apply_resource_operation, Agent};
use cairn_proto::validation::{validate_id, validate_relative_path, validate_uri};

use super::agent::volume_dir;
use super::{strip, AgentStatus, ClusterState, Dirty, Effect, MasterTask, Now};

/// A resource operation (not a launch) on one agent's books: Mesos' model of it.
pub(crate) use cairn_proto::operations::ResourceOperation as ResourceOp;

/// What the books alone cannot tell of an agent of this cluster: its volumes' directories and
/// the executors using them.
struct OnDisk<'a> {
    state: &'a ClusterState,
    agent: usize,
}

impl Agent for OnDisk<'_> {
    /// Roles `a/b` and `a__b` name the same directory: a volume of one must not be the other's.
    fn volume_taken(&self, volume: &Resource, total: &Resources) -> bool {
        let dir = &self.state.agents[self.agent].dir;
        let place = volume_dir(dir, volume).ok();
        total.iter().any(|t| {
            t.is_persistent_volume()
                && ((t.persistence_id() == volume.persistence_id()
                    && t.reservation_role() == volume.reservation_role())
                    || (place.is_some() && volume_dir(dir, t).ok() == place))
        })
    }

    fn volume_in_use(&self, volume: &Resource) -> bool {
        self.state.volume_in_use(self.agent, volume)
    }
}

impl ClusterState {
    /// ACCEPT: checks the offers, then applies the operations in order against their pooled
    /// resources. What is left over is declined with the call's filter.
    pub(crate) fn accept(&mut self, now: Now, fid: &FrameworkId, accept: Accept) {
        let refuse = accept.filters.as_ref().and_then(|f| f.refuse_seconds);
        let refined = self
            .master
            .frameworks
            .get(fid)
            .is_some_and(|f| f.info.has_capability(CapabilityType::ReservationRefinement));
        // Offers are validated as a set: any bad one voids the whole call.
        let mut agent = None;
        let mut role = None;
        let mut problem = None;
        let mut seen = BTreeSet::new();
        for id in &accept.offer_ids {
            if !seen.insert(id.clone()) {
                problem = Some(format!("Offer {id} appears more than once"));
                continue;
            }
            match self.master.offers.get(id) {
                None => problem = Some(format!("Offer {id} is no longer valid")),
                Some(o) if &o.framework != fid => {
                    problem = Some(format!("Offer {id} belongs to another framework"))
                }
                Some(o) => {
                    if agent.is_some_and(|a| a != o.agent) {
                        problem =
                            Some("Aggregated offers must belong to one single agent".to_string());
                    }
                    if role.as_ref().is_some_and(|r: &String| r != &o.role) {
                        problem = Some(
                            "Aggregated offers must be allocated to the same role".to_string(),
                        );
                    }
                    agent = Some(o.agent);
                    role = Some(o.role.clone());
                }
            }
        }
        if accept.offer_ids.is_empty() {
            problem = Some("No offers specified".to_string());
        }
        let mut pool = Resources::new();
        for id in &seen {
            if let Some(o) = self.master.offers.get(id) {
                if &o.framework == fid {
                    pool.add_all(o.resources.without_allocation_info().iter());
                }
            }
        }
        // The offers are used up either way; their resources return unless the operations keep them.
        let mut used_up = 0;
        for id in &seen {
            if self
                .master
                .offers
                .get(id)
                .is_some_and(|o| &o.framework == fid)
            {
                self.master.offers.remove(id);
                used_up += 1;
            }
        }
        self.master.metrics.offers_answered(fid, true, used_up);
        let (Some(agent), Some(role), None) = (agent, role, problem.clone()) else {
            let why = problem.unwrap_or_else(|| "Invalid offers".to_string());
            self.drop_operations(now, fid, &accept.operations, &why);
            return;
        };
        if self.agents[agent].status != AgentStatus::Running {
            self.drop_operations(
                now,
                fid,
                &accept.operations,
                "The agent of the offer is not reachable",
            );
            return;
        }
        let principal = self
            .master
            .frameworks
            .get(fid)
            .and_then(|f| f.info.principal.clone());
        for op in accept.operations {
            let op_id = op.id.clone();
            let op_type = op.type_;
            self.master.metrics.framework_operation(fid, op_type);
            let result = self.apply_operation(
                now,
                fid,
                agent,
                &role,
                &mut pool,
                op,
                refined,
                principal.as_deref(),
            );
            match (result, op_id) {
                (Ok(()), Some(id)) => {
                    self.operation_feedback(fid, agent, id, op_type, OperationState::Finished, None)
                }
                (Err(e), Some(id)) => {
                    self.operation_feedback(fid, agent, id, op_type, OperationState::Error, Some(e))
                }
                (Err(e), None) => tracing::info!("framework {fid}: operation refused: {e}"),
                (Ok(()), None) => {}
            }
        }
        self.filter_resources(now, fid, agent, &role, pool, refuse);
    }

    /// Applies one operation of an ACCEPT.
    #[allow(clippy::too_many_arguments)]
    fn apply_operation(
        &mut self,
        now: Now,
        fid: &FrameworkId,
        agent: usize,
        role: &str,
        pool: &mut Resources,
        op: OfferOperation,
        refined: bool,
        principal: Option<&str>,
    ) -> Result<(), String> {
        let convert = |rs: Vec<Resource>| -> Result<Vec<Resource>, String> {
            rs.into_iter()
                .map(|r| {
                    r.validate_format().map_err(|e| e.to_string())?;
                    // A refined framework's resource is refined already, unless it is in
                    // the endpoint format, whose legacy fields go.
                    let r = if refined && r.reservations.is_empty() {
                        r
                    } else {
                        r.to_refined_format()
                    };
                    validate_names(&r)?;
                    Ok(strip(&r))
                })
                .collect()
        };
        match op.type_ {
            OperationType::Reserve => {
                let rs = convert(op.reserve.map(|r| r.resources).unwrap_or_default())?;
                for r in &rs {
                    let top = r
                        .reservations
                        .last()
                        .ok_or("Invalid RESERVE Operation: resource is not reserved")?;
                    // As Mesos: a framework reserves only to the role the offer was allocated
                    // to (a refinement of a parent's reservation is offered to the child role,
                    // which is then the allocation role).
                    if top.role.as_deref() != Some(role) {
                        return Err(format!("Invalid RESERVE Operation: A reserve operation was attempted for a resource with role '{}', but the resource was allocated to role '{role}'", top.role.as_deref().unwrap_or("")));
                    }
                    if let (Some(p), Some(rp)) = (principal, top.principal.as_deref()) {
                        if p != rp {
                            return Err(format!("Invalid RESERVE Operation: principal '{rp}' does not match the framework's principal '{p}'"));
                        }
                    }
                }
                self.apply_resource_op(agent, pool, ResourceOp::Reserve(rs))
            }
            OperationType::Unreserve => {
                let rs = convert(op.unreserve.map(|r| r.resources).unwrap_or_default())?;
                self.apply_resource_op(agent, pool, ResourceOp::Unreserve(rs))
            }
            OperationType::Create => {
                let rs = convert(op.create.map(|r| r.volumes).unwrap_or_default())?;
                self.apply_resource_op(agent, pool, ResourceOp::Create(rs))
            }
            OperationType::Destroy => {
                let rs = convert(op.destroy.map(|r| r.volumes).unwrap_or_default())?;
                self.apply_resource_op(agent, pool, ResourceOp::Destroy(rs))
            }
            OperationType::Launch => {
                let tasks = op.launch.map(|l| l.task_infos).unwrap_or_default();
                if op.id.is_some() {
                    for t in &tasks {
                        self.task_error(
                            now,
                            fid,
                            t,
                            Reason::TaskInvalid,
                            "An operation ID must not be set on LAUNCH",
                        );
                    }
                    return Err("An operation ID must not be set on LAUNCH".to_string());
                }
                for mut task in tasks {
                    task.resources = convert_all(task.resources, refined);
                    match self.validate_task(fid, agent, &task, pool, false) {
                        Err(e) => self.task_error(now, fid, &task, Reason::TaskInvalid, &e),
                        Ok(()) if task.executor.is_some() => self.task_error(
                            now,
                            fid,
                            &task,
                            Reason::TaskInvalid,
                            "Custom executors are not supported by cairn cluster; use LAUNCH with a command, or LAUNCH_GROUP",
                        ),
                        Ok(()) => {
                            let launched = task.clone();
                            let user =
                                self.launch_user(fid, agent, None, std::slice::from_ref(&task));
                            match user.and_then(|_| {
                                self.agent_launch(now, agent, fid, None, vec![task])
                                    .map_err(|e| (Reason::TaskInvalid, e))
                            }) {
                                Ok(()) => {
                                    take(pool, &launched.resources);
                                    self.record_launch(fid, agent, None, &launched);
                                }
                                Err((reason, e)) => {
                                    self.task_error(now, fid, &launched, reason, &e)
                                }
                            }
                        }
                    }
                }
                Ok(())
            }
            OperationType::LaunchGroup => {
                let Some(lg) = op.launch_group else {
                    return Err("Expecting 'launch_group' to be present".to_string());
                };
                let mut executor = lg.executor;
                executor.resources = convert_all(executor.resources, refined);
                let mut tasks = lg.task_group.tasks;
                for t in &mut tasks {
                    t.resources = convert_all(std::mem::take(&mut t.resources), refined);
                }
                let invalid = if op.id.is_some() {
                    Some((
                        Reason::TaskGroupInvalid,
                        "An operation ID must not be set on LAUNCH_GROUP".to_string(),
                    ))
                } else {
                    self.validate_group(fid, agent, &executor, &tasks, pool)
                        .err()
                        .map(|e| (Reason::TaskGroupInvalid, e))
                        .or_else(|| {
                            self.launch_user(fid, agent, Some(&executor.executor_id), &tasks)
                                .err()
                        })
                };
                if let Some((reason, e)) = invalid {
                    for t in &tasks {
                        self.task_error(now, fid, t, reason, &e);
                    }
                    return Err(e);
                }
                let fresh = self
                    .live_container(agent, fid, &executor.executor_id)
                    .is_none();
                let executor_id = executor.executor_id.clone();
                let executor_resources = executor.resources.clone();
                if let Err(e) = self.agent_launch(now, agent, fid, Some(executor), tasks.clone()) {
                    for t in &tasks {
                        self.task_error(now, fid, t, Reason::TaskGroupInvalid, &e);
                    }
                    return Err(e);
                }
                if fresh {
                    take(pool, &executor_resources);
                }
                for t in &tasks {
                    take(pool, &t.resources);
                    self.record_launch(fid, agent, Some(executor_id.clone()), t);
                }
                Ok(())
            }
            other => Err(format!(
                "Operation {other:?} is not supported by cairn cluster"
            )),
        }
    }

    /// RESERVE / UNRESERVE / CREATE / DESTROY against a pool of resources the caller may use,
    /// as Mesos applies them ([`apply_resource_operation`]); on success the agent's books and
    /// disk follow. Nothing changes on failure.
    pub(crate) fn apply_resource_op(
        &mut self,
        agent: usize,
        pool: &mut Resources,
        op: ResourceOp,
    ) -> Result<(), String> {
        let agent_dir = self.agents[agent].dir.clone();
        // A volume's directory is chosen by the framework (role, persistence ID): one that
        // would not be inside the agent's directory refuses the operation before it counts.
        // Once the books accept the operation, every one of its volumes has a persistence ID,
        // so these are the directories of all of them, in order.
        let dirs = match &op {
            ResourceOp::Create(rs) | ResourceOp::Destroy(rs) => rs
                .iter()
                .filter(|r| r.persistence_id().is_some())
                .map(|r| volume_dir(&agent_dir, r))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("Invalid {} Operation: {e}", op.name()))?,
            _ => Vec::new(),
        };
        // On copies: a volume directory that cannot be made refuses the operation too.
        let mut next = pool.clone();
        let mut total = self.agents[agent].total.clone();
        let on_disk = OnDisk { state: self, agent };
        apply_resource_operation(&mut next, &mut total, &op, &on_disk)
            .map_err(|e| e.to_string())?;
        match op {
            ResourceOp::Create(_) => {
                for dir in &dirs {
                    if let Err(e) = crate::sandbox::create_volume(&agent_dir, dir, None) {
                        return Err(format!("Failed to create the volume directory: {e}"));
                    }
                }
            }
            ResourceOp::Destroy(_) => {
                for dir in dirs {
                    self.effect(Effect::RemoveDir {
                        root: agent_dir.clone(),
                        dir,
                    });
                }
            }
            ResourceOp::Reserve(_) | ResourceOp::Unreserve(_) => {}
        }
        *pool = next;
        self.agents[agent].total = total;
        self.mark(Dirty::Agent(agent));
        Ok(())
    }

    fn volume_in_use(&self, agent: usize, volume: &Resource) -> bool {
        let Some(rt) = &self.agents[agent].runtime else {
            return false;
        };
        rt.executors.values().any(|e| {
            e.used_resources().iter().any(|r| {
                r.persistence_id().is_some() && r.persistence_id() == volume.persistence_id()
            })
        })
    }

    fn validate_task(
        &self,
        fid: &FrameworkId,
        agent: usize,
        task: &TaskInfo,
        pool: &Resources,
        in_group: bool,
    ) -> Result<(), String> {
        // A task ID names its directory in the pod's sandbox.
        validate_id(&task.task_id.value)
            .map_err(|e| format!("'TaskInfo.task_id' is not a valid ID: {e}"))?;
        if task.agent_id != self.agents[agent].id {
            return Err(format!(
                "Task uses agent {} but the offer is from agent {}",
                task.agent_id, self.agents[agent].id
            ));
        }
        let duplicate = self.master.frameworks.get(fid).is_some_and(|f| {
            f.tasks.contains_key(&task.task_id)
                || f.completed_tasks.iter().any(|t| t.task_id == task.task_id)
        });
        if duplicate {
            return Err(format!("Task has duplicate ID: {}", task.task_id));
        }
        if in_group {
            if task.executor.is_some() {
                return Err("Task in a task group must not set 'executor'".to_string());
            }
            if task.command.is_none() {
                return Err("Task in a task group needs a 'command'".to_string());
            }
        } else if task.command.is_some() == task.executor.is_some() {
            return Err("Task must set exactly one of 'command' and 'executor'".to_string());
        }
        if task.resources.is_empty() {
            return Err("Task uses no resources".to_string());
        }
        for r in &task.resources {
            validate_names(r).map_err(|e| format!("Task uses invalid resources: {e}"))?;
        }
        // A GPU is a device: a task gets whole ones (Mesos' words; its agent refuses the rest).
        let gpus: f64 = task
            .resources
            .iter()
            .filter(|r| r.name == "gpus")
            .map(|r| r.scalar_value())
            .sum();
        if (gpus * 1000.0).round() as i64 % 1000 != 0 {
            return Err("The 'gpus' resource must be an unsigned integer".to_string());
        }
        if let Some(command) = &task.command {
            validate_uris(command)?;
        }
        let needed = Resources::from(task.resources.as_slice()).without_allocation_info();
        if !pool.contains(&needed) {
            return Err(format!(
                "Task uses more resources {needed} than available {pool}"
            ));
        }
        Ok(())
    }

    fn validate_group(
        &self,
        fid: &FrameworkId,
        agent: usize,
        executor: &cairn_proto::ExecutorInfo,
        tasks: &[TaskInfo],
        pool: &Resources,
    ) -> Result<(), String> {
        if executor.type_ != Some(ExecutorType::Default) {
            return Err("'ExecutorInfo.type' must be DEFAULT for LAUNCH_GROUP".to_string());
        }
        if executor.command.is_some() {
            return Err(
                "'ExecutorInfo.command' must not be set for a DEFAULT executor".to_string(),
            );
        }
        // The executor ID names the pod's sandbox directory.
        validate_id(&executor.executor_id.value)
            .map_err(|e| format!("'ExecutorInfo.executor_id' is not a valid ID: {e}"))?;
        if executor.framework_id.as_ref().is_some_and(|f| f != fid) {
            return Err("'ExecutorInfo.framework_id' is not the framework's".to_string());
        }
        for r in &executor.resources {
            validate_names(r).map_err(|e| format!("Executor uses invalid resources: {e}"))?;
        }
        executor_minimum(executor)?;
        if tasks.is_empty() {
            return Err("The task group is empty".to_string());
        }
        let mut ids = BTreeSet::new();
        for t in tasks {
            if !ids.insert(&t.task_id) {
                return Err(format!("Task group has duplicate task ID: {}", t.task_id));
            }
        }
        let mut remaining = pool.clone();
        if self
            .live_container(agent, fid, &executor.executor_id)
            .is_none()
        {
            let needed = Resources::from(executor.resources.as_slice()).without_allocation_info();
            if !remaining.contains(&needed) {
                return Err(format!(
                    "Executor uses more resources {needed} than available {remaining}"
                ));
            }
            take(&mut remaining, &executor.resources);
        }
        for t in tasks {
            self.validate_task(fid, agent, t, &remaining, true)?;
            take(&mut remaining, &t.resources);
        }
        Ok(())
    }

    /// The master's mirror learns of a launched task (state STAGING).
    fn record_launch(
        &mut self,
        fid: &FrameworkId,
        agent: usize,
        executor_id: Option<cairn_proto::ExecutorId>,
        task: &TaskInfo,
    ) {
        if let Some(fw) = self.master.frameworks.get_mut(fid) {
            let t = MasterTask {
                agent,
                executor_id,
                info: task.clone(),
                state: TaskState::Staging,
                statuses: Vec::new(),
                pending: None,
                unreachable_time: None,
            };
            let view = super::views::task_view(fid, &self.agents[agent].id, &task.task_id, &t);
            fw.tasks.insert(task.task_id.clone(), t);
            self.publish(cairn_proto::master::Event::task_added(view));
        }
    }

    /// TASK_ERROR from the master for a task it refused.
    fn task_error(
        &mut self,
        now: Now,
        fid: &FrameworkId,
        task: &TaskInfo,
        reason: Reason,
        message: &str,
    ) {
        let status = self.master_status(
            now,
            fid,
            &task.task_id,
            Some(task.agent_id.clone()),
            TaskState::Error,
            reason,
            message,
        );
        self.master.metrics.task_terminal(fid, &status);
        self.send_to_framework(fid, &scheduler::Event::update(status));
    }

    /// Every operation of an ACCEPT with bad offers is dropped: tasks hear TASK_DROPPED (or
    /// TASK_LOST), operations with an id hear OPERATION_ERROR.
    fn drop_operations(&mut self, now: Now, fid: &FrameworkId, ops: &[OfferOperation], why: &str) {
        for op in ops {
            let tasks: Vec<&TaskInfo> = match op.type_ {
                OperationType::Launch => {
                    op.launch.iter().flat_map(|l| l.task_infos.iter()).collect()
                }
                OperationType::LaunchGroup => op
                    .launch_group
                    .iter()
                    .flat_map(|l| l.task_group.tasks.iter())
                    .collect(),
                _ => Vec::new(),
            };
            for t in tasks {
                let s = self.master_status(
                    now,
                    fid,
                    &t.task_id,
                    Some(t.agent_id.clone()),
                    TaskState::Dropped,
                    Reason::InvalidOffers,
                    &format!("Task launched with invalid offers: {why}"),
                );
                self.master.metrics.task_terminal(fid, &s);
                self.send_to_framework(fid, &scheduler::Event::update(s));
            }
            if let Some(id) = &op.id {
                let status = OperationStatus {
                    operation_id: Some(id.clone()),
                    state: OperationState::Error,
                    message: Some(why.to_string()),
                    ..Default::default()
                };
                self.send_to_framework(fid, &scheduler::Event::update_operation_status(status));
            }
        }
    }

    /// UPDATE_OPERATION_STATUS for an operation that had an id. Successes are reliable (they
    /// carry a uuid and are kept until acknowledged); errors from the master are not.
    fn operation_feedback(
        &mut self,
        fid: &FrameworkId,
        agent: usize,
        id: OperationId,
        op_type: cairn_proto::OperationType,
        state: OperationState,
        message: Option<String>,
    ) {
        let reliable = state == OperationState::Finished;
        self.master
            .metrics
            .inc("master/messages_operation_status_update");
        self.master
            .metrics
            .inc("master/valid_operation_status_updates");
        let status = OperationStatus {
            operation_id: Some(id.clone()),
            state,
            message,
            uuid: reliable.then(|| Uuid {
                value: super::new_uuid(),
            }),
            agent_id: Some(self.agents[agent].id.clone()),
            ..Default::default()
        };
        if reliable {
            if let Some(fw) = self.master.frameworks.get_mut(fid) {
                // The master tracks it until the framework acknowledges it.
                fw.operations.insert(id, (op_type, status.clone()));
                self.master.metrics.operation_state(op_type, state, 1);
            }
        }
        self.send_to_framework(fid, &scheduler::Event::update_operation_status(status));
    }
}

/// A resource of an operation or a launch, by Mesos' rules (`Resource::validate`: its format,
/// its roles and its persistence ID) and, for a persistent volume, cairn's rule for its
/// container path: a relative path inside the sandbox, where the volume is linked.
/// Mesos' floor for a task group's executor: it must have at least 0.01 CPUs and 32 MB of
/// memory, and some disk (its sandbox), or the whole group fails with TASK_ERROR; the texts are
/// the master's own.
fn executor_minimum(executor: &cairn_proto::ExecutorInfo) -> Result<(), String> {
    const MIN_CPUS: f64 = 0.01;
    const MIN_MEM_MB: f64 = 32.0;
    let id = &executor.executor_id;
    let sum = |name: &str| {
        let mut found = false;
        let total: f64 = executor
            .resources
            .iter()
            .filter(|r| r.name == name)
            .inspect(|_| found = true)
            .map(Resource::scalar_value)
            .sum();
        found.then_some(total)
    };
    let shown = |v: Option<f64>| v.map_or("None".to_string(), cairn_proto::format_scalar);
    let cpus = sum("cpus");
    if cpus.is_none_or(|c| c < MIN_CPUS) {
        return Err(format!(
            "Executor '{id}' uses less CPUs ({}) than the minimum required ({MIN_CPUS})",
            shown(cpus)
        ));
    }
    let mem = sum("mem");
    if mem.is_none_or(|m| m < MIN_MEM_MB) {
        let shown = mem.map_or("None".to_string(), whole_megabytes);
        return Err(format!(
            "Executor '{id}' uses less memory ({shown}) than the minimum required ({MIN_MEM_MB}MB)"
        ));
    }
    if sum("disk").is_none() {
        return Err(format!("Executor '{id}' uses no disk"));
    }
    Ok(())
}

/// Memory as the master writes it in its refusals: the whole megabytes (the fraction is
/// dropped), in the largest unit that loses nothing, `0B` for none.
fn whole_megabytes(mb: f64) -> String {
    // Negative and NaN amounts are refused before this; as whole megabytes they are none.
    let mb = mb.max(0.0).trunc() as u64;
    match mb {
        0 => "0B".to_string(),
        mb if mb % 1024 != 0 => format!("{mb}MB"),
        mb if mb % (1024 * 1024) != 0 => format!("{}GB", mb / 1024),
        mb => format!("{}TB", mb / (1024 * 1024)),
    }
}

pub(crate) fn validate_names(r: &Resource) -> Result<(), String> {
    r.validate()
        .map_err(|e| format!("Invalid resources: {e}"))?;
    let volume = r.disk.as_ref().and_then(|d| d.volume.as_ref());
    if let (true, Some(v)) = (r.is_persistent_volume(), volume) {
        validate_relative_path(&v.container_path).map_err(|e| {
            format!("Invalid resources: the volume's 'container_path' must be a path inside the sandbox: {e}")
        })?;
    }
    Ok(())
}

/// The fetcher's checks of a command's URIs, made when the task is launched rather than when
/// its executor fetches them: an output file that would leave the sandbox fails the launch.
fn validate_uris(command: &cairn_proto::CommandInfo) -> Result<(), String> {
    for uri in &command.uris {
        validate_uri(&uri.value, uri.output_file.as_deref())
            .map_err(|e| format!("Task's `CommandInfo` is invalid: {e}"))?;
    }
    Ok(())
}

fn convert_all(rs: Vec<Resource>, refined: bool) -> Vec<Resource> {
    if refined {
        rs
    } else {
        rs.into_iter().map(|r| r.to_refined_format()).collect()
    }
}

/// Removes what a task or executor uses from the pool (already checked to be there).
fn take(pool: &mut Resources, resources: &[Resource]) {
    for r in resources {
        let _ = pool.subtract(&strip(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_below_the_floor_is_written_in_whole_megabytes_as_the_master_writes_it() {
        assert_eq!(whole_megabytes(16.0), "16MB");
        assert_eq!(whole_megabytes(16.5), "16MB");
        assert_eq!(whole_megabytes(31.99), "31MB");
        assert_eq!(whole_megabytes(0.5), "0B");
        assert_eq!(whole_megabytes(0.0), "0B");
        assert_eq!(whole_megabytes(2048.0), "2GB");
    }
}
