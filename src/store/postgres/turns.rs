//! Requests of one biller that arrive while its last turn runs wait here,
//! and the next turn serves all of them at once: one connection and one
//! statement (reads) or one transaction (PATCHes) for many requests, where
//! each on its own costs PostgreSQL a round trip, a parse and, for writes, a
//! commit. A request alone runs at once, in a turn of one. A request whose
//! caller has gone is dropped unserved; one that waited longer than a
//! pooled connection may (`POOL_WAIT`) is answered busy, as is one past a
//! full queue.

use crate::store::{BillerId, StoreError, StoreResult};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// Requests one biller may have waiting on one server; past them, busy.
const MAX_QUEUED: usize = 10_000;

/// A request and where its answer goes.
pub(super) struct Queued<R, A> {
    pub request: R,
    pub reply: oneshot::Sender<StoreResult<A>>,
    since: Instant,
}

/// The requests waiting, per biller; a biller is in the map while its turns run.
pub(super) struct Turns<R, A> {
    billers: Mutex<HashMap<BillerId, VecDeque<Queued<R, A>>>>,
    /// Requests one turn serves at most: its statement and locks stay short.
    max: usize,
}

impl<R: Send + 'static, A: Send + 'static> Turns<R, A> {
    pub fn new(max: usize) -> Self {
        Self { billers: Mutex::default(), max }
    }

    /// Serves `request` in the biller's next turn. `turn` serves a turn's
    /// requests (the first caller's runs them all) and returns those it
    /// leaves for the next.
    pub async fn submit<F, Fut>(self: &Arc<Self>, biller: BillerId, request: R, turn: F) -> StoreResult<A>
    where
        F: Fn(BillerId, Vec<Queued<R, A>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Queued<R, A>>> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut billers = self.billers.lock().unwrap_or_else(|e| e.into_inner());
            let start = !billers.contains_key(&biller);
            let queue = billers.entry(biller).or_default();
            if queue.len() >= MAX_QUEUED {
                return Err(StoreError::Busy);
            }
            queue.push_back(Queued { request, reply, since: Instant::now() });
            start
        };
        if start {
            tokio::spawn(self.clone().turns(biller, turn));
        }
        answer.await.map_err(|_| StoreError::Backend("the request was abandoned (its turn failed)".into()))?
    }

    /// Turns of the biller's queued requests, one after another, until none is left.
    async fn turns<F, Fut>(self: Arc<Self>, biller: BillerId, turn: F)
    where
        F: Fn(BillerId, Vec<Queued<R, A>>) -> Fut,
        Fut: Future<Output = Vec<Queued<R, A>>> + Send + 'static,
    {
        loop {
            let queued: Vec<Queued<R, A>> = {
                let mut billers = self.billers.lock().unwrap_or_else(|e| e.into_inner());
                let Some(queue) = billers.get_mut(&biller) else { return };
                if queue.is_empty() {
                    billers.remove(&biller);
                    return;
                }
                let n = queue.len().min(self.max);
                queue.drain(..n).filter(|q| !q.reply.is_closed()).filter_map(in_time).collect()
            };
            if queued.is_empty() {
                continue;
            }
            // Its own task: a panic (a bug) fails this turn's requests, whose
            // answers it drops, and not the biller's queue.
            let left = match tokio::spawn(turn(biller, queued)).await {
                Ok(left) => left,
                Err(e) => {
                    tracing::error!(error = %e, "a turn of grouped requests failed");
                    Vec::new()
                }
            };
            let mut billers = self.billers.lock().unwrap_or_else(|e| e.into_inner());
            let queue = billers.entry(biller).or_default();
            for q in left.into_iter().rev() {
                queue.push_front(q);
            }
        }
    }
}

/// The request, unless it has waited too long (then it is answered busy).
fn in_time<R, A>(q: Queued<R, A>) -> Option<Queued<R, A>> {
    if q.since.elapsed() <= super::POOL_WAIT {
        return Some(q);
    }
    let _ = q.reply.send(Err(StoreError::Busy));
    None
}

/// A copy of a turn's error for each of its requests.
pub(super) fn share(e: &StoreError) -> StoreError {
    match e {
        StoreError::Busy => StoreError::Busy,
        StoreError::SettingsChanged => StoreError::SettingsChanged,
        other => StoreError::Backend(other.to_string()),
    }
}
