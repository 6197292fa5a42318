//! What RESERVE, UNRESERVE, CREATE and DESTROY do to an agent's resources, as Mesos' master
//! applies them: one pure function, so that the embedded cluster and the simulator model the
//! same Mesos. What lives outside the books (a volume's directory, the tasks using a volume) is
//! asked of the caller through [`Agent`].

use crate::{Resource, Resources, VolumeMode};

/// One resource operation, its resources in the refined format and without allocation info.
#[derive(Debug, Clone, PartialEq)]
pub enum ResourceOperation {
    Reserve(Vec<Resource>),
    Unreserve(Vec<Resource>),
    Create(Vec<Resource>),
    Destroy(Vec<Resource>),
}

impl ResourceOperation {
    /// Mesos' name of the operation, as its refusals say it.
    pub fn name(&self) -> &'static str {
        match self {
            ResourceOperation::Reserve(_) => "RESERVE",
            ResourceOperation::Unreserve(_) => "UNRESERVE",
            ResourceOperation::Create(_) => "CREATE",
            ResourceOperation::Destroy(_) => "DESTROY",
        }
    }
}

/// Why an operation was refused, in Mesos' words (`Invalid CREATE Operation: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid {operation} Operation: {reason}")]
pub struct OperationRefused {
    /// `RESERVE`, `UNRESERVE`, `CREATE` or `DESTROY`.
    pub operation: &'static str,
    /// Why.
    pub reason: String,
}

/// What the books cannot say about an agent.
pub trait Agent {
    /// Whether `volume` may not be created because a volume the agent has (in `total`) is
    /// already it: the same persistence ID for the same role, or the same place on disk.
    fn volume_taken(&self, volume: &Resource, total: &Resources) -> bool {
        total.iter().any(|t| {
            t.is_persistent_volume()
                && t.persistence_id() == volume.persistence_id()
                && t.reservation_role() == volume.reservation_role()
        })
    }

    /// Whether a task or executor uses `volume`: such a volume cannot be destroyed.
    fn volume_in_use(&self, volume: &Resource) -> bool;
}

/// Applies `op` to `pool` (what the framework may use: an offer's resources) and to `total`
/// (everything the agent has). Either both change or neither does. On success every volume of
/// a CREATE was created and every volume of a DESTROY destroyed: the caller makes or removes
/// their directories.
pub fn apply_resource_operation(
    pool: &mut Resources,
    total: &mut Resources,
    op: &ResourceOperation,
    agent: &dyn Agent,
) -> Result<(), OperationRefused> {
    let what = op.name();
    let refuse = |reason: String| OperationRefused {
        operation: what,
        reason,
    };
    // Worked on copies: a refusal half-way leaves the books as they were.
    let mut books = Books {
        pool: pool.clone(),
        total: total.clone(),
    };
    match op {
        ResourceOperation::Reserve(rs) => {
            for r in rs {
                if r.reservations.last().is_none_or(|t| !t.is_dynamic()) {
                    return Err(refuse(format!("{r} is not a dynamic reservation")));
                }
                if r.is_persistent_volume() {
                    return Err(refuse("a persistent volume cannot be reserved".into()));
                }
                books
                    .swap(&r.without_top_reservation(), r)
                    .map_err(refuse)?;
            }
        }
        ResourceOperation::Unreserve(rs) => {
            for r in rs {
                if !r.is_dynamically_reserved() {
                    return Err(refuse(format!("{r} is not dynamically reserved")));
                }
                if r.is_persistent_volume() {
                    return Err(refuse("a persistent volume must be destroyed first".into()));
                }
                books
                    .swap(r, &r.without_top_reservation())
                    .map_err(refuse)?;
            }
        }
        ResourceOperation::Create(rs) => {
            for r in rs {
                if r.persistence_id().is_none() {
                    return Err(refuse("a volume needs 'disk.persistence.id'".into()));
                }
                if r.name != "disk" || !r.is_reserved() {
                    return Err(refuse(format!("{r} is not reserved disk")));
                }
                match r.disk.as_ref().and_then(|d| d.volume.as_ref()) {
                    None => return Err(refuse("a volume needs 'disk.volume'".into())),
                    Some(v) if v.mode != VolumeMode::Rw => {
                        return Err(refuse("a persistent volume must be RW".into()))
                    }
                    Some(_) => {}
                }
                // Against the books as this operation changed them: two volumes of one
                // CREATE may not be one either.
                if agent.volume_taken(r, &books.total) {
                    return Err(refuse(format!(
                        "persistence ID '{}' is already in use",
                        r.persistence_id().unwrap_or_default().escape_debug()
                    )));
                }
                books.swap(&r.without_volume(), r).map_err(refuse)?;
            }
        }
        ResourceOperation::Destroy(rs) => {
            for r in rs {
                if !r.is_persistent_volume() {
                    return Err(refuse(format!("{r} is not a persistent volume")));
                }
                if agent.volume_in_use(r) {
                    return Err(refuse(format!(
                        "volume '{}' is in use by a task",
                        r.persistence_id().unwrap_or("")
                    )));
                }
                books.swap(r, &r.without_volume()).map_err(refuse)?;
            }
        }
    }
    *pool = books.pool;
    *total = books.total;
    Ok(())
}

/// The framework's pool and the agent's total, changed together.
struct Books {
    pool: Resources,
    total: Resources,
}

impl Books {
    /// Replaces `from` by `to` in both; the reason when either lacks `from`.
    fn swap(&mut self, from: &Resource, to: &Resource) -> Result<(), String> {
        self.pool
            .subtract(from)
            .map_err(|_| format!("{from} is not available"))?;
        self.total
            .subtract(from)
            .map_err(|_| format!("the agent does not have {from}"))?;
        self.pool.add(to);
        self.total.add(to);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ReservationInfo;

    /// An agent with no tasks.
    struct Idle;

    impl Agent for Idle {
        fn volume_in_use(&self, _: &Resource) -> bool {
            false
        }
    }

    /// An agent whose every volume is used by a task.
    struct Busy;

    impl Agent for Busy {
        fn volume_in_use(&self, _: &Resource) -> bool {
            true
        }
    }

    fn agent() -> Resources {
        Resources::parse("cpus:4;disk:1000").unwrap()
    }

    fn reserved_disk(mb: f64) -> Resource {
        Resource::scalar("disk", mb).with_reservation(ReservationInfo::dynamic("db"))
    }

    fn volume(id: &str) -> Resource {
        reserved_disk(100.0).with_persistence(id, None, "data")
    }

    fn apply(
        pool: &mut Resources,
        total: &mut Resources,
        op: ResourceOperation,
    ) -> Result<(), OperationRefused> {
        apply_resource_operation(pool, total, &op, &Idle)
    }

    /// The agent's pool and total after RESERVE of 100 MB of disk and CREATE of volume `v1`
    /// on it.
    fn with_volume_v1() -> (Resources, Resources) {
        let (mut pool, mut total) = (agent(), agent());
        apply(
            &mut pool,
            &mut total,
            ResourceOperation::Reserve(vec![reserved_disk(100.0)]),
        )
        .unwrap();
        apply(
            &mut pool,
            &mut total,
            ResourceOperation::Create(vec![volume("v1")]),
        )
        .unwrap();
        (pool, total)
    }

    #[test]
    fn a_reservation_and_a_volume_made_then_taken_back_leave_the_agent_as_it_was() {
        let (mut pool, mut total) = with_volume_v1();
        let volumes = |r: &Resources| -> Vec<Resource> {
            r.iter()
                .filter(|r| r.is_persistent_volume())
                .cloned()
                .collect()
        };
        assert_eq!(volumes(&total), vec![volume("v1")]);
        assert_eq!(volumes(&pool), vec![volume("v1")]);
        apply(
            &mut pool,
            &mut total,
            ResourceOperation::Destroy(vec![volume("v1")]),
        )
        .unwrap();
        assert!(volumes(&total).is_empty() && volumes(&pool).is_empty());
        apply(
            &mut pool,
            &mut total,
            ResourceOperation::Unreserve(vec![reserved_disk(100.0)]),
        )
        .unwrap();
        assert_eq!(pool.scalar("disk"), 1000.0);
        assert!(pool.reserved().is_empty() && total.reserved().is_empty());
    }

    #[test]
    fn a_refused_operation_changes_neither_the_pool_nor_the_agent() {
        let (mut pool, mut total) = (agent(), agent());
        // The second reservation is more than is left: the first is not kept either.
        let too_much = ResourceOperation::Reserve(vec![reserved_disk(600.0), reserved_disk(600.0)]);
        let refused = apply(&mut pool, &mut total, too_much).unwrap_err();
        assert_eq!(refused.operation, "RESERVE");
        assert!(refused
            .to_string()
            .starts_with("Invalid RESERVE Operation: "));
        assert_eq!((pool, total), (agent(), agent()));
    }

    #[test]
    fn a_persistence_id_in_use_on_the_agent_cannot_be_created_again() {
        let (mut pool, mut total) = (agent(), agent());
        let two = vec![reserved_disk(100.0), reserved_disk(100.0)];
        apply(&mut pool, &mut total, ResourceOperation::Reserve(two)).unwrap();
        let twice = ResourceOperation::Create(vec![volume("v1"), volume("v1")]);
        let refused = apply(&mut pool, &mut total, twice).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Invalid CREATE Operation: persistence ID 'v1' is already in use"
        );
    }

    #[test]
    fn a_volume_a_task_uses_cannot_be_destroyed_and_a_volume_cannot_be_unreserved() {
        let (mut pool, mut total) = with_volume_v1();
        let destroy = ResourceOperation::Destroy(vec![volume("v1")]);
        let refused = apply_resource_operation(&mut pool, &mut total, &destroy, &Busy);
        assert_eq!(
            refused.unwrap_err().reason,
            "volume 'v1' is in use by a task"
        );
        let refused = apply(
            &mut pool,
            &mut total,
            ResourceOperation::Unreserve(vec![volume("v1")]),
        );
        assert_eq!(
            refused.unwrap_err().reason,
            "a persistent volume must be destroyed first"
        );
    }
}
