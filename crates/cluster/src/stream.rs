//! The queue behind every event stream the cluster serves (a framework's SUBSCRIBE response, an
//! executor's stream from its agent).
//!
//! Events are queued under the state's lock, which must never wait for a reader; and a reader
//! that does not read must not make the cluster grow. So each queue is bounded in bytes, and a
//! reader that falls further behind than that is cut off: its stream ends with an error and its
//! connection is closed at once, as a Mesos master closes the connection of an HTTP client it
//! cannot write to. The framework is then disconnected and must subscribe again; nothing it
//! needs is lost, since agents re-send every status update that was not acknowledged and offers
//! are made again. An executor re-subscribes to its agent the same way.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::serve::StreamCloser;

/// What one queued event costs beyond its bytes (the queue's slot, the `Bytes` handle), so that
/// a flood of tiny events is bounded too.
const PER_EVENT: usize = 64;

/// The sending half, kept by the state. Cloning it shares the queue.
#[derive(Clone)]
pub(crate) struct EventSender {
    tx: UnboundedSender<Bytes>,
    shared: Arc<Shared>,
}

/// The receiving half: the body of the streaming response.
pub(crate) struct EventReceiver {
    rx: UnboundedReceiver<Bytes>,
    shared: Arc<Shared>,
    /// The cut has been reported to the body (as an error); after it, the stream just ends.
    reported: bool,
}

struct Shared {
    /// Who reads the stream, for the log line that says why it was cut.
    reader: String,
    queued: AtomicUsize,
    limit: usize,
    cut: AtomicBool,
    closer: Option<StreamCloser>,
}

/// A stream for `reader` that holds at most `limit` bytes not yet taken by the connection;
/// `closer` closes that connection when the reader falls behind.
pub(crate) fn channel(
    reader: impl Into<String>,
    limit: usize,
    closer: Option<StreamCloser>,
) -> (EventSender, EventReceiver) {
    let (tx, rx) = unbounded_channel();
    let shared = Arc::new(Shared {
        reader: reader.into(),
        queued: AtomicUsize::new(0),
        limit,
        cut: AtomicBool::new(false),
        closer,
    });
    (
        EventSender {
            tx,
            shared: shared.clone(),
        },
        EventReceiver {
            rx,
            shared,
            reported: false,
        },
    )
}

impl EventSender {
    /// Queues an event without ever waiting. False when it was not queued: the reader is gone,
    /// or it is too far behind, in which case its stream is cut off now.
    pub(crate) fn send(&self, event: Bytes) -> bool {
        let shared = &self.shared;
        if shared.cut.load(Ordering::Acquire) {
            return false;
        }
        let cost = event.len() + PER_EVENT;
        let queued = shared.queued.fetch_add(cost, Ordering::AcqRel) + cost;
        if queued > shared.limit {
            shared.queued.fetch_sub(cost, Ordering::AcqRel);
            self.cut(queued - cost);
            return false;
        }
        if self.tx.send(event).is_err() {
            shared.queued.fetch_sub(cost, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Whether the stream was cut off for falling behind.
    #[cfg(test)]
    pub(crate) fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::Acquire)
    }

    fn cut(&self, queued: usize) {
        let shared = &self.shared;
        if shared.cut.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            "{}: {queued} bytes of events not read, more than the {} allowed: closing its stream (it must subscribe again)",
            shared.reader,
            shared.limit
        );
        // An empty chunk wakes a body that waits for the next event, so it sees the cut.
        let _ = self.tx.send(Bytes::new());
        if let Some(closer) = &shared.closer {
            closer.close();
        }
    }
}

/// The reader fell too far behind its stream.
#[derive(Debug, thiserror::Error)]
#[error("{reader} fell more than {limit} bytes behind its event stream")]
pub(crate) struct StreamCut {
    reader: String,
    limit: usize,
}

impl Stream for EventReceiver {
    type Item = Result<Bytes, StreamCut>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.shared.cut.load(Ordering::Acquire) {
                if self.reported {
                    return Poll::Ready(None);
                }
                self.reported = true;
                let err = StreamCut {
                    reader: self.shared.reader.clone(),
                    limit: self.shared.limit,
                };
                return Poll::Ready(Some(Err(err)));
            }
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(event)) if event.is_empty() => continue,
                Poll::Ready(Some(event)) => {
                    self.shared
                        .queued
                        .fetch_sub(event.len() + PER_EVENT, Ordering::AcqRel);
                    return Poll::Ready(Some(Ok(event)));
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn a_reader_that_keeps_up_gets_every_event_in_order() {
        let (tx, mut rx) = channel("test", 1000, None);
        for i in 0..100u8 {
            assert!(tx.send(Bytes::from(vec![i; 10])));
            let got = rx.next().await.unwrap().unwrap();
            assert_eq!(got[0], i);
        }
    }

    #[tokio::test]
    async fn a_reader_past_the_limit_is_cut_off_and_its_stream_ends_with_an_error() {
        let closer = StreamCloser::default();
        let (tx, mut rx) = channel("slow reader", 1000, Some(closer));
        let mut sent = 0;
        while tx.send(Bytes::from(vec![1u8; 100])) {
            sent += 1;
            assert!(sent < 100, "the queue never filled");
        }
        assert!(tx.is_cut());
        // Nothing more is queued once cut, however small.
        assert!(!tx.send(Bytes::from_static(b"x")));
        match rx.next().await {
            Some(Err(e)) => assert!(e.to_string().contains("slow reader"), "{e}"),
            other => panic!("expected the cut as an error, got {other:?}"),
        }
        assert!(rx.next().await.is_none());
    }

    #[tokio::test]
    async fn what_the_reader_takes_frees_room_for_more() {
        let (tx, mut rx) = channel("test", 500, None);
        for _ in 0..1000 {
            assert!(tx.send(Bytes::from(vec![0u8; 200])));
            rx.next().await.unwrap().unwrap();
        }
        assert!(!tx.is_cut());
    }
}
