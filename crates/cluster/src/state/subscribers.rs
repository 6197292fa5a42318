//! The operator API's event stream (`SUBSCRIBE` on `/api/v1`): the state at first, then what
//! changes it, as Mesos' master tells its subscribers: `SUBSCRIBED` with what `GET_STATE`
//! answers, `TASK_ADDED` and `TASK_UPDATED` (when a task's state changes), `AGENT_ADDED` and
//! `AGENT_REMOVED`, `FRAMEWORK_ADDED`, `FRAMEWORK_UPDATED` (it subscribed again or changed its
//! info) and `FRAMEWORK_REMOVED`, and `HEARTBEAT`s.
//!
//! Each stream is bounded as a framework's is (`stream.rs`): a subscriber that stops reading is
//! cut off rather than let the master grow. There are at most
//! [`MAX_SUBSCRIBERS`] at a time; a new one past that closes the oldest, as Mesos'
//! `--max_operator_event_stream_subscribers` does.

use std::time::Instant;

use bytes::Bytes as WireBytes;
use cairn_proto::master;

use super::{ClusterState, Now, Outgoing};
use crate::serve::StreamCloser;
use crate::stream::{self, EventReceiver, EventSender};

/// Operator event streams open at once (Mesos' default for the same bound).
pub(crate) const MAX_SUBSCRIBERS: usize = 1000;

/// The open operator event streams.
#[derive(Default)]
pub(crate) struct Subscribers {
    list: Vec<Subscriber>,
    next_id: u64,
}

struct Subscriber {
    id: u64,
    tx: EventSender,
    next_heartbeat: Instant,
}

impl Subscribers {
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

impl ClusterState {
    /// A new operator event stream: `SUBSCRIBED` with the whole state, then a `HEARTBEAT` at
    /// once, as Mesos starts it. The id names it for [`Self::operator_stream_closed`].
    pub(crate) fn operator_subscribe(
        &mut self,
        now: Now,
        closer: Option<StreamCloser>,
    ) -> (u64, EventReceiver) {
        let subs = &mut self.master.subscribers;
        subs.next_id += 1;
        let id = subs.next_id;
        let (tx, rx) = stream::channel(
            format!("operator event stream {id}"),
            self.cfg.max_stream_backlog,
            closer,
        );
        if subs.list.len() >= MAX_SUBSCRIBERS {
            // Dropping its sender ends the oldest stream.
            let oldest = subs.list.remove(0);
            tracing::info!(
                "closing operator event stream {}: more than {MAX_SUBSCRIBERS} subscribers",
                oldest.id
            );
        }
        let heartbeat = self.cfg.heartbeat_interval;
        let subscribed = master::Event::subscribed(self.get_state(), heartbeat.as_secs_f64());
        for event in [subscribed, master::Event::heartbeat()] {
            let bytes = WireBytes::from(cairn_proto::recordio::encode_json(&event));
            self.outbox.push(Outgoing::Operator(tx.clone(), bytes));
        }
        self.master.subscribers.list.push(Subscriber {
            id,
            tx,
            next_heartbeat: now.instant + heartbeat,
        });
        (id, rx)
    }

    /// An operator event stream's response ended: the subscriber is gone.
    pub(crate) fn operator_stream_closed(&mut self, id: u64) {
        self.master.subscribers.list.retain(|s| s.id != id);
    }

    /// Tells every operator subscriber of a change.
    pub(crate) fn publish(&mut self, event: master::Event) {
        if self.master.subscribers.list.is_empty() {
            return;
        }
        let bytes = WireBytes::from(cairn_proto::recordio::encode_json(&event));
        for s in &self.master.subscribers.list {
            self.outbox
                .push(Outgoing::Operator(s.tx.clone(), bytes.clone()));
        }
    }

    /// Heartbeats on the operator event streams.
    pub(crate) fn subscribers_tick(&mut self, now: Now) {
        let heartbeat = self.cfg.heartbeat_interval;
        let mut due = Vec::new();
        for s in &mut self.master.subscribers.list {
            if s.next_heartbeat <= now.instant {
                s.next_heartbeat = now.instant + heartbeat;
                due.push(s.tx.clone());
            }
        }
        if due.is_empty() {
            return;
        }
        let bytes = WireBytes::from(cairn_proto::recordio::encode_json(
            &master::Event::heartbeat(),
        ));
        for tx in due {
            self.outbox.push(Outgoing::Operator(tx, bytes.clone()));
        }
    }
}

impl ClusterState {
    /// `FRAMEWORK_ADDED` (a new framework) or `FRAMEWORK_UPDATED` (it subscribed again, or
    /// changed its info) for the subscribers.
    pub(crate) fn publish_framework(&mut self, fid: &cairn_proto::FrameworkId, added: bool) {
        if self.master.subscribers.list.is_empty() {
            return;
        }
        let Some(fw) = self.master.frameworks.get(fid) else {
            return;
        };
        // Mesos writes all three times in these events, a zero one included.
        let time = |secs: f64| {
            Some(cairn_proto::TimeInfo {
                nanoseconds: (secs * 1e9) as i64,
            })
        };
        let view = master::Framework {
            framework_info: fw.info.clone(),
            active: fw.stream.is_some(),
            connected: fw.stream.is_some(),
            recovered: false,
            registered_time: time(fw.registered_time),
            reregistered_time: time(fw.reregistered_time),
            unregistered_time: time(0.0),
            ..Default::default()
        };
        self.publish(if added {
            master::Event::framework_added(view)
        } else {
            master::Event::framework_updated(view)
        });
    }

    /// A task's state changed in the master's books: `TASK_UPDATED` for the subscribers, and,
    /// when it is now terminal, the counters of terminal tasks.
    pub(crate) fn task_changed(
        &mut self,
        fid: &cairn_proto::FrameworkId,
        status: &cairn_proto::TaskStatus,
    ) {
        if status.state.is_terminal() {
            self.master.metrics.task_terminal(fid, status);
        }
        self.publish(master::Event::task_updated(fid.clone(), status.clone()));
    }

    /// `AGENT_ADDED` for the subscribers: an agent registered, or came back from unreachable.
    pub(crate) fn publish_agent_added(&mut self, agent: usize) {
        if self.master.subscribers.list.is_empty() {
            return;
        }
        let id = self.agents[agent].id.clone();
        let view = self
            .get_agents()
            .agents
            .into_iter()
            .find(|a| a.agent_info.id.as_ref() == Some(&id));
        if let Some(view) = view {
            self.publish(master::Event::agent_added(view));
        }
    }
}
