//! The service's endpoints: how a client finds its running tasks, as the DC/OS SDK's endpoints
//! resource answers it. Read from the stored tasks alone (what was launched where, and its
//! last status), so a restarted scheduler answers the same.
//!
//! An endpoint is named after a port (`client`); it lists that port of every running task that
//! advertises it (`advertise: true`, or a `vip`: the ports the task's `DiscoveryInfo` carries),
//! in pod-index order, each as `address` (`<agent>:<port>`, the agent as the offer named it) and
//! as `dns` (`<task's DNS label>.<FRAMEWORK_HOST>:<port>`, the name Mesos-DNS gives the task).
//! A VIP port's endpoint also has `vip`: `<vip prefix>.<service>.l4lb.thisdcos.directory:<vip
//! port>`, the name DC/OS' load balancer answers.

use std::collections::BTreeMap;

use cairn_proto::{TaskInfo, TaskState};
use serde::{Deserialize, Serialize};

use crate::labels::{task_label, task_pod_instance, OFFER_HOSTNAME};
use crate::offer::operations::VIP_LABEL_PREFIX;
use crate::spec::{dns_label, ServiceSpec};
use crate::store::TaskRecord;

/// The domain of VIP names, DC/OS' load balancer's.
pub const VIP_DOMAIN: &str = "l4lb.thisdcos.directory";

/// One endpoint: the field names are the SDK's (`address`, `dns`, `vip`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// `<agent>:<port>` of each task serving it.
    pub address: Vec<String>,
    /// `<task>.<FRAMEWORK_HOST>:<port>` of each, in the same order.
    pub dns: Vec<String>,
    /// The VIP in front of them, for a port with a `vip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<String>,
}

impl Endpoint {
    /// The addresses joined with `,`: what a client that takes a list of servers (ZooKeeper's
    /// connect string, Kafka's bootstrap servers) takes as it is.
    pub fn connect_string(&self) -> String {
        self.address.join(",")
    }
}

/// Every endpoint of the running tasks in `tasks`, by name. `framework_host` is the tasks'
/// `FRAMEWORK_HOST`.
pub fn endpoints(
    spec: &ServiceSpec,
    service: &str,
    framework_host: &str,
    tasks: &BTreeMap<String, TaskRecord>,
) -> BTreeMap<String, Endpoint> {
    let mut running: Vec<(SortKey, &TaskInfo)> = tasks
        .iter()
        .filter(|(_, r)| r.status.as_ref().map(|s| s.state) == Some(TaskState::Running))
        .map(|(name, r)| (sort_key(spec, name, &r.info), &r.info))
        .collect();
    running.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: BTreeMap<String, Endpoint> = BTreeMap::new();
    for (_, info) in running {
        let Some(discovery) = &info.discovery else {
            continue;
        };
        let Some(host) = task_label(info, OFFER_HOSTNAME).filter(|h| !h.is_empty()) else {
            continue;
        };
        // The name DNS publishes the task under; a task launched without one is published
        // under its task name, as Mesos-DNS derives it.
        let label = discovery
            .name
            .clone()
            .unwrap_or_else(|| dns_label(&info.name));
        for port in discovery.ports.iter().flat_map(|p| &p.ports) {
            let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) else {
                continue;
            };
            let endpoint = out.entry(name.to_string()).or_default();
            endpoint.address.push(format!("{host}:{}", port.number));
            endpoint
                .dns
                .push(format!("{label}.{framework_host}:{}", port.number));
            let vip = port
                .labels
                .iter()
                .flat_map(|l| &l.labels)
                .filter(|l| l.key.starts_with(VIP_LABEL_PREFIX))
                .find_map(|l| l.value.as_deref()?.rsplit_once(':'));
            if let Some((prefix, vip_port)) = vip {
                endpoint.vip = Some(format!(
                    "{prefix}.{}.{VIP_DOMAIN}:{vip_port}",
                    service.replace('/', "")
                ));
            }
        }
    }
    out
}

/// Pod types in spec order, then by index, then tasks in their pod's order: `data-2` before
/// `data-10`, which the store's name order would not give. Pods no longer in the spec last.
type SortKey = (usize, String, u32, usize, String);

fn sort_key(spec: &ServiceSpec, name: &str, info: &TaskInfo) -> SortKey {
    let Some(instance) = task_pod_instance(info) else {
        return (usize::MAX, String::new(), 0, 0, name.to_string());
    };
    let pod_type = instance.pod_type();
    let pod_at = spec.pods.iter().position(|p| p.type_name == pod_type);
    let task = name
        .strip_prefix(&format!("{instance}-"))
        .unwrap_or(name)
        .to_string();
    let task_at = pod_at
        .and_then(|i| spec.pods[i].tasks.iter().position(|t| t.name == task))
        .unwrap_or(usize::MAX);
    (
        pod_at.unwrap_or(usize::MAX),
        pod_type.to_string(),
        instance.index(),
        task_at,
        task,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::{
        DiscoveryInfo, DiscoveryVisibility, Label, Labels, Port, Ports, TaskId, TaskStatus,
    };

    fn spec() -> ServiceSpec {
        crate::parse_yaml(
            r#"
name: zk
pods:
  zookeeper:
    count: 12
    tasks:
      server:
        goal: RUNNING
        cmd: sleep 1000
        cpus: 0.1
        memory: 32
"#,
            &BTreeMap::new(),
        )
        .unwrap()
    }

    fn record(index: u32, host: &str, state: TaskState) -> (String, TaskRecord) {
        let name = format!("zookeeper-{index}-server");
        let port = |name: &str, number: u32, vip: Option<&str>| Port {
            number,
            name: Some(name.into()),
            protocol: Some("tcp".into()),
            visibility: Some(DiscoveryVisibility::Cluster),
            labels: vip.map(|v| Labels {
                labels: vec![Label::new("VIP_1234", v)],
            }),
        };
        let info = TaskInfo {
            name: name.clone(),
            task_id: TaskId::new(format!("{name}__1")),
            labels: Some(Labels {
                labels: vec![
                    Label::new(crate::labels::TASK_TYPE, "zookeeper"),
                    Label::new(crate::labels::INDEX, index.to_string()),
                    Label::new(OFFER_HOSTNAME, host),
                ],
            }),
            discovery: Some(DiscoveryInfo {
                name: Some(name.clone()),
                ports: Some(Ports {
                    ports: vec![
                        port("client", 2181, None),
                        port("admin", 8080, Some("zk-admin:80")),
                    ],
                }),
                ..DiscoveryInfo::default()
            }),
            ..TaskInfo::default()
        };
        let status = TaskStatus {
            task_id: info.task_id.clone(),
            state,
            ..TaskStatus::default()
        };
        (
            name,
            TaskRecord {
                info,
                status: Some(status),
                history: Default::default(),
            },
        )
    }

    #[test]
    fn endpoints_list_each_advertised_port_of_the_running_tasks_in_pod_index_order() {
        let tasks: BTreeMap<String, TaskRecord> = [
            record(10, "127.0.0.4", TaskState::Running),
            record(2, "127.0.0.3", TaskState::Running),
            record(1, "127.0.0.9", TaskState::Staging),
            record(0, "127.0.0.2", TaskState::Running),
        ]
        .into_iter()
        .collect();
        let all = endpoints(&spec(), "zk", "zk.mesos", &tasks);
        assert_eq!(all.keys().collect::<Vec<_>>(), ["admin", "client"]);
        let client = &all["client"];
        assert_eq!(
            client.address,
            ["127.0.0.2:2181", "127.0.0.3:2181", "127.0.0.4:2181"]
        );
        assert_eq!(
            client.dns,
            [
                "zookeeper-0-server.zk.mesos:2181",
                "zookeeper-2-server.zk.mesos:2181",
                "zookeeper-10-server.zk.mesos:2181"
            ]
        );
        assert_eq!(client.vip, None);
        assert_eq!(
            client.connect_string(),
            "127.0.0.2:2181,127.0.0.3:2181,127.0.0.4:2181"
        );
        assert_eq!(
            all["admin"].vip.as_deref(),
            Some("zk-admin.zk.l4lb.thisdcos.directory:80")
        );
        let json = serde_json::to_value(client).unwrap();
        assert_eq!(
            json.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["address", "dns"]
        );
    }
}
