//! The scheduler state machine: events in, actions out, time passed in.
//!
//! # Driving it
//!
//! Inputs: [`Scheduler::handle_event`] (every event of the subscription stream),
//! [`Scheduler::handle_disconnected`], [`Scheduler::handle_committed`] /
//! [`Scheduler::handle_commit_failed`] (the fate of a write batch),
//! [`Scheduler::handle_timeout`] and [`Scheduler::handle_command`] (operator plan commands); and
//! what the master's operator API says: [`Scheduler::handle_master_state`] (`GET_STATE`, the
//! takeover check, before every SUBSCRIBE) and [`Scheduler::handle_agents`] (`GET_AGENTS`,
//! when an [`Action::ReadAgents`] asked for it).
//! Outputs: [`Scheduler::poll_action`] until it returns `None`, after every input; and
//! [`Scheduler::poll_timeout`], the next time `handle_timeout` has work.
//!
//! # Guarantees
//!
//! * Persist before act: a call is never released by `poll_action` before every write batch
//!   queued ahead of it was reported committed. The TaskInfos of a launch are in a batch that
//!   precedes its ACCEPT; a status update is in a batch that precedes its ACKNOWLEDGE; a new
//!   framework id is persisted before any call.
//! * Decisions depend only on the inputs (including `now` and the configured seed): the same
//!   inputs give the same actions.
//!
//! # Assumptions
//!
//! * The driver commits batches in the order polled (or at least reports each one), and
//!   passes a `now` that does not run backwards by much (timers use it as is).
//! * After `handle_commit_failed` the scheduler is finished: the driver restarts from the
//!   store.

mod agents;
mod config;
mod demand;
mod endpoints;
mod error;
mod events;
mod exits;
mod kills;
mod offers;
mod outbox;
mod overrides;
mod pause;
mod plans;
mod recovery;
mod status;
mod takeover;
mod teardown;
mod update;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use cairn_proto::scheduler::{Call, Event};
use cairn_proto::{CapabilityType, FrameworkId, FrameworkInfo, TaskInfo};

pub use config::{
    ApiEndpoint, SchedulerConfig, TakeoverChoice, DEFAULT_MAX_PODS_PER_OFFER, DEFAULT_SERVICE_TLD,
};
// The types of the scheduler's answers, where its callers look for them.
pub use crate::offer::{CheckOutcome, DecisionRecord, Evaluation};
pub use crate::plan::{Command, CommandRefusal, PhaseStatus, PlanStatus, Status, StepStatus};
pub use endpoints::{Endpoint, VIP_DOMAIN};
pub use error::SchedulerError;
pub use exits::exit_code;
pub use outbox::Action;
pub use overrides::Overrides;
pub(crate) use pause::pause_differs;
pub use status::{PodStatus, PodTaskStatus, TaskVolume, CRASH_LOOP_FAILURES, CRASH_LOOP_WINDOW};
pub use takeover::{Takeover, TakeoverRefusal};
pub use teardown::{DECOMMISSION_PLAN, UNINSTALL_PLAN};
pub use update::UpdateCheck;

use crate::config::{choose_target, id_inputs, relabel_unchanged, ConfigViolation, TargetChoice};
use crate::decide::Context;
use crate::ids::IdSource;
use crate::offer::{builtin_checks, CompiledRule, ExecutorSize, OfferCheck, Rank};
use crate::plan::overrides::PLAN_OVERRIDES_PROPERTY;
use crate::plan::{
    deploy_plan_spec, derive, derive_work, DerivedPlan, ExpandedPlan, PlanInput, PlanOverrides,
    Work,
};
use crate::recovery::plan::RecoveryPlan;
use crate::recovery::{Backoff, RecoveryPolicy, RecoveryState, ReplacementPolicy};
use crate::spec::{validate, ServiceSpec};
use crate::store::{
    config_key, config_stored_property, property_key, ConfigId, StoredState, TaskRecord,
    WriteBatch, WriteOp, CONFIG_TARGET, SCHEMA_VERSION, SCHEMA_VERSION_KEY,
};
use crate::time::Time;

use demand::Demand;
use kills::Kills;
use outbox::Outbox;

/// The scheduler of one service. See the module docs for how to drive it.
pub struct Scheduler {
    cfg: SchedulerConfig,
    spec: ServiceSpec,
    config_id: ConfigId,
    /// The deploy plan, customized and expanded into steps once at start.
    deploy: ExpandedPlan,
    /// The spec's plans beyond deploy and update, expanded once: idle until started.
    others: Vec<ExpandedPlan>,
    /// What operators did to those plans (`Properties/plan-runs`).
    plan_runs: crate::plan::PlanRuns,
    /// Built-in checks, then the author's.
    checks: Vec<Box<dyn OfferCheck>>,
    /// How many of `checks` are built in.
    builtin_checks: usize,
    /// Kept for the next scheduler a restart with a new spec builds.
    plan_customizer: Option<Box<dyn crate::plan::PlanCustomizer>>,
    /// The author's config validators, run by `check_update` too.
    config_validators: Vec<Box<dyn crate::config::ConfigValidator>>,
    rank: Box<dyn Rank>,
    recovery: Box<dyn RecoveryPolicy>,
    /// Compiled placement rules per pod type.
    placement: HashMap<String, Arc<[CompiledRule]>>,
    framework_id: Option<FrameworkId>,
    /// Why the stored framework id was unusable, if it was (see `StoredState`).
    framework_id_problem: Option<String>,
    /// What the master said of its agents, and what the scheduler made of it.
    agents: agents::Agents,
    /// Every task by task name, as stored (or queued to be stored).
    tasks: BTreeMap<String, TaskRecord>,
    /// Current task id → task name.
    task_ids: HashMap<String, String>,
    plan_overrides: PlanOverrides,
    outbox: Outbox,
    ids: IdSource,
    subscribed: bool,
    reconciler: crate::reconcile::Reconciler,
    demand: Demand,
    kills: Kills,
    decisions: VecDeque<DecisionRecord>,
    /// Why a pod instance's last requirement found no offer, for step messages.
    refusals: HashMap<String, String>,
    /// The master's last ERROR event, shown in plan errors.
    last_error: Option<String>,
    /// A commit failed: nothing more goes out.
    failed: bool,
    /// The replacement policy in force (configured, adjusted by the recovery policy).
    replacement: ReplacementPolicy,
    /// Recovery's persisted memory: failure timers, replacement marks, reclaims.
    recovery_state: RecoveryState,
    /// When the current subscription began (offers before it say nothing of what an ACCEPT
    /// made since did; see `reclaim`).
    subscribed_at: Option<Time>,
    /// Crash-loop backoff (in memory: a restart starts every pod over).
    backoff: Backoff,
    /// The time of the latest input, for what is shown between inputs (plans).
    last_now: Time,
    /// Why the spec this scheduler was started with was refused (the stored target runs
    /// instead); shown as the deploy plan's errors.
    config_errors: Vec<ConfigViolation>,
    /// The first deploy completed (`Properties/deploy-completed`): a spec's `update` plan
    /// rolls out later changes.
    deploy_completed: bool,
    /// Decommission and uninstall memory.
    teardown: teardown::Teardown,
    /// Pod instances an operator paused (`Properties/paused/<pod>`).
    paused: std::collections::BTreeSet<String>,
    /// Set by an input that changed nothing the plans read (a reconciliation answer confirming
    /// the stored state): `handle_event` then skips the refresh. Taken by every `handle_event`.
    skip_refresh: bool,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("service", &self.spec.name)
            .field("config_id", &self.config_id)
            .field("framework_id", &self.framework_id)
            .field("tasks", &self.tasks.len())
            .field("subscribed", &self.subscribed)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Builds the scheduler from the spec to run and what the store holds.
    ///
    /// A spec different from the stored target (or the first one) becomes the new target,
    /// stored under a fresh [`ConfigId`]: the first action is then a Persist of
    /// `SchemaVersion`, `Configurations/<id>` and `ConfigTarget`. The id is uuid-shaped and
    /// drawn from a deterministic id source seeded with `cfg.seed`, `now`, a hash of the
    /// spec's JSON and the store's shape (see [`crate::ids`]).
    ///
    /// A change a config validator refuses does not stop the service: the stored target stays
    /// in force (nothing is written) and the violations are in [`Scheduler::config_errors`]
    /// and the deploy plan's `errors`. Configs that neither the target nor a stored task
    /// refers to are deleted. With `cfg.uninstall` (or a stored `Properties/uninstalling`)
    /// the scheduler uninstalls the service instead (see [`Scheduler::is_uninstalled`]).
    ///
    /// # Errors
    /// [`SchedulerError::Spec`] when the spec fails validation; [`SchedulerError::Config`]
    /// when a config validator refuses a first install (there is no target to keep).
    /// Nothing is written in either case.
    pub fn new(
        cfg: SchedulerConfig,
        spec: ServiceSpec,
        stored: StoredState,
        now: Time,
    ) -> Result<Scheduler, SchedulerError> {
        Self::with_overrides(cfg, spec, stored, now, Overrides::default())
    }

    /// [`Scheduler::new`] with author overrides.
    pub fn with_overrides(
        cfg: SchedulerConfig,
        spec: ServiceSpec,
        mut stored: StoredState,
        now: Time,
        overrides: Overrides,
    ) -> Result<Scheduler, SchedulerError> {
        let spec = with_taskcfg(spec, &cfg.taskcfg);
        validate(&spec).map_err(SchedulerError::Spec)?;
        check_target_present(&stored)?;
        let mut ids = IdSource::new(cfg.seed, &id_inputs(&spec, &stored, now));
        let mut teardown = teardown::Teardown::from_properties(&stored.properties);
        let mut outbox = Outbox::default();
        // Uninstall is marked before anything else is written: it cannot be half-undone.
        if cfg.uninstall && teardown.uninstall_since.is_none() {
            outbox.persist(vec![teardown::uninstall_write(now)]);
            teardown.uninstall_since = Some(now);
        }
        let uninstalling = teardown.uninstall_since.is_some();
        let mut choice = choose_target(&spec, &stored, &overrides.config_validators, &mut ids)
            .map_err(SchedulerError::Config)?;
        // An uninstalling service keeps the target it had: a new spec has nothing to deploy.
        if let (true, Some(id), TargetChoice::New(_)) = (uninstalling, &stored.target, &choice) {
            choice = TargetChoice::Unchanged(id.clone());
        }
        let (spec, config_errors) = match choice {
            TargetChoice::Refused {
                kept,
                spec: old,
                violations,
            } => {
                choice = TargetChoice::Unchanged(kept);
                (*old, violations)
            }
            _ if uninstalling => (
                stored
                    .target
                    .as_ref()
                    .and_then(|id| stored.configs.get(id).cloned())
                    .unwrap_or(spec),
                Vec::new(),
            ),
            _ => (spec, Vec::new()),
        };
        let config_id = choice.id().clone();
        let mut plan_runs = crate::plan::PlanRuns::from_stored(
            stored
                .properties
                .get(crate::plan::runs::PLAN_RUNS_PROPERTY)
                .map(Vec::as_slice),
        );
        if !uninstalling {
            // The relabels go in the target's batch: a restart in between would otherwise see
            // the same spec (no change) and relaunch pods that did not need it.
            let mut writes = match &choice {
                TargetChoice::New(id) => target_writes(&spec, id, now),
                _ => Vec::new(),
            };
            writes.extend(relabel_unchanged(
                &mut stored.tasks,
                &stored.configs,
                &config_id,
                &spec,
            ));
            // A plan the target no longer has takes its state with it, in the target's batch:
            // were it kept, a later spec bringing back a plan of that name would find it
            // started, with another plan's run and parameters.
            if plan_runs.keep_only(spec.plans_not_run().map(|p| p.name.as_str())) {
                writes.push(plan_runs.write());
            }
            outbox.persist(writes);
            outbox.persist(teardown::unused_configs(&stored, &config_id));
        }
        let deploy_completed = stored.properties.contains_key(teardown::DEPLOY_COMPLETED);
        let plan_spec = rollout_plan_spec(&spec, deploy_completed);
        let deploy = ExpandedPlan::new(
            &spec,
            match &overrides.plan_customizer {
                Some(c) => c.customize(plan_spec),
                None => plan_spec,
            },
        );
        let plan_overrides = PlanOverrides::for_config(
            stored
                .properties
                .get(PLAN_OVERRIDES_PROPERTY)
                .map(Vec::as_slice),
            &config_id,
            &deploy.spec.name,
        );
        let others = spec
            .plans_not_run()
            .map(|p| ExpandedPlan::new(&spec, p.clone()))
            .collect();
        let mut checks = builtin_checks(&spec.role);
        let builtin_checks = checks.len();
        checks.extend(overrides.checks);
        let placement = compile_placements(&spec);
        let task_ids = stored
            .tasks
            .iter()
            .map(|(name, r)| (r.info.task_id.value.clone(), name.clone()))
            .collect();
        let configured = match &spec.replacement_failure_policy {
            Some(policy) if !cfg.replacement_from_operator => ReplacementPolicy {
                permanent_failure_timeout: Some(std::time::Duration::from_secs(
                    policy.permanent_failure_timeout_s,
                )),
                min_replace_delay: std::time::Duration::from_secs(policy.min_replace_delay_s),
            },
            _ => cfg.replacement,
        };
        let replacement = overrides.recovery.replacement(&configured);
        let recovery_state = RecoveryState::from_properties(&stored.properties);
        let paused = pause::from_properties(&stored.properties);
        let mut scheduler = Scheduler {
            cfg,
            spec,
            config_id,
            deploy,
            others,
            plan_runs,
            checks,
            builtin_checks,
            plan_customizer: overrides.plan_customizer,
            config_validators: overrides.config_validators,
            rank: overrides.rank,
            recovery: overrides.recovery,
            placement,
            framework_id: stored.framework_id,
            framework_id_problem: stored.framework_id_problem,
            agents: agents::Agents::default(),
            tasks: stored.tasks,
            task_ids,
            plan_overrides,
            outbox,
            ids,
            subscribed: false,
            reconciler: Default::default(),
            demand: Demand::default(),
            kills: Kills::default(),
            decisions: VecDeque::new(),
            refusals: HashMap::new(),
            last_error: None,
            failed: false,
            replacement,
            recovery_state,
            subscribed_at: None,
            backoff: Backoff::default(),
            last_now: now,
            config_errors,
            deploy_completed,
            teardown,
            paused,
            skip_refresh: false,
        };
        scheduler.question_stored();
        Ok(scheduler)
    }

    /// What to SUBSCRIBE with: the service's role and its pods' refined pre-reserved roles
    /// (MULTI_ROLE), and GPU_RESOURCES only when the spec asks for GPUs
    /// ([`ServiceSpec::uses_gpus`]).
    pub fn framework_info(&self) -> FrameworkInfo {
        let gpus = self
            .spec
            .uses_gpus()
            .then_some(CapabilityType::GpuResources);
        FrameworkInfo {
            id: self.framework_id.clone(),
            failover_timeout: Some(self.cfg.failover_timeout_secs),
            checkpoint: Some(true),
            roles: self.spec.roles(),
            principal: Some(self.spec.principal.clone()),
            hostname: self.cfg.hostname.clone(),
            webui_url: self.spec.web_url.clone(),
            capabilities: [
                CapabilityType::MultiRole,
                CapabilityType::ReservationRefinement,
                CapabilityType::PartitionAware,
                CapabilityType::TaskKillingState,
            ]
            .into_iter()
            .chain(gpus)
            .map(Into::into)
            .collect(),
            ..FrameworkInfo::new(self.spec.user.clone(), self.spec.name.clone())
        }
    }

    /// The framework id, once Mesos gave one (stored or from SUBSCRIBED).
    pub fn framework_id(&self) -> Option<&FrameworkId> {
        self.framework_id.as_ref()
    }

    /// Whether an explicit reconciliation is under way (subscribed, and some stored task not
    /// yet answered for): offers wait until it settles.
    pub fn is_reconciling(&self) -> bool {
        self.reconciler.is_running() && !self.reconciler.is_settled()
    }

    /// The target config id.
    pub fn config_id(&self) -> &ConfigId {
        &self.config_id
    }

    /// The target spec.
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }

    /// Every event of the subscription stream.
    pub fn handle_event(&mut self, now: Time, event: Event) {
        self.handle_events(now, [event]);
    }

    /// Events that arrived together, in order: each handled as [`Scheduler::handle_event`]
    /// does, but with one re-derivation of the plans after the last instead of one after each.
    /// A deploy's status updates come in bursts of hundreds, and every re-derivation walks
    /// every plan over every task. The plans are re-derived before an OFFERS among them (offers
    /// are matched against the plans as the events before them left them), and after every
    /// event while uninstalling (a re-derivation may end the service, and nothing after that
    /// may be acted on).
    pub fn handle_events(&mut self, now: Time, events: impl IntoIterator<Item = Event>) {
        let mut pending = false;
        for event in events {
            let offers = event.type_ == cairn_proto::scheduler::EventType::Offers;
            if pending && (offers || self.is_uninstalling()) {
                self.refresh(now);
                pending = false;
            }
            // After TEARDOWN the service is gone: late events have nothing to act on.
            if self.failed || self.is_uninstalled() {
                return;
            }
            self.last_now = self.last_now.max(now);
            self.on_event(now, event);
            pending |= !std::mem::take(&mut self.skip_refresh);
        }
        if pending {
            self.refresh(now);
        }
    }

    /// The subscription stream broke: forget offers and queued calls; emit no calls until
    /// SUBSCRIBED again. Queued write batches still go out.
    pub fn handle_disconnected(&mut self, _now: Time) {
        self.subscribed = false;
        self.outbox.drop_calls();
        self.reconciler.stop();
        self.kills.clear();
        self.subscribed_at = None;
    }

    /// A batch emitted by Persist is durable; calls queued behind it may go.
    pub fn handle_committed(&mut self, batch_id: u64) {
        self.outbox.committed(batch_id);
    }

    /// A batch could not be committed. The in-memory state is now ahead of the store, so the
    /// scheduler stops: every queued action is dropped, nothing more is emitted, and the error
    /// tells the driver to restart from the store.
    pub fn handle_commit_failed(&mut self, batch_id: u64) -> Result<(), SchedulerError> {
        self.failed = true;
        self.outbox.clear();
        Err(SchedulerError::Commit { batch_id })
    }

    /// Timers: reconciliation retries, deferred revives, kill retries.
    pub fn handle_timeout(&mut self, now: Time) {
        if self.failed || !self.subscribed || self.is_uninstalled() {
            return;
        }
        self.last_now = self.last_now.max(now);
        self.backoff.handle_timeout(now);
        self.expire_reclaims(now);
        if let Some(r) = self.reconciler.handle_timeout(now) {
            self.send_reconcile(r);
        }
        if let Some(c) = self
            .demand
            .handle_timeout(now, self.cfg.revive_min_interval)
        {
            self.send_demand(c);
        }
        for (task, agent) in self.kills.handle_timeout(now) {
            self.send_kill(task, Some(agent));
        }
        // Backoffs ended, failure timers ran out, a replacement delay passed: re-derive.
        self.refresh(now);
    }

    /// An operator command on a plan. Refusals are values: nothing changes when refused.
    pub fn handle_command(&mut self, now: Time, command: Command) -> Result<(), CommandRefusal> {
        if self.failed {
            return Err(CommandRefusal(
                "the scheduler stopped after a failed commit".into(),
            ));
        }
        self.last_now = self.last_now.max(now);
        let (plan, phase) = match &command {
            Command::Continue { plan, phase } | Command::Interrupt { plan, phase } => {
                (plan.clone(), phase.clone())
            }
            Command::Restart { pod } => return self.restart_pod(now, pod),
            Command::Start { .. }
            | Command::Stop { .. }
            | Command::ForceComplete { .. }
            | Command::RestartPlan { .. } => {
                if self.is_uninstalling() {
                    return Err(CommandRefusal(
                        "the service is uninstalling; its plans cannot be changed".into(),
                    ));
                }
                return self.run_plan_command(now, command);
            }
            Command::Replace { pod } => return self.replace_command(now, pod),
            Command::Pause { pod } => return self.pause_pod(now, pod),
            Command::Resume { pod } => return self.resume_pod(now, pod),
            Command::Uninstall => return self.uninstall_command(now),
            Command::ForceCompleteUninstall { agent } => return self.force_agent(now, agent),
        };
        if self.is_uninstalling() {
            return Err(CommandRefusal(
                "the service is uninstalling; its plans cannot be changed".into(),
            ));
        }
        self.check_phase(
            &plan,
            phase.as_deref(),
            matches!(command, Command::Continue { .. }),
        )?;
        match command {
            Command::Continue { .. } => {
                let held = self.held_phases(&plan);
                self.plan_overrides.resume(&plan, phase.as_deref(), &held);
            }
            Command::Interrupt { .. } => self.plan_overrides.interrupt(&plan, phase.as_deref()),
            _ => {}
        }
        self.outbox.persist(vec![WriteOp::Put {
            key: property_key(PLAN_OVERRIDES_PROPERTY),
            value: self.plan_overrides.to_bytes(),
        }]);
        self.refresh(now);
        Ok(())
    }

    /// Every write batch queued, in order, taken out of the queue whatever calls wait between
    /// them: a driver may commit them together (one durable write for a burst of inputs), then
    /// report each with `handle_committed`, and poll the calls with `poll_action`.
    pub fn poll_persists(&mut self) -> Vec<WriteBatch> {
        if self.failed {
            return Vec::new();
        }
        self.outbox.take_persists()
    }

    /// The next action, if one may go now. Poll until `None` after every input.
    pub fn poll_action(&mut self) -> Option<Action> {
        if self.failed {
            return None;
        }
        self.outbox.poll()
    }

    /// When `handle_timeout` next has work.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.failed || !self.subscribed {
            return None;
        }
        [
            self.reconciler.poll_timeout(),
            self.demand.poll_timeout(),
            self.kills.poll_timeout(),
            self.backoff.poll_timeout(),
            self.recovery_timeout(),
            self.teardown_timeout(),
            self.reclaim_timeout(),
            self.ask_back_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Plans with derived statuses.
    pub fn plans(&self) -> Vec<PlanStatus> {
        if self.is_uninstalling() {
            return vec![self.uninstall_plan()];
        }
        let mut plan = self.derive_deploy().status;
        let prepared = |p: &PlanStatus| {
            p.phases
                .iter()
                .flat_map(|ph| &ph.steps)
                .any(|s| s.status == Status::Prepared)
        };
        // Counted across the agents' latest offers only when a step waits for one.
        let offers = if prepared(&plan) {
            crate::offer::why::report_by_pod(&self.decisions)
        } else {
            BTreeMap::new()
        };
        for phase in &mut plan.phases {
            for step in &mut phase.steps {
                if step.status != Status::Prepared {
                    continue;
                }
                let pod = step.name.split(':').next().unwrap_or_default();
                let Some(why) = self.refusals.get(pod) else {
                    continue;
                };
                // The last cycle's checks refused it: say so counted across the agents.
                let counted = why
                    .starts_with("no offer of")
                    .then(|| offers.get(pod).and_then(|r| r.summary()))
                    .flatten();
                step.message = format!("{}: {}", step.message, counted.as_ref().unwrap_or(why));
            }
        }
        if let Some(e) = &self.last_error {
            plan.errors.push(format!("master: {e}"));
        }
        plan.errors
            .extend(self.config_errors.iter().map(|v| format!("config: {v}")));
        let mut plans = vec![plan, self.recovery_plan().status, self.decommission_plan()];
        plans.extend(self.other_plans());
        plans
    }

    /// The name of the plan that rolls out the target: `deploy`, or the spec's `update` plan
    /// once a first deploy completed.
    pub fn rollout_plan(&self) -> &str {
        &self.deploy.spec.name
    }

    /// Whether the deploy (or update) plan is COMPLETE. Never while uninstalling.
    pub fn is_deployed(&self) -> bool {
        !self.is_uninstalling() && self.deploy_work().status == Status::Complete
    }

    /// Why the spec this scheduler was started with was refused, every violation; empty when
    /// it was accepted. The stored target runs instead.
    pub fn config_errors(&self) -> &[ConfigViolation] {
        &self.config_errors
    }

    /// Pod instances with their tasks, as of the latest input.
    pub fn pods(&self) -> Vec<PodStatus> {
        status::pods(&self.spec, &self.tasks, &self.paused, self.last_now)
    }

    /// The stored TaskInfos of pod instance `pod` (`data-2`), as last launched, in task-name
    /// order; `None` when the spec has no such pod instance (an instance never launched has
    /// none).
    pub fn pod_task_infos(&self, pod: &str) -> Option<Vec<&TaskInfo>> {
        if !self.has_pod_instance(pod) {
            return None;
        }
        Some(
            self.tasks
                .values()
                .filter(|r| {
                    crate::labels::task_pod_instance(&r.info).is_some_and(|i| i.to_string() == pod)
                })
                .map(|r| &r.info)
                .collect(),
        )
    }

    /// The service's endpoints by name: every advertised port of every running task.
    pub fn endpoints(&self) -> BTreeMap<String, Endpoint> {
        let host = crate::offer::operations::framework_host(&self.spec.name, &self.cfg.service_tld);
        endpoints::endpoints(&self.spec, &self.spec.name, &host, &self.tasks)
    }

    /// The most recent offer decisions, oldest first (bounded by `decision_history`).
    pub fn decisions(&self) -> Vec<DecisionRecord> {
        self.decisions.iter().cloned().collect()
    }

    /// The stored TaskInfo of task `name` (`data-2-node`), if it was launched.
    pub fn task_info(&self, name: &str) -> Option<&TaskInfo> {
        self.tasks.get(name).map(|r| &r.info)
    }

    /// Whether the target spec has pod instance `pod` (`data-2`).
    pub(super) fn has_pod_instance(&self, pod: &str) -> bool {
        self.spec
            .pods
            .iter()
            .flat_map(|p| p.instances())
            .any(|i| i.to_string() == pod)
    }

    fn plan_input(&self) -> PlanInput<'_> {
        PlanInput {
            spec: &self.spec,
            context: self.decide_context(),
            tasks: &self.tasks,
            overrides: &self.plan_overrides,
            run: None,
        }
    }

    /// What every plan reads the stored tasks against, so that they all decide alike.
    pub(super) fn decide_context(&self) -> Context<'_> {
        Context {
            config_id: &self.config_id,
            policy: self.recovery.as_ref(),
            reconciling: !self.reconciler.is_settled(),
            removed_agents: &self.agents.removed,
            listed_agents: self.listed_agents(),
            marked: &self.recovery_state.replace,
            paused: &self.paused,
        }
    }

    /// The deploy plan with words, for showing.
    fn derive_deploy(&self) -> DerivedPlan {
        derive(&self.deploy, &self.plan_input())
    }

    /// The deploy plan's work, for deciding (after every event).
    fn deploy_work(&self) -> Work {
        derive_work(&self.deploy, &self.plan_input())
    }

    /// Everything released now: the deploy plan's steps, then the recovery plan's, then the
    /// started plans'.
    fn work(&self) -> Work {
        self.work_with(self.recovery_plan())
    }

    /// [`Self::work`], with the recovery plan of the current state already derived.
    fn work_with(&self, recovery: RecoveryPlan) -> Work {
        let mut work = self.deploy_work();
        work.released.extend(recovery.released);
        work.released.extend(self.started_plans_work());
        work
    }

    fn executor_size(&self) -> ExecutorSize {
        ExecutorSize {
            cpus: self.cfg.executor_cpus,
            mem_mb: self.cfg.executor_mem_mb,
            disk_mb: self.cfg.executor_disk_mb,
        }
    }

    /// Queues a call, if there is a subscription to send it on.
    fn send(&mut self, call: Call) {
        if self.subscribed {
            self.outbox.call(call);
        }
    }
}

/// The plan that rolls out the target: the spec's `update` plan once a first deploy completed
/// (if it has one, under its own name), else the deploy plan.
fn rollout_plan_spec(spec: &ServiceSpec, deploy_completed: bool) -> crate::spec::PlanSpec {
    match spec.plan("update") {
        Some(update) if deploy_completed => update.clone(),
        _ => deploy_plan_spec(spec),
    }
}

/// Placement rules per pod type, compiled once (regular expressions are not cheap to build).
fn compile_placements(spec: &ServiceSpec) -> HashMap<String, Arc<[CompiledRule]>> {
    spec.pods
        .iter()
        .map(|p| {
            let rules: Arc<[CompiledRule]> = CompiledRule::all(p.placement.as_ref()).into();
            (p.type_name.clone(), rules)
        })
        .collect()
}

/// A stored target whose config is missing is corruption: treating it as a first start would
/// let a change skip the config validators.
fn check_target_present(stored: &StoredState) -> Result<(), SchedulerError> {
    match &stored.target {
        Some(id) if !stored.configs.contains_key(id) => {
            Err(SchedulerError::Store(crate::store::StoreError::Corrupt {
                key: config_key(id),
                reason: "the target config is missing".into(),
            }))
        }
        _ => Ok(()),
    }
}

/// The writes that make `spec` the target under `id`.
/// `spec` with the scheduler's `TASKCFG_*` settings routed into its tasks: every spec the
/// scheduler takes goes through here, so that a setting of its environment reaches the tasks
/// whoever wrote or rendered the spec (`cairn update` renders it with the operator's).
pub(crate) fn with_taskcfg(
    mut spec: ServiceSpec,
    taskcfg: &std::collections::BTreeMap<String, String>,
) -> ServiceSpec {
    crate::spec::route_task_env(&mut spec, taskcfg);
    spec
}

fn target_writes(spec: &ServiceSpec, id: &ConfigId, now: Time) -> Vec<WriteOp> {
    vec![
        WriteOp::Put {
            key: SCHEMA_VERSION_KEY.to_string(),
            value: SCHEMA_VERSION.as_bytes().to_vec(),
        },
        WriteOp::Put {
            key: config_key(id),
            // A spec is plain data and always serializes.
            value: serde_json::to_vec(spec).unwrap_or_default(),
        },
        WriteOp::Put {
            key: CONFIG_TARGET.to_string(),
            value: id.0.as_bytes().to_vec(),
        },
        // When it was stored, for the operator (`GET /v1/configurations`).
        WriteOp::Put {
            key: property_key(&config_stored_property(id)),
            value: now.as_millis().to_string().into_bytes(),
        },
    ]
}
