//! What the registry grants one organisation, for `GET /v1/registry` and `kruispunt registry
//! show`: the purposes it is a party to and may ask or supply under (with the roles that may),
//! the codes of those purposes' themes, the districts, gemeenten and identifier kinds.
//!
//! It reads the same registry facts the policy's rule 1 and the sector rules read — party
//! (controller, or member of a coalition of the purpose), purpose active and not lapsed,
//! `requester_sectors` with `roles` for asking, `source_sectors` with `supplier_roles` for
//! supplying, bounded by the sector's `[token_roles]` — so a purpose listed here is one the
//! policy can allow, and one not listed is one it always refuses. The decision itself stays
//! with the policy: this is a map for people, not a second gate.

use std::collections::{BTreeMap, BTreeSet};

use kruispunt_policy::Registry;
use kruispunt_sdk::registry::{
    CodeView, DistrictView, GemeenteView, OrganisationView, PurposeView, RegistryMetaView,
    RegistryView,
};

/// The view of `registry` for organisation `org` at Unix time `now`; `None` if the registry
/// does not know `org` (an authenticated caller always is known).
pub fn for_organisation(registry: &Registry, org: &str, now: i64) -> Option<RegistryView> {
    let partner = registry.partner(org)?;
    let sector = partner.sector.as_str();
    let allowed_roles = registry.token_roles.get(sector);
    let bounded = |roles: &[String]| -> Vec<String> {
        roles
            .iter()
            .filter(|r| allowed_roles.is_none_or(|a| a.contains(r)))
            .cloned()
            .collect()
    };
    let mut purposes = Vec::new();
    for p in &registry.purposes {
        let party = p.controller == org
            || registry
                .coalitions
                .iter()
                .any(|c| c.members.iter().any(|m| m == org) && c.purposes.contains(&p.id));
        let live = p.active && p.valid_until.is_none_or(|until| now < until);
        if !party || !live {
            continue;
        }
        let ask_roles = match p.requester_sectors.iter().any(|s| s == sector) {
            true => bounded(&p.roles),
            false => Vec::new(),
        };
        let supply_roles = match p.source_sectors.iter().any(|s| s == sector) {
            true => bounded(p.supplier_roles.as_deref().unwrap_or(&p.roles)),
            false => Vec::new(),
        };
        if ask_roles.is_empty() && supply_roles.is_empty() {
            continue;
        }
        purposes.push(PurposeView {
            id: p.id.clone(),
            title: p.title.clone(),
            legal_basis: p.legal_basis.clone(),
            ask_roles,
            supply_roles,
            identifier_kinds: p.identifier_kinds.clone(),
            themes: p.themes.clone(),
            disclosure_ceiling: p.disclosure_ceiling,
            min_sources: p.min_sources,
            max_identifiers_per_request: p.max_identifiers_per_request,
            retention_days: p.retention_days,
        });
    }
    purposes.sort_by(|a, b| a.id.cmp(&b.id));

    // code → (title, themes, purposes that may carry it)
    let mut codes: BTreeMap<&str, (&str, BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for p in purposes.iter().filter(|p| !p.supply_roles.is_empty()) {
        for theme in &p.themes {
            let Some(t) = registry.taxonomy.get(theme) else {
                continue;
            };
            for (code, title) in &t.codes {
                let e = codes
                    .entry(code)
                    .or_insert_with(|| (title, BTreeSet::new(), BTreeSet::new()));
                e.1.insert(theme);
                e.2.insert(&p.id);
            }
        }
    }
    let codes = codes
        .into_iter()
        .map(|(code, (title, themes, ps))| CodeView {
            code: code.to_string(),
            title: title.to_string(),
            themes: themes.into_iter().map(String::from).collect(),
            purposes: ps.into_iter().map(String::from).collect(),
        })
        .collect();
    let identifier_kinds: BTreeSet<String> = purposes
        .iter()
        .flat_map(|p| p.identifier_kinds.iter().cloned())
        .collect();
    let mut gemeenten: Vec<GemeenteView> = registry
        .gemeenten
        .iter()
        .map(|g| GemeenteView {
            code: g.code.clone(),
            name: g.name.clone(),
            district: g.district.clone(),
        })
        .collect();
    gemeenten.sort_by(|a, b| a.code.cmp(&b.code));
    Some(RegistryView {
        registry: RegistryMetaView {
            id: registry.meta.id.clone(),
            name: registry.meta.name.clone(),
            version: registry.meta.version.clone(),
        },
        organisation: OrganisationView {
            id: partner.id.clone(),
            name: partner.name.clone(),
            sector: partner.sector.clone(),
        },
        purposes,
        codes,
        districts: registry
            .districts
            .iter()
            .map(|d| DistrictView {
                id: d.id.clone(),
                name: d.name.clone(),
            })
            .collect(),
        gemeenten,
        identifier_kinds: identifier_kinds.into_iter().collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_car_dealer_sees_its_own_purposes_and_codes_only() {
        let r = Registry::embedded();
        let v = for_organisation(&r, "autobedrijf-de-vecht", 0).unwrap();
        let ids: Vec<&str> = v.purposes.iter().map(|p| p.id.as_str()).collect();
        assert!(ids.contains(&"autobranche-contante-aankopen"), "{ids:?}");
        assert!(!ids.contains(&"horeca-bibob-screening"), "{ids:?}");
        assert!(!ids.contains(&"kvo-buitengebied-signalering"), "{ids:?}");
        assert!(v.codes.iter().any(|c| c.code == "cash-car-purchase"));
        let barn = v.codes.iter().find(|c| c.code == "barn-rental-unsolicited");
        assert_eq!(
            barn.unwrap().purposes,
            ["ondermijningsbeeld", "politie-opsporing-wpg19"]
        );
        assert!(
            v.gemeenten
                .iter()
                .any(|g| g.code == "GM0344" && g.name == "Utrecht")
        );
    }
}
