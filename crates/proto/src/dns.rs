//! The names Mesos-DNS gives tasks: `<task>.<framework>.<domain>`.
//!
//! Two programs must agree on them without talking to each other: the scheduler, which names
//! its tasks (`DiscoveryInfo.name`) and tells them their service's domain (`FRAMEWORK_HOST`),
//! and whatever resolves the names (Mesos-DNS on a real cluster, the embedded cluster's hosts
//! file on one machine). Both derive them here.

/// The longest DNS label.
pub const LABEL_MAX: usize = 63;

/// The DNS label that `name` becomes, by Mesos-DNS's rule for task names: ASCII letters
/// lowercased, `_` and `.` made `-`, any other character outside `[a-z0-9-]` dropped, `-`
/// trimmed from the start, the rest cut to 63 characters and trimmed of `-` at its end.
/// `Custom_Pod-A-0-init_x` becomes `custom-pod-a-0-init-x`.
pub fn label(name: &str) -> String {
    let mapped: String = name
        .chars()
        .filter_map(|c| match c {
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            'a'..='z' | '0'..='9' | '-' => Some(c),
            '_' | '.' => Some('-'),
            _ => None,
        })
        .collect();
    let trimmed = mapped.trim_start_matches('-');
    // Only ASCII is left, so any byte index is a character boundary.
    let cut = &trimmed[..trimmed.len().min(LABEL_MAX)];
    cut.trim_end_matches('-').to_string()
}

/// The label of a framework's name, as the SDK's `FRAMEWORK_HOST` writes it: the slashes of
/// Marathon folders dropped and dots written `-` (`/prod/kafka.a` → `prodkafka-a`). For a name
/// that is DNS labels in folders, as a cairn service's is, that is all it does; any other name
/// (a third-party framework's) is made a label by [`label`]'s rule.
pub fn framework_label(framework: &str) -> String {
    label(&framework.replace('/', ""))
}

/// The domain a framework's tasks are named under: `<framework label>.<domain>`.
pub fn framework_host(framework: &str, domain: &str) -> String {
    format!("{}.{domain}", framework_label(framework))
}

/// The name of a task: `<label of its discovery name, or else of its task name>.<framework
/// label>.<domain>` (`data-0-node.my-service.mesos`).
pub fn task_host(task: &str, framework: &str, domain: &str) -> String {
    format!("{}.{}", label(task), framework_host(framework, domain))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_derived_as_mesos_dns_derives_them() {
        assert_eq!(label("Custom_Pod-A-0-init_x"), "custom-pod-a-0-init-x");
        assert_eq!(label("data-0-node"), "data-0-node");
        assert_eq!(label("_a.b_"), "a-b");
        assert_eq!(label("x y/z\u{e9}"), "xyz");
        assert_eq!(label("__"), "");
        // Cut to 63, and a `-` left at the cut is trimmed too.
        let long = format!("{}_{}", "a".repeat(62), "b".repeat(10));
        assert_eq!(label(&long), "a".repeat(62));
    }

    #[test]
    fn a_framework_in_folders_is_one_label_as_the_sdk_writes_its_host() {
        assert_eq!(framework_label("my-service"), "my-service");
        assert_eq!(framework_label("/prod/kafka.a"), "prodkafka-a");
        assert_eq!(framework_label("prod/my-svc"), "prodmy-svc");
        assert_eq!(framework_label("Spark Cluster"), "sparkcluster");
        assert_eq!(
            framework_host("prod/my-svc", "example.org"),
            "prodmy-svc.example.org"
        );
    }

    #[test]
    fn a_task_is_named_under_its_framework_and_domain() {
        assert_eq!(
            task_host("Custom_Pod-A-0-init_x", "/prod/svc", "mesos"),
            "custom-pod-a-0-init-x.prodsvc.mesos"
        );
    }
}
