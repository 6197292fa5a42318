//! An offer as the pipeline sees it: parsed once into pools, then consumed as pods are placed
//! on it within one decision cycle.

use std::collections::{BTreeMap, HashMap};

use cairn_proto::{ranges, AgentId, DiskSourceType, Offer, Range, Resource, ValueType};

use crate::labels::resource_id;

/// Scalars in thousandths, as Mesos keeps them: sums and comparisons are exact.
pub type Milli = i64;

/// A scalar in thousandths.
pub fn milli(value: f64) -> Milli {
    (value * 1000.0).round() as Milli
}

/// Thousandths back to a number, for messages.
pub fn unmilli(value: Milli) -> f64 {
    value as f64 / 1000.0
}

/// What placement rules look at on an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentFacts {
    /// The agent id.
    pub agent_id: String,
    /// The agent's hostname.
    pub hostname: String,
    /// Attributes as text (`rack` → `r1`).
    pub attributes: BTreeMap<String, String>,
    /// Fault-domain zone.
    pub zone: Option<String>,
    /// Fault-domain region.
    pub region: Option<String>,
}

/// One offer, parsed, with what is left of it in this cycle.
#[derive(Debug, Clone)]
pub struct OfferView {
    /// Position in the cycle's offer list.
    pub index: usize,
    /// The offer id.
    pub offer_id: String,
    /// The agent.
    pub agent_id: AgentId,
    /// Hostname and attributes.
    pub facts: AgentFacts,
    /// The role the offer was allocated to.
    pub role: Option<String>,
    /// The pre-reserved role whose static reservations the pools hold, when the offer was
    /// allocated to `<pre-reserved role>/<service role>`; `None`: the pools hold unreserved
    /// resources (an offer to the service's own role).
    pub pre_reserved: Option<String>,
    /// Fresh cpus left (unreserved, or statically reserved to `pre_reserved`).
    pub cpus: Milli,
    /// Fresh memory (MB) left.
    pub mem: Milli,
    /// Fresh ROOT disk (MB) left.
    pub disk: Milli,
    /// Fresh GPUs left, in thousandths like every scalar (Mesos offers whole ones).
    pub gpus: Milli,
    /// Fresh port ranges left.
    pub ports: Vec<Range>,
    /// Fresh MOUNT disks left, whole.
    pub mounts: Vec<Resource>,
    /// Resources reserved to the role with a `resource_id`, by id (not volumes).
    pub reserved: HashMap<String, Resource>,
    /// Persistent volumes of the role, by persistence id.
    pub volumes: HashMap<String, Resource>,
    /// Resources no pod of the service can take from this offer: reserved to other roles, or
    /// unreserved in an offer to a pre-reserved role (counted for explanations).
    pub foreign: usize,
    /// Pod instances placed on this offer in this cycle.
    pub pods: usize,
}

impl OfferView {
    /// Parses `offer` for a service whose own role is `role`. What its pools hold depends on
    /// the role the offer was allocated to: for `role` itself, the unreserved resources; for
    /// `<R>/<role>` (a pod's pre-reserved role `R`, refined as the SDK does), only what is
    /// statically reserved to `R` — a pre-reserved pod takes nothing else, and no other pod
    /// may reserve under that role.
    pub fn new(index: usize, offer: &Offer, role: &str) -> OfferView {
        let allocated = offer.allocation_info.as_ref().and_then(|a| a.role.clone());
        let pre_reserved = allocated
            .as_deref()
            .and_then(|a| a.strip_suffix(role))
            .and_then(|a| a.strip_suffix('/'))
            .filter(|r| !r.is_empty())
            .map(str::to_string);
        let mut view = OfferView {
            index,
            offer_id: offer.id.value.clone(),
            agent_id: offer.agent_id.clone(),
            facts: facts(offer),
            // Without allocation info (a master before MULTI_ROLE) the offer is the role's.
            role: allocated.clone(),
            pre_reserved,
            cpus: 0,
            mem: 0,
            disk: 0,
            gpus: 0,
            ports: Vec::new(),
            mounts: Vec::new(),
            reserved: HashMap::new(),
            volumes: HashMap::new(),
            foreign: 0,
            pods: 0,
        };
        let own = allocated.unwrap_or_else(|| role.to_string());
        for r in &offer.resources {
            view.add(r.to_refined_format(), &own);
        }
        view.ports = ranges::normalize(&view.ports);
        view
    }

    /// Sorts one resource of an offer allocated to `role` (the service's or a pod's refined
    /// pre-reserved role).
    fn add(&mut self, r: Resource, role: &str) {
        let fresh = match &self.pre_reserved {
            None => r.is_unreserved(),
            Some(pre) => is_static_to(&r, pre),
        };
        if fresh {
            self.add_fresh(r);
            return;
        }
        if !r.is_reserved_to(role) {
            self.foreign += 1;
            return;
        }
        if let Some(id) = r.persistence_id() {
            self.volumes.insert(id.to_string(), r);
            return;
        }
        if r.is_reserved() {
            // Reserved to our role: only labelled resources are ours to reuse; an unlabelled
            // (static) reservation cannot carry a dynamic one for the same role on top.
            if let Some(id) = resource_id(&r) {
                self.reserved.insert(id.to_string(), r);
            }
        }
    }

    fn add_fresh(&mut self, r: Resource) {
        let mount = r
            .disk
            .as_ref()
            .and_then(|d| d.source.as_ref())
            .map(|s| s.type_);
        match (r.name.as_str(), r.type_, mount) {
            ("disk", ValueType::Scalar, Some(DiskSourceType::Mount)) => self.mounts.push(r),
            // PATH/BLOCK/RAW disks are not used yet; keep them out of the ROOT pool.
            ("disk", ValueType::Scalar, Some(_)) => {}
            ("disk", ValueType::Scalar, None) => self.disk += milli(r.scalar_value()),
            ("cpus", ValueType::Scalar, _) => self.cpus += milli(r.scalar_value()),
            ("mem", ValueType::Scalar, _) => self.mem += milli(r.scalar_value()),
            ("gpus", ValueType::Scalar, _) => self.gpus += milli(r.scalar_value()),
            ("ports", ValueType::Ranges, _) => self.ports.extend_from_slice(r.range_values()),
            _ => {}
        }
    }

    /// Removes `ports` from the free port ranges.
    pub fn take_ports(&mut self, ports: &[u64]) {
        let taken: Vec<Range> = ports.iter().map(|p| Range::new(*p, *p)).collect();
        self.ports = ranges::subtract(&self.ports, &taken);
    }
}

/// Whether `r` is reserved statically to `role` and to nothing on top: what an operator set
/// aside for `role` with the agent's `--resources`, and a pre-reserved pod may refine.
fn is_static_to(r: &Resource, role: &str) -> bool {
    match r.reservations.as_slice() {
        [only] => !only.is_dynamic() && only.role.as_deref() == Some(role),
        _ => false,
    }
}

fn facts(offer: &Offer) -> AgentFacts {
    let fault = offer.domain.as_ref().and_then(|d| d.fault_domain.as_ref());
    AgentFacts {
        agent_id: offer.agent_id.value.clone(),
        hostname: offer.hostname.clone(),
        attributes: offer
            .attributes
            .iter()
            .map(|a| (a.name.clone(), a.value_string()))
            .collect(),
        zone: fault.map(|f| f.zone.name.clone()),
        region: fault.map(|f| f.region.name.clone()),
    }
}
