//! The broker never signs a tree that is not consistent with the last checkpoint it signed,
//! which it keeps outside the database (`keys/audit-checkpoint`, beside the signing key).
//!
//! Someone who can write the database but not the key folder rewrites an entry (its leaf, the
//! nodes and the border recomputed: the tree taken back to before the entry, so that the
//! broker's own catch-up recomputes it, with fresh salts), appends to the forged tree, or
//! truncates the log. Each time the restarted broker refuses to start, saying what differs and
//! where the recovery is documented; it signs nothing meanwhile. A normal restart works, and the
//! documented recovery (the anchor moved aside, as evidence) lets it start again.

use std::os::unix::fs::PermissionsExt;

use crate::audit_common::*;
use kruispunt_broker::audit::anchor;
use kruispunt_broker::config::Config;
use kruispunt_broker::store;

fn refused(outcome: Result<Broker, (Broker, anyhow::Error)>, says: &str) -> Broker {
    match outcome {
        Ok(_) => panic!("the broker started on a tampered log (expected: {says})"),
        Err((b, e)) => {
            let msg = format!("{e:#}");
            assert!(msg.contains(says), "{msg}");
            assert!(
                msg.contains("docs/OPERATIONS.md") && msg.contains("Refusing to serve"),
                "{msg}"
            );
            b
        }
    }
}

fn tampered_logs_stop_the_broker(b: Broker) -> kruispunt_test_kit::TestFuture {
    Box::pin(async move {
        let anchor_path = anchor::path_in(b.data_dir());
        b.traffic().await;
        let size = b.sync().await;
        assert!(size >= 3, "{size}");
        let served = b.state().audit_log.checkpoint().await.unwrap().1;
        assert_eq!(std::fs::read_to_string(&anchor_path).unwrap(), served);
        let mode = std::fs::metadata(&anchor_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        // A normal restart works, and signs the same tree.
        let b = b.restart().await;
        assert_eq!(b.sync().await, size);
        let tc = b.token(DEALER_C, &["compliance"]);
        let (st, v) = b
            .post("/v1/matches", Some(&tc), &match_query(PURPOSE))
            .await;
        assert_eq!(st, 200, "{v}");
        let size = b.sync().await;
        let dir = b.data_dir().to_path_buf();
        let signed = std::fs::read_to_string(&anchor_path).unwrap();

        // 1. One entry rewritten, its leaf, the nodes and the border recomputed.
        let mut forged = b.audit().await[1].clone();
        assert_ne!(forged.actor_org.as_deref(), Some(DEALER_C));
        forged.actor_org = Some(DEALER_C.into());
        let mut b = b;
        b.running.take().unwrap().shutdown().await.unwrap();
        behind_the_back(
            &dir,
            "UPDATE audit_log SET entry = $1 WHERE seq = 1",
            Some(forged.canonical_json()),
        )
        .await;
        behind_the_back(&dir, &tree_back_to(1), None).await;
        let b = refused(b.try_restart().await, "entries were rewritten");
        assert_eq!(std::fs::read_to_string(&anchor_path).unwrap(), signed);

        // 2. The forged tree grown by an entry: larger, but not an extension of what was signed.
        {
            let store = store::connect(&Config::load(&dir).unwrap().database)
                .await
                .unwrap();
            let e = kruispunt_broker::audit::entry::AuditEntry::new(
                kruispunt_broker::civil::now_millis(),
                kruispunt_broker::audit::entry::Operation::Consult,
                "forged",
            );
            store.audit().append_audit(&[e]).await.unwrap();
            assert_eq!(store.audit().audit_tree_size().await.unwrap(), size + 1);
        }
        let b = refused(b.try_restart().await, "does not extend the checkpoint");
        assert_eq!(std::fs::read_to_string(&anchor_path).unwrap(), signed);

        // 3. The log truncated.
        let kept = size - 2;
        truncate_behind_the_back(&dir, kept).await;
        let b = refused(
            b.try_restart().await,
            &format!("has {kept} entries, but this broker signed a checkpoint of {size}"),
        );
        assert_eq!(std::fs::read_to_string(&anchor_path).unwrap(), signed);

        // The documented recovery: the anchor moved aside (kept as evidence), the broker starts
        // on the tree as it is and anchors that.
        std::fs::rename(&anchor_path, anchor_path.with_extension("rejected")).unwrap();
        let b = match b.try_restart().await {
            Ok(b) => b,
            Err((_, e)) => panic!("{e:#}"),
        };
        assert_eq!(b.sync().await, kept);
        assert!(anchor_path.exists());
        b.stop().await;
    })
}

kruispunt_test_kit::broker_test!(a_tampered_log_stops_the_broker = tampered_logs_stop_the_broker);
