//! The spec's plans beyond deploy and update: idle until an operator starts them, run like the
//! deploy plan once started (see [`crate::plan::runs`] for what is kept of them), and the
//! operator's commands on them and on the rollout plan.

use crate::plan::overrides::PLAN_OVERRIDES_PROPERTY;
use crate::plan::runs::{check_parameters, step_key};
use crate::plan::{
    derive, derive_work, Command, CommandRefusal, ExpandedPlan, PlanInput, PlanRun, PlanStatus,
    ReleasedStep, Status,
};
use crate::recovery::plan::RECOVERY_PLAN;
use crate::store::{property_key, WriteOp};
use crate::time::Time;

use super::teardown::{DECOMMISSION_PLAN, UNINSTALL_PLAN};
use super::Scheduler;

/// The state of a plan nobody started yet.
static IDLE: PlanRun = PlanRun {
    started: false,
    run: 0,
    since: 0,
    step_since: std::collections::BTreeMap::new(),
    parameters: std::collections::BTreeMap::new(),
    forced: std::collections::BTreeSet::new(),
};

/// How many names a refusal lists before it says "…".
const NAMES_LISTED: usize = 10;

impl Scheduler {
    /// The state of plan `name` (idle when never started).
    pub(super) fn plan_run(&self, name: &str) -> &PlanRun {
        self.plan_runs.plans.get(name).unwrap_or(&IDLE)
    }

    /// A started plan's state in words, for a scheduler's first lines: `idle until started
    /// (cairn plan start backup)`, `started with A=1`.
    pub fn plan_state(&self, name: &str) -> String {
        let run = self.plan_run(name);
        if !run.started {
            return format!("idle until started (cairn plan start {name} [-p KEY=VALUE]...)");
        }
        format!("started with {}", describe(&run.parameters))
    }

    fn started_plan_input<'a>(&'a self, run: &'a PlanRun) -> PlanInput<'a> {
        PlanInput {
            run: Some(run),
            ..self.plan_input()
        }
    }

    /// What the started plans release now, in spec order.
    pub(super) fn started_plans_work(&self) -> Vec<ReleasedStep> {
        self.others
            .iter()
            .filter(|p| self.plan_run(&p.spec.name).started)
            .flat_map(|p| {
                derive_work(p, &self.started_plan_input(self.plan_run(&p.spec.name))).released
            })
            .collect()
    }

    /// The spec's other plans with their statuses, in spec order.
    pub(super) fn other_plans(&self) -> Vec<PlanStatus> {
        self.others
            .iter()
            .map(|p| derive(p, &self.started_plan_input(self.plan_run(&p.spec.name))).status)
            .collect()
    }

    /// Every plan a command may name: the rollout plan, then the spec's others.
    fn named_plan(&self, name: &str) -> Result<&ExpandedPlan, CommandRefusal> {
        if name == self.deploy.spec.name {
            return Ok(&self.deploy);
        }
        if let Some(p) = self.others.iter().find(|p| p.spec.name == name) {
            return Ok(p);
        }
        if [RECOVERY_PLAN, DECOMMISSION_PLAN, UNINSTALL_PLAN].contains(&name) {
            return Err(CommandRefusal(format!(
                "plan `{name}` is cairn's own: it runs by itself and takes no commands"
            )));
        }
        let names: Vec<&str> = std::iter::once(&self.deploy)
            .chain(&self.others)
            .map(|p| p.spec.name.as_str())
            .collect();
        Err(CommandRefusal(format!(
            "no plan `{name}` (plans: {})",
            names.join(", ")
        )))
    }

    /// A plan an operator starts, by name; the rollout plan is refused with `why`.
    fn startable(&self, name: &str, verb: &str) -> Result<&ExpandedPlan, CommandRefusal> {
        let plan = self.named_plan(name)?;
        if plan.spec.name == self.deploy.spec.name {
            let others: Vec<&str> = self.others.iter().map(|p| p.spec.name.as_str()).collect();
            return Err(CommandRefusal(format!(
                "the `{name}` plan runs by itself; `{verb}` is for the spec's other plans ({})",
                if others.is_empty() {
                    "this spec has none".to_string()
                } else {
                    others.join(", ")
                }
            )));
        }
        Ok(plan)
    }

    /// The phases of `plan` held by a canary (those a `continue` advances).
    pub(super) fn held_phases(&self, plan: &str) -> Vec<String> {
        if plan == self.deploy.spec.name {
            return self.deploy_work().held_phases;
        }
        self.others
            .iter()
            .find(|p| p.spec.name == plan)
            .map(|p| derive_work(p, &self.started_plan_input(self.plan_run(plan))).held_phases)
            .unwrap_or_default()
    }

    /// Refuses a `continue` or `interrupt` naming no plan or phase of the spec, and a
    /// `continue` of an idle plan (which the SDK took as a start without parameters: cairn
    /// says what starts it instead).
    pub(super) fn check_phase(
        &self,
        plan: &str,
        phase: Option<&str>,
        continues: bool,
    ) -> Result<(), CommandRefusal> {
        let p = self.named_plan(plan)?;
        if continues && p.spec.name != self.deploy.spec.name && !self.plan_run(plan).started {
            return Err(CommandRefusal(format!(
                "plan `{plan}` is idle: `cairn plan start {plan} [-p KEY=VALUE]...` starts it"
            )));
        }
        if let Some(phase) = phase {
            if !p.phases.iter().any(|ph| ph.spec.name == phase) {
                return Err(no_phase(p, phase));
            }
        }
        Ok(())
    }

    /// `Start`, `Stop`, `ForceComplete`, `RestartPlan`. Checked whole before anything changes;
    /// the new state is persisted before any launch it releases.
    pub(super) fn run_plan_command(
        &mut self,
        now: Time,
        command: Command,
    ) -> Result<(), CommandRefusal> {
        let (name, run) = match &command {
            Command::Start { plan, parameters } => {
                let p = self.startable(plan, "start")?;
                check_parameters(parameters).map_err(|e| CommandRefusal(e.0))?;
                let run = self.plan_run(plan).clone();
                if run.started && self.plan_status(p) != Status::Complete {
                    if &run.parameters == parameters {
                        // Already running as asked: nothing to change.
                        return Ok(());
                    }
                    return Err(CommandRefusal(format!(
                        "plan `{plan}` is in progress with {}; `cairn plan stop {plan}` first, \
                         or wait until it completes",
                        describe(&run.parameters)
                    )));
                }
                let mut run = run;
                run.start(parameters.clone());
                (plan.clone(), run)
            }
            Command::Stop { plan } => {
                self.startable(plan, "stop")?;
                let mut run = self.plan_run(plan).clone();
                if !run.started {
                    return Ok(());
                }
                run.stop();
                (plan.clone(), run)
            }
            Command::ForceComplete { plan, phase, step }
            | Command::RestartPlan { plan, phase, step }
                if plan == &self.deploy.spec.name =>
            {
                return self.rollout_command(now, &command, phase.as_deref(), step.as_deref());
            }
            Command::ForceComplete { plan, phase, step }
            | Command::RestartPlan { plan, phase, step } => {
                let verb = if matches!(command, Command::ForceComplete { .. }) {
                    "force-complete"
                } else {
                    "restart"
                };
                let p = self.startable(plan, verb)?;
                let keys = target(p, phase.as_deref(), step.as_deref())?;
                let mut run = self.plan_run(plan).clone();
                match (&command, phase) {
                    (Command::ForceComplete { .. }, _) => run.force_complete(&keys),
                    (_, None) => {
                        // The SDK's restart of a plan also lets it proceed: it starts.
                        run.reset();
                        run.started = true;
                    }
                    _ => run.restart_steps(&keys),
                }
                (plan.clone(), run)
            }
            _ => return Err(CommandRefusal("not a plan command".into())),
        };
        self.plan_runs.plans.insert(name, run);
        self.outbox.persist(vec![self.plan_runs.write()]);
        self.refresh(now);
        Ok(())
    }

    /// `force-complete` and `restart` of the rollout plan: its force-completes are operator
    /// overrides of the target config (a new config's rollout starts without them). A restart
    /// only undoes force-completes: a deploy step runs again by itself whenever its tasks need
    /// it, and relaunching healthy tasks is `cairn pod restart`.
    fn rollout_command(
        &mut self,
        now: Time,
        command: &Command,
        phase: Option<&str>,
        step: Option<&str>,
    ) -> Result<(), CommandRefusal> {
        let name = self.deploy.spec.name.clone();
        let keys: Vec<String> = target(&self.deploy, phase, step)?
            .into_iter()
            .map(|k| format!("{name}/{k}"))
            .collect();
        if matches!(command, Command::ForceComplete { .. }) {
            self.plan_overrides.forced.extend(keys);
        } else {
            let before = self.plan_overrides.forced.len();
            for k in &keys {
                self.plan_overrides.forced.remove(k);
            }
            if self.plan_overrides.forced.len() == before {
                return Err(CommandRefusal(format!(
                    "nothing of plan `{name}` named here is force-completed; its steps run again \
                     by themselves when their tasks need it (to relaunch a pod's tasks: \
                     `cairn pod restart POD`)"
                )));
            }
        }
        self.outbox.persist(vec![WriteOp::Put {
            key: property_key(PLAN_OVERRIDES_PROPERTY),
            value: self.plan_overrides.to_bytes(),
        }]);
        self.refresh(now);
        Ok(())
    }

    fn plan_status(&self, plan: &ExpandedPlan) -> Status {
        derive_work(
            plan,
            &self.started_plan_input(self.plan_run(&plan.spec.name)),
        )
        .status
    }
}

/// The keys of the steps `phase` and `step` name in `plan`: every step of the plan, of one
/// phase, or one step.
fn target(
    plan: &ExpandedPlan,
    phase: Option<&str>,
    step: Option<&str>,
) -> Result<Vec<String>, CommandRefusal> {
    let name = &plan.spec.name;
    let Some(phase) = phase else {
        if let Some(step) = step {
            return Err(CommandRefusal(format!(
                "step `{step}` needs its phase (plan `{name}`)"
            )));
        }
        return Ok(plan
            .phases
            .iter()
            .flat_map(|ph| {
                ph.steps
                    .iter()
                    .flatten()
                    .map(|s| step_key(&ph.spec.name, &s.name))
            })
            .collect());
    };
    let Some(ph) = plan.phases.iter().find(|ph| ph.spec.name == phase) else {
        return Err(no_phase(plan, phase));
    };
    let steps = ph.steps.as_deref().unwrap_or_default();
    Ok(match step {
        None => steps.iter().map(|s| step_key(phase, &s.name)).collect(),
        Some(step) => {
            if !steps.iter().any(|s| s.name == step) {
                let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
                return Err(CommandRefusal(format!(
                    "phase `{phase}` of plan `{name}` has no step `{step}` (steps: {})",
                    listed(&names)
                )));
            }
            vec![step_key(phase, step)]
        }
    })
}

fn no_phase(plan: &ExpandedPlan, phase: &str) -> CommandRefusal {
    let names: Vec<&str> = plan.phases.iter().map(|p| p.spec.name.as_str()).collect();
    CommandRefusal(format!(
        "plan `{}` has no phase `{phase}` (phases: {})",
        plan.spec.name,
        listed(&names)
    ))
}

/// The first names, and how many more.
fn listed(names: &[&str]) -> String {
    if names.len() <= NAMES_LISTED {
        return names.join(", ");
    }
    format!(
        "{}, … and {} more",
        names[..NAMES_LISTED].join(", "),
        names.len() - NAMES_LISTED
    )
}

/// `parameters A=1, B=2`, or `no parameters`.
fn describe(parameters: &std::collections::BTreeMap<String, String>) -> String {
    if parameters.is_empty() {
        return "no parameters".into();
    }
    let pairs: Vec<String> = parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("parameters {}", pairs.join(", "))
}
