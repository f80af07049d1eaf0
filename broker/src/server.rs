//! Running the broker over HTTPS, with a clean stop on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::RustlsConfig;

use crate::config::Config;
use crate::{app, tls};

/// A broker listening in this process; `shutdown` stops it gracefully.
pub struct RunningServer {
    pub addr: SocketAddr,
    handle: Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (up to 10 s), and waits.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        self.task.await??;
        Ok(())
    }
}

/// Binds the configured address (port 0 picks a free one) and serves in a background task.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    tls::install_ring_provider();
    let tls_config =
        RustlsConfig::from_config(tls::server_config(&config.tls.cert, &config.tls.key)?);
    let handle: Handle<SocketAddr> = Handle::new();
    let server = axum_server::bind_rustls(config.listen, tls_config)
        .handle(handle.clone())
        .serve(app::router().into_make_service());
    let task = tokio::spawn(server);
    let addr = handle
        .listening()
        .await
        .ok_or_else(|| anyhow::anyhow!("could not listen on {}", config.listen))?;
    Ok(RunningServer { addr, handle, task })
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
