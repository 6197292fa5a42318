//! The built-in offer checks, in pipeline order. Each passes or says why not.
//!
//! The order (in [`builtin_checks`]) puts cheap and decisive checks first: the role, then the
//! pod's own reservations (a placed pod fits one agent only, so most offers fail here at once),
//! then placement rules, then resource quantities, with volumes last.

use cairn_proto::Range;

use crate::spec::PortSpec;

use super::placement::{check_rules, PlacementContext};
use super::requirement::PodRequirement;
use super::view::{unmilli, Milli, OfferView};
use super::OfferCheck;

/// The built-in checks, in the order they run.
pub fn builtin_checks(role: &str) -> Vec<Box<dyn OfferCheck>> {
    vec![
        // Cheapest: an offer for another role is useless whatever it holds.
        Box::new(RoleCheck {
            role: role.to_string(),
        }),
        // A placed pod fits exactly one agent: rejects most offers before any arithmetic.
        Box::new(ReservationCheck),
        // Rules can refuse an agent however big it is.
        Box::new(PlacementCheck),
        Box::new(ScalarCheck::Cpus),
        Box::new(ScalarCheck::Mem),
        Box::new(ScalarCheck::Gpus),
        Box::new(ScalarCheck::Disk),
        Box::new(PortsCheck),
        // MOUNT volumes last: whole-disk matching is the most specific need.
        Box::new(VolumesCheck),
    ]
}

/// `role`: the offer is for the role the pod reserves to (the service's, or its pre-reserved
/// role refined, `<R>/<service role>`), and holds something the pod could take.
#[derive(Debug, Clone)]
pub struct RoleCheck {
    /// The service's role.
    pub role: String,
}

impl OfferCheck for RoleCheck {
    fn name(&self) -> &str {
        "role"
    }

    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        _: &PlacementContext,
    ) -> Result<(), String> {
        match offer.role.as_deref() {
            Some(r) if r != req.role => Err(match &req.pre_reserved {
                Some(pre) => format!(
                    "offered to role `{r}`; {} takes only resources statically reserved to \
                     `{pre}`, offered to role `{}`",
                    req.pod_instance, req.role
                ),
                None => format!(
                    "offered to role `{r}`, {} reserves to the service's role `{}`",
                    req.pod_instance, req.role
                ),
            }),
            _ if offer.foreign > 0 && is_empty(offer) => Err(match &req.pre_reserved {
                Some(pre) => format!("nothing in it is statically reserved to `{pre}`"),
                None => format!(
                    "every resource is reserved to a role other than `{}`",
                    self.role
                ),
            }),
            _ => Ok(()),
        }
    }
}

fn is_empty(o: &OfferView) -> bool {
    o.cpus == 0
        && o.mem == 0
        && o.disk == 0
        && o.gpus == 0
        && o.ports.is_empty()
        && o.mounts.is_empty()
        && o.reserved.is_empty()
        && o.volumes.is_empty()
}

/// `reservation`: a pod that holds reservations fits only the agent holding them, and only an
/// offer carrying every resource id and volume it reuses.
#[derive(Debug, Clone, Copy)]
pub struct ReservationCheck;

impl OfferCheck for ReservationCheck {
    fn name(&self) -> &str {
        "reservation"
    }

    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        _: &PlacementContext,
    ) -> Result<(), String> {
        let Some(pin) = &req.pinned else {
            return Ok(());
        };
        if pin.agent_id != offer.agent_id {
            return Err(format!(
                "{} holds reservations on agent {} ({}), not this one",
                req.pod_instance, pin.agent_id, pin.hostname
            ));
        }
        let missing: Vec<&str> = req
            .resource_ids
            .iter()
            .filter(|id| !offer.reserved.contains_key(*id))
            .chain(
                req.persistence_ids
                    .iter()
                    .filter(|id| !offer.volumes.contains_key(*id)),
            )
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the offer lacks {} of {}'s {} reserved resource(s) (still in use, or not offered yet): {}",
                missing.len(),
                req.pod_instance,
                req.resource_ids.len() + req.persistence_ids.len(),
                missing.join(", ")
            ))
        }
    }
}

/// `placement`: the pod's placement rules hold on this agent. A pod that is already placed
/// stays where its reservations are; rules are not re-evaluated for it.
#[derive(Debug, Clone, Copy)]
pub struct PlacementCheck;

impl OfferCheck for PlacementCheck {
    fn name(&self) -> &str {
        "placement"
    }

    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        ctx: &PlacementContext,
    ) -> Result<(), String> {
        if req.pinned.is_some() {
            return Ok(());
        }
        check_rules(&req.placement, &req.pod_instance, &offer.facts, ctx)
    }
}

/// `cpus`, `mem`, `gpus`, `disk`: enough of the fresh scalar (unreserved, or statically
/// reserved to the pod's pre-reserved role) for what is reserved afresh.
#[derive(Debug, Clone, Copy)]
pub enum ScalarCheck {
    /// CPUs (tasks and executor).
    Cpus,
    /// Memory (tasks and executor).
    Mem,
    /// GPUs (tasks).
    Gpus,
    /// ROOT disk for volumes.
    Disk,
}

impl OfferCheck for ScalarCheck {
    fn name(&self) -> &str {
        match self {
            ScalarCheck::Cpus => "cpus",
            ScalarCheck::Mem => "mem",
            ScalarCheck::Gpus => "gpus",
            ScalarCheck::Disk => "disk",
        }
    }

    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        _: &PlacementContext,
    ) -> Result<(), String> {
        let (need, offered): (Milli, Milli) = match self {
            ScalarCheck::Cpus => (req.cpus, offer.cpus),
            ScalarCheck::Mem => (req.mem, offer.mem),
            ScalarCheck::Gpus => (req.gpus, offer.gpus),
            ScalarCheck::Disk => (req.disk, offer.disk),
        };
        if need <= offered {
            Ok(())
        } else if let ScalarCheck::Gpus = self {
            // Said in whole devices: "need 2.0" of something never fractional reads oddly.
            Err(match offer.gpus {
                0 => format!("offers no GPUs, need {}", unmilli(need)),
                n => format!("offered {} GPUs, need {}", unmilli(n), unmilli(need)),
            })
        } else {
            Err(format!(
                "offered {:?}, need {:?}",
                unmilli(offered),
                unmilli(need)
            ))
        }
    }
}

/// What a resource check's refusal says it was offered and needs (`offered 3.7, need 100.05`,
/// `offers no GPUs, need 2`), read back for the counts of `why` (the words are written above).
pub fn scalar_shortfall(check: &str, reason: &str) -> Option<(f64, f64)> {
    if !["cpus", "mem", "gpus", "disk"].contains(&check) {
        return None;
    }
    let (offered, need) = reason.split_once(", need ")?;
    let offered = match offered.strip_prefix("offered ") {
        Some(o) => o.trim_end_matches(" GPUs").parse().ok()?,
        None if offered == "offers no GPUs" => 0.0,
        None => return None,
    };
    Some((offered, need.trim().parse().ok()?))
}

/// `ports`: every fixed port is offered, and a dynamic port can be picked for each of the
/// others.
#[derive(Debug, Clone, Copy)]
pub struct PortsCheck;

impl OfferCheck for PortsCheck {
    fn name(&self) -> &str {
        "ports"
    }

    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        _: &PlacementContext,
    ) -> Result<(), String> {
        pick_ports(req, offer).map(|_| ())
    }
}

/// `volumes`: each MOUNT volume gets a whole unreserved MOUNT disk at least its size.
#[derive(Debug, Clone, Copy)]
pub struct VolumesCheck;

impl OfferCheck for VolumesCheck {
    fn name(&self) -> &str {
        "volumes"
    }

    fn check(
        &self,
        req: &PodRequirement,
        offer: &OfferView,
        _: &PlacementContext,
    ) -> Result<(), String> {
        pick_mounts(req, offer).map(|_| ())
    }
}

/// Port numbers for the requirement's fresh ports, in [`PodRequirement::fresh_ports`] order:
/// fixed ports as asked, dynamic ports the lowest free number (within the port's own ranges,
/// if it has any). Runs for every evaluation, so it allocates only the answer.
pub fn pick_ports(req: &PodRequirement, offer: &OfferView) -> Result<Vec<u64>, String> {
    let mut picked = Vec::new();
    for (_, port) in req.fresh_ports() {
        let number = pick_port(port, &offer.ports, &picked)?;
        picked.push(number);
    }
    Ok(picked)
}

/// One port from `offered`, avoiding the pod's earlier picks.
fn pick_port(port: &PortSpec, offered: &[Range], picked: &[u64]) -> Result<u64, String> {
    let free = |p: u64| offered.iter().any(|r| r.begin <= p && p <= r.end) && !picked.contains(&p);
    if port.port != 0 {
        let p = u64::from(port.port);
        return if free(p) {
            Ok(p)
        } else {
            Err(format!(
                "port {p} (`{}`) is not offered (offered {})",
                port.name,
                cairn_proto::format_ranges(offered)
            ))
        };
    }
    let wanted: Vec<Range> = port
        .ranges
        .iter()
        .map(|r| Range::new(u64::from(r.begin), u64::from(r.end)))
        .collect();
    let lowest_in = |r: &Range| {
        // At most `picked.len() + 1` values need looking at before a free one.
        (r.begin..=r.end)
            .take(picked.len() + 1)
            .find(|p| !picked.contains(p))
    };
    let found = offered.iter().find_map(|r| {
        if wanted.is_empty() {
            return lowest_in(r);
        }
        wanted.iter().find_map(|w| {
            let overlap = Range::new(r.begin.max(w.begin), r.end.min(w.end));
            (overlap.begin <= overlap.end)
                .then(|| lowest_in(&overlap))
                .flatten()
        })
    });
    found.ok_or_else(|| {
        format!(
            "no free port for `{}` (offered {})",
            port.name,
            cairn_proto::format_ranges(offered)
        )
    })
}

/// For each fresh MOUNT volume (in order), the index into `offer.mounts` of the smallest free
/// MOUNT disk that is large enough.
pub fn pick_mounts(req: &PodRequirement, offer: &OfferView) -> Result<Vec<usize>, String> {
    let mut used = vec![false; offer.mounts.len()];
    let mut picked = Vec::new();
    for size in &req.mounts {
        let best = offer
            .mounts
            .iter()
            .enumerate()
            .filter(|(i, m)| !used[*i] && m.scalar_value() >= *size as f64)
            .min_by(|(_, a), (_, b)| a.scalar_value().total_cmp(&b.scalar_value()))
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                used[i] = true;
                picked.push(i);
            }
            None => {
                let sizes: Vec<String> = offer
                    .mounts
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !used[*i])
                    .map(|(_, m)| format!("{:?}", m.scalar_value()))
                    .collect();
                return Err(format!(
                    "need a MOUNT disk of at least {size} MB, offered [{}]",
                    sizes.join(", ")
                ));
            }
        }
    }
    Ok(picked)
}
