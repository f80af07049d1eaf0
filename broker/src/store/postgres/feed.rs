//! Waking on other brokers' signal-feed changes: `LISTEN` on [`NOTIFY_CHANNEL`], which every
//! writer notifies inside its transaction (PostgreSQL delivers it at commit, never for a
//! rollback). A notification is only a hint to read the feed now; the follower also reads it
//! after every wait, so a notification lost with a connection delays a change by one wait at
//! most and loses nothing.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};

use crate::store::StoreError;
use crate::store::feed::{FeedWake, NOTIFY_CHANNEL};

/// The statement writers run last in their transaction.
pub(super) const NOTIFY: &str = "SELECT pg_notify('kruispunt_signal_feed', '')";

/// A listener on its own connection (taken from the pool for good).
pub(super) struct PgWake {
    listener: PgListener,
}

impl PgWake {
    pub(super) async fn listen(pool: &PgPool) -> Result<PgWake, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok(PgWake { listener })
    }
}

impl FeedWake for PgWake {
    fn wait(&mut self, max: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            tokio::select! {
                r = self.listener.recv() => {
                    if let Err(e) = r {
                        // Reconnects on the next call; meanwhile the poll covers the gap.
                        tracing::warn!(error = %e, "signal feed listener lost its connection");
                        tokio::time::sleep(max).await;
                    }
                    // Many commits, one read: drop the notifications already here.
                    while self.listener.next_buffered().is_some() {}
                }
                () = tokio::time::sleep(max) => {}
            }
        })
    }
}
