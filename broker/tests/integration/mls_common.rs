//! The MLS tests' fixtures: the coalition and its partners, KvK signals, and a partner
//! (`Member` + `BrokerMls`) with its persisted state. The broker — over real HTTPS on SQLite
//! and (when `KRUISPUNT_TEST_POSTGRES_URL` is set) on a fresh PostgreSQL database — is the test
//! kit's.
#![allow(dead_code)]

use kruispunt_sdk::coalition::http::{BrokerMls, HttpError};
use kruispunt_sdk::coalition::wire::{GroupKind, GroupStatus};
use kruispunt_sdk::coalition::{Event, Member};
use kruispunt_sdk::{CoalitionKey, IdentifierKind};
pub use kruispunt_test_kit::{Broker, TestFuture, now};
use serde_json::{Value, json};

pub const COALITION: &str = "kvo-buitengebied-oost-utrecht";
pub const ADMIN: &str = "riec-midden-nederland";
pub const KVO: &str = "kvo-buitengebied-oost-utrecht";
pub const HEUVELRUG: &str = "gemeente-utrechtse-heuvelrug";
pub const AMERSFOORT: &str = "gemeente-amersfoort";
/// A private partner that is not in the coalition.
pub const DEALER: &str = "autobedrijf-de-vecht";
pub const ADMIN_ROLE: &str = "coalitiebeheerder";
/// The coalition's own purpose (disclosure ceiling `categories`, two sources needed).
pub const KVO_PURPOSE: &str = "kvo-buitengebied-signalering";
pub const KVO_DISTRICT: &str = "oost-utrecht";

/// The pseudonym of KvK number `kvk` under a test coalition key of `version`.
pub fn kvk_pseudonym(kvk: &str, version: u32) -> String {
    CoalitionKey::new([version as u8; 32], version)
        .pseudonymiser(IdentifierKind::Kvk)
        .pseudonymise(kvk)
        .unwrap()
        .to_hex()
}

/// A signal on KvK number `kvk` under key `version`, observed yesterday.
pub fn kvk_signal(kvk: &str, version: u32, purpose: &str, district: &str) -> Value {
    let yesterday = kruispunt_broker::civil::format_date(now().div_euclid(86_400) - 1);
    json!({
        "kind": "kvk", "pseudonym": kvk_pseudonym(kvk, version), "key_version": version,
        "code": "barn-rental-unsolicited", "observed": yesterday, "district": district,
        "purposes": [purpose],
    })
}

/// A partner: its MLS state (persisted in `dir`) and its connection to the broker.
pub struct Partner {
    pub member: Member,
    pub api: BrokerMls,
    pub path: std::path::PathBuf,
    pub welcome_cursor: u64,
}

impl Partner {
    pub fn new(b: &Broker, org: &str, roles: &[&str], dir: &std::path::Path) -> Partner {
        let path = dir.join(format!("{org}.mls"));
        Partner {
            member: Member::new(org, Some(&path)).unwrap(),
            api: b.mls(org, roles),
            path,
            welcome_cursor: 0,
        }
    }

    pub async fn publish(&self, n: usize) {
        let kps = self.member.key_packages(n, true).unwrap();
        let published = self.api.publish_key_packages(&kps).await.unwrap();
        assert_eq!(published.refs.len(), n + 1);
    }

    /// Fetches and processes everything new in `group`.
    pub async fn sync(&mut self, group: &str) -> Vec<Event> {
        let from = self.member.cursor(group).unwrap();
        let fetched = self.api.fetch(group, from).await.unwrap();
        self.member.process(group, &fetched).unwrap()
    }

    /// Joins every group a welcome arrived for; returns their ids.
    pub async fn accept_welcomes(&mut self) -> Vec<String> {
        let list = self.api.welcomes(self.welcome_cursor).await.unwrap();
        self.welcome_cursor = list.next;
        let mut joined = Vec::new();
        for w in list.welcomes {
            let bytes = kruispunt_sdk::coalition::wire::unb64("welcome", &w.welcome).unwrap();
            let id = self.member.join(&w.group_id, &bytes, w.from_seq).unwrap();
            assert_eq!(id, w.group_id);
            joined.push(id);
        }
        joined
    }

    /// As the coalition's administrator: creates and registers the coalition's group and
    /// invites `invitees` (one key package claimed for each), the commit accepted.
    pub async fn found_coalition(&mut self, invitees: &[&str]) {
        let info = self.member.create_group(COALITION).unwrap();
        create_coalition(&self.api, COALITION, &info).await.unwrap();
        let mut kps = Vec::new();
        for org in invitees {
            kps.push(self.api.claim_key_package(org).await.unwrap());
        }
        let out = self.member.invite(COALITION, &kps).unwrap();
        self.commit(COALITION, &out).await;
    }

    /// The coalition key's bytes this partner holds now (panics if it holds none).
    pub fn key_bytes(&self) -> Vec<u8> {
        let key = self
            .member
            .coalition_key(COALITION)
            .expect("a coalition key");
        key.expose_secret().to_vec()
    }

    /// Posts a commit; on acceptance merges it and posts the follow-up key messages.
    pub async fn commit(&mut self, group: &str, out: &kruispunt_sdk::coalition::Outgoing) {
        self.api.post(group, out).await.unwrap();
        for follow in self.member.confirm(group).unwrap() {
            self.api.post_raw(group, &follow, None).await.unwrap();
        }
        // Skip own messages on the next fetch.
        self.sync(group).await;
    }
}

/// Registers `group` with `info` as a coalition group that is its own coalition (as the
/// registry names it), as `api`'s organisation.
pub async fn create_coalition(
    api: &BrokerMls,
    group: &str,
    info: &[u8],
) -> Result<GroupStatus, HttpError> {
    api.create_group(group, GroupKind::Coalition, group, None, None, info)
        .await
}

/// The one audit entry of `action`, asserting that there is exactly one.
pub async fn only_entry(b: &Broker, action: &str) -> kruispunt_broker::audit::entry::AuditEntry {
    let mut entries = b.audit_of(action).await;
    assert_eq!(entries.len(), 1);
    entries.remove(0)
}

/// The problem type's slug (`urn:kruispunt:problem:<slug>`) of a refusal, or "".
pub fn slug(v: &Value) -> &str {
    v["type"]
        .as_str()
        .and_then(|t| t.strip_prefix("urn:kruispunt:problem:"))
        .unwrap_or_default()
}

/// `PUT /v1/coalitions/{COALITION}/key-version` with `token` and `body`.
pub async fn announce(b: &Broker, token: &str, body: Value) -> (u16, Value) {
    b.call(
        reqwest::Method::PUT,
        &format!("/v1/coalitions/{COALITION}/key-version"),
        token,
        Some(&body),
    )
    .await
}
