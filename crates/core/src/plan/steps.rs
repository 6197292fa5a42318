//! From a plan spec to its steps: one step per task group per pod instance.

use crate::spec::{PhaseSpec, PlanSpec, PodInstanceName, PodSpec, ServiceSpec, StepIndex};

/// One step: launch these tasks of this pod instance together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDef {
    /// The pod instance, e.g. `data-2`.
    pub pod_instance: PodInstanceName,
    /// Task names inside the pod, e.g. `["node"]`.
    pub tasks: Vec<String>,
}

impl StepDef {
    /// `data-2:[node]`, `data-2:[init,server]`: dcos-commons' step naming.
    pub fn name(&self) -> String {
        format!("{}:[{}]", self.pod_instance, self.tasks.join(","))
    }
}

/// A step with the names derivation needs every time, computed once per plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedStep {
    /// The step.
    pub def: StepDef,
    /// Its name, `data-2:[node]`.
    pub name: String,
    /// Mesos task names of its tasks, in step order (`data-2-node`).
    pub task_names: Vec<String>,
}

/// A phase and its steps (`None` when it names a pod type the spec does not have).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandedPhase {
    /// The phase as specified.
    pub spec: PhaseSpec,
    /// Its steps in order.
    pub steps: Option<Vec<ExpandedStep>>,
}

/// A plan expanded into steps. The steps depend only on the specs, which are fixed for a
/// scheduler's lifetime, so it is built once and every derivation reuses it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpandedPlan {
    /// The plan as specified (after any customization).
    pub spec: PlanSpec,
    /// Its phases in order.
    pub phases: Vec<ExpandedPhase>,
}

impl ExpandedPlan {
    /// Expands `plan` over the pods of `spec`.
    pub fn new(spec: &ServiceSpec, plan: PlanSpec) -> ExpandedPlan {
        let phases = plan
            .phases
            .iter()
            .map(|phase| ExpandedPhase {
                spec: phase.clone(),
                steps: phase_steps(spec, phase).map(|defs| {
                    defs.into_iter()
                        .map(|def| ExpandedStep {
                            name: def.name(),
                            task_names: def
                                .tasks
                                .iter()
                                .map(|t| format!("{}-{t}", def.pod_instance))
                                .collect(),
                            def,
                        })
                        .collect()
                }),
            })
            .collect();
        ExpandedPlan { spec: plan, phases }
    }
}

/// The deploy plan spec: the spec's own `deploy` plan, or one serial phase per pod type (in
/// spec order) with one serial step per instance launching all of its tasks.
pub fn deploy_plan_spec(spec: &ServiceSpec) -> PlanSpec {
    if let Some(plan) = spec.plan("deploy") {
        return plan.clone();
    }
    spec.pods.iter().fold(PlanSpec::new("deploy"), |plan, pod| {
        plan.phase(PhaseSpec::new(pod.type_name.clone(), pod.type_name.clone()))
    })
}

/// The steps of `phase`, instance by instance, each instance's task groups in order. `None`
/// when the phase names a pod type the spec does not have (a customized plan may).
pub fn phase_steps(spec: &ServiceSpec, phase: &PhaseSpec) -> Option<Vec<StepDef>> {
    let pod = spec.pod(&phase.pod)?;
    Some(
        pod.instances()
            .flat_map(|instance| {
                task_groups(pod, phase, instance.index())
                    .into_iter()
                    .map(move |tasks| StepDef {
                        pod_instance: instance.clone(),
                        tasks,
                    })
            })
            .collect(),
    )
}

/// Task groups for instance `index`: its own entry, else the `default` entry, else one group
/// of every task of the pod in spec order.
fn task_groups(pod: &PodSpec, phase: &PhaseSpec, index: u32) -> Vec<Vec<String>> {
    let entry = |want: StepIndex| phase.steps.iter().find(|s| s.index == want);
    match entry(StepIndex::Index(index)).or_else(|| entry(StepIndex::Default)) {
        Some(step) => step.task_groups.clone(),
        None => vec![pod.tasks.iter().map(|t| t.name.clone()).collect()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{PodSpec, StepSpec, TaskSpec};

    fn spec() -> ServiceSpec {
        let task = |n: &str| TaskSpec::builder(n).cmd("run").cpus(0.1).memory_mb(32);
        ServiceSpec::builder("svc")
            .pod(
                PodSpec::builder("a")
                    .count(2)
                    .task(task("init"))
                    .task(task("server")),
            )
            .pod(PodSpec::builder("b").count(1).task(task("x")))
            .build()
            .unwrap()
    }

    #[test]
    fn the_default_deploy_plan_has_a_phase_per_pod_type_and_a_step_per_instance() {
        // Goal: the default deploy plan shape. Method: two pod types, step names.
        let s = spec();
        let plan = deploy_plan_spec(&s);
        let names: Vec<Vec<String>> = plan
            .phases
            .iter()
            .map(|p| {
                phase_steps(&s, p)
                    .unwrap()
                    .iter()
                    .map(StepDef::name)
                    .collect()
            })
            .collect();
        assert_eq!(
            names,
            vec![
                vec![
                    "a-0:[init,server]".to_string(),
                    "a-1:[init,server]".to_string()
                ],
                vec!["b-0:[x]".to_string()],
            ]
        );
    }

    #[test]
    fn custom_task_groups_make_one_step_each() {
        // Goal: `[[init],[server]]` expands per instance. Method: step names.
        let s = spec();
        let phase = PhaseSpec::new("a", "a").step(StepSpec::default_for([["init"], ["server"]]));
        let names: Vec<String> = phase_steps(&s, &phase)
            .unwrap()
            .iter()
            .map(StepDef::name)
            .collect();
        assert_eq!(
            names,
            vec!["a-0:[init]", "a-0:[server]", "a-1:[init]", "a-1:[server]"]
        );
    }
}
