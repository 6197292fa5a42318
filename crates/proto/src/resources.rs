//! `Resource` and the arithmetic Mesos does on it.
//!
//! Resources are kept and computed in the *refined* reservation format (a
//! `reservations` stack); the legacy `role`/`reservation` format is accepted
//! on input and produced on demand for frameworks without
//! `RESERVATION_REFINEMENT`. Arithmetic follows Mesos:
//!
//! * two resources *combine* when they are the same kind of thing: same name,
//!   type, reservation stack, allocation, disk info, revocability, sharedness
//!   and provider. Scalars then add, ranges union, sets union;
//! * some resources are *atomic* and never combine: persistent volumes (each
//!   is a distinct directory), shared resources, and MOUNT/BLOCK disks (a
//!   whole device or mount point cannot be split). They are added as separate
//!   entries and subtracted only as a whole;
//! * scalars are fixed point with three decimals, so `0.1 + 0.2 == 0.3`;
//! * empty values (zero scalars, empty ranges or sets) are dropped.

use crate::common::{null_as_default, Labels, Range, Ranges, Scalar, Set, ValueType};
use crate::ids::ResourceProviderId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

/// Why a resource operation or a resource description was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A token of the `name(role):value;...` syntax could not be parsed.
    #[error("invalid resource '{token}': {reason}")]
    Parse { token: String, reason: String },
    /// One resource uses both the legacy and the refined reservation format.
    #[error("resource '{name}' mixes the legacy and refined reservation formats: {detail}")]
    MixedFormat { name: String, detail: String },
    /// A resource that is malformed on its own.
    #[error("invalid resource {resource}: {reason}")]
    Invalid { resource: String, reason: String },
    /// A subtraction of something that is not there.
    #[error("cannot subtract {resource}: not contained in {from}")]
    NotContained { resource: String, from: String },
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// `Resource.AllocationInfo`: the role a resource is offered or allocated to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct AllocationInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl AllocationInfo {
    pub fn role(role: impl Into<String>) -> Self {
        AllocationInfo {
            role: Some(role.into()),
        }
    }
}

wire_enum! {
    /// `Resource.ReservationInfo.Type`.
    pub enum ReservationType {
        Static = "STATIC",
        Dynamic = "DYNAMIC",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `Resource.ReservationInfo`: one entry of the reservation stack, or (legacy
/// format) the `reservation` of a dynamically reserved resource, where only
/// `principal` and `labels` may be set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReservationInfo {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ReservationType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

impl ReservationInfo {
    /// A dynamic reservation entry for `role`.
    pub fn dynamic(role: impl Into<String>) -> Self {
        ReservationInfo {
            type_: Some(ReservationType::Dynamic),
            role: Some(role.into()),
            principal: None,
            labels: None,
        }
    }

    /// A static reservation entry for `role` (from the agent's flags).
    pub fn static_(role: impl Into<String>) -> Self {
        ReservationInfo {
            type_: Some(ReservationType::Static),
            role: Some(role.into()),
            principal: None,
            labels: None,
        }
    }

    pub fn with_principal(mut self, principal: impl Into<String>) -> Self {
        self.principal = Some(principal.into());
        self
    }

    pub fn with_labels(mut self, labels: Labels) -> Self {
        self.labels = Some(labels);
        self
    }

    pub fn is_dynamic(&self) -> bool {
        self.type_ == Some(ReservationType::Dynamic)
    }

    /// Equality as Mesos sees it: absent labels equal empty labels.
    fn same_as(&self, other: &ReservationInfo) -> bool {
        // Borrowed, not cloned: this runs for every pair of entries the arithmetic compares.
        static NONE: Labels = Labels { labels: Vec::new() };
        fn labels(r: &ReservationInfo) -> &Labels {
            r.labels.as_ref().unwrap_or(&NONE)
        }
        let (a, b) = (labels(self), labels(other));
        self.type_ == other.type_
            && self.role == other.role
            && self.principal == other.principal
            // The same order is the common case; `Labels` equality (order-blind) sorts.
            && (a.labels == b.labels || a == b)
    }
}

wire_enum! {
    /// `Volume.Mode`.
    pub enum VolumeMode {
        Rw = "RW",
        Ro = "RO",
    }
    unknown = "UNKNOWN";
    default = Rw;
}

/// `Resource.DiskInfo.Persistence`: makes a reserved disk a persistent volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Persistence {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
}

/// `Volume`: where a volume appears in the container.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Volume {
    pub mode: VolumeMode,
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
}

wire_enum! {
    /// `Resource.DiskInfo.Source.Type`.
    pub enum DiskSourceType {
        Path = "PATH",
        Mount = "MOUNT",
        Block = "BLOCK",
        Raw = "RAW",
    }
    unknown = "UNKNOWN";
    default = Unknown;
}

/// `Resource.DiskInfo.Source.Path`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiskSourcePath {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// `Resource.DiskInfo.Source.Mount`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DiskSourceMount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
}

/// `Resource.DiskInfo.Source`: a disk other than the agent's root disk.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DiskSource {
    #[serde(rename = "type")]
    pub type_: DiskSourceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<DiskSourcePath>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<DiskSourceMount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl DiskSource {
    /// A MOUNT disk rooted at `root` (relative roots are under the agent's
    /// work directory).
    pub fn mount(root: impl Into<String>) -> Self {
        DiskSource {
            type_: DiskSourceType::Mount,
            mount: Some(DiskSourceMount {
                root: Some(root.into()),
            }),
            ..Default::default()
        }
    }

    /// A PATH disk rooted at `root`.
    pub fn path(root: impl Into<String>) -> Self {
        DiskSource {
            type_: DiskSourceType::Path,
            path: Some(DiskSourcePath {
                root: Some(root.into()),
            }),
            ..Default::default()
        }
    }

    /// The root directory of a PATH or MOUNT disk.
    pub fn root(&self) -> Option<&str> {
        match self.type_ {
            DiskSourceType::Path => self.path.as_ref().and_then(|p| p.root.as_deref()),
            DiskSourceType::Mount => self.mount.as_ref().and_then(|m| m.root.as_deref()),
            _ => None,
        }
    }
}

/// `Resource.DiskInfo`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DiskInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<Volume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DiskSource>,
}

impl DiskInfo {
    fn is_blank(&self) -> bool {
        self.persistence.is_none() && self.volume.is_none() && self.source.is_none()
    }
}

/// `Resource`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Resource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<ResourceProviderId>,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: ValueType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    /// Legacy format only: the reserved role, `*` for unreserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Legacy format only: present for a dynamic reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<ReservationInfo>,
    /// Refined format: the reservation stack; the last entry is the
    /// effective reservation. Empty means unreserved.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub reservations: Vec<ReservationInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskInfo>,
    /// `RevocableInfo` (an empty object); presence is what matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocable: Option<serde_json::Value>,
    /// `SharedInfo` (an empty object); presence is what matters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<serde_json::Value>,
}

// ---------------------------------------------------------------------------
// Fixed-point scalars
// ---------------------------------------------------------------------------

/// Mesos stores scalars as integers of thousandths.
fn fixed(value: f64) -> i64 {
    (value * 1000.0).round() as i64
}

fn from_fixed(value: i64) -> f64 {
    value as f64 / 1000.0
}

/// Rounds a scalar to the three decimals Mesos keeps.
pub fn round_scalar(value: f64) -> f64 {
    from_fixed(fixed(value))
}

/// Scalar equality with Mesos' three-decimal tolerance.
pub fn scalars_equal(a: f64, b: f64) -> bool {
    fixed(a) == fixed(b)
}

/// A scalar as Mesos prints it: at most three decimals, no trailing zeros.
pub fn format_scalar(value: f64) -> String {
    format!("{}", round_scalar(value))
}

/// Ranges as the agent flag syntax writes them: `[31000-31099,31200-31200]`.
pub fn format_ranges(ranges: &[Range]) -> String {
    let parts: Vec<String> = ranges
        .iter()
        .map(|r| format!("{}-{}", r.begin, r.end))
        .collect();
    format!("[{}]", parts.join(","))
}

// ---------------------------------------------------------------------------
// Range math
// ---------------------------------------------------------------------------

/// Arithmetic on lists of inclusive ranges.
pub mod ranges {
    use crate::common::Range;

    /// Sorts and coalesces overlapping or adjacent ranges; drops inverted
    /// ones (`begin > end`), which hold no values.
    pub fn normalize(ranges: &[Range]) -> Vec<Range> {
        let mut sorted: Vec<Range> = ranges
            .iter()
            .copied()
            .filter(|r| r.begin <= r.end)
            .collect();
        sorted.sort();
        let mut out: Vec<Range> = Vec::with_capacity(sorted.len());
        for r in sorted {
            match out.last_mut() {
                Some(last) if r.begin <= last.end.saturating_add(1) => {
                    last.end = last.end.max(r.end);
                }
                _ => out.push(r),
            }
        }
        out
    }

    /// `a ∪ b`, normalized.
    pub fn union(a: &[Range], b: &[Range]) -> Vec<Range> {
        let mut all = a.to_vec();
        all.extend_from_slice(b);
        normalize(&all)
    }

    /// `a \ b`, normalized.
    pub fn subtract(a: &[Range], b: &[Range]) -> Vec<Range> {
        let cuts = normalize(b);
        let mut out = Vec::new();
        for r in normalize(a) {
            let mut start = r.begin;
            let mut rest = true;
            for cut in &cuts {
                if cut.end < start || cut.begin > r.end {
                    continue;
                }
                if cut.begin > start {
                    out.push(Range::new(start, cut.begin - 1));
                }
                if cut.end >= r.end {
                    rest = false;
                    break;
                }
                start = cut.end + 1;
            }
            if rest {
                out.push(Range::new(start, r.end));
            }
        }
        out
    }

    /// Whether every value of `b` is in `a`.
    pub fn contains(a: &[Range], b: &[Range]) -> bool {
        subtract(b, a).is_empty()
    }

    /// How many values the ranges hold (saturating).
    pub fn count(ranges: &[Range]) -> u64 {
        normalize(ranges).iter().fold(0u64, |n, r| {
            n.saturating_add((r.end - r.begin).saturating_add(1))
        })
    }
}

// ---------------------------------------------------------------------------
// Resource: construction, predicates, formats
// ---------------------------------------------------------------------------

impl Resource {
    /// An unreserved scalar resource (`cpus`, `mem`, `disk`, `gpus`).
    pub fn scalar(name: impl Into<String>, value: f64) -> Self {
        Resource {
            name: name.into(),
            type_: ValueType::Scalar,
            scalar: Some(Scalar { value }),
            ..Default::default()
        }
    }

    /// An unreserved ranges resource (`ports`), from inclusive pairs.
    pub fn ranges(name: impl Into<String>, ranges: &[(u64, u64)]) -> Self {
        Resource {
            name: name.into(),
            type_: ValueType::Ranges,
            ranges: Some(Ranges {
                range: ranges.iter().map(|&(b, e)| Range::new(b, e)).collect(),
            }),
            ..Default::default()
        }
    }

    /// An unreserved set resource.
    pub fn set<I, S>(name: impl Into<String>, items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Resource {
            name: name.into(),
            type_: ValueType::Set,
            set: Some(Set {
                item: items.into_iter().map(Into::into).collect(),
            }),
            ..Default::default()
        }
    }

    pub fn with_allocation_role(mut self, role: impl Into<String>) -> Self {
        self.allocation_info = Some(AllocationInfo::role(role));
        self
    }

    /// Pushes `reservation` onto the reservation stack (refined format).
    pub fn with_reservation(mut self, reservation: ReservationInfo) -> Self {
        self.reservations.push(reservation);
        self
    }

    /// Makes this (reserved disk) resource a read-write persistent volume.
    pub fn with_persistence(
        mut self,
        id: impl Into<String>,
        principal: Option<&str>,
        container_path: impl Into<String>,
    ) -> Self {
        let disk = self.disk.get_or_insert_with(DiskInfo::default);
        disk.persistence = Some(Persistence {
            id: id.into(),
            principal: principal.map(str::to_string),
        });
        disk.volume = Some(Volume {
            mode: VolumeMode::Rw,
            container_path: container_path.into(),
            ..Default::default()
        });
        self
    }

    pub fn with_disk_source(mut self, source: DiskSource) -> Self {
        self.disk.get_or_insert_with(DiskInfo::default).source = Some(source);
        self
    }

    /// Marks the resource shared (`shared: {}`).
    pub fn with_shared(mut self) -> Self {
        self.shared = Some(serde_json::Value::Object(Default::default()));
        self
    }

    /// The scalar value, or 0 for a non-scalar.
    pub fn scalar_value(&self) -> f64 {
        self.scalar.map(|s| s.value).unwrap_or(0.0)
    }

    /// The ranges, or none for a non-ranges resource.
    pub fn range_values(&self) -> &[Range] {
        self.ranges
            .as_ref()
            .map(|r| r.range.as_slice())
            .unwrap_or(&[])
    }

    /// The set items, or none for a non-set resource.
    pub fn set_items(&self) -> &[String] {
        self.set.as_ref().map(|s| s.item.as_slice()).unwrap_or(&[])
    }

    /// The role this resource is reserved to: the last entry of the stack,
    /// or (legacy format) `role` unless it is `*`.
    pub fn reservation_role(&self) -> Option<&str> {
        match self.reservations.last() {
            Some(top) => top.role.as_deref(),
            None => self.role.as_deref().filter(|r| *r != "*"),
        }
    }

    /// The effective reservation's labels, in either format.
    pub fn reservation_labels(&self) -> Option<&Labels> {
        match self.reservations.last() {
            Some(top) => top.labels.as_ref(),
            None => self.reservation.as_ref().and_then(|r| r.labels.as_ref()),
        }
    }

    /// The effective reservation's principal, in either format.
    pub fn reservation_principal(&self) -> Option<&str> {
        match self.reservations.last() {
            Some(top) => top.principal.as_deref(),
            None => self
                .reservation
                .as_ref()
                .and_then(|r| r.principal.as_deref()),
        }
    }

    pub fn is_reserved(&self) -> bool {
        self.reservation_role().is_some()
    }

    pub fn is_unreserved(&self) -> bool {
        !self.is_reserved()
    }

    pub fn is_reserved_to(&self, role: &str) -> bool {
        self.reservation_role() == Some(role)
    }

    /// Whether a Mesos master may offer this resource to a framework under `role`: it is
    /// unreserved, or reserved to `role` or to one of `role`'s ancestors (what is reserved to
    /// `a` may go to `a/b`, which is how a static reservation reaches the sub-role that
    /// refines it).
    pub fn is_allocatable_to(&self, role: &str) -> bool {
        match self.reservation_role() {
            None => true,
            Some(reserved) => {
                role == reserved
                    || role
                        .strip_prefix(reserved)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
        }
    }

    /// Whether the effective reservation is dynamic (made by RESERVE).
    pub fn is_dynamically_reserved(&self) -> bool {
        match self.reservations.last() {
            Some(top) => top.is_dynamic(),
            None => self.is_reserved() && self.reservation.is_some(),
        }
    }

    /// Whether the effective reservation is static (from agent flags).
    pub fn is_statically_reserved(&self) -> bool {
        self.is_reserved() && !self.is_dynamically_reserved()
    }

    pub fn is_persistent_volume(&self) -> bool {
        self.persistence_id().is_some()
    }

    pub fn persistence_id(&self) -> Option<&str> {
        self.disk
            .as_ref()
            .and_then(|d| d.persistence.as_ref())
            .map(|p| p.id.as_str())
    }

    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    pub fn is_revocable(&self) -> bool {
        self.revocable.is_some()
    }

    pub fn allocation_role(&self) -> Option<&str> {
        self.allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
    }

    /// Whether the value is empty (zero scalar, no ranges, no items).
    pub fn is_empty(&self) -> bool {
        match self.type_ {
            ValueType::Scalar => self.scalar.is_none_or(|s| fixed(s.value) == 0),
            ValueType::Ranges => ranges::normalize(self.range_values()).is_empty(),
            ValueType::Set => self.set_items().is_empty(),
            ValueType::Text | ValueType::Unknown => false,
        }
    }

    /// This resource with its top reservation popped (what UNRESERVE does).
    pub fn without_top_reservation(&self) -> Resource {
        let mut r = self.to_refined_format();
        r.reservations.pop();
        r
    }

    /// This resource without persistence and volume (what DESTROY leaves).
    pub fn without_volume(&self) -> Resource {
        let mut r = self.clone();
        if let Some(disk) = r.disk.as_mut() {
            disk.persistence = None;
            disk.volume = None;
            if disk.is_blank() {
                r.disk = None;
            }
        }
        r
    }

    /// The resource in the legacy (pre-refinement) format: `role` is the
    /// effective reservation role or `*`; a dynamic reservation becomes
    /// `reservation: {principal, labels}`. Deeper stacks flatten to their
    /// top entry; Mesos never offers those to legacy frameworks.
    pub fn to_legacy_format(&self) -> Resource {
        let mut r = self.clone();
        let Some(top) = r.reservations.pop() else {
            if r.role.is_none() {
                r.role = Some("*".to_string());
            }
            return r;
        };
        r.reservations.clear();
        r.reservation = if top.is_dynamic() {
            Some(ReservationInfo {
                type_: None,
                role: None,
                principal: top.principal,
                labels: top.labels,
            })
        } else {
            None
        };
        r.role = Some(top.role.unwrap_or_else(|| "*".to_string()));
        r
    }

    /// The resource as Mesos' endpoints show it (its `ENDPOINT` format): the refined
    /// `reservations` stack, and beside it the legacy `role` (`*` when unreserved) and, for a
    /// dynamic reservation, `reservation`, as long as the stack has at most one entry (a
    /// refined stack has no legacy form). Tools written before refinement read the legacy
    /// fields; newer ones read the stack.
    pub fn to_endpoint_format(&self) -> Resource {
        let mut r = self.to_refined_format();
        match r.reservations.as_slice() {
            [] => r.role = Some("*".to_string()),
            [only] => {
                r.role = only.role.clone();
                r.reservation = only.is_dynamic().then(|| ReservationInfo {
                    type_: None,
                    role: None,
                    principal: only.principal.clone(),
                    labels: only.labels.clone(),
                });
            }
            _ => {}
        }
        r
    }

    /// The resource in the refined format: a legacy reserved `role` becomes
    /// a one-entry stack, DYNAMIC when `reservation` is present and STATIC
    /// otherwise; `*` becomes an empty stack. Refined input passes through;
    /// the endpoint format loses its legacy fields.
    pub fn to_refined_format(&self) -> Resource {
        if !self.reservations.is_empty() {
            // Refined, or the endpoint format: the stack says it all, and the legacy fields
            // beside it (which `validate_format` checked agree with it) go.
            let mut r = self.clone();
            r.role = None;
            r.reservation = None;
            return r;
        }
        let mut r = self.clone();
        let role = r.role.take();
        let reservation = r.reservation.take();
        if let Some(role) = role.filter(|role| role != "*") {
            r.reservations.push(match reservation {
                Some(legacy) => ReservationInfo {
                    type_: Some(ReservationType::Dynamic),
                    role: Some(role),
                    principal: legacy.principal,
                    labels: legacy.labels,
                },
                None => ReservationInfo::static_(role),
            });
        }
        r
    }

    /// Rejects a resource that mixes the legacy and refined reservation
    /// formats, or a legacy reservation that is malformed. The endpoint
    /// format (the stack with legacy fields that say the same beside it, as
    /// [`Resource::to_endpoint_format`] writes it) is not a mix: Mesos takes
    /// back what its endpoints answer, so a tool may send a resource it read
    /// from `GET_AGENTS` or `/state`.
    pub fn validate_format(&self) -> Result<(), ResourceError> {
        let mixed = |detail: &str| ResourceError::MixedFormat {
            name: self.name.clone(),
            detail: detail.to_string(),
        };
        if !self.reservations.is_empty()
            && (self.role.is_some() || self.reservation.is_some())
            && self.to_refined_format().to_endpoint_format() == *self
        {
            return Ok(());
        }
        if !self.reservations.is_empty() {
            if self.role.is_some() {
                return Err(mixed("'role' must not be set when 'reservations' is set"));
            }
            if self.reservation.is_some() {
                return Err(mixed(
                    "'reservation' must not be set when 'reservations' is set",
                ));
            }
            return Ok(());
        }
        if let Some(legacy) = &self.reservation {
            if legacy.type_.is_some() || legacy.role.is_some() {
                return Err(mixed(
                    "a legacy 'reservation' must not set 'type' or 'role' (those belong in 'reservations')",
                ));
            }
            if self.reservation_role().is_none() {
                return Err(
                    self.invalid("a dynamic 'reservation' needs a reserved 'role' other than '*'")
                );
            }
        }
        Ok(())
    }

    /// Full validation: the format rules, a payload matching `type`, sane
    /// values, a well-formed reservation stack, and volumes only on reserved
    /// disk.
    pub fn validate(&self) -> Result<(), ResourceError> {
        if self.name.trim().is_empty() {
            return Err(self.invalid("empty name"));
        }
        match self.type_ {
            ValueType::Scalar => {
                let Some(scalar) = self.scalar else {
                    return Err(self.invalid("a SCALAR resource needs 'scalar'"));
                };
                if self.ranges.is_some() || self.set.is_some() {
                    return Err(self.invalid("a SCALAR resource must not set 'ranges' or 'set'"));
                }
                if !scalar.value.is_finite() || scalar.value < 0.0 {
                    return Err(self.invalid("a scalar must be a finite, non-negative number"));
                }
            }
            ValueType::Ranges => {
                let Some(ranges) = &self.ranges else {
                    return Err(self.invalid("a RANGES resource needs 'ranges'"));
                };
                if self.scalar.is_some() || self.set.is_some() {
                    return Err(self.invalid("a RANGES resource must not set 'scalar' or 'set'"));
                }
                if let Some(bad) = ranges.range.iter().find(|r| r.begin > r.end) {
                    return Err(
                        self.invalid(&format!("range {}-{} has begin > end", bad.begin, bad.end))
                    );
                }
            }
            ValueType::Set => {
                if self.set.is_none() {
                    return Err(self.invalid("a SET resource needs 'set'"));
                }
                if self.scalar.is_some() || self.ranges.is_some() {
                    return Err(self.invalid("a SET resource must not set 'scalar' or 'ranges'"));
                }
            }
            ValueType::Text | ValueType::Unknown => {
                return Err(self.invalid(&format!(
                    "type {} is not allowed for a resource",
                    self.type_
                )));
            }
        }
        self.validate_format()?;
        if let Some(role) = &self.role {
            crate::validation::validate_role(role).map_err(|e| self.invalid(&e.to_string()))?;
        }
        let mut parent: Option<&str> = None;
        for (i, entry) in self.reservations.iter().enumerate() {
            let role = entry.role.as_deref().unwrap_or("");
            if role.is_empty() || role == "*" {
                return Err(self.invalid(&format!("reservation {i} has no role")));
            }
            // A reserved role names a directory of the agent's volumes.
            if let Err(e) = crate::validation::validate_role(role) {
                return Err(self.invalid(&format!("reservation {i}: {e}")));
            }
            match entry.type_ {
                Some(ReservationType::Static) if i > 0 => {
                    return Err(self.invalid("only the first reservation may be STATIC"));
                }
                Some(ReservationType::Static) | Some(ReservationType::Dynamic) => {}
                _ => return Err(self.invalid(&format!("reservation {i} has no valid type"))),
            }
            if let Some(parent) = parent {
                if !role
                    .strip_prefix(parent)
                    .is_some_and(|rest| rest.starts_with('/'))
                {
                    return Err(self.invalid(&format!(
                        "reservation role '{role}' does not refine '{parent}'"
                    )));
                }
            }
            parent = Some(role);
        }
        if self.is_persistent_volume() {
            if self.name != "disk" {
                return Err(self.invalid("only 'disk' resources can be persistent volumes"));
            }
            if self.is_unreserved() {
                return Err(self.invalid("a persistent volume must be on reserved disk"));
            }
            if let Some(id) = self.persistence_id() {
                // The id names the volume's directory on the agent.
                crate::validation::validate_id(id).map_err(|e| {
                    self.invalid(&format!(
                        "Invalid persistence ID for persistent volume: {e}"
                    ))
                })?;
            }
        }
        Ok(())
    }

    fn invalid(&self, reason: &str) -> ResourceError {
        ResourceError::Invalid {
            // The error text may carry a caller's names (a persistence ID, a role): escaped.
            resource: crate::validation::Printable(&self.to_string()).to_string(),
            reason: reason.to_string(),
        }
    }

    /// Whether the value is usable for arithmetic; anything else is dropped
    /// by `Resources::add`, as Mesos drops invalid resources.
    fn is_well_formed(&self) -> bool {
        if self.name.is_empty() {
            return false;
        }
        match self.type_ {
            ValueType::Scalar => self
                .scalar
                .is_some_and(|s| s.value.is_finite() && fixed(s.value) >= 0),
            ValueType::Ranges => self
                .ranges
                .as_ref()
                .is_some_and(|r| r.range.iter().all(|r| r.begin <= r.end)),
            ValueType::Set => self.set.is_some(),
            ValueType::Text | ValueType::Unknown => false,
        }
    }

    /// Resources that never combine and are only subtracted whole.
    fn is_atomic(&self) -> bool {
        if self.is_shared() || self.is_persistent_volume() {
            return true;
        }
        match self.disk.as_ref().and_then(|d| d.source.as_ref()) {
            Some(source) => match source.type_ {
                DiskSourceType::Mount | DiskSourceType::Block => true,
                DiskSourceType::Raw => source.id.is_some(),
                DiskSourceType::Path | DiskSourceType::Unknown => false,
            },
            None => false,
        }
    }

    /// Same kind of resource: everything but the value matches. Both sides
    /// must be in the refined format.
    fn same_kind(&self, other: &Resource) -> bool {
        // By reference: this runs for every pair the arithmetic compares, and a clone of the
        // disk info here was most of an allocator pass's time with a thousand volumes.
        fn disk(r: &Resource) -> Option<&DiskInfo> {
            r.disk.as_ref().filter(|d| !d.is_blank())
        }
        self.name == other.name
            && self.type_ == other.type_
            && self.allocation_role() == other.allocation_role()
            && self.reservations.len() == other.reservations.len()
            && self
                .reservations
                .iter()
                .zip(&other.reservations)
                .all(|(a, b)| a.same_as(b))
            && disk(self) == disk(other)
            && self.revocable.is_some() == other.revocable.is_some()
            && self.shared.is_some() == other.shared.is_some()
            && self.provider_id == other.provider_id
    }

    fn value_equals(&self, other: &Resource) -> bool {
        match self.type_ {
            ValueType::Scalar => scalars_equal(self.scalar_value(), other.scalar_value()),
            ValueType::Ranges => {
                ranges::normalize(self.range_values()) == ranges::normalize(other.range_values())
            }
            ValueType::Set => {
                let (a, b) = (self.set_items(), other.set_items());
                a.iter().all(|i| b.contains(i)) && b.iter().all(|i| a.contains(i))
            }
            ValueType::Text | ValueType::Unknown => false,
        }
    }

    fn value_contains(&self, other: &Resource) -> bool {
        match self.type_ {
            ValueType::Scalar => fixed(self.scalar_value()) >= fixed(other.scalar_value()),
            ValueType::Ranges => ranges::contains(self.range_values(), other.range_values()),
            ValueType::Set => other
                .set_items()
                .iter()
                .all(|i| self.set_items().contains(i)),
            ValueType::Text | ValueType::Unknown => false,
        }
    }

    fn value_add(&mut self, other: &Resource) {
        match self.type_ {
            ValueType::Scalar => {
                let sum = fixed(self.scalar_value()) + fixed(other.scalar_value());
                self.scalar = Some(Scalar {
                    value: from_fixed(sum),
                });
            }
            ValueType::Ranges => {
                let range = ranges::union(self.range_values(), other.range_values());
                self.ranges = Some(Ranges { range });
            }
            ValueType::Set => {
                let set = self.set.get_or_insert_with(Set::default);
                for item in other.set_items() {
                    if !set.item.contains(item) {
                        set.item.push(item.clone());
                    }
                }
            }
            ValueType::Text | ValueType::Unknown => {}
        }
    }

    /// Assumes `self.value_contains(other)`.
    fn value_subtract(&mut self, other: &Resource) {
        match self.type_ {
            ValueType::Scalar => {
                let rest = fixed(self.scalar_value()) - fixed(other.scalar_value());
                self.scalar = Some(Scalar {
                    value: from_fixed(rest.max(0)),
                });
            }
            ValueType::Ranges => {
                let range = ranges::subtract(self.range_values(), other.range_values());
                self.ranges = Some(Ranges { range });
            }
            ValueType::Set => {
                if let Some(set) = self.set.as_mut() {
                    set.item.retain(|i| !other.set_items().contains(i));
                }
            }
            ValueType::Text | ValueType::Unknown => {}
        }
    }

    /// Canonical value: rounded scalar, normalized ranges, unique items.
    fn canonical(mut self) -> Resource {
        match self.type_ {
            ValueType::Scalar => {
                if let Some(s) = self.scalar.as_mut() {
                    s.value = round_scalar(s.value);
                }
            }
            ValueType::Ranges => {
                if let Some(r) = self.ranges.as_mut() {
                    r.range = ranges::normalize(&r.range);
                }
            }
            ValueType::Set => {
                if let Some(s) = self.set.as_mut() {
                    let mut seen = Vec::with_capacity(s.item.len());
                    for item in s.item.drain(..) {
                        if !seen.contains(&item) {
                            seen.push(item);
                        }
                    }
                    s.item = seen;
                }
            }
            ValueType::Text | ValueType::Unknown => {}
        }
        self
    }
}

impl fmt::Display for Resource {
    /// Close to Mesos' own rendering, e.g.
    /// `disk(allocated: kv)(reservations: [(DYNAMIC,kv,p)])[kv-0-data:data]:512`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(role) = self.allocation_role() {
            write!(f, "(allocated: {role})")?;
        }
        if !self.reservations.is_empty() {
            let entries: Vec<String> = self
                .reservations
                .iter()
                .map(|r| {
                    let mut parts = vec![
                        r.type_.map(|t| t.as_str()).unwrap_or("?").to_string(),
                        r.role.clone().unwrap_or_default(),
                    ];
                    if let Some(p) = &r.principal {
                        parts.push(p.clone());
                    }
                    if let Some(labels) = r.labels.as_ref().filter(|l| !l.is_empty()) {
                        parts.push(format_labels(labels));
                    }
                    format!("({})", parts.join(","))
                })
                .collect();
            write!(f, "(reservations: [{}])", entries.join(", "))?;
        } else if let Some(role) = &self.role {
            if role != "*" || self.reservation.is_some() {
                write!(f, "({role}")?;
                if let Some(p) = self.reservation.as_ref().and_then(|r| r.principal.as_ref()) {
                    write!(f, ", {p}")?;
                }
                if let Some(l) = self.reservation.as_ref().and_then(|r| r.labels.as_ref()) {
                    write!(f, ", {}", format_labels(l))?;
                }
                f.write_str(")")?;
            }
        }
        if let Some(disk) = &self.disk {
            if let Some(source) = &disk.source {
                write!(f, "[{}", source.type_)?;
                if let Some(root) = source.root() {
                    write!(f, "({root})")?;
                }
                f.write_str("]")?;
            }
            if let Some(p) = &disk.persistence {
                write!(f, "[{}", p.id)?;
                if let Some(v) = &disk.volume {
                    write!(f, ":{}", v.container_path)?;
                }
                f.write_str("]")?;
            }
        }
        if self.is_revocable() {
            f.write_str("{REV}")?;
        }
        if self.is_shared() {
            f.write_str("<SHARED>")?;
        }
        f.write_str(":")?;
        match self.type_ {
            ValueType::Scalar => f.write_str(&format_scalar(self.scalar_value())),
            ValueType::Ranges => f.write_str(&format_ranges(self.range_values())),
            ValueType::Set => write!(f, "{{{}}}", self.set_items().join(",")),
            ValueType::Text | ValueType::Unknown => f.write_str("?"),
        }
    }
}

fn format_labels(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|l| match &l.value {
            Some(v) => format!("{}: {v}", l.key),
            None => l.key.clone(),
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A hash of some of what `same_kind` compares (name, allocation role, the reservations'
/// roles and labels, the volume's persistence id): entries of the same kind hash alike;
/// entries that hash alike are then compared in full.
fn kind_hash(r: &Resource) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    r.name.hash(&mut h);
    r.allocation_role().hash(&mut h);
    for reservation in &r.reservations {
        reservation.role.hash(&mut h);
        // Summed, so that label order (which `same_kind` ignores) does not change the hash.
        let mut labels = 0u64;
        for label in reservation.labels.iter().flat_map(|l| &l.labels) {
            let mut lh = std::collections::hash_map::DefaultHasher::new();
            label.key.hash(&mut lh);
            label.value.hash(&mut lh);
            labels = labels.wrapping_add(lh.finish());
        }
        labels.hash(&mut h);
    }
    r.disk
        .as_ref()
        .and_then(|d| d.persistence.as_ref())
        .map(|p| &p.id)
        .hash(&mut h);
    h.finish()
}

// ---------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------

/// A bag of resources, kept combined (see the module docs) and in the refined
/// format. Build it with `collect()`, `From<Vec<Resource>>` or `add`, which
/// normalize; the field is public for pattern matching and serde, and the
/// methods cope with a hand-built, unnormalized list too.
///
/// Equality is Mesos' (each contains the other), not list equality.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resources(pub Vec<Resource>);

impl Resources {
    pub fn new() -> Self {
        Resources(Vec::new())
    }

    pub fn into_vec(self) -> Vec<Resource> {
        self.0
    }

    /// Adds one resource, combining it with an entry of the same kind.
    /// Empty and malformed resources are ignored, as in Mesos.
    pub fn add(&mut self, resource: &Resource) {
        let resource = resource.to_refined_format();
        if !resource.is_well_formed() || resource.is_empty() {
            return;
        }
        if !resource.is_atomic() {
            if let Some(entry) = self.0.iter_mut().find(|e| e.same_kind(&resource)) {
                entry.value_add(&resource);
                return;
            }
        }
        self.0.push(resource.canonical());
    }

    pub fn add_all<'a>(&mut self, resources: impl IntoIterator<Item = &'a Resource>) {
        for r in resources {
            self.add(r);
        }
    }

    /// Removes `resource`, failing (and changing nothing) when it is not
    /// entirely contained.
    pub fn subtract(&mut self, resource: &Resource) -> Result<(), ResourceError> {
        let resource = resource.to_refined_format();
        if !resource.is_well_formed() {
            return Err(resource.invalid("malformed value"));
        }
        if resource.is_empty() || self.take(&resource) {
            return Ok(());
        }
        // A hand-built list may hold the amount split over several entries,
        // or in the legacy format; normalizing merges them.
        self.normalize();
        if self.take(&resource) {
            Ok(())
        } else {
            Err(ResourceError::NotContained {
                resource: resource.to_string(),
                from: self.to_string(),
            })
        }
    }

    /// Removes every resource of `resources`, atomically: on error nothing
    /// changed.
    pub fn subtract_all<'a>(
        &mut self,
        resources: impl IntoIterator<Item = &'a Resource>,
    ) -> Result<(), ResourceError> {
        let mut rest = self.clone();
        if let Some(e) = rest.subtract_each(resources).into_iter().next() {
            return Err(e);
        }
        *self = rest;
        Ok(())
    }

    /// Removes each of `resources` that is contained, as `subtract` one at a time would, and
    /// returns the errors of those that are not (they change nothing). Entries are found
    /// through a hash of their kind, so this is O(n + m) where a loop of `subtract` is
    /// O(n·m): an agent's thousand reservations, each its own kind by its labels, made that
    /// quadratic loop most of an allocation pass.
    pub fn subtract_each<'a>(
        &mut self,
        resources: impl IntoIterator<Item = &'a Resource>,
    ) -> Vec<ResourceError> {
        let mut errors = Vec::new();
        let mut index = self.kind_index();
        // Emptied entries stay in place (marked) until the end, so the index stays valid.
        let mut gone = vec![false; self.0.len()];
        for resource in resources {
            let resource = resource.to_refined_format();
            if !resource.is_well_formed() {
                errors.push(resource.invalid("malformed value"));
                continue;
            }
            if resource.is_empty() {
                continue;
            }
            let atomic = resource.is_atomic();
            let hit = index.get(&kind_hash(&resource)).and_then(|candidates| {
                candidates.iter().copied().find(|&i| {
                    let e = &self.0[i];
                    !gone[i]
                        && e.same_kind(&resource)
                        && if atomic {
                            e.value_equals(&resource)
                        } else {
                            e.value_contains(&resource)
                        }
                })
            });
            match hit {
                Some(i) => {
                    if !atomic {
                        self.0[i].value_subtract(&resource);
                    }
                    gone[i] = atomic || self.0[i].is_empty();
                }
                None => {
                    // Not found as one entry: the slow path (which normalizes a hand-built
                    // list) decides, on a compacted list with a fresh index.
                    self.drop_marked(&gone);
                    if let Err(e) = self.subtract(&resource) {
                        errors.push(e);
                    }
                    index = self.kind_index();
                    gone = vec![false; self.0.len()];
                }
            }
        }
        self.drop_marked(&gone);
        errors
    }

    fn kind_index(&self) -> std::collections::HashMap<u64, Vec<usize>> {
        let mut index: std::collections::HashMap<u64, Vec<usize>> = Default::default();
        for (i, r) in self.0.iter().enumerate() {
            index.entry(kind_hash(r)).or_default().push(i);
        }
        index
    }

    fn drop_marked(&mut self, gone: &[bool]) {
        let mut i = 0;
        self.0.retain(|_| {
            let keep = !gone.get(i).copied().unwrap_or(false);
            i += 1;
            keep
        });
    }

    fn take(&mut self, resource: &Resource) -> bool {
        let atomic = resource.is_atomic();
        for i in 0..self.0.len() {
            let entry = &mut self.0[i];
            if !entry.same_kind(resource) {
                continue;
            }
            if atomic {
                if entry.value_equals(resource) {
                    self.0.remove(i);
                    return true;
                }
                continue;
            }
            if !entry.value_contains(resource) {
                continue;
            }
            entry.value_subtract(resource);
            if entry.is_empty() {
                self.0.remove(i);
            }
            return true;
        }
        false
    }

    fn normalize(&mut self) {
        let entries = std::mem::take(&mut self.0);
        for r in &entries {
            self.add(r);
        }
    }

    /// Whether all of `other` is contained here.
    pub fn contains(&self, other: &[Resource]) -> bool {
        let mut rest = self.clone();
        rest.subtract_each(other).is_empty()
    }

    pub fn contains_resource(&self, resource: &Resource) -> bool {
        self.clone().subtract(resource).is_ok()
    }

    /// The total of scalar resource `name` over all entries.
    pub fn scalar(&self, name: &str) -> f64 {
        from_fixed(
            self.0
                .iter()
                .filter(|r| r.name == name && r.type_ == ValueType::Scalar)
                .map(|r| fixed(r.scalar_value()))
                .sum(),
        )
    }

    /// The union of ranges resource `name` over all entries.
    pub fn ranges(&self, name: &str) -> Vec<Range> {
        let all: Vec<Range> = self
            .0
            .iter()
            .filter(|r| r.name == name && r.type_ == ValueType::Ranges)
            .flat_map(|r| r.range_values().iter().copied())
            .collect();
        ranges::normalize(&all)
    }

    /// The union of set resource `name` over all entries.
    pub fn set(&self, name: &str) -> Vec<String> {
        let mut items: Vec<String> = Vec::new();
        for r in self.0.iter().filter(|r| r.name == name) {
            for item in r.set_items() {
                if !items.contains(item) {
                    items.push(item.clone());
                }
            }
        }
        items
    }

    pub fn filter(&self, mut keep: impl FnMut(&Resource) -> bool) -> Resources {
        Resources(self.0.iter().filter(|r| keep(r)).cloned().collect())
    }

    /// Resources whose effective reservation is for `role`.
    pub fn reserved_to(&self, role: &str) -> Resources {
        self.filter(|r| r.is_reserved_to(role))
    }

    pub fn reserved(&self) -> Resources {
        self.filter(Resource::is_reserved)
    }

    pub fn unreserved(&self) -> Resources {
        self.filter(Resource::is_unreserved)
    }

    pub fn persistent_volumes(&self) -> Resources {
        self.filter(Resource::is_persistent_volume)
    }

    pub fn allocated_to(&self, role: &str) -> Resources {
        self.filter(|r| r.allocation_role() == Some(role))
    }

    /// The same resources with `allocation_info` removed (entries that then
    /// become the same kind combine).
    pub fn without_allocation_info(&self) -> Resources {
        self.0
            .iter()
            .map(|r| Resource {
                allocation_info: None,
                ..r.clone()
            })
            .collect()
    }

    /// The same resources allocated to `role`.
    pub fn with_allocation_info(&self, role: &str) -> Resources {
        self.0
            .iter()
            .map(|r| r.clone().with_allocation_role(role))
            .collect()
    }

    pub fn to_legacy_format(&self) -> Vec<Resource> {
        self.0.iter().map(Resource::to_legacy_format).collect()
    }

    pub fn to_refined_format(&self) -> Vec<Resource> {
        self.0.iter().map(Resource::to_refined_format).collect()
    }

    /// Parses agent resources: the Mesos flag syntax
    /// `cpus:4;mem:8192;disk(role):40000;ports:[31000-32000];zones:{a,b}`,
    /// or a JSON array of `Resource`. A role other than `*` is a static
    /// reservation.
    pub fn parse(text: &str) -> Result<Resources, ResourceError> {
        let text = text.trim();
        if text.starts_with('[') {
            let list: Vec<Resource> =
                serde_json::from_str(text).map_err(|e| ResourceError::Parse {
                    token: text.chars().take(40).collect(),
                    reason: format!("not a JSON array of resources: {e}"),
                })?;
            for r in &list {
                r.validate()?;
            }
            return Ok(list.into_iter().collect());
        }
        let mut out = Resources::new();
        for token in text.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            let resource = parse_token(token)?;
            resource.validate()?;
            out.add(&resource);
        }
        Ok(out)
    }
}

fn parse_token(token: &str) -> Result<Resource, ResourceError> {
    let fail = |reason: String| ResourceError::Parse {
        token: token.to_string(),
        reason,
    };
    let (head, value) = token
        .split_once(':')
        .ok_or_else(|| fail("expected 'name:value' or 'name(role):value'".to_string()))?;
    let head = head.trim();
    let (name, role) = match head.find('(') {
        Some(open) => {
            let Some(inner) = head[open + 1..].strip_suffix(')') else {
                return Err(fail("role is missing its closing ')'".to_string()));
            };
            (head[..open].trim(), Some(inner.trim()))
        }
        None => (head, None),
    };
    if name.is_empty() {
        return Err(fail("missing resource name".to_string()));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "()[]{},".contains(*c))
    {
        return Err(fail(format!("resource name contains {bad:?}")));
    }
    if let Some(role) = role {
        if role.is_empty() {
            return Err(fail("empty role in '()'".to_string()));
        }
        if role != "*" {
            check_role(role).map_err(|reason| fail(format!("bad role '{role}': {reason}")))?;
        }
    }

    let value = value.trim();
    let mut resource = if let Some(rest) = value.strip_prefix('[') {
        let inner = rest
            .strip_suffix(']')
            .ok_or_else(|| fail("ranges are missing their closing ']'".to_string()))?;
        let mut pairs = Vec::new();
        for part in inner.split(',').map(str::trim) {
            if part.is_empty() {
                if inner.trim().is_empty() {
                    break;
                }
                return Err(fail("empty range in the list".to_string()));
            }
            let (begin, end) = match part.split_once('-') {
                Some((b, e)) => (b.trim(), e.trim()),
                None => (part, part),
            };
            let number = |s: &str| {
                s.parse::<u64>().map_err(|_| {
                    fail(format!(
                        "'{s}' in range '{part}' is not a non-negative integer"
                    ))
                })
            };
            let (begin, end) = (number(begin)?, number(end)?);
            if begin > end {
                return Err(fail(format!("range '{part}' has begin > end")));
            }
            pairs.push((begin, end));
        }
        Resource::ranges(name, &pairs)
    } else if let Some(rest) = value.strip_prefix('{') {
        let inner = rest
            .strip_suffix('}')
            .ok_or_else(|| fail("set is missing its closing '}'".to_string()))?;
        let items: Vec<&str> = inner.split(',').map(str::trim).collect();
        if items.iter().any(|i| i.is_empty()) && !inner.trim().is_empty() {
            return Err(fail("empty item in the set".to_string()));
        }
        Resource::set(name, items.into_iter().filter(|i| !i.is_empty()))
    } else {
        if value.is_empty() {
            return Err(fail("missing value after ':'".to_string()));
        }
        let number: f64 = value
            .parse()
            .map_err(|_| fail(format!("'{value}' is not a number")))?;
        if !number.is_finite() {
            return Err(fail(format!("'{value}' is not a finite number")));
        }
        if number < 0.0 {
            return Err(fail(format!("'{value}' is negative")));
        }
        Resource::scalar(name, number)
    };
    if let Some(role) = role.filter(|r| *r != "*") {
        resource = resource.with_reservation(ReservationInfo::static_(role));
    }
    Ok(resource)
}

/// Mesos' role-name rules, applied to each `/`-separated component.
fn check_role(role: &str) -> Result<(), &'static str> {
    if role.starts_with('/') || role.ends_with('/') {
        return Err("must not start or end with '/'");
    }
    for part in role.split('/') {
        if part.is_empty() {
            return Err("empty path component");
        }
        if part == "." || part == ".." {
            return Err("'.' and '..' are not allowed");
        }
        if part.starts_with('-') {
            return Err("must not start with '-'");
        }
        if part == "*" {
            return Err("'*' is only allowed as the whole role");
        }
        if part.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace");
        }
    }
    Ok(())
}

impl PartialEq for Resources {
    fn eq(&self, other: &Self) -> bool {
        self.contains(&other.0) && other.contains(&self.0)
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("{}");
        }
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl Deref for Resources {
    type Target = [Resource];
    fn deref(&self) -> &[Resource] {
        &self.0
    }
}

impl FromIterator<Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = Resource>>(iter: I) -> Self {
        let mut out = Resources::new();
        for r in iter {
            out.add(&r);
        }
        out
    }
}

impl<'a> FromIterator<&'a Resource> for Resources {
    fn from_iter<I: IntoIterator<Item = &'a Resource>>(iter: I) -> Self {
        let mut out = Resources::new();
        out.add_all(iter);
        out
    }
}

impl From<Vec<Resource>> for Resources {
    fn from(list: Vec<Resource>) -> Self {
        list.into_iter().collect()
    }
}

impl From<&[Resource]> for Resources {
    fn from(list: &[Resource]) -> Self {
        list.iter().collect()
    }
}

impl From<Resources> for Vec<Resource> {
    fn from(r: Resources) -> Self {
        r.0
    }
}

impl IntoIterator for Resources {
    type Item = Resource;
    type IntoIter = std::vec::IntoIter<Resource>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Resources {
    type Item = &'a Resource;
    type IntoIter = std::slice::Iter<'a, Resource>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Extend<Resource> for Resources {
    fn extend<I: IntoIterator<Item = Resource>>(&mut self, iter: I) {
        for r in iter {
            self.add(&r);
        }
    }
}
