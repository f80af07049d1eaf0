//! The values the storage layer takes and returns. Backend-neutral: each backend maps them to
//! its own native column types.

use kruispunt_sdk::IdentifierKind;
use std::fmt;
use std::str::FromStr;

/// The public id of a stored signal: 16 bytes, shown as 32 lowercase hex characters. Opaque to
/// clients.
///
/// Built as `u32_be(uploaded_at) ‖ digest[0..12]` ([`SignalId::timed`]) from the upload second
/// and the content's [`SignalDigest`]: ids of new signals *increase* with time, so the unique
/// index on `id` grows at its right edge instead of dirtying a random page per row (the cost
/// that capped bulk upload at ~10 k signals/s into 2 M rows). Rows stored before migration 0008
/// carry the legacy form `id == digest` ([`SignalId::legacy`]); both forms stay valid.
///
/// Idempotency no longer rests on the id alone: re-uploading an observation is recognised by
/// its digest (`crate::ingest`, via the match index, confirmed in the database) and answered
/// with the id of the first upload.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignalId(pub [u8; 16]);

/// What identifies an observation: a hash of the fields that say *which* observation a signal
/// is ([`SignalDigest::derive`]). Equal digests mean a re-upload of the same observation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct SignalDigest(pub [u8; 16]);

/// Domain separation tag of [`SignalDigest::derive`], so the hash cannot collide with any other
/// SHA-256 the broker computes. (Its name dates from when the digest was the id.)
const SIGNAL_DIGEST_TAG: &[u8] = b"kruispunt/signal-id/v1";

impl SignalDigest {
    /// `SHA-256(enc(tag) ‖ enc(org) ‖ enc(kind) ‖ enc(key_version) ‖ enc(stored) ‖ enc(code) ‖
    /// enc(observed) ‖ enc(district))`, first 16 bytes, where `enc(x) = u32_be(len(x)) ‖ x`,
    /// `tag = "kruispunt/signal-id/v1"`, strings are their UTF-8 bytes, `kind` is its lowercase
    /// name, `key_version` is 4 bytes big-endian and `stored` the 32 at-rest bytes.
    ///
    /// A signal placed in a gemeente (and wijk) derives with [`SignalDigest::derive_in_area`],
    /// which appends those fields; without them the two are the same, so the digest (and the
    /// re-upload check) of every signal stored before gemeenten existed is unchanged.
    ///
    /// The length prefixes make the encoding injective (`("ab","c")` ≠ `("a","bc")`). Purposes,
    /// expiry and upload time are deliberately left out: they describe how a signal may be
    /// used, not which observation it is, so re-uploading an observation with other purposes is
    /// still a duplicate (the first upload wins; withdraw and re-upload to change it).
    pub fn derive(
        org: &str,
        kind: IdentifierKind,
        key_version: u32,
        stored: &[u8; 32],
        code: &str,
        observed: &str,
        district: &str,
    ) -> SignalDigest {
        SignalDigest::derive_in_area(
            org,
            kind,
            key_version,
            stored,
            code,
            observed,
            district,
            None,
            None,
        )
    }

    /// [`SignalDigest::derive`] of a signal with an optional gemeente and wijk: each present one
    /// is appended after `district` as its name and its value, `enc("gemeente") ‖ enc(gemeente)`
    /// then `enc("wijk") ‖ enc(wijk)`; an absent one appends nothing. The names keep a wijk
    /// apart from a gemeente of the same text; with neither, the digest is `derive`'s.
    #[allow(clippy::too_many_arguments)]
    pub fn derive_in_area(
        org: &str,
        kind: IdentifierKind,
        key_version: u32,
        stored: &[u8; 32],
        code: &str,
        observed: &str,
        district: &str,
        gemeente: Option<&str>,
        wijk: Option<&str>,
    ) -> SignalDigest {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        let mut field = |bytes: &[u8]| {
            // Fields longer than 4 GiB cannot occur (the HTTP layer limits bodies far below).
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            ctx.update(&len.to_be_bytes());
            ctx.update(bytes);
        };
        field(SIGNAL_DIGEST_TAG);
        field(org.as_bytes());
        field(kind.as_str().as_bytes());
        field(&key_version.to_be_bytes());
        field(stored);
        field(code.as_bytes());
        field(observed.as_bytes());
        field(district.as_bytes());
        if let Some(g) = gemeente {
            field(b"gemeente");
            field(g.as_bytes());
        }
        if let Some(w) = wijk {
            field(b"wijk");
            field(w.as_bytes());
        }
        let digest = ctx.finish();
        let mut d = [0u8; 16];
        d.copy_from_slice(&digest.as_ref()[..16]);
        SignalDigest(d)
    }
}

impl SignalId {
    /// The id of a signal uploaded at `uploaded_at` (Unix seconds, clamped to `u32`: until 2106)
    /// with content `digest`: `u32_be(uploaded_at) ‖ digest[0..12]`.
    pub fn timed(uploaded_at: i64, digest: &SignalDigest) -> SignalId {
        let secs = u32::try_from(uploaded_at.max(0)).unwrap_or(u32::MAX);
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&secs.to_be_bytes());
        id[4..].copy_from_slice(&digest.0[..12]);
        SignalId(id)
    }

    /// The form of ids stored before migration 0008: the digest itself.
    pub fn legacy(digest: &SignalDigest) -> SignalId {
        SignalId(digest.0)
    }

    /// Whether this id names a signal with content `digest`, in either form.
    pub fn is_of(&self, digest: &SignalDigest) -> bool {
        self.0[4..] == digest.0[..12] || self.0 == digest.0
    }

    /// The first 8 bytes, as the match index keeps them (see [`SignalId::prefix_range`]).
    pub fn prefix8(&self) -> [u8; 8] {
        let mut p = [0u8; 8];
        p.copy_from_slice(&self.0[..8]);
        p
    }

    /// The smallest and largest id beginning with `prefix`: a range read of the `id` index.
    pub fn prefix_range(prefix: &[u8; 8]) -> (SignalId, SignalId) {
        let (mut lo, mut hi) = ([0u8; 16], [0xffu8; 16]);
        lo[..8].copy_from_slice(prefix);
        hi[..8].copy_from_slice(prefix);
        (SignalId(lo), SignalId(hi))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Reads an id from exactly 16 bytes (as stored in the database).
    pub fn from_slice(bytes: &[u8]) -> Option<SignalId> {
        bytes.try_into().ok().map(SignalId)
    }
}

impl fmt::Display for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for SignalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalId({self})")
    }
}

/// A signal id that is not 32 hex characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a signal id is 32 hexadecimal characters")]
pub struct BadSignalId;

impl FromStr for SignalId {
    type Err = BadSignalId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(s, &mut id).map_err(|_| BadSignalId)?;
        Ok(SignalId(id))
    }
}

impl serde::Serialize for SignalId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SignalId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A signal to store. The caller (the upload route) has validated the wire form and computed
/// the at-rest pseudonym; the store checks the invariants it relies on ([`NewSignal::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignal {
    /// [`SignalId::timed`] from `uploaded_at` and `digest` (or, for rows from before migration
    /// 0008, [`SignalId::legacy`]); checked on insert.
    pub id: SignalId,
    /// [`SignalDigest::derive`] over the fields below; checked on insert.
    pub digest: SignalDigest,
    /// The supplying organisation (partner id).
    pub org: String,
    /// Identifier kind of the pseudonym.
    pub kind: IdentifierKind,
    /// At-rest pseudonym: `HMAC(broker_key, partner pseudonym)`, computed by the caller.
    pub stored: [u8; 32],
    /// Version of the coalition key the partner pseudonym was made with.
    pub key_version: u32,
    /// Signal code from the taxonomy.
    pub code: String,
    /// Date observed, `YYYY-MM-DD`.
    pub observed: String,
    /// Police district.
    pub district: String,
    /// CBS municipality code (`GM0344`), if the supplier named one (checked against the
    /// registry at upload).
    pub gemeente: Option<String>,
    /// CBS wijk code (`WK034405`) inside `gemeente`, if the supplier named one.
    pub wijk: Option<String>,
    /// Purposes the signal may be used for.
    pub purposes: Vec<String>,
    /// End of retention, Unix seconds; the signal is live while `now < expires_at`.
    pub expires_at: i64,
    /// Upload time, Unix seconds.
    pub uploaded_at: i64,
}

impl NewSignal {
    /// Builds a signal with its digest derived from the content and its id from the digest and
    /// the upload time.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        org: impl Into<String>,
        kind: IdentifierKind,
        stored: [u8; 32],
        key_version: u32,
        code: impl Into<String>,
        observed: impl Into<String>,
        district: impl Into<String>,
        purposes: Vec<String>,
        expires_at: i64,
        uploaded_at: i64,
    ) -> NewSignal {
        let (org, code, observed, district) =
            (org.into(), code.into(), observed.into(), district.into());
        let digest = SignalDigest::derive(
            &org,
            kind,
            key_version,
            &stored,
            &code,
            &observed,
            &district,
        );
        NewSignal {
            id: SignalId::timed(uploaded_at, &digest),
            digest,
            org,
            kind,
            stored,
            key_version,
            code,
            observed,
            district,
            gemeente: None,
            wijk: None,
            purposes,
            expires_at,
            uploaded_at,
        }
    }

    /// This signal placed in `gemeente` (and `wijk`): the fields set, and the digest and id
    /// derived again from the content ([`SignalDigest::derive_in_area`]).
    pub fn in_area(mut self, gemeente: Option<String>, wijk: Option<String>) -> NewSignal {
        self.gemeente = gemeente;
        self.wijk = wijk;
        self.digest = self.derived_digest();
        self.id = SignalId::timed(self.uploaded_at, &self.digest);
        self
    }

    /// The digest this signal's content derives to.
    pub fn derived_digest(&self) -> SignalDigest {
        SignalDigest::derive_in_area(
            &self.org,
            self.kind,
            self.key_version,
            &self.stored,
            &self.code,
            &self.observed,
            &self.district,
            self.gemeente.as_deref(),
            self.wijk.as_deref(),
        )
    }

    /// Checks what the store relies on: the digest is the derived one and the id is made from it
    /// (otherwise duplicate detection would silently break), `observed` is a calendar date (the
    /// PostgreSQL backend sends it as a day number), and text fields are non-empty and free of
    /// control characters (nothing a partner needs, and a hazard for every log and export that
    /// shows them).
    pub fn check(&self) -> Result<(), String> {
        if self.digest != self.derived_digest() {
            return Err(format!(
                "signal {} has a digest that does not match its content",
                self.id
            ));
        }
        if self.id != SignalId::timed(self.uploaded_at, &self.digest)
            && self.id != SignalId::legacy(&self.digest)
        {
            return Err(format!("signal id {} does not match its content", self.id));
        }
        if crate::civil::parse_date(&self.observed).is_none() {
            return Err(format!(
                "observed date {:?} is not a date YYYY-MM-DD",
                self.observed
            ));
        }
        for (name, value) in [
            ("org", &self.org),
            ("code", &self.code),
            ("district", &self.district),
        ] {
            check_text(name, value)?;
        }
        for (name, value) in [("gemeente", &self.gemeente), ("wijk", &self.wijk)] {
            if let Some(value) = value {
                check_text(name, value)?;
            }
        }
        for purpose in &self.purposes {
            check_text("purpose", purpose)?;
        }
        Ok(())
    }
}

impl NewSignal {
    /// Whether `row` records the same observation (the fields [`SignalDigest::derive`] covers)
    /// — how a re-upload is confirmed against the database.
    pub fn same_observation(&self, row: &StoredSignal) -> bool {
        self.org == row.org
            && self.kind == row.kind
            && self.key_version == row.key_version
            && self.stored == row.stored
            && self.code == row.code
            && self.observed == row.observed
            && self.district == row.district
            && self.gemeente == row.gemeente
            && self.wijk == row.wijk
    }
}

fn check_text(name: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{name} contains a control character"));
    }
    Ok(())
}

/// A stored signal, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSignal {
    /// See [`NewSignal`] for every field.
    pub id: SignalId,
    pub org: String,
    pub kind: IdentifierKind,
    pub stored: [u8; 32],
    pub key_version: u32,
    pub code: String,
    pub observed: String,
    pub district: String,
    pub gemeente: Option<String>,
    pub wijk: Option<String>,
    pub purposes: Vec<String>,
    pub expires_at: i64,
    pub uploaded_at: i64,
}

impl From<NewSignal> for StoredSignal {
    fn from(s: NewSignal) -> Self {
        StoredSignal {
            id: s.id,
            org: s.org,
            kind: s.kind,
            stored: s.stored,
            key_version: s.key_version,
            code: s.code,
            observed: s.observed,
            district: s.district,
            gemeente: s.gemeente,
            wijk: s.wijk,
            purposes: s.purposes,
            expires_at: s.expires_at,
            uploaded_at: s.uploaded_at,
        }
    }
}

/// What the in-memory indexes need of a live signal, streamed by
/// [`crate::store::SignalStore::for_each_live_signal`] at start-up and built by the upload path
/// for every stored signal: the match index keeps its part (it ignores the date and the area),
/// the ondermijningsbeeld counts the rest in the same pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRecord {
    pub id: SignalId,
    pub kind: IdentifierKind,
    pub key_version: u32,
    pub stored: [u8; 32],
    pub org: String,
    pub code: String,
    pub expires_at: i64,
    pub purposes: Vec<String>,
    /// Date observed as a day number (days since 1970-01-01, UTC calendar).
    pub observed_day: i64,
    /// Police district.
    pub district: String,
    /// CBS municipality code, if the signal has one.
    pub gemeente: Option<String>,
    /// CBS wijk code, if the signal has one.
    pub wijk: Option<String>,
}

impl IndexRecord {
    /// The record of a signal just stored (the upload path, after the commit). `NewSignal::check`
    /// has proved `observed` a date; 0 would only stand for an unreadable one.
    pub fn of_new(s: NewSignal) -> IndexRecord {
        IndexRecord::of_stored(StoredSignal::from(s))
    }

    /// The record of a signal read back from the database (the signal-feed follower).
    pub fn of_stored(s: StoredSignal) -> IndexRecord {
        IndexRecord {
            observed_day: crate::civil::parse_date(&s.observed).unwrap_or(0),
            id: s.id,
            kind: s.kind,
            key_version: s.key_version,
            stored: s.stored,
            org: s.org,
            code: s.code,
            expires_at: s.expires_at,
            purposes: s.purposes,
            district: s.district,
            gemeente: s.gemeente,
            wijk: s.wijk,
        }
    }
}

/// What happened to one signal of an upload batch, in input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsertOutcome {
    /// A new row.
    Inserted,
    /// Already stored (earlier upload, or earlier in the same batch): nothing changed.
    Duplicate,
}

/// Increment of the per (org, purpose, day) counters the enumeration guard reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDelta {
    pub org: String,
    pub purpose: String,
    /// `YYYY-MM-DD` (the policy's notion of a day; the caller chooses the time zone).
    pub day: String,
    /// Identifiers asked about in this query.
    pub identifiers: u64,
    /// How many of them had no hit.
    pub no_hits: u64,
}

/// Counters for one (org, purpose, day); all zero when nothing was recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub identifiers: u64,
    pub queries: u64,
    pub no_hits: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_digest_is_deterministic_and_field_separated() {
        let s = [7u8; 32];
        let a = SignalDigest::derive("org", IdentifierKind::Kvk, 1, &s, "c1", "2024-01-02", "d");
        let b = SignalDigest::derive("org", IdentifierKind::Kvk, 1, &s, "c1", "2024-01-02", "d");
        assert_eq!(a, b);
        let shifted =
            SignalDigest::derive("or", IdentifierKind::Kvk, 1, &s, "gc1", "2024-01-02", "d");
        assert_ne!(a, shifted);
        let other_version =
            SignalDigest::derive("org", IdentifierKind::Kvk, 2, &s, "c1", "2024-01-02", "d");
        assert_ne!(a, other_version);
    }

    #[test]
    fn signal_digest_known_answer() {
        // Recompute by hand: sha256 over the length-prefixed fields documented on `derive`.
        let mut msg = Vec::new();
        for f in [
            b"kruispunt/signal-id/v1".as_slice(),
            b"kvo-oost",
            b"kenteken",
            &1u32.to_be_bytes(),
            &[0u8; 32],
            b"cash-car",
            b"2024-05-01",
            b"oost-utrecht",
        ] {
            msg.extend_from_slice(&(f.len() as u32).to_be_bytes());
            msg.extend_from_slice(f);
        }
        let hashed = ring::digest::digest(&ring::digest::SHA256, &msg);
        let digest = SignalDigest::derive(
            "kvo-oost",
            IdentifierKind::Kenteken,
            1,
            &[0; 32],
            "cash-car",
            "2024-05-01",
            "oost-utrecht",
        );
        assert_eq!(digest.0, hashed.as_ref()[..16]);
        // No gemeente, no wijk: the digest of every signal stored before they existed.
        let in_no_area = SignalDigest::derive_in_area(
            "kvo-oost",
            IdentifierKind::Kenteken,
            1,
            &[0; 32],
            "cash-car",
            "2024-05-01",
            "oost-utrecht",
            None,
            None,
        );
        assert_eq!(in_no_area, digest);
        // With them: named fields appended after the district.
        for f in [
            b"gemeente".as_slice(),
            b"GM0307",
            b"wijk".as_slice(),
            b"WK030701",
        ] {
            msg.extend_from_slice(&(f.len() as u32).to_be_bytes());
            msg.extend_from_slice(f);
        }
        let hashed = ring::digest::digest(&ring::digest::SHA256, &msg);
        let in_area = SignalDigest::derive_in_area(
            "kvo-oost",
            IdentifierKind::Kenteken,
            1,
            &[0; 32],
            "cash-car",
            "2024-05-01",
            "oost-utrecht",
            Some("GM0307"),
            Some("WK030701"),
        );
        assert_eq!(in_area.0, hashed.as_ref()[..16]);
    }

    #[test]
    fn area_fields_are_part_of_the_observation() {
        let base = NewSignal::new(
            "kvo-oost",
            IdentifierKind::Kvk,
            [3; 32],
            1,
            "cash-rent",
            "2026-01-02",
            "utrecht-stad",
            vec!["p".into()],
            2_000_000_000,
            1_800_000_000,
        );
        let utrecht = base.clone().in_area(Some("GM0344".into()), None);
        let overvecht = base
            .clone()
            .in_area(Some("GM0344".into()), Some("WK034405".into()));
        assert_ne!(base.digest, utrecht.digest);
        assert_ne!(utrecht.digest, overvecht.digest);
        assert!(utrecht.check().is_ok() && overvecht.check().is_ok());
        assert_eq!(
            utrecht.id,
            SignalId::timed(utrecht.uploaded_at, &utrecht.digest)
        );
        // A value given as gemeente or as wijk derives differently (the fields are named).
        let as_gemeente = base.clone().in_area(Some("X".into()), None);
        let as_wijk = base.clone().in_area(None, Some("X".into()));
        assert_ne!(as_gemeente.digest, as_wijk.digest);
        assert!(!utrecht.same_observation(&StoredSignal::from(base.clone())));
        assert!(overvecht.same_observation(&StoredSignal::from(overvecht.clone())));
        // An area field swapped after the fact no longer matches the digest.
        let mut forged = utrecht.clone();
        forged.gemeente = Some("GM0307".into());
        assert!(forged.check().is_err());
        let record = IndexRecord::of_new(overvecht);
        assert_eq!(
            record.observed_day,
            crate::civil::parse_date("2026-01-02").unwrap()
        );
        assert_eq!(record.gemeente.as_deref(), Some("GM0344"));
        assert_eq!(record.wijk.as_deref(), Some("WK034405"));
        assert_eq!(record.district, "utrecht-stad");
    }

    #[test]
    fn ids_are_time_ordered_and_carry_the_digest() {
        let d = SignalDigest([0x11; 16]);
        let early = SignalId::timed(1_750_000_000, &d);
        let later = SignalId::timed(1_750_000_001, &SignalDigest([0; 16]));
        assert!(early < later, "later uploads sort after earlier ones");
        assert_eq!(early.0[..4], 1_750_000_000u32.to_be_bytes());
        assert_eq!(early.0[4..], d.0[..12]);
        assert!(early.is_of(&d));
        assert!(SignalId::legacy(&d).is_of(&d));
        assert!(!later.is_of(&d));
        let (lo, hi) = SignalId::prefix_range(&early.prefix8());
        assert!(lo <= early && early <= hi);
        assert_eq!(SignalId::timed(-5, &d).0[..4], [0; 4]);
    }

    #[test]
    fn signal_id_hex_round_trip() {
        let id = SignalId([0xab; 16]);
        assert_eq!(id.to_string(), "ab".repeat(16));
        assert_eq!(id.to_string().parse::<SignalId>().unwrap(), id);
        assert!("abc".parse::<SignalId>().is_err());
        assert!("zz".repeat(16).parse::<SignalId>().is_err());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<SignalId>(&json).unwrap(), id);
    }

    #[test]
    fn check_catches_bad_ids_and_dates() {
        let good = NewSignal::new(
            "o",
            IdentifierKind::Iban,
            [1; 32],
            1,
            "c",
            "2024-02-29",
            "d",
            vec!["p".into()],
            10,
            0,
        );
        assert!(good.check().is_ok());
        let legacy = NewSignal {
            id: SignalId::legacy(&good.digest),
            ..good.clone()
        };
        assert!(
            legacy.check().is_ok(),
            "rows from before 0008 keep id == digest"
        );
        let mut bad = good.clone();
        bad.id = SignalId([0; 16]);
        assert!(bad.check().unwrap_err().contains("does not match"));
        let mut bad = good.clone();
        bad.digest = SignalDigest([0; 16]);
        assert!(bad.check().unwrap_err().contains("does not match"));
        for date in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-00-10",
            "abcd-ef-gh",
        ] {
            let s = NewSignal {
                observed: date.into(),
                ..good.clone()
            };
            let digest = s.derived_digest();
            let s = NewSignal {
                id: SignalId::timed(s.uploaded_at, &digest),
                digest,
                ..s
            };
            assert!(s.check().is_err(), "{date}");
        }
        let mut sep = good.clone();
        sep.purposes = vec!["a\u{1f}b".into()];
        assert!(sep.check().is_err());
    }
}
