//! Running the broker over HTTPS, with a clean stop on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum_server::Handle;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use kruispunt_policy::{Bundle, PolicyEngine, Registry};

use crate::auth::TokenVerifier;
use crate::auth::refusals::{self, RefusalLog};
use crate::config::Config;
use crate::keys::BrokerKeys;
use crate::matching::MatchIndex;
use crate::rate_limit::{AddressLimiter, RateLimiter};
use crate::state::AppState;
use crate::{app, retention, tls};

/// A broker listening in this process; `shutdown` stops it gracefully.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub state: AppState,
    handle: Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    purger: tokio::task::JoinHandle<()>,
    log_task: tokio::task::JoinHandle<()>,
    refusal_task: tokio::task::JoinHandle<()>,
    snapshot_task: tokio::task::JoinHandle<()>,
    witness_task: tokio::task::JoinHandle<()>,
    /// The operator's `/metrics` listener, when configured.
    pub metrics: Option<crate::metrics::MetricsServer>,
    follower: tokio::task::JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests finish (up to 10 s), writes the counts of
    /// repeated refusals, and waits.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.purger.abort();
        self.log_task.abort();
        self.refusal_task.abort();
        self.snapshot_task.abort();
        self.witness_task.abort();
        if let Some(m) = self.metrics {
            m.stop();
        }
        self.follower.abort();
        self.handle.graceful_shutdown(Some(Duration::from_secs(10)));
        self.task.await??;
        if let Err(e) = self.state.refusals.flush(&*self.state.store).await {
            tracing::warn!(error = %e, "the counts of repeated refusals could not be written");
        }
        Ok(())
    }
}

/// Opens the database, loads policy, keys and the match index.
pub async fn build_state(config: &Config) -> anyhow::Result<AppState> {
    let store = config.connect_store().await?;
    let registry = match &config.registry {
        Some(p) => Registry::load(p)?,
        None => Registry::embedded(),
    };
    let bundle = match &config.policy_bundle {
        Some(p) => Bundle::load_dir(p)?,
        None => Bundle::embedded(),
    };
    // Only a development set-up trusts the demo keys the broker itself generated.
    let extra_keys = if config.development {
        crate::keys::dev_partner_keys::load_registered_keys(&config.data_dir)?
    } else {
        Vec::new()
    };
    let setup_gaps: Arc<[String]> =
        crate::readiness::setup_gaps(&registry, &extra_keys, config.tls.client_ca.as_deref())
            .into();
    for gap in setup_gaps.iter() {
        tracing::warn!(gap = %gap, "not ready for partners");
    }
    let verifier = TokenVerifier::new(&registry, &extra_keys, &config.deployment, 30)?
        .with_max_lifetime(config.limits.max_token_lifetime_secs);
    // The supplying organisation's sector, for the picture's cross-sector measure.
    let sectors: std::collections::HashMap<String, String> = registry
        .partners
        .iter()
        .map(|p| (p.id.clone(), p.sector.clone()))
        .collect();
    let policy = PolicyEngine::new(bundle, registry)?;
    let keys = BrokerKeys::load_or_create(&config.data_dir)?;
    let now = crate::civil::now_secs();
    // The feed's position before the scan: the follower applies every change from here, so
    // one committed during the scan is missed by neither (crate::follow).
    let feed_position = store.signals().feed_position().await?;
    // Reserved up front (plus room to grow) so filling never resizes the table: a resize
    // briefly holds the old and the new table, the peak that matters at 10 M signals.
    let live = store.signals().count_live_signals(now).await?;
    let index = MatchIndex::with_capacity(usize::try_from(live).unwrap_or(0).saturating_add(1024));
    // The ondermijningsbeeld's picture, filled by the same scan. A deployment may bound the
    // snapshot interval; a development set-up publishes every 10 s so that a new user sees
    // their uploads.
    let max_interval = config.limits.beeld_snapshot_interval_secs.or(config
        .development
        .then_some(crate::beeld::DEVELOPMENT_SNAPSHOT_INTERVAL_SECS));
    let beeld = Arc::new(crate::beeld::Beeld::new(
        keys.beeld_noise_key(),
        max_interval,
    ));
    let fill = |batch: &[crate::store::IndexRecord]| {
        index.insert_many(batch.iter());
        // Loaded signals are in every snapshot (they entered before any this process answers).
        beeld.picture.insert(
            batch.iter().map(|r| {
                let sector = sectors.get(&r.org).map_or("", String::as_str);
                crate::beeld::PictureSignal::of(r, sector)
            }),
            0,
        );
    };
    let mut batch = Vec::with_capacity(4096);
    store
        .signals()
        .for_each_live_signal(now, &mut |r| {
            batch.push(r);
            if batch.len() == 4096 {
                fill(&batch);
                batch.clear();
            }
        })
        .await?;
    fill(&batch);
    // Ready once the follower applied what was committed during the scan too.
    let feed_ready_at = store.signals().feed_position().await?;
    tracing::info!(
        signals = index.len(),
        picture_bytes = beeld.picture.memory_bytes(),
        backend = store.backend(),
        "match index and picture loaded"
    );
    // Checks the stored tree against the last checkpoint signed (kept beside the key) before
    // anything is served: a tree rewritten or truncated behind the broker's back stops here.
    let audit_log = crate::audit::log::AuditLog::open(&config.deployment, &keys, &config.data_dir)?;
    audit_log.sync(&*store, &keys).await?;
    // Other processes write where the store follows changes (PostgreSQL).
    let store_follows = store.own_changes().is_some();
    let witnesses =
        crate::witness::client::from_config(config.witnesses.as_ref(), &config.data_dir)?;
    Ok(AppState {
        witnesses,
        audit_log: Arc::new(audit_log),
        store,
        policy: Arc::new(policy),
        verifier: Arc::new(verifier),
        keys: Arc::new(keys),
        index: Arc::new(index),
        limiter: Arc::new(RateLimiter::new(
            config.limits.requests_per_second,
            config.limits.burst,
        )),
        address_limiter: Arc::new(AddressLimiter::new(
            config.limits.unauthenticated_per_second,
            config.limits.unauthenticated_burst,
        )),
        refusals: Arc::new(RefusalLog::new(config.limits.refusal_interval_secs)),
        deployment: config.deployment.as_str().into(),
        tokens: Arc::default(),
        org_locks: Arc::default(),
        beeld,
        metrics: Arc::default(),
        setup_gaps,
        feed: Arc::new(crate::follow::FeedProgress::starting_at(
            feed_position,
            feed_ready_at,
            store_follows,
        )),
    })
}

/// Binds the configured address (port 0 picks a free one) and serves in a background task.
pub async fn start(config: &Config) -> anyhow::Result<RunningServer> {
    tls::install_ring_provider();
    let state = build_state(config).await?;
    let tls_config = RustlsConfig::from_config(tls::server_config_with_client_ca(
        &config.tls.cert,
        &config.tls.key,
        config.tls.client_ca.as_deref(),
    )?);
    let handle: Handle<SocketAddr> = Handle::new();
    let c = &config.connections;
    // The TLS configuration offers HTTP/1.1 only (ALPN), and so does the server: never guess
    // HTTP/2.
    let server = crate::conn_limit::hygienic(
        axum_server::bind(config.listen),
        RustlsAcceptor::new(tls_config).handshake_timeout(crate::conn_limit::head_timeout(c)),
        c,
    )
    .handle(handle.clone());
    // The peer's address selects its budget of failed authentications.
    let server = server.serve(
        app::router(state.clone(), &config.connections)
            .into_make_service_with_connect_info::<SocketAddr>(),
    );
    let task = tokio::spawn(server);
    // Every 500 ms (the log signs only when the tree grew): an entry is in a signed checkpoint
    // within a second of its commit.
    let log_task = tokio::spawn(crate::audit::log::run(
        state.clone(),
        Duration::from_millis(500),
    ));
    // Other brokers' changes to the signals, into this broker's index.
    let follower = tokio::spawn(crate::follow::run(state.clone()));
    let refusal_task = tokio::spawn(refusals::run(
        state.clone(),
        Duration::from_secs(config.limits.refusal_interval_secs.max(1)),
    ));
    // The picture's standard grids, computed once per published snapshot.
    let snapshot_task = tokio::spawn(crate::beeld::run_snapshots(
        state.clone(),
        Duration::from_secs(1),
    ));
    // Cosignatures of the audit checkpoints, woken by the log task (see crate::witness::client).
    let witness_task = tokio::spawn(crate::witness::client::run(state.clone()));
    let purger = tokio::spawn(retention::run(
        state.clone(),
        Duration::from_secs(config.limits.purge_interval_secs.max(1)),
    ));
    let metrics = match &config.metrics {
        Some(m) => Some(crate::metrics::MetricsServer::start(m.listen, state.clone()).await?),
        None => None,
    };
    let addr = handle
        .listening()
        .await
        .ok_or_else(|| anyhow::anyhow!("could not listen on {}", config.listen))?;
    Ok(RunningServer {
        addr,
        state,
        handle,
        task,
        purger,
        log_task,
        refusal_task,
        snapshot_task,
        witness_task,
        metrics,
        follower,
    })
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
