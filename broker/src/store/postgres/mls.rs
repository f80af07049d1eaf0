//! [`MlsStore`] on PostgreSQL: the same pool and audit append as the signal store. Row locks
//! (the conditional `UPDATE` of the group row, `SKIP LOCKED` on key packages) make it safe for
//! several brokers on one database.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::audit::entry::AuditEntry;
use crate::mls::store::{
    Announced, AppendAudit, Appended, CASE_MATCHES_SQL, ClaimAudit, ClaimedKeyPackage,
    ExpiredKeyPackage, GroupKind, GroupRow, KeyPackagePurgeAudit, KeyVersionRow, MlsStore,
    NewKeyPackage, NewMessage, NewWelcome, PURGE_KEY_PACKAGES_SQL, SignalFilter, StateChange,
    StoredMessage, StoredWelcome, audit_entry_from_row, expired_key_package, key_version_from_db,
    orgs_from_db, orgs_to_db, u64_from_db, u64_to_db,
};
use crate::store::StoreError;
use crate::store::postgres::{PostgresStore, append};

const GROUP_COLUMNS: &str =
    "id, coalition, kind, allowed, epoch, revision, next_seq, members, state, created_by";

fn group_from_row(row: &PgRow) -> Result<GroupRow, StoreError> {
    let allowed: Option<String> = row.try_get(3)?;
    Ok(GroupRow {
        id: row.try_get(0)?,
        coalition: row.try_get(1)?,
        kind: GroupKind::parse(row.try_get::<&str, _>(2)?)?,
        allowed: allowed.as_deref().map(orgs_from_db).transpose()?,
        epoch: u64_from_db(row.try_get(4)?, "epoch")?,
        revision: u64_from_db(row.try_get(5)?, "revision")?,
        next_seq: u64_from_db(row.try_get(6)?, "sequence")?,
        members: orgs_from_db(row.try_get(7)?)?,
        state: row.try_get(8)?,
        created_by: row.try_get(9)?,
    })
}

#[async_trait]
impl MlsStore for PostgresStore {
    async fn put_key_packages(
        &self,
        org: &str,
        packages: &[NewKeyPackage],
        now: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for p in packages {
            sqlx::query(
                "INSERT INTO mls_key_packages (ref, org, data, last_resort, expires_at, \
                 published_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&p.kp_ref)
            .bind(org)
            .bind(&p.data)
            .bind(p.last_resort)
            .bind(p.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        append(&mut tx, &[audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_key_package(
        &self,
        org: &str,
        claimer: &str,
        now: i64,
        audit: ClaimAudit<'_>,
    ) -> Result<Option<ClaimedKeyPackage>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let ordinary = sqlx::query(
            "UPDATE mls_key_packages SET claimed_by = $2, claimed_at = $3 WHERE ref = \
             (SELECT ref FROM mls_key_packages WHERE org = $1 AND NOT last_resort \
              AND claimed_by IS NULL AND expires_at > $3 ORDER BY published_at, ref LIMIT 1 \
              FOR UPDATE SKIP LOCKED) AND claimed_by IS NULL \
             RETURNING ref, data",
        )
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
            None => sqlx::query(
                "SELECT ref, data FROM mls_key_packages WHERE org = $1 AND last_resort \
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
            return Ok(None);
        };
        append(&mut tx, &[&audit(&claimed)]).await?;
        tx.commit().await?;
        Ok(Some(claimed))
    }

    async fn key_package_owner(&self, kp_ref: &[u8]) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT org FROM mls_key_packages WHERE ref = $1")
                .bind(kp_ref)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn purge_expired_key_packages(
        &self,
        now: i64,
        audit_for: KeyPackagePurgeAudit<'_>,
    ) -> Result<Vec<ExpiredKeyPackage>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let mut erased = sqlx::query(PURGE_KEY_PACKAGES_SQL)
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
        erased.sort_by(|a, b| (&a.org, &a.kp_ref).cmp(&(&b.org, &b.kp_ref)));
        append(&mut tx, &[&audit_for(&erased)]).await?;
        tx.commit().await?;
        Ok(erased)
    }

    async fn case_matches(
        &self,
        case_reference: &str,
        requester: &str,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        sqlx::query(CASE_MATCHES_SQL)
            .bind(case_reference)
            .bind(requester)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(audit_entry_from_row)
            .collect()
    }

    async fn create_group(
        &self,
        group: &GroupRow,
        now: i64,
        audit: &AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO mls_groups (id, coalition, kind, allowed, epoch, revision, next_seq, \
             members, state, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11)",
        )
        .bind(&group.id)
        .bind(&group.coalition)
        .bind(group.kind.as_str())
        .bind(group.allowed.as_deref().map(orgs_to_db))
        .bind(u64_to_db(group.epoch)?)
        .bind(u64_to_db(group.revision)?)
        .bind(u64_to_db(group.next_seq)?)
        .bind(orgs_to_db(&group.members))
        .bind(&group.state)
        .bind(&group.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append(&mut tx, &[audit]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn group(&self, id: &str) -> Result<Option<GroupRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {GROUP_COLUMNS} FROM mls_groups WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(group_from_row)
        .transpose()
    }

    async fn append_message(
        &self,
        group: &str,
        expected_revision: u64,
        message: &NewMessage,
        change: Option<&StateChange>,
        welcomes: &[NewWelcome],
        now: i64,
        audit: AppendAudit<'_>,
    ) -> Result<Appended, StoreError> {
        let mut tx = self.pool().begin().await?;
        let expected = u64_to_db(expected_revision)?;
        let seq: Option<i64> =
            match change {
                Some(c) => {
                    sqlx::query_scalar(
                        "UPDATE mls_groups SET revision = revision + 1, next_seq = next_seq + 1, \
                 epoch = $3, members = $4, state = $5 WHERE id = $1 AND revision = $2 \
                 RETURNING next_seq - 1",
                    )
                    .bind(group)
                    .bind(expected)
                    .bind(u64_to_db(c.epoch)?)
                    .bind(orgs_to_db(&c.members))
                    .bind(&c.state)
                    .fetch_optional(&mut *tx)
                    .await?
                }
                None => sqlx::query_scalar(
                    "UPDATE mls_groups SET next_seq = next_seq + 1 WHERE id = $1 AND revision = $2 \
                 RETURNING next_seq - 1",
                )
                .bind(group)
                .bind(expected)
                .fetch_optional(&mut *tx)
                .await?,
            };
        let Some(seq) = seq else {
            tx.rollback().await?;
            return Ok(Appended::Conflict);
        };
        sqlx::query(
            "INSERT INTO mls_messages (group_id, seq, epoch, sender, content_type, data, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(group)
        .bind(seq)
        .bind(u64_to_db(message.epoch)?)
        .bind(&message.sender)
        .bind(message.content_type)
        .bind(&message.data)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for w in welcomes {
            sqlx::query(
                "INSERT INTO mls_welcomes (org, group_id, epoch, from_seq, data, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&w.org)
            .bind(group)
            .bind(u64_to_db(change.map_or(message.epoch, |c| c.epoch))?)
            .bind(seq + 1)
            .bind(&w.data)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let seq = u64_from_db(seq, "sequence")?;
        append(&mut tx, &[&audit(seq)]).await?;
        tx.commit().await?;
        Ok(Appended::Stored(seq))
    }

    async fn messages(
        &self,
        group: &str,
        from: u64,
        limit: u32,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, epoch, sender, content_type, data, created_at FROM mls_messages \
             WHERE group_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
        )
        .bind(group)
        .bind(u64_to_db(from)?)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredMessage {
                    seq: u64_from_db(row.try_get(0)?, "sequence")?,
                    epoch: u64_from_db(row.try_get(1)?, "epoch")?,
                    sender: row.try_get(2)?,
                    content_type: row.try_get(3)?,
                    data: row.try_get(4)?,
                    created_at: row.try_get(5)?,
                })
            })
            .collect()
    }

    async fn welcomes(
        &self,
        org: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredWelcome>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, group_id, epoch, from_seq, data FROM mls_welcomes WHERE org = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(org)
        .bind(u64_to_db(after)?)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredWelcome {
                    id: u64_from_db(row.try_get(0)?, "welcome id")?,
                    group_id: row.try_get(1)?,
                    epoch: u64_from_db(row.try_get(2)?, "epoch")?,
                    from_seq: u64_from_db(row.try_get(3)?, "sequence")?,
                    data: row.try_get(4)?,
                })
            })
            .collect()
    }

    async fn announce_key_version(
        &self,
        row: &KeyVersionRow,
        audit: &AuditEntry,
    ) -> Result<Announced, StoreError> {
        let mut tx = self.pool().begin().await?;
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT key_version FROM coalition_key_versions WHERE coalition = $1 FOR UPDATE",
        )
        .bind(&row.coalition)
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
        .bind(&row.coalition)
        .bind(i64::from(row.key_version))
        .bind(row.grace_until)
        .bind(&row.announced_by)
        .bind(row.announced_at)
        .execute(&mut *tx)
        .await?;
        if written.rows_affected() == 0 {
            // A concurrent announcement inserted a version at least as high first.
            tx.rollback().await?;
            let current = self.key_version(&row.coalition).await?;
            return Ok(Announced::NotForward(current.map_or(0, |r| r.key_version)));
        }
        append(&mut tx, &[audit]).await?;
        tx.commit().await?;
        Ok(Announced::Stored)
    }

    async fn key_version(&self, coalition: &str) -> Result<Option<KeyVersionRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {KEY_VERSION_COLUMNS} FROM coalition_key_versions WHERE coalition = $1"
        ))
        .bind(coalition)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(key_version_row)
        .transpose()
    }

    async fn key_versions_past_grace(&self, now: i64) -> Result<Vec<KeyVersionRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {KEY_VERSION_COLUMNS} FROM coalition_key_versions WHERE grace_until <= $1 \
             ORDER BY coalition"
        ))
        .bind(now)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(key_version_row)
        .collect()
    }

    async fn purge_below_version(
        &self,
        below: u32,
        belongs: SignalFilter<'_>,
        audit_for: crate::store::PurgeAudit<'_>,
    ) -> Result<Vec<crate::store::StoredSignal>, StoreError> {
        self.purge_signals_below_version(below, belongs, audit_for)
            .await
    }
}

const KEY_VERSION_COLUMNS: &str = "coalition, key_version, grace_until, announced_by, announced_at";

fn key_version_row(row: &PgRow) -> Result<KeyVersionRow, StoreError> {
    Ok(KeyVersionRow {
        coalition: row.try_get(0)?,
        key_version: key_version_from_db(row.try_get(1)?)?,
        grace_until: row.try_get(2)?,
        announced_by: row.try_get(3)?,
        announced_at: row.try_get(4)?,
    })
}
