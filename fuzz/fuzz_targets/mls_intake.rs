//! MLS intake as the broker's delivery service does it before anything is stored
//! (`kruispunt_broker::mls::delivery`): the base64 field is decoded, the TLS-encoded
//! `MlsMessage` parsed, and then, by the first byte % 4:
//!
//! 0. a published key package: `check_key_package` (openmls validation, ciphersuite, the
//!    credential's organisation, lifetime); one accepted is accepted again from what is stored.
//! 1. a new group's GroupInfo: `PublicView::from_group_info`; the state stored for it loads
//!    back to the same epoch and members.
//! 2. a GroupInfo (length-prefixed, u16 big-endian) and a handshake message for that group:
//!    the message is verified against the public state as `post_message` does; one that
//!    verifies was signed by a member, and the authorisation checks run on it.
//! 3. a Welcome: its recipients are read as `route_welcome` does.
//!
//! Seeds: with `KRUISPUNT_FUZZ_MLS_SEEDS=<dir>` set, the target writes fresh valid inputs of
//! every mode there when it starts (none are committed: key packages expire).
#![no_main]

use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kruispunt_broker::mls::authorise::{self, Actor};
use kruispunt_broker::mls::delivery::{check_key_package, decode};
use kruispunt_broker::mls::public_state::PublicView;
use kruispunt_policy::Registry;
use kruispunt_sdk::coalition::Member;
use kruispunt_sdk::coalition::mls::org_of;
use libfuzzer_sys::fuzz_target;
use openmls::prelude::*;
use openmls_rust_crypto::RustCrypto;

const ADMIN: &str = "politie-midden-nederland";
const INVITEE: &str = "horeca-utrecht";
const GROUP: &str = "fuzz-group";

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::embedded);

fn write_seeds(dir: &std::path::Path) {
    let mut admin = Member::new(ADMIN, None).expect("a member");
    let invitee = Member::new(INVITEE, None).expect("a member");
    let info = admin.create_group(GROUP).expect("a group");
    let kps = invitee.key_packages(1, true).expect("key packages");
    let invite = admin.invite(GROUP, &kps[..1]).expect("an invitation");
    admin.discard(GROUP).expect("discard the pending commit");
    let update = admin.self_update(GROUP).expect("a self update");
    let with_info = |msg: &[u8]| {
        let mut v = vec![2u8];
        v.extend_from_slice(&(info.len() as u16).to_be_bytes());
        v.extend_from_slice(&info);
        v.extend_from_slice(msg);
        v
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("seed-key-package", [&[0u8][..], &kps[0][..]].concat()),
        (
            "seed-key-package-last-resort",
            [&[0u8][..], &kps[1][..]].concat(),
        ),
        ("seed-group-info", [&[1u8][..], &info[..]].concat()),
        ("seed-commit-add", with_info(&invite.message)),
        ("seed-commit-update", with_info(&update.message)),
        (
            "seed-welcome",
            [&[3u8][..], invite.welcome.as_deref().expect("a welcome")].concat(),
        ),
    ];
    std::fs::create_dir_all(dir).expect("the seed directory");
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes).expect("a seed file");
    }
}

fn view_of(crypto: &RustCrypto, info: &[u8]) -> Option<PublicView> {
    let (_, msg) = decode("group_info", &B64.encode(info)).ok()?;
    let MlsMessageBodyIn::GroupInfo(gi) = msg.extract() else {
        return None;
    };
    PublicView::from_group_info(crypto, gi, GROUP).ok()
}

fuzz_target!(
    // Before libFuzzer reads the corpus directories, so that fresh seeds are read at once.
    init: {
        if let Ok(dir) = std::env::var("KRUISPUNT_FUZZ_MLS_SEEDS") {
            write_seeds(std::path::Path::new(&dir));
        }
    },
    |data: &[u8]| {
    let registry = &*REGISTRY;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let crypto = RustCrypto::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    match mode % 4 {
        0 => {
            if let Ok(kp) = check_key_package(&crypto, "kp", &B64.encode(rest), INVITEE, now) {
                assert_eq!(kp.data, rest);
                let again = check_key_package(&crypto, "kp", &B64.encode(&kp.data), INVITEE, now)
                    .expect("a stored key package is accepted again");
                assert_eq!(again.kp_ref, kp.kp_ref);
                assert!(kp.expires_at > now);
            }
        }
        1 => {
            let Some(view) = view_of(&crypto, rest) else {
                return;
            };
            let members = view.members();
            assert!(!members.is_empty());
            let loaded = PublicView::load(&view.to_bytes(), GROUP).expect("stored state loads");
            assert_eq!(loaded.epoch(), view.epoch());
            assert_eq!(loaded.members(), members);
        }
        2 => {
            if rest.len() < 2 {
                return;
            }
            let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let Some((info, message)) = rest[2..].split_at_checked(len) else {
                return;
            };
            let Some(view) = view_of(&crypto, info) else {
                return;
            };
            let Ok((_, msg)) = decode("message", &B64.encode(message)) else {
                return;
            };
            let Ok(pm) = msg.try_into_protocol_message() else {
                return;
            };
            if pm.group_id().as_slice() != GROUP.as_bytes() || pm.epoch().as_u64() != view.epoch() {
                return;
            }
            if pm.wire_format() != WireFormat::PublicMessage {
                return;
            }
            let Ok(processed) = view.process(&crypto, pm) else {
                return;
            };
            let signer = org_of(processed.credential()).expect("a verified signer has an org");
            assert!(
                view.members().contains(&signer),
                "a message verified for a non-member"
            );
            let Ok(leaf) = authorise::member_leaf(processed.sender()) else {
                return;
            };
            let actor = Actor {
                leaf,
                is_admin: signer == ADMIN,
                admin_org: ADMIN,
            };
            match processed.into_content() {
                ProcessedMessageContent::ProposalMessage(p) => {
                    let _ = authorise::check_proposal(&view, &actor, &p);
                }
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    let _ = authorise::check_commit(&view, &actor, &staged, |org| {
                        registry.partner(org).is_some()
                    });
                }
                _ => {}
            }
        }
        _ => {
            let Ok((_, msg)) = decode("welcome", &B64.encode(rest)) else {
                return;
            };
            if let MlsMessageBodyIn::Welcome(w) = msg.extract() {
                let refs: Vec<Vec<u8>> = w
                    .secrets()
                    .iter()
                    .map(|s| s.new_member().as_slice().to_vec())
                    .collect();
                assert_eq!(refs.len(), w.secrets().len());
            }
        }
    }
});
