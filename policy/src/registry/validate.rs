//! The semantic checks of a registry: ids unique and well formed, every reference resolved,
//! and the covenant's rules that the file itself can break (a private recipient of police
//! data, a public sector claimed by a private partner, ...).
//!
//! Why apart from parsing: the shape is checked by serde when the file is read; these checks
//! need the whole registry, and they report every problem at once, each with file, line and
//! field.

use std::collections::BTreeSet;

use super::Registry;
use super::model::{
    Gemeente, IDENTIFIER_KINDS, PUBLIC_SECTORS, Partner, RESTRICTED_ORIGINS, SECTORS,
};
use crate::error::{Location, PolicyError, RegistryIssue};

impl Registry {
    /// Check the registry for consistency; `Err(PolicyError::RegistryInvalid)` lists every
    /// problem with file, line and field.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let issues = self.issues();
        if issues.is_empty() {
            Ok(())
        } else {
            Err(PolicyError::RegistryInvalid(issues))
        }
    }

    /// Every consistency problem in the registry (empty when it is valid).
    pub fn issues(&self) -> Vec<RegistryIssue> {
        let mut v = Validator {
            reg: self,
            issues: Vec::new(),
        };
        v.run();
        v.issues
    }
}

struct Validator<'a> {
    reg: &'a Registry,
    issues: Vec<RegistryIssue>,
}

impl Validator<'_> {
    /// Flags a `district` that the registry does not define (partners and coalitions both
    /// name one, and the message must read the same for both).
    fn known_district(
        &mut self,
        section: &str,
        id: &str,
        district: Option<&str>,
        districts: &BTreeSet<&str>,
    ) {
        if let Some(d) = district
            && !districts.contains(d)
        {
            self.push(section, id, "district", format!("unknown district `{d}`"));
        }
    }

    /// `[cases]`: known public sectors, a role each listed sector's tokens may carry, and four
    /// eyes — no sector that asks under a Wpg art. 19 purpose issues the consent for it.
    fn check_cases(&mut self, sectors: &BTreeSet<&str>) {
        let reg = self.reg;
        let c = &reg.cases;
        for (field, list, role_field, role) in [
            ("open_sectors", &c.open_sectors, "open_role", &c.open_role),
            (
                "consent_sectors",
                &c.consent_sectors,
                "consent_role",
                &c.consent_role,
            ),
        ] {
            if !list.is_empty() && role.trim().is_empty() {
                self.push("cases", "", role_field, "a role must not be empty".into());
            }
            for s in list {
                if !sectors.contains(s.as_str()) {
                    self.push("cases", "", field, format!("unknown sector `{s}`"));
                } else if !PUBLIC_SECTORS.contains(&s.as_str()) {
                    self.push(
                        "cases",
                        "",
                        field,
                        format!("private sector `{s}` may not steer cases or consent to queries"),
                    );
                } else if !role.trim().is_empty()
                    && !reg.token_roles.get(s).is_some_and(|r| r.contains(role))
                {
                    self.push(
                        "cases",
                        "",
                        role_field,
                        format!("role `{role}` is not among the token roles of sector `{s}`"),
                    );
                }
            }
        }
        for p in reg
            .purposes
            .iter()
            .filter(|p| p.legal_basis == "wpg-art-19")
        {
            for s in &c.consent_sectors {
                if p.requester_sectors.contains(s) {
                    self.push(
                        "cases",
                        "",
                        "consent_sectors",
                        format!(
                            "sector `{s}` asks under Wpg art. 19 purpose `{}`: it may not also consent to the queries (four eyes)",
                            p.id
                        ),
                    );
                }
            }
        }
    }

    /// The unit's municipalities: CBS codes well formed and unique, a name, a known district.
    fn check_gemeenten(&mut self, districts: &BTreeSet<&str>) {
        let mut seen = BTreeSet::new();
        for g in &self.reg.gemeenten {
            let code = g.code.as_str();
            if !Gemeente::is_code(code) {
                self.push(
                    "gemeenten",
                    code,
                    "code",
                    format!("code `{code}` must be a CBS municipality code: GM and four digits"),
                );
            } else if !seen.insert(code) {
                self.push(
                    "gemeenten",
                    code,
                    "code",
                    format!("duplicate code `{code}`"),
                );
            }
            if g.name.trim().is_empty() {
                self.push("gemeenten", code, "name", "must not be empty".into());
            }
            if !districts.contains(g.district.as_str()) {
                self.push(
                    "gemeenten",
                    code,
                    "district",
                    format!("unknown district `{}`", g.district),
                );
            }
        }
    }

    /// A municipality partner's own gemeente: only for sector `gemeente`, one of the
    /// registry's gemeenten, and inside the partner's district when it has one.
    fn check_partner_gemeente(&mut self, p: &Partner) {
        let Some(code) = p.gemeente.as_deref() else {
            return;
        };
        if p.sector != "gemeente" {
            self.push(
                "partners",
                &p.id,
                "gemeente",
                format!(
                    "only partners of sector `gemeente` name a gemeente (this one is `{}`)",
                    p.sector
                ),
            );
            return;
        }
        match self.reg.gemeente(code) {
            None => self.push(
                "partners",
                &p.id,
                "gemeente",
                format!("unknown gemeente `{code}` (not in [[gemeenten]])"),
            ),
            Some(g) => {
                if let Some(d) = p.district.as_deref()
                    && d != g.district
                {
                    self.push(
                        "partners",
                        &p.id,
                        "gemeente",
                        format!(
                            "gemeente `{code}` ({}) lies in district `{}`, not in the partner's district `{d}`",
                            g.name, g.district
                        ),
                    );
                }
            }
        }
    }

    fn push(&mut self, section: &str, id: &str, field: &str, message: String) {
        let line = self.reg.locate(section, id, Some(field));
        let field = if id.is_empty() {
            format!("{section}.{field}")
        } else {
            format!("{section}[{id}].{field}")
        };
        self.issues.push(RegistryIssue {
            location: Location {
                file: self.reg.source.name.clone(),
                line,
            },
            field,
            message,
        });
    }

    /// A purpose's `[purposes.aggregates]`: known names, and release rules that protect.
    fn check_aggregates(&mut self, id: &str, a: &super::AggregateRules) {
        let areas: BTreeSet<&str> = ["unit", "district", "gemeente", "wijk"].into();
        let measures: BTreeSet<&str> = [
            "subjects",
            "multi_source",
            "cross_sector",
            "signals",
            "open_cases",
            "interventions",
        ]
        .into();
        let periods: BTreeSet<&str> = ["week", "month", "quarter"].into();
        self.check_subset(
            "purposes",
            id,
            "aggregates.areas",
            &a.areas,
            &areas,
            "area level",
        );
        self.check_subset(
            "purposes",
            id,
            "aggregates.measures",
            &a.measures,
            &measures,
            "measure",
        );
        self.check_subset(
            "purposes",
            id,
            "aggregates.periods",
            &a.periods,
            &periods,
            "period",
        );
        let mut bad = |field: &str, why: &str| {
            self.push("purposes", id, &format!("aggregates.{field}"), why.into());
        };
        if a.k < 2 {
            bad("k", "must be at least 2");
        }
        if a.wijk_k < a.k {
            bad("wijk_k", "must be at least k");
        }
        if a.min_sources < 1 {
            bad("min_sources", "must be at least 1");
        }
        if a.max_share_percent == 0 || a.max_share_percent > 100 {
            bad("max_share_percent", "must be 1 to 100");
        }
        if a.epsilon_micro == 0 {
            bad("epsilon_micro", "must be positive");
        }
        if a.monthly_epsilon_micro < a.epsilon_micro {
            bad("monthly_epsilon_micro", "must be at least epsilon_micro");
        }
        if a.rounding == 0 {
            bad("rounding", "must be at least 1");
        }
        if a.contribution_cap == 0 {
            bad("contribution_cap", "must be at least 1");
        }
        if a.signal_cap == 0 {
            bad("signal_cap", "must be at least 1");
        }
        if a.snapshot_interval_secs == 0 {
            bad("snapshot_interval_secs", "must be at least 1");
        }
        if a.max_range_days == 0 {
            bad("max_range_days", "must be at least 1");
        }
    }

    fn check_subset(
        &mut self,
        section: &str,
        id: &str,
        field: &str,
        values: &[String],
        allowed: &BTreeSet<&str>,
        what: &str,
    ) {
        for v in values {
            if !allowed.contains(v.as_str()) {
                self.push(section, id, field, format!("unknown {what} `{v}`"));
            }
        }
    }

    fn check_unique<'b>(&mut self, section: &str, ids: impl Iterator<Item = &'b str>) {
        let mut seen = BTreeSet::new();
        for id in ids {
            if id.is_empty() {
                self.push(section, id, "id", "id must not be empty".into());
            } else if !seen.insert(id) {
                self.push(section, id, "id", format!("duplicate id `{id}`"));
            } else if !id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                self.push(
                    section,
                    id,
                    "id",
                    format!("id `{id}` must be lowercase letters, digits and '-'"),
                );
            }
        }
    }

    fn run(&mut self) {
        let reg = self.reg;
        let sectors: BTreeSet<&str> = SECTORS.iter().copied().collect();
        let kinds: BTreeSet<&str> = IDENTIFIER_KINDS.iter().copied().collect();
        let origins: BTreeSet<&str> = RESTRICTED_ORIGINS.iter().copied().collect();
        let themes: BTreeSet<&str> = reg.taxonomy.keys().map(String::as_str).collect();
        let partners: BTreeSet<&str> = reg.partners.iter().map(|p| p.id.as_str()).collect();
        let purposes: BTreeSet<&str> = reg.purposes.iter().map(|p| p.id.as_str()).collect();
        let coalitions: BTreeSet<&str> = reg.coalitions.iter().map(|c| c.id.as_str()).collect();
        let districts: BTreeSet<&str> = reg.districts.iter().map(|d| d.id.as_str()).collect();

        let g = &reg.guard;
        if g.max_requests_per_minute == 0 {
            self.push("guard", "", "max_requests_per_minute", "must be > 0".into());
        }
        if g.sweep_no_hit_percent == 0 || g.sweep_no_hit_percent > 100 {
            self.push(
                "guard",
                "",
                "sweep_no_hit_percent",
                "must be 1..=100".into(),
            );
        }

        for (theme, t) in &reg.taxonomy {
            if t.codes.is_empty() {
                self.push(
                    "taxonomy",
                    theme,
                    "codes",
                    "a theme needs at least one code".into(),
                );
            }
        }

        self.check_unique("districts", reg.districts.iter().map(|d| d.id.as_str()));
        for d in &reg.districts {
            self.check_subset("districts", &d.id, "themes", &d.themes, &themes, "theme");
        }

        self.check_gemeenten(&districts);

        self.check_unique("partners", reg.partners.iter().map(|p| p.id.as_str()));
        for p in &reg.partners {
            if !sectors.contains(p.sector.as_str()) {
                self.push(
                    "partners",
                    &p.id,
                    "sector",
                    format!(
                        "unknown sector `{}` (known: {})",
                        p.sector,
                        SECTORS.join(", ")
                    ),
                );
            } else if PUBLIC_SECTORS.contains(&p.sector.as_str()) != p.public {
                self.push(
                    "partners",
                    &p.id,
                    "public",
                    format!(
                        "sector `{}` is {}; `public` must be {}",
                        p.sector,
                        if p.public { "private" } else { "public" },
                        !p.public
                    ),
                );
            }
            self.known_district("partners", &p.id, p.district.as_deref(), &districts);
            self.check_partner_gemeente(p);
            let mut kids = BTreeSet::new();
            for k in &p.keys {
                if !kids.insert(k.kid.as_str()) {
                    self.push(
                        "partners",
                        &p.id,
                        "keys",
                        format!("duplicate kid `{}`", k.kid),
                    );
                }
                if k.public_key.trim().is_empty() {
                    self.push("partners", &p.id, "keys", "public_key is empty".into());
                }
            }
            if let Some(fp) = &p.client_cert_sha256
                && (fp.len() != 64 || !fp.chars().all(|c| c.is_ascii_hexdigit()))
            {
                self.push(
                    "partners",
                    &p.id,
                    "client_cert_sha256",
                    "must be 64 hex digits".into(),
                );
            }
        }

        self.check_unique("purposes", reg.purposes.iter().map(|p| p.id.as_str()));
        for p in &reg.purposes {
            let id = p.id.as_str();
            if p.legal_basis.trim().is_empty() {
                self.push("purposes", id, "legal_basis", "must not be empty".into());
            }
            if !partners.contains(p.controller.as_str()) {
                self.push(
                    "purposes",
                    id,
                    "controller",
                    format!("unknown partner `{}`", p.controller),
                );
            }
            self.check_subset(
                "purposes",
                id,
                "requester_sectors",
                &p.requester_sectors,
                &sectors,
                "sector",
            );
            self.check_subset(
                "purposes",
                id,
                "recipients",
                &p.recipients,
                &sectors,
                "sector",
            );
            self.check_subset(
                "purposes",
                id,
                "source_sectors",
                &p.source_sectors,
                &sectors,
                "sector",
            );
            self.check_subset(
                "purposes",
                id,
                "identifier_kinds",
                &p.identifier_kinds,
                &kinds,
                "identifier kind",
            );
            self.check_subset(
                "purposes",
                id,
                "themes",
                &p.themes,
                &themes,
                "taxonomy theme",
            );
            self.check_subset(
                "purposes",
                id,
                "derived_from",
                &p.derived_from,
                &origins,
                "origin",
            );
            if let Some(a) = &p.aggregates {
                self.check_aggregates(id, a);
            }
            if p.roles.is_empty() {
                self.push(
                    "purposes",
                    id,
                    "roles",
                    "at least one role is needed".into(),
                );
            }
            if p.supplier_roles.as_ref().is_some_and(Vec::is_empty) {
                self.push(
                    "purposes",
                    id,
                    "supplier_roles",
                    "at least one role is needed (leave it out to use `roles`)".into(),
                );
            }
            if p.identifier_kinds.is_empty() {
                self.push(
                    "purposes",
                    id,
                    "identifier_kinds",
                    "at least one kind is needed".into(),
                );
            }
            if p.retention_days == 0 {
                self.push("purposes", id, "retention_days", "must be > 0".into());
            }
            if p.min_sources == 0 {
                self.push("purposes", id, "min_sources", "must be ≥ 1".into());
            }
            if p.daily_identifier_budget == 0 {
                self.push(
                    "purposes",
                    id,
                    "daily_identifier_budget",
                    "must be > 0".into(),
                );
            }
            if p.max_identifiers_per_request == 0
                || p.max_identifiers_per_request > p.daily_identifier_budget
            {
                self.push(
                    "purposes",
                    id,
                    "max_identifiers_per_request",
                    "must be > 0 and ≤ daily_identifier_budget".into(),
                );
            }
            if let Some(permit) = &p.ap_permit
                && permit.trim().is_empty()
            {
                self.push(
                    "purposes",
                    id,
                    "ap_permit",
                    "omit the key instead of an empty permit".into(),
                );
            }
            // Rule 2: police-, RIEC- or Bibob-derived data never reaches a private partner.
            if !p.derived_from.is_empty() {
                for r in &p.recipients {
                    if sectors.contains(r.as_str()) && !PUBLIC_SECTORS.contains(&r.as_str()) {
                        self.push(
                            "purposes",
                            id,
                            "recipients",
                            format!(
                                "private sector `{r}` may not receive data derived from {}",
                                p.derived_from.join("/")
                            ),
                        );
                    }
                }
            }
            // Rule 3: BSN is never disclosed to private partners. (Uploads of BSN by private
            // partners are refused per request by the policy.)
            if p.identifier_kinds.iter().any(|k| k == "bsn") {
                for (field, list) in [
                    ("requester_sectors", &p.requester_sectors),
                    ("recipients", &p.recipients),
                ] {
                    for s in list {
                        if sectors.contains(s.as_str()) && !PUBLIC_SECTORS.contains(&s.as_str()) {
                            self.push(
                                "purposes",
                                id,
                                field,
                                format!("BSN purpose may not involve private sector `{s}`"),
                            );
                        }
                    }
                }
            }
        }

        for (sector, roles) in &reg.token_roles {
            if !sectors.contains(sector.as_str()) {
                self.push(
                    "token_roles",
                    "",
                    sector,
                    format!("unknown sector `{sector}`"),
                );
            }
            if roles.iter().any(|r| r.trim().is_empty()) {
                self.push("token_roles", "", sector, "a role must not be empty".into());
            }
        }
        for p in &reg.partners {
            if reg.token_roles_of(p).is_empty() {
                self.push(
                    "partners",
                    &p.id,
                    "sector",
                    format!(
                        "no roles listed for sector `{}` in [token_roles]: every token of this partner would be refused",
                        p.sector
                    ),
                );
            }
        }

        self.check_cases(&sectors);

        self.check_unique("coalitions", reg.coalitions.iter().map(|c| c.id.as_str()));
        for c in &reg.coalitions {
            let members = c.members.clone();
            self.check_subset(
                "coalitions",
                &c.id,
                "members",
                &members,
                &partners,
                "partner",
            );
            self.check_subset(
                "coalitions",
                &c.id,
                "purposes",
                &c.purposes,
                &purposes,
                "purpose",
            );
            if !c.members.contains(&c.admin.org) {
                self.push(
                    "coalitions",
                    &c.id,
                    "admin",
                    format!(
                        "the administrator `{}` must be a member of the coalition",
                        c.admin.org
                    ),
                );
            }
            if let Some(admin) = reg.partner(&c.admin.org)
                && !reg.token_roles_of(admin).contains(&c.admin.role)
            {
                self.push(
                    "coalitions",
                    &c.id,
                    "admin",
                    format!(
                        "role `{}` is not among the token roles of sector `{}`",
                        c.admin.role, admin.sector
                    ),
                );
            }
            if c.admin.role.is_empty() {
                self.push(
                    "coalitions",
                    &c.id,
                    "admin",
                    "the administrator's role must not be empty".into(),
                );
            }
            self.known_district("coalitions", &c.id, c.district.as_deref(), &districts);
        }

        self.check_unique(
            "partnership_decisions",
            reg.partnership_decisions.iter().map(|d| d.id.as_str()),
        );
        for d in &reg.partnership_decisions {
            let id = d.id.as_str();
            if !coalitions.contains(d.partnership.as_str()) {
                self.push(
                    "partnership_decisions",
                    id,
                    "partnership",
                    format!("unknown coalition `{}`", d.partnership),
                );
            }
            match reg.purpose(&d.purpose) {
                None => self.push(
                    "partnership_decisions",
                    id,
                    "purpose",
                    format!("unknown purpose `{}`", d.purpose),
                ),
                Some(p) if p.legal_basis != "wpg-art-20" => self.push(
                    "partnership_decisions",
                    id,
                    "purpose",
                    format!("purpose `{}` is not based on wpg-art-20", d.purpose),
                ),
                Some(_) => {}
            }
            self.check_subset(
                "partnership_decisions",
                id,
                "data",
                &d.data,
                &kinds,
                "identifier kind",
            );
            self.check_subset(
                "partnership_decisions",
                id,
                "recipients",
                &d.recipients,
                &sectors,
                "sector",
            );
            for (field, v) in [
                ("interest", &d.interest),
                ("conditions", &d.conditions),
                ("decided_by", &d.decided_by),
            ] {
                if v.trim().is_empty() {
                    self.push(
                        "partnership_decisions",
                        id,
                        field,
                        "Wpg art. 20 requires this to be stated".into(),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::DEFAULT_REGISTRY_TOML;

    #[test]
    fn semantic_errors_name_line_and_field() {
        let (text, issues) = issues_after(
            "requester_sectors = [\"kvo\"",
            "requester_sectors = [\"kvoo\"",
        );
        assert_eq!(issues.len(), 1, "{issues:#?}");
        let i = &issues[0];
        assert!(i.field.ends_with(".requester_sectors"), "{i}");
        let line = text.lines().nth(i.location.line - 1).unwrap();
        assert!(
            line.contains("kvoo"),
            "line {} is {line:?}",
            i.location.line
        );
    }

    #[test]
    fn case_openers_and_consent_issuers_are_public_sectors_with_a_bounded_role() {
        let reg = Registry::embedded();
        let roles = |r: &str| vec![r.to_string()];
        assert!(reg.cases.may_open("riec", &roles("casusregisseur")));
        assert!(reg.cases.may_open("gemeente", &roles("casusregisseur")));
        assert!(reg.cases.may_open("politie", &roles("casusregisseur")));
        assert!(!reg.cases.may_open("om", &roles("casusregisseur")));
        assert!(
            !reg.cases
                .may_open("gemeente", &roles("officier-van-justitie"))
        );
        assert!(reg.cases.may_consent("om", &roles("officier-van-justitie")));
        assert!(
            !reg.cases
                .may_consent("politie", &roles("officier-van-justitie"))
        );
        assert!(!reg.cases.may_consent("om", &roles("rechercheur")));

        // A private sector may not steer cases.
        let (_, issues) = issues_after(
            "open_sectors = [\"riec\"",
            "open_sectors = [\"horeca\", \"riec\"",
        );
        assert!(
            issues.iter().any(|i| i.field == "cases.open_sectors"
                && i.message.contains("private sector `horeca`")),
            "{issues:#?}"
        );
        // The role must be one the sector's tokens may carry at all.
        let (_, issues) = issues_after(
            "consent_role = \"officier-van-justitie\"",
            "consent_role = \"hoofdofficier\"",
        );
        assert!(
            issues
                .iter()
                .any(|i| i.field == "cases.consent_role" && i.message.contains("`om`")),
            "{issues:#?}"
        );
        // Four eyes: the police ask under Wpg art. 19, so they may not also consent.
        let (_, issues) = issues_after(
            "consent_sectors = [\"om\"]",
            "consent_sectors = [\"om\", \"politie\"]",
        );
        assert!(
            issues
                .iter()
                .any(|i| i.field == "cases.consent_sectors" && i.message.contains("four eyes")),
            "{issues:#?}"
        );
        // A registry without [cases] lets nobody open a case or consent.
        let none = crate::registry::CaseRules::default();
        assert!(!none.may_open("riec", &roles("casusregisseur")));
        assert!(!none.may_consent("om", &roles("")));
    }

    #[test]
    fn coalition_admin_must_be_a_member() {
        let (_, issues) = issues_after(
            "admin = { org = \"riec-midden-nederland\"",
            "admin = { org = \"autobedrijf-de-vecht\"",
        );
        // Not a member, and (a car dealer) not one whose tokens may carry the role.
        assert_eq!(issues.len(), 2, "{issues:#?}");
        assert!(
            issues.iter().all(|i| i.field.ends_with(".admin")),
            "{issues:#?}"
        );
        assert!(
            issues
                .iter()
                .any(|i| i.message.contains("autobedrijf-de-vecht") && i.message.contains("member")),
            "{issues:#?}"
        );
        assert!(
            issues.iter().any(|i| i.message.contains("token roles")),
            "{issues:#?}"
        );
    }

    #[test]
    fn private_recipient_of_police_data_is_rejected() {
        let (_, issues) = issues_after(
            "recipients = [\"politie\", \"om\"]",
            "recipients = [\"politie\", \"om\", \"horeca\"]",
        );
        assert!(
            issues
                .iter()
                .any(|i| i.field.ends_with(".recipients") && i.message.contains("horeca")),
            "{issues:#?}"
        );
    }

    /// Applies one text edit to the embedded registry and returns its issues.
    fn issues_after(from: &str, to: &str) -> (String, Vec<RegistryIssue>) {
        let text = DEFAULT_REGISTRY_TOML.replacen(from, to, 1);
        assert_ne!(text, DEFAULT_REGISTRY_TOML, "fixture edit {from:?} applied");
        let issues = Registry::from_toml_str(&text, "mn.toml").unwrap().issues();
        (text, issues)
    }

    fn line<'a>(text: &'a str, issue: &RegistryIssue) -> &'a str {
        text.lines().nth(issue.location.line - 1).unwrap_or("")
    }

    #[test]
    fn gemeente_code_must_be_gm_and_four_digits() {
        for bad in ["GM344", "gm0344", "GM03440", "WK0344", "GM03a4"] {
            let (text, issues) = issues_after("code = \"GM0376\"", &format!("code = \"{bad}\""));
            assert_eq!(issues.len(), 1, "{bad}: {issues:#?}");
            let i = &issues[0];
            assert_eq!(i.field, format!("gemeenten[{bad}].code"), "{i}");
            assert!(i.message.contains("GM and four digits"), "{i}");
            assert!(line(&text, i).contains(bad), "{bad}: {i}");
        }
    }

    #[test]
    fn gemeente_codes_are_unique() {
        let (text, issues) = issues_after("code = \"GM0376\"", "code = \"GM0344\"");
        assert_eq!(issues.len(), 1, "{issues:#?}");
        assert_eq!(issues[0].field, "gemeenten[GM0344].code");
        assert!(issues[0].message.contains("duplicate code `GM0344`"));
        assert!(line(&text, &issues[0]).contains("GM0344"));
    }

    #[test]
    fn gemeente_district_must_exist() {
        let (text, issues) = issues_after(
            "name = \"Blaricum\"\ndistrict = \"gooi-en-vechtstreek\"",
            "name = \"Blaricum\"\ndistrict = \"het-gooi\"",
        );
        assert_eq!(issues.len(), 1, "{issues:#?}");
        let i = &issues[0];
        assert_eq!(i.field, "gemeenten[GM0376].district");
        assert!(i.message.contains("unknown district `het-gooi`"), "{i}");
        assert_eq!(line(&text, i), "district = \"het-gooi\"");
    }

    #[test]
    fn gemeente_name_must_not_be_empty() {
        let (_, issues) = issues_after("name = \"Blaricum\"", "name = \" \"");
        assert_eq!(issues.len(), 1, "{issues:#?}");
        assert_eq!(issues[0].field, "gemeenten[GM0376].name");
    }

    #[test]
    fn partner_gemeente_must_be_known() {
        let (text, issues) = issues_after("gemeente = \"GM0402\"", "gemeente = \"GM9999\"");
        assert_eq!(issues.len(), 1, "{issues:#?}");
        let i = &issues[0];
        assert_eq!(i.field, "partners[gemeente-hilversum].gemeente");
        assert!(i.message.contains("unknown gemeente `GM9999`"), "{i}");
        assert!(line(&text, i).contains("GM9999"), "{i}");
    }

    #[test]
    fn partner_gemeente_must_lie_in_its_district() {
        // Hilversum's partner claims Almere (Flevoland) while its district is Gooi- en Vechtstreek.
        let (_, issues) = issues_after("gemeente = \"GM0402\"", "gemeente = \"GM0034\"");
        assert_eq!(issues.len(), 1, "{issues:#?}");
        let i = &issues[0];
        assert_eq!(i.field, "partners[gemeente-hilversum].gemeente");
        assert!(
            i.message.contains("`flevoland`") && i.message.contains("`gooi-en-vechtstreek`"),
            "{i}"
        );
    }

    #[test]
    fn only_municipalities_name_a_gemeente() {
        let (_, issues) = issues_after(
            "sector = \"horeca\"\npublic = false\ndistrict = \"gooi-en-vechtstreek\"\n",
            "sector = \"horeca\"\npublic = false\ndistrict = \"gooi-en-vechtstreek\"\ngemeente = \"GM0402\"\n",
        );
        assert_eq!(issues.len(), 1, "{issues:#?}");
        let i = &issues[0];
        assert_eq!(i.field, "partners[horeca-gooi].gemeente");
        assert!(i.message.contains("sector `gemeente`"), "{i}");
    }
}
