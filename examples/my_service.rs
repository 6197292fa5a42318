//! my-service, in Rust: 2 `metadata` nodes and 3 `data` nodes, each one task with a
//! 5,000 MB ROOT volume at `my-service-container-path`.
//!
//! ```sh
//! cargo run -p cairn --example my_service                          # embedded cluster, .cairn/
//! cargo run -p cairn --example my_service -- --master http://host:5050
//! ```
//!
//! The seed asks for 1 CPU and 1,024 MB per node and runs `./metadata` fetched from a URI. Here
//! the numbers are small so that all five pods fit the embedded cluster's three default agents,
//! and the command shows that the volume persists: every launch appends the task's name to a
//! marker file in the volume, then sleeps. Ctrl-C stops the scheduler (and the embedded
//! cluster); the pods keep running, and running the example again takes over where it was.
//! `examples/my-service.yml` is the same service as a svc.yml (`cairn run examples/my-service.yml`).

use cairn::spec::{PodSpec, PodSpecBuilder, ServiceSpec, TaskSpec, VolumeSpec};

/// The command of every node: leave a mark in the persistent volume, then stay up.
const NODE_CMD: &str = r#"echo "$TASK_NAME" >> my-service-container-path/marker && echo "$TASK_NAME: launch $(wc -l < my-service-container-path/marker) on this volume" && sleep 100000"#;

/// One node type of the service.
fn node_type(name: &str, count: u32) -> PodSpecBuilder {
    PodSpec::builder(name)
        .count(count)
        // At most two nodes of a type per agent, so that losing one agent loses at most two.
        .placement(r#"[["hostname", "MAX_PER", "2"]]"#)
        .task(
            TaskSpec::builder("node")
                .cmd(NODE_CMD)
                .cpus(0.1)
                .memory_mb(64)
                .volume(VolumeSpec::root("my-service-container-path", 5000)),
        )
}

fn my_service() -> Result<ServiceSpec, cairn::Error> {
    Ok(ServiceSpec::builder("my-service")
        .pod(node_type("metadata", 2))
        .pod(node_type("data", 3))
        .build()?)
}

fn main() -> Result<(), cairn::Error> {
    cairn::run(my_service()?)
}
