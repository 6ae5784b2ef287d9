//! A first bulk load on PostgreSQL (see `store::direct_load`): a binary
//! `COPY` into `contacts` per chunk, as a raw load would, in one transaction.
//!
//! The biller is not locked while rows go in, so its other writes go on; a
//! write of a number the load holds waits for the load's end (the unique
//! key). The biller's lock is taken at the end only, shared, to check its
//! settings did not change.

use crate::domain::job::JobStatus;
use crate::store::postgres::contacts::{BillerLock, lock_biller};
use crate::store::postgres::jobs::{VACUUM_AFTER, drop_work, end_job, fenced, vacuum_contacts};
use crate::store::{BillerId, DirectLoad, Heartbeat, LoadEnd, StoreError, StoreResult, direct_load::LoadCommand};
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};

/// Starts the load's transaction; `None` when the biller has contacts, its
/// settings are no longer `settings_version`, or `loads` has no permit left
/// (each load holds a pooled connection for the whole job).
pub(super) async fn begin(
    pool: deadpool_postgres::Pool,
    loads: &Arc<Semaphore>,
    biller: BillerId,
    settings_version: i64,
    job_id: String,
    now: OffsetDateTime,
) -> StoreResult<Option<DirectLoad>> {
    let Ok(permit) = loads.clone().try_acquire_owned() else {
        return Ok(None);
    };
    let (ready, is_ready) = oneshot::channel();
    // Two chunks in flight, as staging keeps.
    let (commands, received) = mpsc::channel(2);
    let task = tokio::spawn(async move {
        let end = run(pool, biller, settings_version, &job_id, now, received, ready).await;
        drop(permit);
        end
    });
    if is_ready.await == Ok(true) {
        return Ok(Some(DirectLoad::new(commands, task)));
    }
    drop(commands);
    task.await.map_err(|e| StoreError::Backend(format!("the load's task: {e}")))??;
    Ok(None)
}

async fn run(
    pool: deadpool_postgres::Pool,
    biller: BillerId,
    settings_version: i64,
    job_id: &str,
    loaded_at: OffsetDateTime,
    mut commands: mpsc::Receiver<LoadCommand>,
    ready: oneshot::Sender<bool>,
) -> StoreResult<LoadEnd> {
    let mut c = pool.get().await?;
    let tx = c.transaction().await?;
    let row = tx
        .query_one(
            "SELECT settings_version, EXISTS (SELECT 1 FROM contacts WHERE biller_id = $1) FROM billers WHERE id = $1",
            &[&biller],
        )
        .await?;
    let empty = row.get::<_, i64>(0) == settings_version && !row.get::<_, bool>(1);
    if ready.send(empty).is_err() || !empty {
        return Ok(LoadEnd::Stopped);
    }
    let (fence, counts, now) = loop {
        match commands.recv().await {
            Some(LoadCommand::Rows { rows, probe }) => {
                if let Err(e) = copy_rows(&tx, biller, job_id, loaded_at, &rows).await {
                    return staged_or(e);
                }
                if !probe.is_empty() {
                    let used: bool = tx
                        .query_one(
                            "SELECT EXISTS (SELECT 1 FROM contacts WHERE biller_id = $1 AND account_number = ANY($2))",
                            &[&biller, &probe],
                        )
                        .await?
                        .get(0);
                    if used {
                        return Ok(LoadEnd::TakeStagedPath);
                    }
                }
            }
            Some(LoadCommand::Finish { fence, counts, now }) => break (fence, counts, now),
            // Given up: the transaction rolls back as it drops.
            None => return Ok(LoadEnd::Stopped),
        }
    };
    // Shared, as single writes take it: waits for a settings change or a
    // bulk write of the biller under way, and keeps the next from starting.
    let version = match lock_biller(&tx, biller, BillerLock::Shared).await {
        Ok(()) => tx.query_one("SELECT settings_version FROM billers WHERE id = $1", &[&biller]).await,
        Err(e) => return Err(e),
    };
    match version {
        Ok(row) if row.get::<_, i64>(0) != settings_version => return Ok(LoadEnd::TakeStagedPath),
        Ok(_) => {}
        Err(e) => return staged_or(e),
    }
    if fenced(&tx, &fence).await? != Heartbeat::Continue {
        return Ok(LoadEnd::Stopped);
    }
    end_job(&tx, fence.seq, JobStatus::Completed, None, &counts, now).await?;
    tx.commit().await?;
    drop_work(&mut c, biller, fence.seq).await;
    if counts.created >= VACUUM_AFTER {
        vacuum_contacts(pool);
    }
    Ok(LoadEnd::Completed)
}

/// One chunk's rows, by one `COPY` (so a repeated number shows at its chunk).
async fn copy_rows(
    tx: &Transaction<'_>,
    biller: BillerId,
    job_id: &str,
    loaded_at: OffsetDateTime,
    rows: &[crate::store::LoadRow],
) -> Result<(), tokio_postgres::Error> {
    const TYPES: [Type; 18] = [
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    let sink = tx
        .copy_in(
            "COPY contacts (biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint,
                 version, created_at, updated_at, crn, job_id, email_key, reference_key, external_key, phone_keys,
                 tag_keys) FROM STDIN BINARY",
        )
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &TYPES);
    futures_util::pin_mut!(writer);
    let first_version = 1i64;
    for (number, r) in rows {
        let row: [&(dyn ToSql + Sync); 18] = [
            &biller,
            &r.new_id,
            number,
            &r.name_folded,
            &r.contact_type,
            &r.active,
            &r.doc,
            &r.fingerprint,
            &first_version,
            &loaded_at,
            &loaded_at,
            &r.crn,
            &job_id,
            &r.keys.email,
            &r.keys.reference_id,
            &r.keys.external_id,
            &r.keys.phones,
            &r.keys.tags,
        ];
        writer.as_mut().write(&row).await?;
    }
    writer.finish().await.map(drop)
}

/// A number loaded twice breaks the unique key, and a write of the biller
/// that took a loaded number may deadlock with the load's end: the staged
/// path then does the job. Anything else is an error.
fn staged_or(e: tokio_postgres::Error) -> StoreResult<LoadEnd> {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::T_R_DEADLOCK_DETECTED => {
            Ok(LoadEnd::TakeStagedPath)
        }
        _ => Err(e.into()),
    }
}
