//! The connection loop: HTTP/1.1 with a time limit on every request's
//! headers and on every pause in its body, and a limit on how many
//! connections one client address may hold half-open (a request begun and
//! not yet wholly received), so a slow or stalled client cannot tie up the
//! server. `axum::serve` offers neither, so connections are served here with
//! hyper directly.

use crate::wire::{Fault, FaultKind};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, header};
use axum::response::{IntoResponse, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long a client may take over a request's headers, or pause within its body.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub request_timeout: Duration,
    /// Connections one client address may hold half-open at once (0: no limit).
    pub max_half_open: usize,
}

pub use crate::wire::fault::{BodyStalled, caused_by};

/// Half-open connections per client address.
#[derive(Default)]
struct HalfOpen {
    by_client: Mutex<HashMap<IpAddr, usize>>,
}

/// One half-open connection of a client, given back when dropped.
struct Slot {
    table: Arc<HalfOpen>,
    client: IpAddr,
}

impl HalfOpen {
    fn take(self: &Arc<Self>, client: IpAddr, max: usize) -> Option<Slot> {
        let mut by_client = self.by_client.lock().unwrap_or_else(|e| e.into_inner());
        let n = by_client.entry(client).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot { table: self.clone(), client })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_client = self.table.by_client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

/// A request body that fails with `BodyStalled` when no data arrives for
/// `idle`, and gives its connection's half-open slot back once it has been
/// read to its end (or dropped).
struct TimedBody {
    inner: Incoming,
    idle: Duration,
    deadline: Pin<Box<tokio::time::Sleep>>,
    slot: Option<Slot>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.deadline.as_mut().reset(tokio::time::Instant::now() + this.idle);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.slot = None;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.slot = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.slot = None;
                    Poll::Ready(Some(Err(BodyStalled(this.idle).into())))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn too_many_half_open() -> Response {
    let fault = Fault::new(
        FaultKind::TooManyConnections,
        "this client has too many requests still being sent; finish or close some and retry",
    );
    let mut res = crate::http::problem::ApiError::from(fault).into_response();
    res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Serves `router` on `listener` until `shutdown`, then lets requests in
/// progress finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let half_open = Arc::new(HalfOpen::default());
    // Connections hold a receiver each; the loop waits for all to drop.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let (open_tx, open_rx) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let client = peer.ip();
        // A new connection is half-open until its first request is received.
        let Some(first) = half_open.take(client, limits.max_half_open) else {
            tracing::warn!(%client, "refused a connection: the client holds too many half-open");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let first = Arc::new(Mutex::new(Some(first)));
        let (router, half_open) = (router.clone(), half_open.clone());
        let service = tower::service_fn(move |req: Request<Incoming>| {
            // The headers are in; a request still to send its body stays
            // half-open (in the connection's first slot, or a new one).
            let first = first.lock().unwrap_or_else(|e| e.into_inner()).take();
            let slot = match req.body().is_end_stream() {
                true => Ok(None),
                false => first.or_else(|| half_open.take(client, limits.max_half_open)).map(Some).ok_or(()),
            };
            let router = router.clone();
            async move {
                let mut req = match slot {
                    Err(()) => return Ok(too_many_half_open()),
                    Ok(None) => req.map(Body::new),
                    Ok(slot) => req.map(|inner| {
                        let deadline = Box::pin(tokio::time::sleep(limits.request_timeout));
                        Body::new(TimedBody { inner, idle: limits.request_timeout, deadline, slot })
                    }),
                };
                req.extensions_mut().insert(crate::http::auth::Peer(client));
                router.oneshot(req).await
            }
        });
        let mut closing = closing_rx.clone();
        let open = open_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.request_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                r = conn.as_mut() => { if let Err(e) = r { tracing::debug!(error = %e, "connection ended"); } }
                () = async { let _ = closing.wait_for(|c| *c).await; } => {
                    conn.as_mut().graceful_shutdown();
                    if let Err(e) = conn.await { tracing::debug!(error = %e, "connection ended"); }
                }
            }
            drop(open);
        });
    }
    drop(listener);
    let _ = closing.send(true);
    drop(open_rx);
    open_tx.closed().await;
    Ok(())
}
