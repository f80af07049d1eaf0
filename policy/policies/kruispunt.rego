# Kruispunt — purpose limitation (doelbinding) as code.
#
# Entry point: data.kruispunt.decision
#
# The broker turns every request into one `input` document (see docs/POLICY.md and
# policy/schema/policy-input.schema.json) and evaluates this package ONCE per request.
# The registry (partners, purposes, coalitions, partnership decisions, taxonomy, districts)
# is loaded as `data.registry`.
#
# Design: every rule below adds a stable reason code to one of the sets `deny_*`, grouped by
# the actions they apply to; `deny` is the union of the groups for the requested action. A
# request is allowed only when `deny` is empty. (Grouping by action is also what keeps a
# decision fast: the engine evaluates only the groups that can apply.) Missing data never allows anything: the broker refuses to act
# when `decision` is undefined (fail closed).
#
# Rule numbers refer to docs/POLICY.md, "The seven rules and where they come from".
#
# Local variables bound to something that may be undefined use unification (`c = expr`), not
# `c := expr`: regorus' bytecode VM (0.14) binds `:=` to an undefined value instead of failing
# the body, so a following `not ... in c.x` would wrongly add a deny reason. Both forms mean the
# same in OPA and in the regorus interpreter. The engine only uses the VM when it agrees with
# the interpreter (policy/src/engine.rs).
package kruispunt

import rego.v1

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

# Disclosure levels, ordered: none < hit < categories < details.
levels := {"none": 0, "hit": 1, "categories": 2, "details": 3}

actions := {"match", "upload", "withdraw", "audit_read", "coalition_add", "aggregate", "case_channel", "feedback"}

# Actions that are done under a registered purpose.
purpose_actions := {"match", "upload", "withdraw"}

# Identifier kinds that point directly at a natural person (rule 2: person-level warnings).
person_kinds := {"persoon", "bsn", "telefoon", "iban"}

# Sectors whose signals are police-, OM- or RIEC-derived (rule 2: never to private partners).
restricted_sectors := {"politie", "om", "riec"}

# Legal bases of the Police Data Act (rule 4).
wpg_art_19 := "wpg-art-19"

wpg_art_20 := "wpg-art-20"

# A necessity justification must be a sentence, not a tick-box (rule 5).
min_justification_chars := 20

seconds_per_day := 86400

# ---------------------------------------------------------------------------------------------
# Facts derived from input and registry
# ---------------------------------------------------------------------------------------------

reg := data.registry

requester := reg.partners[input.requester.org]

purpose := reg.purposes[input.purpose]

guard := reg.guard

# Unknown requesters are treated as private: the safe side.
default requester_public := false

requester_public := requester.public

is_police if requester.sector == "politie"

is_match if input.action == "match"

needs_purpose if input.action in purpose_actions

has_text(x) if {
	is_string(x)
	trim_space(x) != ""
}

# Whether the request carries these texts (rules rather than repeated `has_text` calls: a rule
# is evaluated once per decision, a function at every call).
coalition_given if has_text(input.coalition)

case_reference_given if has_text(input.case_reference)

legal_basis_given if has_text(input.legal_basis)

consent_given if has_text(input.consent_id)

target_given if has_text(input.target_org)

scope := input.token_scope if is_object(input.token_scope)

requested_level := levels[input.requested_level]

ceiling_level := levels[purpose.disclosure_ceiling]

is_party if purpose.controller == input.requester.org

is_party if {
	some c in reg.coalitions
	input.requester.org in c.members
	input.purpose in c.purposes
}

role_ok if {
	some r in input.requester.roles
	r in purpose.roles
}

# Who may supply is not who may ask: a dealer registers signals for a police purpose but never
# queries it. `supplier_roles` names the roles that may upload and withdraw under the purpose;
# a purpose without it is supplied by the roles that may act under it (`roles`). Which
# organisations may supply is `source_sectors` (and being a party, rule 1).
supplier_roles := object.get(purpose, "supplier_roles", purpose.roles)

supplier_role_ok if {
	some r in input.requester.roles
	r in supplier_roles
}

has_ap_permit if has_text(purpose.ap_permit)

has_justification if {
	is_string(input.justification)
	count(trim_space(input.justification)) >= min_justification_chars
}

# Signals observed before this moment are past retention (rule 6).
retention_cutoff := input.now - (purpose.retention_days * seconds_per_day)

# ---------------------------------------------------------------------------------------------
# Generic checks
# ---------------------------------------------------------------------------------------------

deny_all contains "action_unknown" if not input.action in actions

deny_all contains "requester_unknown" if not reg.partners[input.requester.org]

# The authenticated organisation's registered sector and status are authoritative.
deny_all contains "requester_mismatch" if requester.sector != input.requester.sector

deny_all contains "requester_mismatch" if requester.public != input.requester.public

deny_all contains "coalition_unknown" if {
	coalition_given
	not reg.coalitions[input.coalition]
}

deny_all contains "not_a_coalition_member" if {
	c = reg.coalitions[input.coalition]
	not input.requester.org in c.members
}

# ---------------------------------------------------------------------------------------------
# Rule 1 — purpose registered and active; requester is a party; role allowed.
# AVG art. 5(1)(b) (purpose limitation), Wpg art. 7.
# ---------------------------------------------------------------------------------------------

deny_purpose contains "purpose_unknown" if not reg.purposes[input.purpose]

deny_signals contains "purpose_inactive" if purpose.active == false

deny_clock contains "purpose_expired" if {
	input.action in {"match", "upload", "aggregate"}
	is_number(purpose.valid_until)
	input.now >= purpose.valid_until
}

deny_purpose contains "not_a_party" if {
	purpose
	not is_party
}

# Asking: the roles of `roles`.
deny_match contains "role_not_allowed" if {
	purpose
	not role_ok
}

# Supplying: the roles of `supplier_roles` (asking roles do not make a supplier, nor the reverse).
deny_upload contains "supplier_role_not_allowed" if {
	purpose
	not supplier_role_ok
}

deny_purpose contains "coalition_purpose_mismatch" if {
	c = reg.coalitions[input.coalition]
	not input.purpose in c.purposes
}

deny_match contains "sector_not_allowed" if {
	purpose
	requester
	not requester.sector in purpose.requester_sectors
}

deny_match contains "recipient_not_allowed" if {
	purpose
	requested_level > 0
	requester
	not requester.sector in purpose.recipients
}

deny_upload contains "source_sector_not_allowed" if {
	purpose
	requester
	not requester.sector in purpose.source_sectors
}

deny_signals contains "identifier_kinds_missing" if count(input.identifier_kinds) == 0

# AVG art. 5(1)(c) data minimisation: only the kinds the purpose names.
deny_signals contains "kind_not_allowed" if {
	purpose
	some k in input.identifier_kinds
	not k in purpose.identifier_kinds
}

deny_upload contains "unknown_signal_code" if {
	purpose
	some code in object.get(input, "signal_codes", [])
	not signal_code_allowed(code)
}

signal_code_allowed(code) if {
	some theme in purpose.themes
	reg.taxonomy[theme].codes[code]
}

# ---------------------------------------------------------------------------------------------
# Rule 2 — private partners supply signals but never receive police-, RIEC- or Bibob-derived
# data; no private-to-private person-level warnings without an AP permit.
# AVG art. 6(4), art. 10 with UAVG art. 33 (AP permit); Wet Bibob art. 28; Wpg art. 19/20.
# ---------------------------------------------------------------------------------------------

deny_match contains "private_recipient_police_data" if {
	not requester_public
	"politie" in purpose.derived_from
}

deny_match contains "private_recipient_police_data" if {
	not requester_public
	some s in scope.sectors
	s in restricted_sectors
}

deny_match contains "private_recipient_riec_data" if {
	not requester_public
	"riec" in purpose.derived_from
}

deny_match contains "private_recipient_bibob_data" if {
	not requester_public
	"bibob" in purpose.derived_from
}

deny_match contains "private_person_warning_without_permit" if {
	not requester_public
	some k in input.identifier_kinds
	k in person_kinds
	purpose
	not has_ap_permit
}

# ---------------------------------------------------------------------------------------------
# Rule 3 — BSN is refused from, and never disclosed to, private partners.
# Wet algemene bepalingen BSN art. 10; UAVG art. 46.
# ---------------------------------------------------------------------------------------------

deny_signals contains "bsn_private_partner" if {
	"bsn" in input.identifier_kinds
	not requester_public
}

# ---------------------------------------------------------------------------------------------
# Rule 4 — police queries: case reference and legal basis; art. 19 needs the competent
# authority's consent, art. 20 a partnership decision; the token's scope bounds apply.
# Wpg arts. 19, 20; scope bounds: Wpg art. 7 and AVG art. 5(1)(b).
# ---------------------------------------------------------------------------------------------

police_match if {
	is_match
	is_police
}

deny_match contains "case_reference_missing" if {
	is_police
	not case_reference_given
}

deny_match contains "legal_basis_missing" if {
	is_police
	not legal_basis_given
}

deny_match contains "legal_basis_mismatch" if {
	legal_basis_given
	input.legal_basis != purpose.legal_basis
}

deny_match contains "consent_missing" if {
	is_police
	purpose.legal_basis == wpg_art_19
	not consent_given
}

deny_match contains "partnership_decision_missing" if {
	is_police
	purpose.legal_basis == wpg_art_20
	not consent_given
}

deny_match contains "partnership_decision_unknown" if {
	is_police
	purpose.legal_basis == wpg_art_20
	consent_given
	not reg.partnership_decisions[input.consent_id]
}

# (The purpose's legal basis is checked first: it is already known when the clock rules ask,
# and for every purpose but an art. 20 one it settles the matter; the order of the
# expressions does not change the meaning.)
partnership_decision := reg.partnership_decisions[input.consent_id] if {
	purpose.legal_basis == wpg_art_20
	police_match
}

# The decision must name this purpose, this partnership, these data and this recipient.
deny_match contains "partnership_decision_mismatch" if partnership_decision.purpose != input.purpose

deny_match contains "partnership_decision_mismatch" if {
	coalition_given
	partnership_decision.partnership != input.coalition
}

deny_match contains "partnership_decision_mismatch" if {
	d = partnership_decision
	some k in input.identifier_kinds
	not k in d.data
}

deny_match contains "partnership_decision_mismatch" if {
	d = partnership_decision
	not requester.sector in d.recipients
}

deny_clock contains "partnership_decision_expired" if input.now >= partnership_decision.valid_until

deny_match contains "scope_missing" if {
	is_police
	not scope
}

deny_all contains "scope_purpose_mismatch" if scope.purpose != input.purpose

deny_all contains "scope_case_mismatch" if {
	has_text(scope.case_reference)
	scope.case_reference != object.get(input, "case_reference", null)
}

deny_all contains "scope_legal_basis_mismatch" if {
	has_text(scope.legal_basis)
	scope.legal_basis != object.get(input, "legal_basis", null)
}

deny_all contains "scope_consent_mismatch" if {
	has_text(scope.consent_id)
	scope.consent_id != object.get(input, "consent_id", null)
}

deny_clock contains "scope_exceeded_identifiers" if input.identifier_count > scope.max_identifiers

deny_clock contains "scope_expired" if input.now >= scope.not_after

deny_all contains "scope_exceeded_kinds" if {
	s = scope
	some k in input.identifier_kinds
	not k in s.kinds
}

# Rule 4, continued — the case and the consent are things the broker knows (docs/CASES.md).
# For a match under a Wpg art. 19 or 20 purpose that names a case, the broker reads the case
# (`input.case`) and, under art. 19, the consent (`input.consent`) from its database for every
# request; absent means not registered. The case must be registered and not closed, with the
# requester among its participants. The consent must be the public prosecutor's record for this
# case and purpose, not withdrawn or expired, issued by another organisation than the
# requester (four eyes), and its bounds must contain the request and the token's scope.
# Wpg arts. 19, 20; RIEC convenant (Wgs) for the case; AVG art. 5(1)(b), (c).

case_gated if {
	is_match
	purpose.legal_basis in {wpg_art_19, wpg_art_20}
	case_reference_given
}

the_case := input.case if {
	is_object(input.case)
	input.case.reference == input.case_reference
}

deny_match contains "case_unknown" if {
	case_gated
	not the_case
}

# Queries are allowed while a case is open or in intervention; a closed case ends them.
query_states := {"open", "intervention"}

deny_match contains "case_closed" if {
	case_gated
	c = the_case
	not c.state in query_states
}

deny_match contains "case_not_participant" if {
	case_gated
	c = the_case
	not input.requester.org in c.participants
}

consent_gated if {
	is_match
	purpose.legal_basis == wpg_art_19
	consent_given
}

the_consent := input.consent if {
	is_object(input.consent)
	input.consent.id == input.consent_id
}

deny_match contains "consent_unknown" if {
	consent_gated
	not the_consent
}

deny_match contains "consent_withdrawn" if {
	consent_gated
	c = the_consent
	c.withdrawn != false
}

deny_clock contains "consent_expired" if {
	consent_gated
	c = the_consent
	input.now >= c.valid_until
}

deny_match contains "consent_other_case" if {
	consent_gated
	c = the_consent
	c.case_reference != object.get(input, "case_reference", null)
}

deny_match contains "consent_other_purpose" if {
	consent_gated
	c = the_consent
	c.purpose != input.purpose
}

# Four eyes: the organisation that asks never consents to its own query.
deny_match contains "consent_self_issued" if {
	consent_gated
	c = the_consent
	c.issuer_org == input.requester.org
}

# The consent's bounds contain the request: its identifier kinds and disclosure level.
deny_match contains "consent_scope_exceeded" if {
	consent_gated
	c = the_consent
	some k in input.identifier_kinds
	not k in c.kinds
}

deny_match contains "consent_scope_exceeded" if {
	consent_gated
	c = the_consent
	requested_level > levels[c.ceiling]
}

deny_match contains "consent_scope_exceeded" if {
	consent_gated
	c = the_consent
	not levels[c.ceiling]
}

# ... and the token's scope: its kinds and its maximum number of identifiers per request
# (which bounds the request's size; rule `scope_exceeded_identifiers`). A police match needs a
# scope (`scope_missing`).
deny_match contains "consent_scope_exceeded" if {
	consent_gated
	c = the_consent
	some k in scope.kinds
	not k in c.kinds
}

deny_match contains "consent_scope_exceeded" if {
	consent_gated
	c = the_consent
	scope.max_identifiers > c.max_identifiers
}


# ---------------------------------------------------------------------------------------------
# Rule 5 — tiered disclosure: hit/no-hit first; categories or details only with a recorded
# necessity justification for the case. AVG art. 5(1)(c); Wpg art. 7 (necessity).
# ---------------------------------------------------------------------------------------------

deny_match contains "level_above_ceiling" if {
	requested_level > ceiling_level
}

deny_match contains "justification_required" if {
	requested_level > levels.hit
	not has_justification
}

deny_match contains "case_reference_missing" if {
	requested_level > levels.hit
	not case_reference_given
}

# ---------------------------------------------------------------------------------------------
# Rule 6 — signals past their retention are never matched (obligation `signals_not_before`)
# and never accepted. AVG art. 5(1)(e); Wpg art. 14 (retention).
# ---------------------------------------------------------------------------------------------

deny_clock contains "signal_expired" if {
	input.action == "upload"
	is_number(input.oldest_signal_at)
	input.oldest_signal_at < retention_cutoff
}


# ---------------------------------------------------------------------------------------------
# Rule 7 — enumeration guard: a daily identifier budget per requester and purpose; sweeping
# patterns are refused and flagged. AVG art. 5(1)(c), art. 32 (security).
# ---------------------------------------------------------------------------------------------

deny_clock contains "request_too_large" if {
	is_match
	input.identifier_count > purpose.max_identifiers_per_request
}

deny_clock contains "budget_exceeded" if {
	is_match
	input.usage.identifiers_today + input.identifier_count > purpose.daily_identifier_budget
}

deny_clock contains "rate_limited" if {
	is_match
	input.usage.requests_last_minute >= guard.max_requests_per_minute
}

# Many identifiers asked that almost never hit: someone is trying identifiers to see what
# sticks. Counted in identifiers, not requests: one request of a hundred identifiers is judged
# as a hundred requests of one (the broker counts a refused identifier as one without a hit).
deny_clock contains "sweep_suspected" if {
	is_match
	input.usage.identifiers_today >= guard.sweep_min_identifiers
	no_hit_percent := (input.usage.no_hits_today * 100) / input.usage.identifiers_today
	no_hit_percent >= guard.sweep_no_hit_percent
}


# ---------------------------------------------------------------------------------------------
# Audit trail and coalition membership (Wpg art. 32 logging; RIEC convenant)
# ---------------------------------------------------------------------------------------------

deny_audit_read contains "role_not_allowed" if not "privacy-officer" in input.requester.roles

deny_audit_read contains "audit_other_org" if {
	target_given
	input.target_org != input.requester.org
}

deny_withdraw contains "not_own_data" if {
	target_given
	input.target_org != input.requester.org
}

# Withdrawing is supplying undone: the roles that may supply under the purpose, not any role of
# the supplying organisation (an invented one included).
deny_withdraw contains "supplier_role_not_allowed" if {
	purpose
	not supplier_role_ok
}

deny_coalition_add contains "coalition_missing" if not coalition_given

deny_coalition_add contains "role_not_allowed" if not "coalitiebeheerder" in input.requester.roles

deny_coalition_add contains "target_missing" if not target_given

deny_coalition_add contains "target_unknown" if {
	target_given
	not reg.partners[input.target_org]
}

# The registry is the signed agreement: only listed members may be added to the MLS group.
deny_coalition_add contains "target_not_in_coalition" if {
	c = reg.coalitions[input.coalition]
	reg.partners[input.target_org]
	not input.target_org in c.members
}

# ---------------------------------------------------------------------------------------------
# Case channels (docs/COALITIONS.md, "Case channels"): an MLS group among the participants of a
# registered case. For the registration of a channel and for every organisation a commit adds to
# one, the broker reads the case from its database (`input.case`, absent when not registered)
# and asks whether the requester may bring `target_org` into the case's channel (itself, when it
# registers the channel). Who: a participant of the case whose token carries the registry's case
# role at an organisation that steers cases (`[cases] open_sectors`, `open_role`: the parties of
# the casusoverleg). Whom: the case's participants only — a private partner never takes part in
# a case (rule 2), so a supplier is never brought in. When: while the case is open or in
# intervention. RIEC convenant (Wgs): sharing within the partnership for the case; AVG art.
# 5(1)(b), (c).
# ---------------------------------------------------------------------------------------------

deny_case_channel contains "case_unknown" if not the_case

deny_case_channel contains "case_closed" if {
	c = the_case
	not c.state in query_states
}

deny_case_channel contains "case_not_participant" if {
	c = the_case
	not input.requester.org in c.participants
}

deny_case_channel contains "case_role_not_allowed" if not reg.cases.open_role in input.requester.roles

deny_case_channel contains "case_role_not_allowed" if not requester.sector in reg.cases.open_sectors

deny_case_channel contains "target_missing" if not target_given

deny_case_channel contains "target_not_participant" if {
	c = the_case
	target_given
	not input.target_org in c.participants
}

# ---------------------------------------------------------------------------------------------
# The ondermijningsbeeld: aggregate questions (POST /v1/aggregates, docs/BEELD.md). Who may ask
# which area level, measure and period under a purpose that offers a picture; the release
# rules come back as obligations. RIEC, police and the district teams see the whole unit at
# every level; a municipal analyst sees its own gemeente in detail (gemeente, wijk) and the
# rest of the unit only per district or as a whole. Wgs (RIEC partnership), AVG art. 5(1)(b).
# ---------------------------------------------------------------------------------------------

is_aggregate if input.action == "aggregate"

aggregates := purpose.aggregates

question := input.aggregate if is_object(input.aggregate)

deny_aggregate contains "purpose_unknown" if not reg.purposes[input.purpose]

deny_aggregate contains "purpose_inactive" if purpose.active == false

deny_aggregate contains "aggregate_question_missing" if not question

deny_aggregate contains "aggregates_not_offered" if {
	purpose
	not aggregates
}

deny_aggregate contains "aggregates_not_offered" if {
	q = question
	a = aggregates
	q.area != "none"
	not q.area in a.areas
}

deny_aggregate contains "aggregates_not_offered" if {
	q = question
	a = aggregates
	not q.measure in a.measures
}

deny_aggregate contains "aggregates_not_offered" if {
	q = question
	a = aggregates
	q.period != "none"
	not q.period in a.periods
}

deny_aggregate contains "sector_not_allowed" if {
	purpose
	requester
	not requester.sector in purpose.requester_sectors
}

deny_aggregate contains "role_not_allowed" if {
	purpose
	not role_ok
}

# A municipal analyst asks gemeente or wijk cells only of its own gemeente (the registry's
# `gemeente` of its partner entry), and must say so with the filter.
municipal if requester.sector == "gemeente"

deny_aggregate contains "area_not_allowed" if {
	municipal
	q = question
	q.area in {"gemeente", "wijk"}
	not own_gemeente_only
}

own_gemeente_only if {
	g = requester.gemeente
	is_string(g)
	count(question.gemeenten) > 0
	not other_gemeente_asked
}

other_gemeente_asked if {
	some x in question.gemeenten
	x != requester.gemeente
}

# ---------------------------------------------------------------------------------------------
# Feedback to the partners who signal (GET /v1/feedback, docs/CASES.md): counts of the
# requester's own signals that contributed to cases. Only a supplier asks: an organisation whose
# sector may supply under some purpose, asking in one of that purpose's supplier roles. What it
# is shown is its own organisation's figures only (the broker counts nothing else).
# ---------------------------------------------------------------------------------------------

supplies_somewhere if {
	some p in reg.purposes
	requester.sector in p.source_sectors
	some r in input.requester.roles
	r in object.get(p, "supplier_roles", p.roles)
}

deny_feedback contains "not_a_supplier" if not supplies_somewhere

# ---------------------------------------------------------------------------------------------
# The refusal reasons for the requested action
# ---------------------------------------------------------------------------------------------

# Groups: deny_all (every action), deny_purpose (actions under a purpose: match, upload,
# withdraw), deny_signals (match and upload), and one group per action. None of them reads the
# clock (`now`), the usage counters, the request size (`identifier_count`) or the age of the
# oldest signal: those reasons are in `deny_clock`, which names the actions it applies to itself.
stable_deny := ((deny_all | deny_purpose) | deny_signals) | deny_match if input.action == "match"

stable_deny := ((deny_all | deny_purpose) | deny_signals) | deny_upload if input.action == "upload"

stable_deny := (deny_all | deny_purpose) | deny_withdraw if input.action == "withdraw"

stable_deny := deny_all | deny_audit_read if input.action == "audit_read"

stable_deny := deny_all | deny_coalition_add if input.action == "coalition_add"

stable_deny := deny_all | deny_aggregate if input.action == "aggregate"

stable_deny := deny_all | deny_case_channel if input.action == "case_channel"

stable_deny := deny_all | deny_feedback if input.action == "feedback"

stable_deny := deny_all if not input.action in actions

# All refusal reasons are `stable_deny | deny_clock` (see `verdict` below): a request is allowed
# only when there are none.

# ---------------------------------------------------------------------------------------------
# Flags: refusals a privacy officer should look at, not just log.
# ---------------------------------------------------------------------------------------------

flag_codes := {"sweep_suspected", "budget_exceeded", "rate_limited", "scope_exceeded_identifiers"}

# ---------------------------------------------------------------------------------------------
# Obligations the broker enforces in code
# ---------------------------------------------------------------------------------------------

# Sectors whose signals may be revealed to this requester: the purpose's source sectors,
# without police-, OM- and RIEC-derived ones for a private requester, within the token's scope.
# (One comprehension over cached facts: comprehensions and function calls are what cost time
# on the engine, so there is no per-sector helper function here.)
revealable_sectors := {s |
	some s in purpose.source_sectors
	not s in hidden_sectors
	s in scope_sectors
}

# Sectors a private requester never sees (rule 2).
default hidden_sectors := set()

hidden_sectors := restricted_sectors if not requester_public

# A token scope that names sectors narrows them; without a scoped token, or with a scope that
# names no sectors (absent or empty: "as the purpose allows", docs/API.md), every source sector
# is in scope.
scope_names_sectors if count(scope.sectors) > 0

scope_sectors := scope.sectors if scope_names_sectors

scope_sectors := purpose.source_sectors if not scope_names_sectors

identifier_limits contains purpose.max_identifiers_per_request

identifier_limits contains purpose.daily_identifier_budget - input.usage.identifiers_today

identifier_limits contains scope.max_identifiers

default embargo_until := null

embargo_until := input.now + (purpose.embargo_days * seconds_per_day) if {
	is_match
	purpose.embargo_days > 0
}

# The obligations of an allowed request are `stable_grant` (what the request may see) plus
# `clock_grant` (the parts that depend on the clock and the usage counters).
stable_grant := {
	"disclosure_level": input.requested_level,
	"revealable_sectors": sort(revealable_sectors),
	"min_sources": purpose.min_sources,
	"retention_days": purpose.retention_days,
	"justification_required": requested_level > levels.hit,
} if is_match

stable_grant := {
	"disclosure_level": "none",
	"revealable_sectors": [],
	"max_identifiers": 0,
	"min_sources": purpose.min_sources,
	"embargo_until": null,
	"retention_days": purpose.retention_days,
	"justification_required": false,
} if input.action in {"upload", "withdraw"}

stable_grant := {
	"disclosure_level": "none",
	"revealable_sectors": [],
	"max_identifiers": 0,
	"min_sources": 0,
	"embargo_until": null,
	"retention_days": 0,
	"signals_not_before": null,
	"justification_required": false,
} if input.action in {"audit_read", "coalition_add", "case_channel", "feedback"}

stable_grant := {
	"disclosure_level": "none",
	"revealable_sectors": [],
	"max_identifiers": 0,
	"min_sources": aggregates.min_sources,
	"embargo_until": null,
	"retention_days": purpose.retention_days,
	"signals_not_before": null,
	"justification_required": false,
	"aggregate": {
		"k": aggregates.k,
		"wijk_k": aggregates.wijk_k,
		"min_sources": aggregates.min_sources,
		"max_share_percent": aggregates.max_share_percent,
		"epsilon_micro": aggregates.epsilon_micro,
		"monthly_epsilon_micro": aggregates.monthly_epsilon_micro,
		"rounding": aggregates.rounding,
		"contribution_cap": aggregates.contribution_cap,
		"signal_cap": aggregates.signal_cap,
		"snapshot_interval_secs": aggregates.snapshot_interval_secs,
		"max_range_days": aggregates.max_range_days,
	},
} if is_aggregate

# (The alternatives exclude each other, so `else` means the same as separate definitions; it
# lets an engine stop at the first that applies instead of trying them all on every request.)
clock_grant := {
	"max_identifiers": min(identifier_limits),
	"embargo_until": embargo_until,
	"signals_not_before": retention_cutoff,
} if {
	is_match
} else := {"signals_not_before": retention_cutoff} if {
	input.action in {"upload", "withdraw"}
} else := {} if {
	input.action in {"audit_read", "coalition_add", "aggregate", "case_channel", "feedback"}
}

refused_obligations := {
	"disclosure_level": "none",
	"revealable_sectors": [],
	"max_identifiers": 0,
	"min_sources": 0,
	"embargo_until": null,
	"retention_days": 0,
	"signals_not_before": null,
	"justification_required": false,
}

# ---------------------------------------------------------------------------------------------
# The decision
# ---------------------------------------------------------------------------------------------

# Everything the decision needs that does not depend on the clock, the usage counters, the
# request size or the age of the oldest signal. (`grant` has one element, or none when the
# request's obligations are undefined.) An engine may keep this for requests that differ only
# in those fields: see `decision_given_facts` below and docs/POLICY.md, "Speed".
request_facts := {
	"deny": stable_deny,
	"grant": [g | g := stable_grant],
}

decision := verdict(request_facts)

# The decision from the request facts and the fields that change with every request.
verdict(facts) := {
	"allow": count(reasons) == 0,
	"reasons": sort(reasons),
	"flags": sort(reasons & flag_codes),
	"obligations": obligations_for(facts.grant, count(reasons) == 0),
} if {
	reasons = facts.deny | deny_clock
}

obligations_for(grant, allowed) := object.union(grant[0], clock_grant) if {
	allowed
} else := refused_obligations if {
	not allowed
}

# For an engine only (never for the broker or a deployment's own queries): `decision` from
# facts that the engine computed earlier, as `request_facts`, for a request with the same
# fields apart from the clock, the usage counters, the request size and the oldest signal.
decision_given_facts := verdict(input.request_facts)
