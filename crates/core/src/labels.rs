//! The labels cairn writes on what it launches and reads back after any failure.
//!
//! Principle 3 (DESIGN.md): reservations are the memory of placement. Every reserved resource
//! carries [`RESOURCE_ID`] and [`POD_INSTANCE`]; every TaskInfo carries the config it was
//! launched from and where it went. A restarted scheduler rebuilds its whole picture from these
//! labels and the store, never from memory.

use std::collections::BTreeMap;

use cairn_proto::{Labels, Resource, TaskInfo};

use crate::spec::PodInstanceName;
use crate::store::ConfigId;

/// TaskInfo: the config id the task was launched from.
pub const TARGET_CONFIGURATION: &str = "target_configuration";
/// TaskInfo: the pod type.
pub const TASK_TYPE: &str = "task_type";
/// TaskInfo: the pod instance index.
pub const INDEX: &str = "index";
/// TaskInfo: the hostname of the offer it was launched on (placement counts these).
pub const OFFER_HOSTNAME: &str = "offer_hostname";
/// TaskInfo: the offer's attributes, `name:value;...` (attribute placement counts these).
pub const OFFER_ATTRIBUTES: &str = "offer_attributes";
/// TaskInfo: the offer's fault-domain zone, if any.
pub const OFFER_ZONE: &str = "offer_zone";
/// TaskInfo: the offer's fault-domain region, if any.
pub const OFFER_REGION: &str = "offer_region";
/// TaskInfo: the task's goal (`RUNNING`, `FINISH`, `ONCE`).
pub const GOAL: &str = "goal";
/// TaskInfo: the resource set the task's resources belong to, when it uses one.
pub const RESOURCE_SET: &str = "resource_set";

/// TaskInfo: `true` when the launch reused reservations an earlier launch made (a relaunch in
/// place). Such reservations exist even if this launch never reached the agent.
pub const REUSED_RESERVATIONS: &str = "reused_reservations";

/// TaskInfo: for a task a started plan (a backup, a repair) launched, `<plan>:<run>`: which
/// start of which plan it ran for (see `plan::runs`).
pub const PLAN_RUN: &str = "plan_run";

/// TaskInfo: for a task launched with a plan's start parameters, their names, `A,B`: which of
/// its environment variables are the parameters (their values are there), so that a relaunch
/// in place gives it the same ones.
pub const PLAN_PARAMETERS: &str = "plan_parameters";

/// TaskInfo: `true` when the task was launched paused: its command replaced by
/// [`PAUSED_COMMAND`], without health or readiness checks, so an operator can inspect or repair
/// its pod's volumes (`cairn pod pause`).
pub const PAUSED: &str = "paused";

/// What a paused task runs instead of its command: nothing, until it is killed.
pub const PAUSED_COMMAND: &str = "while true; do sleep 3600; done";

/// Whether a stored TaskInfo was launched paused ([`PAUSED`]).
pub fn launched_paused(info: &TaskInfo) -> bool {
    task_label(info, PAUSED) == Some("true")
}

/// TaskInfo: its ports as reserved, `name:number,...` (a relaunch sets the same environment).
pub const PORTS: &str = "ports";

/// Reservation: a unique id per reserved resource, so a relaunch finds exactly its resources.
pub const RESOURCE_ID: &str = "resource_id";
/// Reservation: the pod instance (`data-2`) the resource is reserved for.
pub const POD_INSTANCE: &str = "pod_instance";

/// The value of label `key` on a TaskInfo.
pub fn task_label<'a>(info: &'a TaskInfo, key: &str) -> Option<&'a str> {
    info.labels.as_ref().and_then(|l| l.get(key))
}

/// The plan run a stored TaskInfo was launched for ([`PLAN_RUN`]) and the start parameters it
/// was given ([`PLAN_PARAMETERS`], their values read from its environment); `None` for a task
/// no started plan launched.
pub fn task_plan_run(info: &TaskInfo) -> Option<(String, BTreeMap<String, String>)> {
    let run = task_label(info, PLAN_RUN)?;
    let env = info.command.as_ref().and_then(|c| c.environment.as_ref());
    let parameters = task_label(info, PLAN_PARAMETERS)
        .unwrap_or_default()
        .split(',')
        .filter(|name| !name.is_empty())
        .filter_map(|name| {
            let var = env?.variables.iter().find(|v| v.name == name)?;
            Some((name.to_string(), var.value.clone().unwrap_or_default()))
        })
        .collect();
    Some((run.to_string(), parameters))
}

/// The pod instance a stored TaskInfo belongs to, from its [`TASK_TYPE`] and [`INDEX`] labels.
/// The one place they are read back: None for a task cairn did not label (or not canonically).
pub fn task_pod_instance(info: &TaskInfo) -> Option<PodInstanceName> {
    labels_pod_instance(info.labels.as_ref()?)
}

/// The config a stored TaskInfo was launched under, from its [`TARGET_CONFIGURATION`] label.
pub fn task_config(info: &TaskInfo) -> Option<ConfigId> {
    task_label(info, TARGET_CONFIGURATION).map(|id| ConfigId(id.to_string()))
}

/// Whether a stored TaskInfo was launched under config `id`.
pub fn launched_under(info: &TaskInfo, id: &ConfigId) -> bool {
    task_label(info, TARGET_CONFIGURATION) == Some(id.0.as_str())
}

/// The pod instance a task's labels name (a TaskInfo's, or a task the master lists).
pub fn labels_pod_instance(labels: &Labels) -> Option<PodInstanceName> {
    let (pod_type, index) = (labels.get(TASK_TYPE)?, labels.get(INDEX)?);
    PodInstanceName::parse(&format!("{pod_type}-{index}")).ok()
}

/// The pod instance a reserved resource is reserved for, from its [`POD_INSTANCE`] label.
pub fn resource_pod_instance(resource: &Resource) -> Option<PodInstanceName> {
    PodInstanceName::parse(resource.reservation_labels()?.get(POD_INSTANCE)?).ok()
}

/// The `resource_id` of a reserved resource, if cairn reserved it.
pub fn resource_id(resource: &Resource) -> Option<&str> {
    resource
        .reservation_labels()
        .and_then(|l| l.get(RESOURCE_ID))
}

/// The reservation labels cairn puts on a resource of `pod_instance`.
pub fn reservation_labels(resource_id: &str, pod_instance: &str) -> Labels {
    Labels::from_pairs([(RESOURCE_ID, resource_id), (POD_INSTANCE, pod_instance)])
}

/// Attributes written as `name:value;name:value` (sorted, so equal sets give equal labels).
pub fn format_attributes(attributes: &BTreeMap<String, String>) -> String {
    attributes
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// The inverse of [`format_attributes`].
pub fn parse_attributes(text: &str) -> BTreeMap<String, String> {
    text.split(';')
        .filter_map(|pair| pair.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_through_their_label_form() {
        // Goal: placement facts survive a restart. Method: format, parse.
        let mut a = BTreeMap::new();
        a.insert("rack".to_string(), "r1".to_string());
        a.insert("zone".to_string(), "z:2".to_string());
        let text = format_attributes(&a);
        assert_eq!(text, "rack:r1;zone:z:2");
        assert_eq!(parse_attributes(&text), a);
    }
}
