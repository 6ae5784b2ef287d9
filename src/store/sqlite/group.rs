//! Group commit for one-contact writes on SQLite. SQLite has one writer, so
//! a write per transaction caps a server at what one connection commits one
//! by one (about 5,000 PATCHes a second here, each waiting on two thread
//! switches and a commit of its own). Writes that arrive while the writer
//! is busy queue here, and the next turn on the writer applies every queued
//! one in a single transaction, each inside a savepoint of its own: a write
//! that fails is rolled back alone, and none is answered before the commit
//! that makes it durable. Each turn takes the writer afresh, so jobs and
//! bulk writes queued on it take their turns in between.

use crate::store::sqlite::pool::Conns;
use crate::store::{StoreError, StoreResult};
use rusqlite::{Connection, TransactionBehavior};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Called after the transaction ends: with the commit's error if it failed.
type Answer = Box<dyn FnOnce(Option<&StoreError>) + Send>;
/// One write, run inside its savepoint; whether its changes are kept.
type Work = Box<dyn FnOnce(&Connection) -> (bool, Answer) + Send>;

/// Writes of one turn, at most: a turn's transaction stays short.
const MAX_TURN: usize = 512;

#[derive(Default)]
pub struct Group {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    queued: Vec<Work>,
    /// A turn is queued on the writer or running: it takes what is queued.
    turn_pending: bool,
}

impl Group {
    /// Runs `f` in the next group transaction; its result once that commits.
    pub async fn write<T, F>(self: &Arc<Self>, writer: &Arc<Conns>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (send, answer) = oneshot::channel::<StoreResult<T>>();
        let work: Work = Box::new(move |c| {
            let result = f(c);
            let keep = result.is_ok();
            let reply: Answer = Box::new(move |failed| {
                let _ = send.send(match failed {
                    None => result,
                    Some(e) => Err(StoreError::Backend(format!("the commit failed: {e}"))),
                });
            });
            (keep, reply)
        });
        let start = {
            let mut state = self.state.lock().map_err(|_| poisoned())?;
            state.queued.push(work);
            !std::mem::replace(&mut state.turn_pending, true)
        };
        if start {
            tokio::spawn(Self::turns(self.clone(), writer.clone()));
        }
        answer.await.map_err(|_| StoreError::Backend("the write was abandoned (its turn failed)".into()))?
    }

    /// Turns on the writer until nothing is queued.
    async fn turns(self: Arc<Self>, writer: Arc<Conns>) {
        loop {
            let this = self.clone();
            if let Err(e) = writer.run(move |c| this.turn(c)).await {
                tracing::error!(error = %e, "a group commit turn failed");
            }
            let Ok(mut state) = self.state.lock() else { return };
            if state.queued.is_empty() {
                state.turn_pending = false;
                return;
            }
        }
    }

    /// One transaction of the writes queued now.
    fn turn(&self, c: &mut Connection) -> StoreResult<()> {
        let works: Vec<Work> = {
            let mut state = self.state.lock().map_err(|_| poisoned())?;
            let n = state.queued.len().min(MAX_TURN);
            state.queued.drain(..n).collect()
        };
        if works.is_empty() {
            return Ok(());
        }
        let mut answers = Vec::with_capacity(works.len());
        let outcome = (|| -> StoreResult<()> {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for work in works {
                tx.execute_batch("SAVEPOINT one")?;
                let (keep, answer) = work(&tx);
                answers.push(answer);
                tx.execute_batch(if keep { "RELEASE one" } else { "ROLLBACK TO one; RELEASE one" })?;
            }
            tx.commit()?;
            Ok(())
        })();
        let failed = outcome.as_ref().err();
        for answer in answers {
            answer(failed);
        }
        // Writes not run (the transaction failed before them) drop their
        // senders: their callers hear the turn failed.
        outcome
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("the group commit queue is poisoned".into())
}
