//! The queue of actions, and the rule that makes persist-before-act a property of the API.
//!
//! Every call waits for every write batch queued before it. A LAUNCH therefore never leaves
//! before the TaskInfo it launches is durable, and an ACKNOWLEDGE never before the status it
//! acknowledges. The rule is deliberately coarser than "the batch this call depends on": it
//! needs no bookkeeping of dependencies, and the driver commits batches as fast as it polls
//! them, so nothing waits for long.

use std::collections::{BTreeSet, VecDeque};

use cairn_proto::scheduler::Call;

use crate::store::{WriteBatch, WriteOp};

/// What the scheduler asks its driver to do.
// A `Call` is large and a batch small, but an action is moved once from the queue to the
// driver; boxing would only add an allocation to the pinned driver API.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Commit this batch atomically, then call `handle_committed(batch.id)`.
    Persist(WriteBatch),
    /// Send this call to the master (the driver adds the stream id header).
    Call(Call),
    /// Read which agents the master has registered and what each holds (the operator API's
    /// `GET_AGENTS`, which needs no subscription), then pass the answer to
    /// `Scheduler::handle_agents`. Until it comes, the scheduler waits rather than guesses:
    /// keep reading until an answer arrives.
    ReadAgents,
}

#[derive(Debug)]
enum Queued {
    Persist(WriteBatch),
    /// A call and the id of the last batch queued before it (0: none).
    Call {
        // Boxed: a Call is over a kilobyte and most of the queue is small batches.
        call: Box<Call>,
        after: u64,
    },
    ReadAgents,
}

/// Actions waiting to be polled.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    queue: VecDeque<Queued>,
    last_batch: u64,
    uncommitted: BTreeSet<u64>,
}

impl Outbox {
    /// Queues a write batch; returns its id. An empty batch is not queued (and returns the id
    /// of the last batch, which later calls wait for anyway).
    pub fn persist(&mut self, ops: Vec<WriteOp>) -> u64 {
        if ops.is_empty() {
            return self.last_batch;
        }
        self.last_batch += 1;
        let id = self.last_batch;
        self.uncommitted.insert(id);
        self.queue
            .push_back(Queued::Persist(WriteBatch { id, ops }));
        id
    }

    /// Queues a read of the master's agents (it waits for nothing: it changes nothing).
    pub fn read_agents(&mut self) {
        self.queue.push_back(Queued::ReadAgents);
    }

    /// Queues a call behind every batch queued so far.
    pub fn call(&mut self, call: Call) {
        self.queue.push_back(Queued::Call {
            call: Box::new(call),
            after: self.last_batch,
        });
    }

    /// The next releasable action, in queue order: a batch always, a call once every batch
    /// queued before it is committed. A waiting call holds back what follows it, so calls
    /// leave in the order they were decided.
    pub fn poll(&mut self) -> Option<Action> {
        let releasable = match self.queue.front()? {
            Queued::Persist(_) | Queued::ReadAgents => true,
            Queued::Call { after, .. } => self.uncommitted.range(..=*after).next().is_none(),
        };
        if !releasable {
            return None;
        }
        match self.queue.pop_front()? {
            Queued::Persist(batch) => Some(Action::Persist(batch)),
            Queued::Call { call, .. } => Some(Action::Call(*call)),
            Queued::ReadAgents => Some(Action::ReadAgents),
        }
    }

    /// Takes every queued batch, wherever it stands in the queue, in order. Calls stay, each
    /// still waiting for the batches queued before it: committing a batch earlier than its
    /// turn only makes it durable sooner.
    pub fn take_persists(&mut self) -> Vec<WriteBatch> {
        let mut batches = Vec::new();
        self.queue.retain_mut(|q| match q {
            Queued::Persist(b) => {
                batches.push(std::mem::take(b));
                false
            }
            Queued::Call { .. } | Queued::ReadAgents => true,
        });
        batches
    }

    /// A batch is durable.
    pub fn committed(&mut self, batch_id: u64) {
        self.uncommitted.remove(&batch_id);
    }

    /// Forgets every queued call (the connection they were meant for is gone); batches and
    /// reads (which need no connection) stay.
    pub fn drop_calls(&mut self) {
        self.queue
            .retain(|q| matches!(q, Queued::Persist(_) | Queued::ReadAgents));
    }

    /// Forgets everything: after a failed commit nothing queued may go out.
    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_proto::scheduler::CallType;

    fn put(key: &str) -> Vec<WriteOp> {
        vec![WriteOp::Put {
            key: key.into(),
            value: b"v".to_vec(),
        }]
    }

    #[test]
    fn batches_taken_ahead_of_calls_still_hold_each_call_until_they_are_committed() {
        // Goal: a driver may commit every queued batch at once (one fsync for a burst);
        // persist-before-act must still hold. Method: batch, call, batch, call; take both
        // batches; the calls wait until their batches are committed.
        let mut o = Outbox::default();
        let b1 = o.persist(put("a"));
        o.call(Call::new(CallType::Revive));
        let b2 = o.persist(put("b"));
        o.call(Call::new(CallType::Suppress));
        let taken: Vec<u64> = o.take_persists().iter().map(|b| b.id).collect();
        assert_eq!(taken, vec![b1, b2]);
        assert_eq!(o.poll(), None, "the first call waits for b1");
        o.committed(b1);
        assert!(matches!(o.poll(), Some(Action::Call(c)) if c.type_ == CallType::Revive));
        assert_eq!(o.poll(), None, "the second call waits for b2");
        o.committed(b2);
        assert!(matches!(o.poll(), Some(Action::Call(c)) if c.type_ == CallType::Suppress));
        assert_eq!(o.poll(), None);
    }

    #[test]
    fn a_call_waits_for_every_batch_queued_before_it() {
        // Goal: persist-before-act. Method: batch, call, batch, call; commit out of order.
        let mut o = Outbox::default();
        let b1 = o.persist(put("a"));
        o.call(Call::new(CallType::Revive));
        let b2 = o.persist(put("b"));
        o.call(Call::new(CallType::Suppress));
        assert!(matches!(o.poll(), Some(Action::Persist(b)) if b.id == b1));
        assert_eq!(o.poll(), None, "the call waits for b1");
        o.committed(b1);
        assert!(matches!(o.poll(), Some(Action::Call(c)) if c.type_ == CallType::Revive));
        assert!(matches!(o.poll(), Some(Action::Persist(b)) if b.id == b2));
        assert_eq!(o.poll(), None);
        o.committed(b2);
        assert!(matches!(o.poll(), Some(Action::Call(c)) if c.type_ == CallType::Suppress));
        assert_eq!(o.poll(), None);
    }

    #[test]
    fn dropping_calls_keeps_the_batches() {
        // Goal: a disconnection loses calls, never writes. Method: drop, then poll.
        let mut o = Outbox::default();
        o.call(Call::new(CallType::Revive));
        o.persist(put("a"));
        o.drop_calls();
        assert!(matches!(o.poll(), Some(Action::Persist(_))));
        assert_eq!(o.poll(), None);
    }
}
