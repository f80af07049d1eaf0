//! [`MlsStore`] on either backend: one implementation over a [`Dialect`](super::Dialect), on the backend's
//! pools and audit append, so every delivery shares its transaction with its audit entry. The
//! statements are written once; PostgreSQL's row locks come from the dialect
//! ([`MlsDialect`]), which make it
//! safe for several brokers on one database.

use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::SignalDialect;
use crate::audit::entry::AuditEntry;
use crate::mls::store::{
    Announced, AppendAudit, Appended, Claim, ClaimAudit, ClaimQuota, ClaimedKeyPackage,
    CompactAudit, Compacted, Expect, ExpiredKeyPackage, GroupKind, GroupRow, KeyPackagePurgeAudit,
    KeyVersionRow, MlsStore, NewKeyPackage, NewMessage, NewWelcome, SignalFilter, StateChange,
    StoredMessage, StoredWelcome,
};
use crate::store::{PurgeAudit, StoreError, StoredSignal, key_version_from_db};

const GROUP_COLUMNS: &str = "id, coalition, kind, allowed, epoch, revision, next_seq, members, \
     state, created_by, epoch_revision, from_seq, case_reference";

const KEY_VERSION_COLUMNS: &str = "coalition, key_version, grace_until, announced_by, announced_at";

/// Erases expired key packages (`$1` = now). The flags are returned as integers so that one
/// row conversion ([`expired_key_package`]) serves both backends.
const PURGE_KEY_PACKAGES: &str = "DELETE FROM mls_key_packages WHERE expires_at <= $1 \
     RETURNING ref, org, CASE WHEN last_resort THEN 1 ELSE 0 END, \
     CASE WHEN claimed_by IS NULL THEN 0 ELSE 1 END";

/// A backend's own statements of the MLS store (in its `mls.rs`); its erasure of signals under
/// a superseded key uses [`super::Dialect::LOCK_ROWS`] and [`SignalDialect::delete_signals`].
pub(crate) trait MlsDialect: SignalDialect {
    /// Claims the oldest unclaimed ordinary key package (`$1` org, `$2` claimer, `$3` now),
    /// `RETURNING ref, data`. PostgreSQL skips rows another broker is claiming; SQLite's single
    /// writer needs no row lock.
    const CLAIM_ORDINARY_KEY_PACKAGE: &'static str;

    /// Reads a coalition's current key version (`$1`) inside the announcing transaction;
    /// PostgreSQL locks the row (`FOR UPDATE`) so two announcements cannot both win.
    const CURRENT_KEY_VERSION: &'static str;
}

shared_impl! {
    impl MlsStore for MlsDialect {
        async fn put_key_packages(
            &self,
            org: &str,
            packages: &[NewKeyPackage],
            now: i64,
            audit: &AuditEntry,
        ) -> Result<(), StoreError> {
            let mut tx = self.begin_write().await?;
            for p in packages {
                sqlx::query(
                    "INSERT INTO mls_key_packages (ref, org, data, last_resort, expires_at, \
                     published_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(p.kp_ref.as_slice())
                .bind(org)
                .bind(p.data.as_slice())
                .bind(p.last_resort)
                .bind(p.expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            D::append(&mut tx, &[audit]).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn claim_key_package(
            &self,
            org: &str,
            claimer: &str,
            now: i64,
            quota: ClaimQuota,
            audit: ClaimAudit<'_>,
        ) -> Result<Claim, StoreError> {
            let mut tx = self.begin_write().await?;
            let used: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM mls_key_package_claims WHERE org = $1 AND claimer = $2 \
                 AND claimed_at >= $3",
            )
            .bind(org)
            .bind(claimer)
            .bind(quota.since)
            .fetch_one(&mut *tx)
            .await?;
            if used >= i64::from(quota.max) {
                tx.rollback().await?;
                return Ok(Claim::QuotaReached);
            }
            let ordinary = sqlx::query(D::CLAIM_ORDINARY_KEY_PACKAGE)
                .bind(org)
                .bind(claimer)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let claimed = match ordinary {
                Some(row) => Some(ClaimedKeyPackage {
                    kp_ref: row.try_get(0)?,
                    data: row.try_get(1)?,
                    last_resort: false,
                }),
                // An equality (not a bare column) so that SQLite's index on (org, last_resort, …)
                // serves it.
                None => sqlx::query(
                    "SELECT ref, data FROM mls_key_packages WHERE org = $1 AND last_resort = TRUE \
                     AND expires_at > $2 ORDER BY published_at DESC, ref LIMIT 1",
                )
                .bind(org)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| -> Result<_, StoreError> {
                    Ok(ClaimedKeyPackage {
                        kp_ref: row.try_get(0)?,
                        data: row.try_get(1)?,
                        last_resort: true,
                    })
                })
                .transpose()?,
            };
            let Some(claimed) = claimed else {
                tx.rollback().await?;
                return Ok(Claim::None);
            };
            let recorded = sqlx::query(
                "INSERT INTO mls_key_package_claims (ref, claimer, org, claimed_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (ref, claimer) DO NOTHING",
            )
            .bind(claimed.kp_ref.as_slice())
            .bind(claimer)
            .bind(org)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if D::rows_affected(&recorded) == 0 {
                // Only a last-resort package can be handed to the same claimer twice.
                tx.rollback().await?;
                return Ok(Claim::Again(claimed));
            }
            D::append(&mut tx, &[&audit(&claimed)]).await?;
            tx.commit().await?;
            Ok(Claim::Claimed(claimed))
        }

        async fn live_key_packages(&self, org: &str, now: i64) -> Result<u64, StoreError> {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM mls_key_packages WHERE org = $1 AND claimed_by IS NULL \
                 AND expires_at > $2",
            )
            .bind(org)
            .bind(now)
            .fetch_one(self.reader())
            .await?;
            u64_from_db(n, "count")
        }

        async fn join_seq(&self, group: &str, org: &str) -> Result<u64, StoreError> {
            let seq: Option<i64> = sqlx::query_scalar(
                "SELECT MAX(s) FROM (SELECT from_seq AS s FROM mls_groups WHERE id = $1 \
                 UNION ALL SELECT from_seq AS s FROM mls_welcomes WHERE group_id = $1 \
                 AND org = $2) AS j",
            )
            .bind(group)
            .bind(org)
            .fetch_one(self.reader())
            .await?;
            seq.map_or(Ok(0), |s| u64_from_db(s, "sequence"))
        }

        async fn case_channel_allows(&self, creator: &str, org: &str) -> Result<bool, StoreError> {
            // LIKE narrows the rows (`_` in an id only widens it); the lists decide.
            // Only channels whose case is registered and not closed: a closed case's channel
            // invites no one.
            let lists: Vec<String> = sqlx::query_scalar(
                "SELECT allowed FROM mls_groups WHERE kind = 'case' AND created_by = $1 \
                 AND allowed LIKE $2 AND case_reference IN \
                 (SELECT reference FROM cases WHERE state <> 'closed')",
            )
            .bind(creator)
            .bind(format!("%\"{org}\"%"))
            .fetch_all(self.reader())
            .await?;
            for list in lists {
                if orgs_from_db(&list)?.iter().any(|o| o == org) {
                    return Ok(true);
                }
            }
            Ok(false)
        }

        async fn key_package_owner(&self, kp_ref: &[u8]) -> Result<Option<String>, StoreError> {
            Ok(
                sqlx::query_scalar("SELECT org FROM mls_key_packages WHERE ref = $1")
                    .bind(kp_ref)
                    .fetch_optional(self.reader())
                    .await?,
            )
        }

        async fn purge_expired_key_packages(
            &self,
            now: i64,
            audit_for: KeyPackagePurgeAudit<'_>,
        ) -> Result<Vec<ExpiredKeyPackage>, StoreError> {
            let mut tx = self.begin_write().await?;
            let mut erased = sqlx::query(PURGE_KEY_PACKAGES)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(expired_key_package)
                .collect::<Result<Vec<_>, _>>()?;
            if erased.is_empty() {
                tx.rollback().await?;
                return Ok(erased);
            }
            sqlx::query(
                "DELETE FROM mls_key_package_claims \
                 WHERE ref NOT IN (SELECT ref FROM mls_key_packages)",
            )
            .execute(&mut *tx)
            .await?;
            erased.sort_by(|a, b| (&a.org, &a.kp_ref).cmp(&(&b.org, &b.kp_ref)));
            D::append(&mut tx, &[&audit_for(&erased)]).await?;
            tx.commit().await?;
            Ok(erased)
        }

        async fn create_group(
            &self,
            group: &GroupRow,
            now: i64,
            audit: &AuditEntry,
        ) -> Result<(), StoreError> {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO mls_groups (id, coalition, kind, allowed, epoch, revision, next_seq, \
                 members, state, created_by, created_at, epoch_revision, from_seq, \
                 case_reference) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 $14)",
            )
            .bind(group.id.as_str())
            .bind(group.coalition.as_str())
            .bind(group.kind.as_str())
            .bind(group.allowed.as_deref().map(orgs_to_db))
            .bind(u64_to_db(group.epoch)?)
            .bind(u64_to_db(group.revision)?)
            .bind(u64_to_db(group.next_seq)?)
            .bind(orgs_to_db(&group.members))
            .bind(group.state.as_slice())
            .bind(group.created_by.as_str())
            .bind(now)
            .bind(u64_to_db(group.epoch_revision)?)
            .bind(u64_to_db(group.from_seq)?)
            .bind(group.case_reference.clone())
            .execute(&mut *tx)
            .await?;
            D::append(&mut tx, &[audit]).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn reinit_group(
            &self,
            id: &str,
            expected_revision: u64,
            change: &StateChange,
            audit: &AuditEntry,
        ) -> Result<bool, StoreError> {
            let mut tx = self.begin_write().await?;
            let written = sqlx::query(
                "UPDATE mls_groups SET revision = revision + 1, \
                 epoch_revision = epoch_revision + 1, from_seq = next_seq, epoch = $3, \
                 members = $4, state = $5 WHERE id = $1 AND revision = $2",
            )
            .bind(id)
            .bind(u64_to_db(expected_revision)?)
            .bind(u64_to_db(change.epoch)?)
            .bind(orgs_to_db(&change.members))
            .bind(change.state.as_slice())
            .execute(&mut *tx)
            .await?;
            if D::rows_affected(&written) == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            D::append(&mut tx, &[audit]).await?;
            tx.commit().await?;
            Ok(true)
        }

        async fn case_channels(&self, case_reference: &str) -> Result<Vec<String>, StoreError> {
            Ok(sqlx::query_scalar(
                "SELECT id FROM mls_groups WHERE case_reference = $1 AND kind = 'case' \
                 ORDER BY id",
            )
            .bind(case_reference)
            .fetch_all(self.reader())
            .await?)
        }

        async fn group(&self, id: &str) -> Result<Option<GroupRow>, StoreError> {
            let sql = format!("SELECT {GROUP_COLUMNS} FROM mls_groups WHERE id = $1");
            row_by_key(self.reader(), &sql, id, group_from_row).await
        }

        async fn append_message(
            &self,
            group: &str,
            expect: Expect,
            message: &NewMessage,
            change: Option<&StateChange>,
            welcomes: &[NewWelcome],
            now: i64,
            audit: AppendAudit<'_>,
        ) -> Result<Appended, StoreError> {
            let mut tx = self.begin_write().await?;
            let (guard, expected) = match expect {
                Expect::Epoch(r) => ("epoch_revision", u64_to_db(r)?),
                Expect::State(r) => ("revision", u64_to_db(r)?),
            };
            // A commit starts an epoch; a standalone proposal only adds to the state.
            let bump_epoch = match expect {
                Expect::Epoch(_) => ", epoch_revision = epoch_revision + 1",
                Expect::State(_) => "",
            };
            let seq: Option<i64> = match change {
                Some(c) => {
                    sqlx::query_scalar(&format!(
                        "UPDATE mls_groups SET revision = revision + 1{bump_epoch}, \
                         next_seq = next_seq + 1, epoch = $3, members = $4, state = $5 \
                         WHERE id = $1 AND {guard} = $2 RETURNING next_seq - 1"
                    ))
                    .bind(group)
                    .bind(expected)
                    .bind(u64_to_db(c.epoch)?)
                    .bind(orgs_to_db(&c.members))
                    .bind(c.state.as_slice())
                    .fetch_optional(&mut *tx)
                    .await?
                }
                None => {
                    sqlx::query_scalar(&format!(
                        "UPDATE mls_groups SET next_seq = next_seq + 1 \
                         WHERE id = $1 AND {guard} = $2 RETURNING next_seq - 1"
                    ))
                    .bind(group)
                    .bind(expected)
                    .fetch_optional(&mut *tx)
                    .await?
                }
            };
            let Some(seq) = seq else {
                tx.rollback().await?;
                return Ok(Appended::Conflict);
            };
            let digest = ring::digest::digest(&ring::digest::SHA256, &message.data);
            let replayed: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM mls_messages WHERE group_id = $1 AND digest = $2",
            )
            .bind(group)
            .bind(digest.as_ref())
            .fetch_optional(&mut *tx)
            .await?;
            if replayed.is_some() {
                tx.rollback().await?;
                return Ok(Appended::Replayed);
            }
            sqlx::query(
                "INSERT INTO mls_messages (group_id, seq, epoch, sender, content_type, data, \
                 created_at, digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(group)
            .bind(seq)
            .bind(u64_to_db(message.epoch)?)
            .bind(message.sender.as_str())
            .bind(message.content_type)
            .bind(message.data.as_slice())
            .bind(now)
            .bind(digest.as_ref())
            .execute(&mut *tx)
            .await?;
            for w in welcomes {
                sqlx::query(
                    "INSERT INTO mls_welcomes (org, group_id, epoch, from_seq, data, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(w.org.as_str())
                .bind(group)
                .bind(u64_to_db(change.map_or(message.epoch, |c| c.epoch))?)
                .bind(seq + 1)
                .bind(w.data.as_slice())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            let seq = u64_from_db(seq, "sequence")?;
            D::append(&mut tx, &[&audit(seq)]).await?;
            tx.commit().await?;
            Ok(Appended::Stored(seq))
        }

        async fn compact_logs(
            &self,
            audit_for: CompactAudit<'_>,
        ) -> Result<Vec<Compacted>, StoreError> {
            let mut tx = self.begin_write().await?;
            let groups = sqlx::query(&format!(
                "SELECT id, members, from_seq FROM mls_groups ORDER BY id{}",
                D::LOCK_ROWS
            ))
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|row| -> Result<(String, String, i64), StoreError> {
                Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
            })
            .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::new();
            for (id, members, from_seq) in groups {
                let members = orgs_from_db(&members)?;
                // Every welcome of the group: (id, recipient, join point).
                let welcomes = sqlx::query(
                    "SELECT id, org, from_seq FROM mls_welcomes WHERE group_id = $1 \
                     ORDER BY org, from_seq DESC, id DESC",
                )
                .bind(id.as_str())
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|row| -> Result<(i64, String, i64), StoreError> {
                    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
                })
                .collect::<Result<Vec<_>, _>>()?;
                // A member's join point: its newest welcome, never before the incarnation.
                let join = |org: &str| {
                    welcomes
                        .iter()
                        .filter(|w| w.1 == org)
                        .map(|w| w.2)
                        .chain([from_seq])
                        .max()
                        .unwrap_or(from_seq)
                };
                let Some(below) = members.iter().map(|m| join(m)).min() else {
                    continue;
                };
                // The newest welcome to each current member is its join point; the rest is
                // of no use to anyone.
                let mut kept: Vec<&str> = Vec::new();
                let mut stale = Vec::new();
                for (wid, org, seq) in &welcomes {
                    if members.contains(org) && *seq >= from_seq && !kept.contains(&org.as_str()) {
                        kept.push(org);
                    } else {
                        stale.push(*wid);
                    }
                }
                for wid in &stale {
                    sqlx::query("DELETE FROM mls_welcomes WHERE id = $1")
                        .bind(*wid)
                        .execute(&mut *tx)
                        .await?;
                }
                let erased = sqlx::query("DELETE FROM mls_messages WHERE group_id = $1 AND seq < $2")
                    .bind(id.as_str())
                    .bind(below)
                    .execute(&mut *tx)
                    .await?;
                let messages = D::rows_affected(&erased);
                if messages > 0 || !stale.is_empty() {
                    out.push(Compacted {
                        group: id,
                        below_seq: u64_from_db(below, "sequence")?,
                        messages,
                        welcomes: stale.len() as u64,
                    });
                }
            }
            if out.is_empty() {
                tx.rollback().await?;
                return Ok(out);
            }
            D::append(&mut tx, &[&audit_for(&out)]).await?;
            tx.commit().await?;
            Ok(out)
        }

        async fn message_sizes(
            &self,
            group: &str,
            from: u64,
            limit: u32,
        ) -> Result<Vec<u64>, StoreError> {
            page(
                self.reader(),
                "SELECT LENGTH(data) FROM mls_messages WHERE group_id = $1 AND seq >= $2 \
                 ORDER BY seq LIMIT $3",
                (group, u64_to_db(from)?, limit),
                message_size_row,
            )
            .await
        }

        async fn messages(
            &self,
            group: &str,
            from: u64,
            limit: u32,
        ) -> Result<Vec<StoredMessage>, StoreError> {
            page(
                self.reader(),
                "SELECT seq, epoch, sender, content_type, data, created_at FROM mls_messages \
                 WHERE group_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                (group, u64_to_db(from)?, limit),
                message_row,
            )
            .await
        }

        async fn welcomes(
            &self,
            org: &str,
            after: u64,
            limit: u32,
        ) -> Result<Vec<StoredWelcome>, StoreError> {
            page(
                self.reader(),
                "SELECT id, group_id, epoch, from_seq, data FROM mls_welcomes \
                 WHERE org = $1 AND id > $2 ORDER BY id LIMIT $3",
                (org, u64_to_db(after)?, limit),
                welcome_row,
            )
            .await
        }

        async fn announce_key_version(
            &self,
            row: &KeyVersionRow,
            audit: &AuditEntry,
        ) -> Result<Announced, StoreError> {
            let mut tx = self.begin_write().await?;
            let current: Option<i64> = sqlx::query_scalar(D::CURRENT_KEY_VERSION)
                .bind(row.coalition.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(current) = current.map(key_version_from_db).transpose()?
                && current >= row.key_version
            {
                tx.rollback().await?;
                return Ok(Announced::NotForward(current));
            }
            let written = sqlx::query(
                "INSERT INTO coalition_key_versions (coalition, key_version, grace_until, \
                 announced_by, announced_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (coalition) DO UPDATE SET key_version = excluded.key_version, \
                 grace_until = excluded.grace_until, announced_by = excluded.announced_by, \
                 announced_at = excluded.announced_at \
                 WHERE coalition_key_versions.key_version < excluded.key_version",
            )
            .bind(row.coalition.as_str())
            .bind(i64::from(row.key_version))
            .bind(row.grace_until)
            .bind(row.announced_by.as_str())
            .bind(row.announced_at)
            .execute(&mut *tx)
            .await?;
            if D::rows_affected(&written) == 0 {
                // A concurrent announcement inserted a version at least as high first.
                tx.rollback().await?;
                let current = self.key_version(&row.coalition).await?;
                return Ok(Announced::NotForward(current.map_or(0, |r| r.key_version)));
            }
            D::append(&mut tx, &[audit]).await?;
            tx.commit().await?;
            Ok(Announced::Stored)
        }

        async fn key_version(&self, coalition: &str) -> Result<Option<KeyVersionRow>, StoreError> {
            let sql = format!(
                "SELECT {KEY_VERSION_COLUMNS} FROM coalition_key_versions WHERE coalition = $1"
            );
            row_by_key(self.reader(), &sql, coalition, key_version_row).await
        }

        async fn key_versions_past_grace(&self, now: i64) -> Result<Vec<KeyVersionRow>, StoreError> {
            sqlx::query(&format!(
                "SELECT {KEY_VERSION_COLUMNS} FROM coalition_key_versions WHERE grace_until <= $1 \
                 ORDER BY coalition"
            ))
            .bind(now)
            .fetch_all(self.reader())
            .await?
            .iter()
            .map(key_version_row)
            .collect()
        }

        // The candidates are read with the dialect's row lock (see `Dialect::LOCK_ROWS`).
        async fn purge_below_version(
            &self,
            below: u32,
            belongs: SignalFilter<'_>,
            audit_for: PurgeAudit<'_>,
        ) -> Result<Vec<StoredSignal>, StoreError> {
            let mut tx = self.begin_write().await?;
            let rows = sqlx::query(&format!(
                "SELECT {} FROM signals WHERE key_version < $1{}",
                D::SIGNAL_COLUMNS,
                D::LOCK_ROWS
            ))
            .bind(i64::from(below))
            .fetch_all(&mut *tx)
            .await?;
            let mut purged = Vec::new();
            for row in &rows {
                let s = D::signal_from_row(row)?;
                if belongs(&s) {
                    purged.push(s);
                }
            }
            if purged.is_empty() {
                tx.rollback().await?;
                return Ok(purged);
            }
            D::delete_signals(&mut tx, &purged).await?;
            let removed = crate::store::feed::encode_removed(&purged);
            let change = super::feed::append_with_change::<D>(
                &mut tx,
                crate::store::feed::FeedOp::Removed,
                &removed,
                &audit_for(&purged),
            )
            .await?;
            tx.commit().await?;
            self.own_change(change);
            Ok(purged)
        }
    }
}

row_decoder! {
    /// A row of [`GROUP_COLUMNS`].
    fn group_from_row(row) -> GroupRow {
        let allowed: Option<String> = row.try_get(3)?;
        let members: String = row.try_get(7)?;
        Ok(GroupRow {
            id: row.try_get(0)?,
            coalition: row.try_get(1)?,
            kind: GroupKind::parse(&row.try_get::<String, _>(2)?)?,
            allowed: allowed.as_deref().map(orgs_from_db).transpose()?,
            epoch: u64_from_db(row.try_get(4)?, "epoch")?,
            revision: u64_from_db(row.try_get(5)?, "revision")?,
            next_seq: u64_from_db(row.try_get(6)?, "sequence")?,
            members: orgs_from_db(&members)?,
            state: row.try_get(8)?,
            created_by: row.try_get(9)?,
            epoch_revision: u64_from_db(row.try_get(10)?, "revision")?,
            from_seq: u64_from_db(row.try_get(11)?, "sequence")?,
            case_reference: row.try_get(12)?,
        })
    }

    /// A row of [`KEY_VERSION_COLUMNS`].
    fn key_version_row(row) -> KeyVersionRow {
        Ok(KeyVersionRow {
            coalition: row.try_get(0)?,
            key_version: key_version_from_db(row.try_get(1)?)?,
            grace_until: row.try_get(2)?,
            announced_by: row.try_get(3)?,
            announced_at: row.try_get(4)?,
        })
    }

    /// A row of [`MlsStore::messages`].
    fn message_row(row) -> StoredMessage {
        Ok(StoredMessage {
            seq: u64_from_db(row.try_get(0)?, "sequence")?,
            epoch: u64_from_db(row.try_get(1)?, "epoch")?,
            sender: row.try_get(2)?,
            content_type: row.try_get(3)?,
            data: row.try_get(4)?,
            created_at: row.try_get(5)?,
        })
    }

    /// A row of [`MlsStore::message_sizes`] (an `INTEGER` on SQLite, an `INT4` on
    /// PostgreSQL: read as the wider of the two).
    fn message_size_row(row) -> u64 {
        let size: i64 = match row.try_get::<i64, _>(0) {
            Ok(n) => n,
            Err(_) => i64::from(row.try_get::<i32, _>(0)?),
        };
        u64_from_db(size, "size")
    }

    /// A row of [`MlsStore::welcomes`].
    fn welcome_row(row) -> StoredWelcome {
        Ok(StoredWelcome {
            id: u64_from_db(row.try_get(0)?, "welcome id")?,
            group_id: row.try_get(1)?,
            epoch: u64_from_db(row.try_get(2)?, "epoch")?,
            from_seq: u64_from_db(row.try_get(3)?, "sequence")?,
            data: row.try_get(4)?,
        })
    }

    /// A row of [`PURGE_KEY_PACKAGES`].
    fn expired_key_package(row) -> ExpiredKeyPackage {
        Ok(ExpiredKeyPackage {
            kp_ref: row.try_get(0)?,
            org: row.try_get(1)?,
            last_resort: row.try_get::<i32, _>(2)? != 0,
            claimed: row.try_get::<i32, _>(3)? != 0,
        })
    }
}

/// The row `sql` selects by its one key (`$1`) on `pool`, decoded by `decode`; `None` if there
/// is none.
async fn row_by_key<DB, T>(
    pool: &Pool<DB>,
    sql: &str,
    key: &str,
    decode: fn(&DB::Row) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
    sqlx::query::<DB>(sql)
        .bind(key)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(decode)
        .transpose()
}

/// A page of the rows `sql` selects on `pool` after a position in one log: `$1` the log's key,
/// `$2` the position, `$3` the most rows; each decoded by `decode`.
async fn page<DB, T>(
    pool: &Pool<DB>,
    sql: &str,
    (key, position, limit): (&str, i64, u32),
    decode: fn(&DB::Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    sqlx::query::<DB>(sql)
        .bind(key)
        .bind(position)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?
        .iter()
        .map(decode)
        .collect()
}

/// Converts a BIGINT read from the database to `u64`.
fn u64_from_db(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("negative {what} {v}")))
}

/// Converts a `u64` to the database's BIGINT.
fn u64_to_db(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Invalid(format!("value {v} out of range")))
}

/// Parses a JSON list of organisation ids read from the database.
fn orgs_from_db(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Corrupt(format!("member list {json:?} is not a JSON list: {e}")))
}

/// Serialises a list of organisation ids for the database.
fn orgs_to_db(orgs: &[String]) -> String {
    serde_json::to_string(orgs).unwrap_or_else(|_| "[]".into())
}
