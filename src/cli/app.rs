//! Putting the service together: open and migrate the store, build the
//! service and HTTP state, and serve until shutdown.

use crate::config::Settings;
use crate::http::{self, AppState};
use crate::service::{Demo, Service, ServiceConfig, ServiceError, Worker};
use crate::store::{self, StoreError};
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("listening on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// A migrated store behind a ready service.
pub async fn service(settings: &Settings) -> Result<Service, StartError> {
    let store = store::open(settings.database.expose()).await?;
    store.migrate().await?;
    let config = ServiceConfig {
        token_ttl: settings.token_ttl,
        max_sync_records: settings.max_sync_records,
        job_lease: settings.job_lease,
        snapshot_retention: settings.snapshot_retention,
        workers: settings.workers,
        large_job_records: settings.large_job_records,
    };
    Ok(Service::new(store, config))
}

pub fn state(service: Service, settings: &Settings) -> AppState {
    http::configure_instantpay(http::InstantpaySettings {
        environment: settings.instantpay_environment.clone(),
        offset: settings.instantpay_utc_offset,
    });
    AppState::from(http::App {
        service,
        max_body_bytes: settings.max_body_bytes,
        uploads: std::sync::Arc::new(tokio::sync::Semaphore::new(http::MAX_CONCURRENT_UPLOADS)),
        dialects: settings.dialects.iter().filter(|d| !d.is_empty()).cloned().collect(),
        trusted_proxies: settings.trusted_proxies.iter().copied().collect(),
    })
}

/// Creates the demo biller and key on an empty database unless told not to.
pub async fn demo(service: &Service, settings: &Settings) -> Result<Option<Demo>, StartError> {
    if settings.no_demo {
        return Ok(None);
    }
    Ok(service.ensure_demo().await?)
}

/// A job worker for this service, with the HTTP layer's record format.
pub fn worker(service: &Service) -> Worker {
    Worker::new(service.clone(), crate::wire::record_parser)
}

/// Serves on `listener` until `shutdown`, with the settings' job workers (and
/// inbox, if any) beside it; expired tokens and day-old idempotency keys are purged hourly meanwhile. On shutdown the workers
/// stop too: a job cut short is left to its lease and re-run from its
/// stored upload (its merge is one transaction, so nothing is half-applied).
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut running: Vec<_> =
        (0..settings.workers).map(|_| tokio::spawn(worker(&state.service).run(stopped.clone()))).collect();
    if let Some(dir) = &settings.inbox {
        let inbox = crate::inbox::Inbox::new(dir.clone(), settings.inbox_settle, state.service.clone());
        running.push(tokio::spawn(inbox.run(stopped.clone())));
    }
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let service = state.service.clone();
    let history_kept = Duration::from_secs(u64::from(settings.history_retention_days) * 86_400);
    let purge = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tick.tick().await;
            service.purge_expired(history_kept).await;
        }
    });
    let limits = http::Limits { request_timeout: settings.request_timeout, max_half_open: settings.max_half_open };
    let result = http::serve(listener, state, limits, shutdown).await.map_err(StartError::Serve);
    purge.abort();
    for w in running {
        let _ = w.await;
    }
    result
}
