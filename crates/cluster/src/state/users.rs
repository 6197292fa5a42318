//! The user a launch's tasks run as, checked against the cluster's policy before anything starts.

use cairn_proto::{ExecutorId, FrameworkId, Reason, TaskInfo};

use super::ClusterState;
use crate::users::{self, LaunchRefusal};

impl ClusterState {
    /// The user tasks of `fid` run as when launched into executor `executor` on `agent` (a
    /// fresh command executor when `None`), or the TASK_ERROR reason and message refusing them.
    pub(crate) fn launch_user(
        &self,
        fid: &FrameworkId,
        agent: usize,
        executor: Option<&ExecutorId>,
        tasks: &[TaskInfo],
    ) -> Result<String, (Reason, String)> {
        let Some(framework) = self.master.frameworks.get(fid) else {
            return Err((Reason::TaskInvalid, format!("Framework {fid} is not known")));
        };
        let running_as = executor
            .and_then(|e| self.live_container(agent, fid, e))
            .and_then(|c| self.agents[agent].runtime.as_ref()?.executors.get(&c))
            .map(|e| e.user.as_str());
        let group = executor.is_some();
        users::launch_user(&self.cfg, &framework.info, running_as, tasks).map_err(|refusal| {
            match refusal {
                LaunchRefusal::Unauthorized(m) if group => (Reason::TaskGroupUnauthorized, m),
                LaunchRefusal::Unauthorized(m) => (Reason::TaskUnauthorized, m),
                LaunchRefusal::Invalid(m) if group => (Reason::TaskGroupInvalid, m),
                LaunchRefusal::Invalid(m) => (Reason::TaskInvalid, m),
            }
        })
    }
}
