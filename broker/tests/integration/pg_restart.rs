//! PostgreSQL restarted under load (issue 17, "Faults"): three real `kruispunt serve` processes
//! on one fresh database take the multi-broker test's load (`multibroker::load_round`) while
//! the database server is restarted under them — a private server of the test's own
//! ([`TestCluster`]), so the shared one other tests use stays up:
//!
//! - in round [`FAST_ROUND`], `pg_ctl stop -m fast` and a start while the round's uploads are in
//!   flight (an operator's restart: every connection is cut, open transactions roll back);
//! - in round [`CRASH_ROUND`], `pg_ctl stop -m immediate` (a crash: the server recovers from its
//!   WAL at the next start). While it is down every broker answers a match, an upload and
//!   `/readyz` with a clean `503` problem — within the client's time limit, not a hang, not a
//!   500. Then the server starts again, a plate is stored through one broker at once (the others'
//!   `LISTEN` connections may still be down) and every broker finds it.
//!
//! Afterwards the same as after the kill (`multibroker::assert_survived`): every acknowledged
//! upload is stored once, every answered match has its entry, every broker's index equals the
//! database's live signals and says ready, every checkpoint seen is consistent with the final
//! one, and the exported log verifies.
//!
//! Runs whenever `KRUISPUNT_TEST_POSTGRES_URL` is set (as `.ci/run` sets it) and PostgreSQL's
//! `initdb` is installed; skipped with a note otherwise.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::audit_common::*;
use crate::multibroker::{
    Seen, ask, assert_survived, load_round, plate, settled, stop_all, three_serve_processes, upload,
};
use crate::problem_edges::problem;
use kruispunt_test_kit::{StopMode, TestCluster};
use serde_json::json;

const ROUNDS: usize = 24;
/// The round during which the server is stopped (`-m fast`) and started again.
const FAST_ROUND: usize = 8;
/// The round after which the server crashes (`-m immediate`) and the outage is probed.
const CRASH_ROUND: usize = 14;
/// How long a client waits for an answer while the database is down: a partner's client (the
/// SDK waits 60 s) or a load balancer's health check must get one, not hang.
const CLIENT_WAIT: Duration = Duration::from_secs(20);

/// Runs `f` on the cluster on a blocking thread (`pg_ctl` waits for the server), so the
/// requests of the round go on meanwhile.
async fn on_cluster(
    cluster: &Arc<Mutex<TestCluster>>,
    f: impl FnOnce(&mut TestCluster) + Send + 'static,
) {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || f(&mut cluster.lock().unwrap()))
        .await
        .unwrap();
}

/// Every broker, asked while its database is down, answers a match and an upload with `503
/// storage-unavailable` and `/readyz` with `503 not-ready`: problems that say the database is
/// the trouble, in time — not a 500, not the request timeout's `503`, not a hang.
async fn the_outage_is_a_clean_503(brokers: &[Broker]) {
    let probes = brokers.iter().map(|b| async move {
        let tc = b.token(DEALER_C, &["compliance"]);
        let ta = b.token(DEALER_A, &["compliance"]);
        let requests = [
            (
                "storage-unavailable",
                b.client
                    .post(format!("{}/v1/matches", b.base))
                    .bearer_auth(&tc)
                    .json(&match_query(PURPOSE)),
            ),
            (
                "storage-unavailable",
                b.client
                    .post(format!("{}/v1/signals", b.base))
                    .bearer_auth(&ta)
                    .json(&json!({ "signals": [signal(&plate(700), "cash-car-purchase")] })),
            ),
            ("not-ready", b.client.get(format!("{}/readyz", b.base))),
        ];
        for (slug, request) in requests {
            let sent = format!("{request:?}");
            let answered = request.timeout(CLIENT_WAIT).send().await;
            let r = answered.unwrap_or_else(|e| {
                panic!("no answer within {CLIENT_WAIT:?} while the database is down: {sent}: {e}")
            });
            problem(r, 503, slug).await;
        }
    });
    futures_util::future::join_all(probes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_brokers_survive_postgresql_restarts_under_load() {
    let Some(cluster) = TestCluster::start("three_brokers_survive_postgresql_restarts_under_load")
    else {
        return;
    };
    let db = TestDatabase::create_on(&cluster.url()).await;
    let cluster = Arc::new(Mutex::new(cluster));
    let brokers = three_serve_processes(db).await;
    let store = brokers[0].store().await;
    let mut seen = Seen::default();

    for round in 0..ROUNDS {
        let fault = async {
            if round == FAST_ROUND {
                on_cluster(&cluster, |c| {
                    c.stop(StopMode::Fast);
                    c.start_again();
                })
                .await;
            }
        };
        load_round(&brokers, &mut seen, round, fault).await;
        if round == CRASH_ROUND {
            on_cluster(&cluster, |c| c.stop(StopMode::Immediate)).await;
            the_outage_is_a_clean_503(&brokers).await;
            on_cluster(&cluster, TestCluster::start_again).await;
            // Stored through one broker as soon as the server is back, while the others may
            // not have their `LISTEN` connection yet: every broker finds it.
            let back = plate(600);
            upload(&brokers, &mut seen, DEALER_A, &back, 0).await;
            upload(&brokers, &mut seen, DEALER_B, &back, 0).await;
            settled(&brokers, &*store).await;
            for b in &brokers {
                assert_eq!(ask(b, &mut seen, &back).await, Some(true), "{}", b.base);
            }
        }
    }

    assert_survived(&brokers, &*store, &mut seen, ROUNDS, &BTreeSet::new()).await;
    drop(store);
    stop_all(brokers).await;
    // The cluster stops when the last reference goes, after the brokers and their database.
}
