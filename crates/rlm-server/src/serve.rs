//! The server: binding, the accept loop with its timeouts, and a graceful
//! shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rlm_core::ReplFactory;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::config::ServeConfig;
use crate::error::{ApiError, ServeError};
use crate::state::AppState;
use crate::{profiles, routes};

/// After the grace period and cancelling what still runs, how long a
/// cancelled run gets to record its usage and answer.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// A bound server, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Server {
    /// Opens the store (running its migrations), marks sessions a previous
    /// run of this replica held as lost, sets up every profile on
    /// `sandboxes`, and binds the address.
    pub async fn bind(config: ServeConfig, sandboxes: Arc<dyn ReplFactory>) -> Result<Server, ServeError> {
        let store = rlm_store::open(&config.database_url).await?;
        let lost = store.lose_sessions(&config.replica).await?;
        if lost > 0 {
            tracing::warn!(lost, replica = %config.replica, "sessions of this replica's previous run are lost");
        }
        let profiles = profiles::build(&config.profiles, sandboxes)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Bind { addr: config.listen, source })?;
        let state = Arc::new(AppState::new(config, profiles, store));
        Ok(Server { listener, state })
    }

    /// The address it listens on (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The key dev mode accepts, when no tenants are configured.
    pub fn dev_key(&self) -> Option<&str> {
        self.state.config.dev_key.as_deref()
    }

    /// Serves until `shutdown` completes; then stops accepting, lets runs in
    /// flight finish within the grace period, cancels the rest (they still
    /// record what they spent and answer), and returns once every run has
    /// recorded its usage.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), ServeError> {
        let Server { listener, state } = self;
        let app = app(state.clone());
        let reaper_stop = tokio_util::sync::CancellationToken::new();
        let period = (state.config.session_ttl / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
        tokio::spawn(routes::reap_sessions(state.clone(), period, reaper_stop.clone()));

        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(state.config.header_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(state.config.header_timeout))
            .keep_alive_timeout(state.config.header_timeout);
        let service = TowerToHyperService::new(app);
        let graceful = GracefulShutdown::new();
        let connections = Arc::new(Semaphore::new(state.config.max_connections));
        let first_byte = state.config.header_timeout;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // At the cap, stop accepting: new connections wait in the
            // kernel's backlog instead of taking memory here.
            let permit = tokio::select! {
                permit = connections.clone().acquire_owned() => permit.expect("never closed"),
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let (builder, service, watcher) = (builder.clone(), service.clone(), graceful.watcher());
            tokio::spawn(async move {
                let _permit = permit;
                // hyper's header timer starts at the first byte: a client
                // that connects and sends nothing is closed here.
                if tokio::time::timeout(first_byte, stream.readable()).await.is_err() {
                    tracing::debug!(%peer, "closed a connection that sent nothing");
                    return;
                }
                let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
                if let Err(e) = watcher.watch(connection).await {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }

        tracing::info!(grace = ?state.config.shutdown_grace, "shutting down: no new connections");
        state.draining.store(true, Ordering::Relaxed);
        drop(listener);
        // Idle connections close now; busy ones once their response is sent.
        let closing = tokio::spawn(graceful.shutdown());
        state.tasks.close();
        let finished = tokio::time::timeout(state.config.shutdown_grace, state.tasks.wait()).await.is_ok();
        if !finished {
            tracing::warn!("cancelling the runs still in flight after the grace period");
            state.cancel_all.cancel();
            if tokio::time::timeout(CANCEL_GRACE, state.tasks.wait()).await.is_err() {
                tracing::error!("runs did not stop after being cancelled");
            }
        }
        // Runs are over: their responses are written or their clients gone.
        let _ = tokio::time::timeout(CANCEL_GRACE, closing).await;
        reaper_stop.cancel();
        routes::end_sessions(&state).await;
        Ok(())
    }
}

/// The router with the service's layers: body size and time limits, and a
/// panic in a handler answered as a 500 (the server keeps serving).
fn app(state: Arc<AppState>) -> Router {
    let body_limit = state.config.body_limit_bytes;
    let body_timeout = state.config.body_timeout;
    routes::router(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestBodyTimeoutLayer::new(body_timeout))
        .layer(CatchPanicLayer::custom(panicked))
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    ApiError::internal(&Panicked(what.to_owned())).into_response()
}

#[derive(Debug, thiserror::Error)]
#[error("a request handler panicked: {0}")]
struct Panicked(String);
