//! `rlm-sandbox serve`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use crate::args::{ServeArgs, UsageError};

pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut overrides = rlm_server::Overrides::default();
    overrides.listen = args.listen;
    overrides.database_url = args.database_url;
    overrides.replica = args.replica;
    overrides.body_limit_bytes = args.body_limit_bytes;
    overrides.header_timeout_s = args.header_timeout_s;
    overrides.body_timeout_s = args.body_timeout_s;
    overrides.shutdown_grace_s = args.shutdown_grace_s;
    overrides.session_ttl_s = args.session_ttl_s;
    overrides.max_runs_in_flight = args.max_runs_in_flight;
    overrides.keep_alive_s = args.keep_alive_s;
    overrides.run_timeout_s = args.run_timeout_s;
    overrides.max_sandboxes = args.max_sandboxes;
    overrides.max_sandbox_memory_mb = args.max_sandbox_memory_mb;
    overrides.max_connections = args.max_connections;
    overrides.dev_model = args.model;
    overrides.dev_provider = args.provider;
    overrides.dev_base_url = args.base_url;
    overrides.dev_key = args.dev_key;
    let config = rlm_server::ServeConfig::load(args.config.as_deref(), overrides).map_err(|e| match e {
        rlm_server::ConfigError::Read { .. }
        | rlm_server::ConfigError::Parse { .. }
        | rlm_server::ConfigError::Invalid(_) => anyhow::Error::new(UsageError(format!("{:#}", anyhow::Error::new(e)))),
        other => anyhow::Error::new(other),
    })?;
    let runtime = crate::start_runtime(rlm_sandbox::RuntimeConfig::new())?;
    let server = rlm_server::Server::bind(config, Arc::new(runtime)).await.context("cannot start the service")?;
    let addr = server.local_addr();
    match server.dev_key() {
        Some(key) => {
            println!("rlm-sandbox serve: listening on http://{addr} (dev mode: one tenant, `dev`)");
            println!("API key: {key}");
        }
        None => println!("rlm-sandbox serve: listening on http://{addr}"),
    }
    server.run(shutdown_signal()).await.context("the service failed")?;
    eprintln!("rlm-sandbox serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
