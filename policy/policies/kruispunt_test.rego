# Tests of data.kruispunt.decision: for each of the seven rules, inputs that must be allowed
# and inputs that must be refused. Fixtures: fixtures_test.rego.
package kruispunt_test

import rego.v1

import data.kruispunt

# ---------------------------------------------------------------------------------------------
# Rule 1 — purpose registered and active; requester a party; role allowed
# ---------------------------------------------------------------------------------------------

test_kvo_match_allowed if allowed(kvo_match)

test_kvo_upload_allowed if allowed(kvo_upload)

test_beeld_aggregate_allowed if allowed(beeld_query)

test_purpose_unknown_denied if denied(patch(kvo_match, {"purpose": "schuren-kijken"}), "purpose_unknown")

test_purpose_inactive_denied if denied(patch(kvo_match, {"purpose": "dormant"}), "purpose_inactive")

test_purpose_expired_denied if denied(patch(kvo_match, {"purpose": "lapsed"}), "purpose_expired")

test_not_a_party_denied if {
	inp := patch(drop(kvo_match, ["coalition"]), {"requester": {"org": "kvo-b"}})
	denied(inp, "not_a_party")
}

test_role_not_allowed_denied if {
	inp := json.patch(kvo_match, [{"op": "replace", "path": "/requester/roles", "value": ["kantine"]}])
	denied(inp, "role_not_allowed")
}

test_requester_unknown_denied if denied(patch(kvo_match, {"requester": {"org": "kvo-onbekend"}}), "requester_unknown")

test_requester_mismatch_denied if denied(patch(kvo_match, {"requester": {"public": true}}), "requester_mismatch")

test_coalition_unknown_denied if denied(patch(kvo_match, {"coalition": "nergens"}), "coalition_unknown")

test_not_a_coalition_member_denied if denied(patch(kvo_match, {"coalition": "casus"}), "not_a_coalition_member")

test_coalition_purpose_mismatch_denied if {
	inp := patch(police19, {"coalition": "casus"})
	denied(inp, "coalition_purpose_mismatch")
}

test_sector_not_allowed_denied if {
	inp := patch(bibob_match, {"requester": {"org": "riec", "sector": "riec"}})
	denied(inp, "sector_not_allowed")
}

test_recipient_not_allowed_denied if {
	inp := patch(police20, {"requester": {"org": "om", "sector": "om"}})
	denied(inp, "recipient_not_allowed")
}

test_kind_not_allowed_denied if denied(patch(kvo_match, {"identifier_kinds": ["iban"]}), "kind_not_allowed")

test_identifier_kinds_missing_denied if denied(patch(kvo_match, {"identifier_kinds": []}), "identifier_kinds_missing")

test_unknown_signal_code_denied if denied(patch(kvo_upload, {"signal_codes": ["cash-car-purchase"]}), "unknown_signal_code")

test_source_sector_not_allowed_denied if {
	inp := json.patch(kvo_upload, [
		{"op": "replace", "path": "/requester", "value": {"org": "riec", "sector": "riec", "public": true, "roles": ["analist"], "user": "a"}},
	])
	denied(inp, "source_sector_not_allowed")
}

# Who may supply is not who may ask (`supplier_roles` against `roles`).

dealer_upload_wpg19 := patch(kvo_upload, {
	"requester": {"org": "auto-a", "sector": "autobranche", "public": false, "roles": ["compliance"], "user": "verkoop"},
	"purpose": "wpg19", "coalition": "auto-mn", "identifier_kinds": ["kenteken"], "signal_codes": ["cash-car-purchase"],
})

test_dealer_supplies_police_purpose_allowed if allowed(dealer_upload_wpg19)

test_kvo_supplies_police_purpose_allowed if allowed(patch(kvo_upload, {"purpose": "wpg19"}))

test_horeca_supplies_bibob_allowed if {
	inp := patch(kvo_upload, {
		"requester": {"org": "horeca-a", "sector": "horeca", "public": false, "roles": ["signaleerder"], "user": "kroeg"},
		"purpose": "bibob", "coalition": "bibob-gooi", "identifier_kinds": ["kvk"], "signal_codes": ["cash-loan-offer"],
	})
	allowed(inp)
}

# A supplier role does not make an asker: the dealer may not query the police purpose.
test_supplier_asking_police_purpose_denied if {
	inp := patch(auto_match, {"purpose": "wpg19", "identifier_kinds": ["kenteken"]})
	d := decide(inp)
	d.allow == false
	"role_not_allowed" in d.reasons
	"sector_not_allowed" in d.reasons
	"private_recipient_police_data" in d.reasons
}

# Nor does an asking role make a supplier.
test_supplier_role_not_allowed_denied if {
	inp := json.patch(dealer_upload_wpg19, [{"op": "replace", "path": "/requester/roles", "value": ["rechercheur"]}])
	d := decide(inp)
	d.allow == false
	d.reasons == ["supplier_role_not_allowed"]
}

# Without `supplier_roles` the purpose's `roles` supply.
test_supplier_roles_default_to_roles if {
	allowed(json.patch(kvo_upload, [{"op": "replace", "path": "/requester/roles", "value": ["analist"]}]))
	denied(json.patch(kvo_upload, [{"op": "replace", "path": "/requester/roles", "value": ["kantine"]}]), "supplier_role_not_allowed")
}

# Rule 3 holds for suppliers of police purposes: no BSN from a private partner.
test_dealer_bsn_for_police_purpose_denied if {
	denied(patch(dealer_upload_wpg19, {"identifier_kinds": ["bsn"]}), "bsn_private_partner")
}

# Supplying still needs a source sector: a supplier role alone is not enough.
test_supplier_outside_source_sectors_denied if {
	reg := json.patch(registry, [{"op": "replace", "path": "/purposes/wpg19/source_sectors", "value": ["kvo"]}])
	d := kruispunt.decision with input as dealer_upload_wpg19 with data.registry as reg
	d.allow == false
	d.reasons == ["source_sector_not_allowed"]
}

test_unknown_action_denied if denied(patch(kvo_match, {"action": "delete"}), "action_unknown")

# ---------------------------------------------------------------------------------------------
# Rule 2 — private partners never receive police-, RIEC- or Bibob-derived data; no
# private-to-private person-level warnings without an AP permit
# ---------------------------------------------------------------------------------------------

test_private_recipient_police_data_denied if {
	inp := patch(kvo_match, {"purpose": "wpg19", "identifier_kinds": ["kenteken"]})
	denied(inp, "private_recipient_police_data")
}

test_private_scope_on_police_sectors_denied if {
	scope := {
		"purpose": "kvo", "kinds": ["adres"], "sectors": ["kvo", "politie"],
		"max_identifiers": 5, "not_after": now + 60,
	}
	denied(patch(kvo_match, {"token_scope": scope}), "private_recipient_police_data")
}

test_private_recipient_riec_data_denied if {
	inp := patch(kvo_match, {"purpose": "wpg20", "coalition": "casus", "identifier_kinds": ["kvk"]})
	denied(inp, "private_recipient_riec_data")
}

test_private_recipient_bibob_data_denied if {
	inp := patch(bibob_match, {"requester": {"org": "horeca-a", "sector": "horeca", "public": false}})
	denied(inp, "private_recipient_bibob_data")
}

test_public_recipient_bibob_allowed if allowed(bibob_match)

test_private_person_warning_without_permit_denied if {
	inp := patch(kvo_match, {"identifier_kinds": ["telefoon"]})
	denied(inp, "private_person_warning_without_permit")
}

test_private_person_warning_with_permit_allowed if allowed(auto_match)

test_private_object_level_match_allowed if allowed(patch(kvo_match, {"identifier_kinds": ["kenteken"]}))

test_private_revealable_sectors_exclude_restricted if {
	reg := json.patch(registry, [{"op": "replace", "path": "/purposes/kvo/source_sectors", "value": ["kvo", "gemeente", "riec", "politie"]}])
	d := kruispunt.decision with input as kvo_match with data.registry as reg
	d.allow
	d.obligations.revealable_sectors == ["gemeente", "kvo"]
}

test_public_revealable_sectors_limited_by_scope if {
	d := decide(police19)
	d.obligations.revealable_sectors == ["autobranche", "kvo"]
}

# ---------------------------------------------------------------------------------------------
# Rule 3 — BSN never from or to private partners
# ---------------------------------------------------------------------------------------------

test_bsn_upload_from_private_denied if {
	inp := patch(kvo_upload, {
		"requester": {"org": "auto-a", "sector": "autobranche", "roles": ["compliance"]},
		"purpose": "auto", "coalition": "auto-mn", "identifier_kinds": ["bsn"], "signal_codes": ["cash-car-purchase"],
	})
	denied(inp, "bsn_private_partner")
}

test_bsn_match_by_private_denied if denied(patch(auto_match, {"identifier_kinds": ["bsn"]}), "bsn_private_partner")

test_bsn_match_by_police_allowed if {
	inp := json.patch(police19, [
		{"op": "replace", "path": "/identifier_kinds", "value": ["bsn"]},
		{"op": "replace", "path": "/token_scope/kinds", "value": ["bsn"]},
		{"op": "replace", "path": "/consent/kinds", "value": ["bsn"]},
	])
	allowed(inp)
}

# ---------------------------------------------------------------------------------------------
# Rule 4 — police: case reference, legal basis, art. 19 consent / art. 20 decision, scope
# ---------------------------------------------------------------------------------------------

test_police19_allowed if allowed(police19)

test_police20_allowed if allowed(police20)

test_police_case_reference_missing_denied if denied(drop(police19, ["case_reference"]), "case_reference_missing")

test_police_empty_case_reference_denied if denied(patch(police19, {"case_reference": "  "}), "case_reference_missing")

test_police_legal_basis_missing_denied if denied(drop(police19, ["legal_basis"]), "legal_basis_missing")

test_police_legal_basis_mismatch_denied if denied(patch(police19, {"legal_basis": "wpg-art-20"}), "legal_basis_mismatch")

test_police19_consent_missing_denied if denied(drop(police19, ["consent_id"]), "consent_missing")

test_police20_decision_missing_denied if denied(drop(police20, ["consent_id"]), "partnership_decision_missing")

test_police20_decision_unknown_denied if {
	inp := json.patch(police20, [
		{"op": "replace", "path": "/consent_id", "value": "pd-verzonnen"},
		{"op": "replace", "path": "/token_scope/consent_id", "value": "pd-verzonnen"},
	])
	denied(inp, "partnership_decision_unknown")
}

test_police20_decision_expired_denied if {
	inp := json.patch(police20, [
		{"op": "replace", "path": "/consent_id", "value": "pd-old"},
		{"op": "replace", "path": "/token_scope/consent_id", "value": "pd-old"},
	])
	denied(inp, "partnership_decision_expired")
}

test_police20_decision_other_partnership_denied if {
	denied(patch(police20, {"coalition": "kvo-oost"}), "partnership_decision_mismatch")
}

test_police20_decision_recipient_denied if {
	reg := json.patch(registry, [{"op": "replace", "path": "/partnership_decisions/pd-1/recipients", "value": ["riec"]}])
	d := kruispunt.decision with input as police20 with data.registry as reg
	not d.allow
	"partnership_decision_mismatch" in d.reasons
}

test_police_scope_missing_denied if denied(drop(police19, ["token_scope"]), "scope_missing")

test_scope_purpose_mismatch_denied if denied(patch(police19, {"token_scope": {"purpose": "wpg20"}}), "scope_purpose_mismatch")

test_scope_case_mismatch_denied if denied(patch(police19, {"token_scope": {"case_reference": "PL0900-2025-9999"}}), "scope_case_mismatch")

test_scope_legal_basis_mismatch_denied if {
	denied(patch(police19, {"token_scope": {"legal_basis": "wpg-art-20"}}), "scope_legal_basis_mismatch")
}

test_scope_consent_mismatch_denied if denied(patch(police19, {"token_scope": {"consent_id": "OvJ-ANDERS"}}), "scope_consent_mismatch")

test_scope_exceeded_kinds_denied if denied(patch(police19, {"identifier_kinds": ["adres"]}), "scope_exceeded_kinds")

# Rule 4 — the case and the consent the broker knows (docs/CASES.md)

test_police_case_unknown_denied if denied(drop(police19, ["case"]), "case_unknown")

test_police20_case_unknown_denied if denied(drop(police20, ["case"]), "case_unknown")

# The case handed in must be the one the request names.
test_police_case_of_another_reference_denied if {
	denied(patch(police19, {"case": object.union(police19.case, {"reference": "PL0900-2025-9999"})}), "case_unknown")
}

test_police_case_closed_denied if denied(patch(police19, {"case": object.union(police19.case, {"state": "closed"})}), "case_closed")

test_police20_case_closed_denied if denied(patch(police20, {"case": object.union(police20.case, {"state": "closed"})}), "case_closed")

test_police_case_in_intervention_allowed if allowed(patch(police19, {"case": object.union(police19.case, {"state": "intervention"})}))

test_police_case_not_participant_denied if {
	denied(patch(police19, {"case": object.union(police19.case, {"participants": ["om", "riec"]})}), "case_not_participant")
}

# Outside Wpg purposes a case reference stays the requester's own label.
test_kvo_case_reference_needs_no_registered_case if {
	inp := patch(kvo_match, {"requested_level": "categories", "justification": justification, "case_reference": "KVO-2025-3"})
	allowed(inp)
}

test_police19_consent_unknown_denied if denied(drop(police19, ["consent"]), "consent_unknown")

test_police19_consent_of_another_id_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"id": "OvJ-ANDERS"})}), "consent_unknown")
}

test_police19_consent_withdrawn_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"withdrawn": true})}), "consent_withdrawn")
}

test_police19_consent_expired_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"valid_until": now})}), "consent_expired")
}

test_police19_consent_valid_until_later_allowed if {
	allowed(patch(police19, {"consent": object.union(police19.consent, {"valid_until": now + 1})}))
}

test_police19_consent_other_case_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"case_reference": "PL0900-2025-0077"})}), "consent_other_case")
}

test_police19_consent_other_purpose_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"purpose": "wpg20"})}), "consent_other_purpose")
}

test_police19_consent_self_issued_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"issuer_org": "politie"})}), "consent_self_issued")
}

test_police19_consent_kind_exceeded_denied if {
	inp := json.patch(police19, [
		{"op": "replace", "path": "/consent/kinds", "value": ["kvk"]},
		{"op": "replace", "path": "/token_scope/kinds", "value": ["kvk", "kenteken"]},
	])
	denied(inp, "consent_scope_exceeded")
}

test_police19_consent_scope_kinds_exceeded_denied if {
	inp := json.patch(police19, [{"op": "replace", "path": "/consent/kinds", "value": ["kenteken"]}])
	denied(inp, "consent_scope_exceeded")
}

test_police19_consent_scope_kinds_equal_allowed if {
	inp := json.patch(police19, [
		{"op": "replace", "path": "/consent/kinds", "value": ["kenteken"]},
		{"op": "replace", "path": "/token_scope/kinds", "value": ["kenteken"]},
	])
	allowed(inp)
}

test_police19_consent_ceiling_exceeded_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"ceiling": "categories"})}), "consent_scope_exceeded")
}

test_police19_consent_ceiling_unknown_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"ceiling": "alles"})}), "consent_scope_exceeded")
}

test_police19_consent_ceiling_lower_request_allowed if {
	inp := patch(police19, {"requested_level": "hit", "consent": object.union(police19.consent, {"ceiling": "hit"})})
	allowed(inp)
}

test_police19_consent_max_identifiers_below_scope_denied if {
	denied(patch(police19, {"consent": object.union(police19.consent, {"max_identifiers": 9})}), "consent_scope_exceeded")
}

# Art. 20 rests on the registry's partnership decision, not on a consent record.
test_police20_needs_no_consent_record if allowed(drop(police20, ["consent"]))

test_scope_exceeded_identifiers_denied if {
	d := decide(patch(police19, {"identifier_count": 11}))
	not d.allow
	"scope_exceeded_identifiers" in d.reasons
	"scope_exceeded_identifiers" in d.flags
}

test_scope_expired_denied if denied(patch(police19, {"now": now + 3600}), "scope_expired")

test_police_embargo_obligation if {
	d := decide(police19)
	d.obligations.embargo_until == now + (30 * 86400)
}

test_non_police_no_embargo if decide(kvo_match).obligations.embargo_until == null

# ---------------------------------------------------------------------------------------------
# Rule 5 — tiered disclosure with a recorded justification above hit
# ---------------------------------------------------------------------------------------------

test_hit_without_justification_allowed if {
	inp := patch(drop(police19, ["justification"]), {"requested_level": "hit"})
	d := decide(inp)
	d.allow
	d.obligations.disclosure_level == "hit"
	d.obligations.justification_required == false
}

test_details_with_justification_allowed if {
	d := decide(police19)
	d.allow
	d.obligations.disclosure_level == "details"
	d.obligations.justification_required == true
}

test_details_without_justification_denied if denied(drop(police19, ["justification"]), "justification_required")

test_tickbox_justification_denied if denied(patch(police19, {"justification": "nodig"}), "justification_required")

test_categories_without_case_denied if {
	inp := patch(kvo_match, {"requested_level": "categories", "justification": justification})
	denied(inp, "case_reference_missing")
}

test_categories_with_case_allowed if {
	inp := patch(kvo_match, {"requested_level": "categories", "justification": justification, "case_reference": "KVO-2025-3"})
	allowed(inp)
}

test_level_above_ceiling_denied if {
	inp := patch(kvo_match, {"requested_level": "details", "justification": justification, "case_reference": "KVO-2025-3"})
	denied(inp, "level_above_ceiling")
}

test_aggregate_purpose_refuses_hits if denied(patch(beeld_query, {"requested_level": "hit"}), "level_above_ceiling")

# ---------------------------------------------------------------------------------------------
# Rule 6 — retention: expired signals never match, are never accepted
# ---------------------------------------------------------------------------------------------

test_upload_expired_signal_denied if denied(patch(kvo_upload, {"oldest_signal_at": now - (366 * 86400)}), "signal_expired")

test_upload_signal_just_within_retention_allowed if allowed(patch(kvo_upload, {"oldest_signal_at": now - (365 * 86400)}))

test_match_obligation_signals_not_before if {
	d := decide(kvo_match)
	d.obligations.signals_not_before == now - (365 * 86400)
	d.obligations.retention_days == 365
}

# ---------------------------------------------------------------------------------------------
# Rule 7 — enumeration guard: daily budget; sweeps refused and flagged
# ---------------------------------------------------------------------------------------------

test_budget_exactly_spent_allowed if allowed(patch(kvo_match, {"usage": {"identifiers_today": 499}}))

test_budget_exceeded_denied_and_flagged if {
	d := decide(patch(kvo_match, {"usage": {"identifiers_today": 500}}))
	not d.allow
	"budget_exceeded" in d.reasons
	"budget_exceeded" in d.flags
}

test_request_too_large_denied if denied(patch(kvo_match, {"identifier_count": 101}), "request_too_large")

test_rate_limited_denied if denied(patch(kvo_match, {"usage": {"requests_last_minute": 60}}), "rate_limited")

test_sweep_suspected_denied_and_flagged if {
	d := decide(patch(kvo_match, {"usage": {"identifiers_today": 80, "queries_today": 80, "no_hits_today": 79}}))
	not d.allow
	"sweep_suspected" in d.reasons
	"sweep_suspected" in d.flags
}

# The guard counts identifiers, not requests: 80 identifiers in one request with 79 no-hits
# are a sweep as 80 requests of one are.
test_sweep_in_one_large_request_denied if {
	d := decide(patch(kvo_match, {"usage": {"identifiers_today": 80, "queries_today": 1, "no_hits_today": 79}}))
	"sweep_suspected" in d.reasons
}

# Many requests, but fewer identifiers than the guard's minimum: not judged yet.
test_sweep_below_minimum_identifiers_allowed if allowed(patch(kvo_match, {"usage": {"identifiers_today": 49, "queries_today": 80, "no_hits_today": 49}}))

test_many_queries_with_hits_allowed if allowed(patch(kvo_match, {"usage": {"identifiers_today": 80, "queries_today": 80, "no_hits_today": 40}}))

test_max_identifiers_is_tightest_limit if {
	d := decide(patch(police19, {"usage": {"identifiers_today": 195}}))
	d.allow
	d.obligations.max_identifiers == 5
}

# ---------------------------------------------------------------------------------------------
# Audit trail, withdrawal, coalition membership
# ---------------------------------------------------------------------------------------------

test_audit_read_own_allowed if allowed(audit_read)

test_audit_read_other_org_denied if denied(patch(audit_read, {"target_org": "auto-a"}), "audit_other_org")

test_audit_read_without_role_denied if {
	denied(json.patch(audit_read, [{"op": "replace", "path": "/requester/roles", "value": ["signaleerder"]}]), "role_not_allowed")
}

test_withdraw_own_allowed if allowed(withdraw)

test_withdraw_others_denied if denied(patch(withdraw, {"target_org": "kvo-b"}), "not_own_data")

# Any role of the supplying organisation is not enough: only the purpose's supplier roles.
test_withdraw_invented_role_denied if {
	d := decide(json.patch(withdraw, [{"op": "replace", "path": "/requester/roles", "value": ["stagiair"]}]))
	d.allow == false
	d.reasons == ["supplier_role_not_allowed"]
}

test_withdraw_follows_supplier_roles if {
	inp := patch(withdraw, {
		"requester": {"org": "auto-a", "sector": "autobranche", "public": false, "roles": ["compliance"], "user": "verkoop"},
		"purpose": "wpg19", "target_org": "auto-a",
	})
	allowed(inp)
	denied(json.patch(inp, [{"op": "replace", "path": "/requester/roles", "value": ["rechercheur"]}]), "supplier_role_not_allowed")
}

test_coalition_add_listed_member_allowed if allowed(coalition_add)

test_coalition_add_unlisted_org_denied if denied(patch(coalition_add, {"target_org": "kvo-b"}), "target_not_in_coalition")

test_coalition_add_unknown_org_denied if denied(patch(coalition_add, {"target_org": "bv-schimmig"}), "target_unknown")

test_coalition_add_by_outsider_denied if {
	inp := patch(coalition_add, {"requester": {"org": "auto-a", "sector": "autobranche", "public": false}})
	denied(inp, "not_a_coalition_member")
}

test_coalition_add_without_target_denied if denied(drop(coalition_add, ["target_org"]), "target_missing")

test_coalition_add_without_coalition_denied if denied(drop(coalition_add, ["coalition"]), "coalition_missing")

# ---------------------------------------------------------------------------------------------
# Case channels: participants of a registered, not closed case, brought in by a case director
# who takes part in it
# ---------------------------------------------------------------------------------------------

test_case_channel_participant_allowed if allowed(case_channel)

# Registering the channel: the creator is the target.
test_case_channel_registration_allowed if allowed(patch(case_channel, {"target_org": "riec"}))

test_case_channel_in_intervention_allowed if {
	allowed(patch(case_channel, {"case": object.union(case_channel.case, {"state": "intervention"})}))
}

test_case_channel_unregistered_case_denied if denied(drop(case_channel, ["case"]), "case_unknown")

test_case_channel_case_of_another_reference_denied if {
	denied(patch(case_channel, {"case_reference": "MN-2025-0043"}), "case_unknown")
}

test_case_channel_closed_case_denied if {
	denied(patch(case_channel, {"case": object.union(case_channel.case, {"state": "closed"})}), "case_closed")
}

test_case_channel_by_non_participant_denied if {
	inp := patch(case_channel, {"requester": {"org": "gemeente-a", "sector": "gemeente", "public": true, "roles": ["casusregisseur"], "user": "regisseur"}})
	denied(inp, "case_not_participant")
}

# A participant without the case role (the detective, the OM's officer of justice) does not
# bring anyone in.
test_case_channel_without_case_role_denied if {
	inp := json.patch(case_channel, [{"op": "replace", "path": "/requester/roles", "value": ["rechercheur"]}])
	denied(inp, "case_role_not_allowed")
}

# The OM takes part but does not steer cases: the role alone is not enough.
test_case_channel_from_sector_that_does_not_steer_cases_denied if {
	inp := patch(case_channel, {"requester": {"org": "om", "sector": "om", "public": true, "roles": ["casusregisseur"], "user": "ovj"}})
	denied(inp, "case_role_not_allowed")
}

# A registry without [cases] lets nobody register a channel.
test_case_channel_without_case_rules_denied if {
	d := kruispunt.decision with input as case_channel with data.registry as object.remove(registry, ["cases"])
	d.allow == false
	"case_role_not_allowed" in d.reasons
}

test_case_channel_non_participant_target_denied if {
	denied(patch(case_channel, {"target_org": "gemeente-a"}), "target_not_participant")
}

# A supplier is never a participant, so never brought in.
test_case_channel_supplier_target_denied if denied(patch(case_channel, {"target_org": "kvo-a"}), "target_not_participant")

test_case_channel_without_target_denied if denied(drop(case_channel, ["target_org"]), "target_missing")

# The coalition's own rules do not open a case channel: a coalition administrator's role is not
# the case role.
test_case_channel_coalition_admin_role_denied if {
	inp := json.patch(case_channel, [{"op": "replace", "path": "/requester/roles", "value": ["coalitiebeheerder"]}])
	denied(inp, "case_role_not_allowed")
}

# ---------------------------------------------------------------------------------------------
# Shape of refusals
# ---------------------------------------------------------------------------------------------

test_refusal_obligations_are_most_restrictive if {
	d := decide(drop(police19, ["case_reference"]))
	not d.allow
	d.obligations.disclosure_level == "none"
	d.obligations.revealable_sectors == []
	d.obligations.max_identifiers == 0
}

test_allowed_decision_has_no_reasons if {
	d := decide(police19)
	d.reasons == []
	d.flags == []
}

test_all_reasons_reported if {
	d := decide(drop(police19, ["case_reference", "legal_basis"]))
	"case_reference_missing" in d.reasons
	"legal_basis_missing" in d.reasons
}

# ---------------------------------------------------------------------------------------------
# Grouping by action: each action is judged by its own rules and the common ones only
# ---------------------------------------------------------------------------------------------

test_unknown_action_gets_only_common_reasons if {
	d := decide(patch(kvo_match, {"action": "delete_everything"}))
	not d.allow
	d.reasons == ["action_unknown"]
}

test_upload_is_not_judged_by_match_rules if {
	# A disclosure level and no justification would refuse a match, not an upload.
	allowed(patch(kvo_upload, {"requested_level": "details"}))
}

test_coalition_add_is_not_judged_by_purpose_rules if {
	allowed(patch(coalition_add, {"purpose": "schuren-kijken"}))
}

test_scope_rules_apply_to_every_action if {
	inp := patch(withdraw, {"token_scope": {"purpose": "auto", "kinds": [], "sectors": [], "max_identifiers": 0, "not_after": now + 60}})
	denied(inp, "scope_purpose_mismatch")
}

test_withdraw_gets_purpose_rules if denied(patch(withdraw, {"purpose": "schuren-kijken"}), "purpose_unknown")

test_blank_case_reference_is_missing if denied(patch(police19, {"case_reference": "   "}), "case_reference_missing")

test_blank_consent_is_missing if denied(patch(police19, {"consent_id": ""}), "consent_missing")

test_blank_target_is_missing if denied(patch(coalition_add, {"target_org": " "}), "target_missing")

# ---------------------------------------------------------------------------------------------
# Revealable sectors
# ---------------------------------------------------------------------------------------------

test_public_revealable_sectors_without_scope_are_all_source_sectors if {
	reg := json.patch(registry, [{"op": "replace", "path": "/purposes/kvo/source_sectors", "value": ["kvo", "riec", "gemeente", "kvo"]}])
	inp := patch(kvo_match, {"requester": {"org": "gemeente-a", "sector": "gemeente", "public": true}})
	d := kruispunt.decision with input as inp with data.registry as reg
	d.allow
	d.obligations.revealable_sectors == ["gemeente", "kvo", "riec"]
}

# A scope naming no sectors (empty or absent) leaves them "as the purpose allows".
test_police_scope_without_sectors_reveals_purpose_sectors if {
	all_sectors := ["autobranche", "gemeente", "horeca", "kvo", "politie", "riec"]
	decide(patch(police19, {"token_scope": {"sectors": []}})).obligations.revealable_sectors == all_sectors
	d := decide(json.patch(police19, [{"op": "remove", "path": "/token_scope/sectors"}]))
	d.allow
	d.obligations.revealable_sectors == all_sectors
}

test_private_scope_without_sectors_still_hides_restricted if {
	reg := json.patch(registry, [{"op": "replace", "path": "/purposes/kvo/source_sectors", "value": ["kvo", "gemeente", "politie", "riec"]}])
	inp := patch(kvo_match, {"token_scope": {"purpose": "kvo", "kinds": ["adres"], "sectors": [], "max_identifiers": 10, "not_after": now + 60}})
	d := kruispunt.decision with input as inp with data.registry as reg
	d.allow
	d.obligations.revealable_sectors == ["gemeente", "kvo"]
}

test_private_revealable_sectors_limited_by_scope if {
	inp := patch(kvo_match, {"token_scope": {"purpose": "kvo", "kinds": ["adres"], "sectors": ["gemeente", "horeca"], "max_identifiers": 10, "not_after": now + 60}})
	d := decide(inp)
	d.allow
	d.obligations.revealable_sectors == ["gemeente"]
}

# ---------------------------------------------------------------------------------------------
# The ondermijningsbeeld: aggregate questions
# ---------------------------------------------------------------------------------------------

test_aggregate_riec_allowed_at_every_level if {
	every area in ["unit", "district", "gemeente", "wijk", "none"] {
		allowed(patch(beeld_aggregate, {"aggregate": {"area": area, "measure": "subjects", "period": "none", "gemeenten": []}}))
	}
}

test_aggregate_obligations_are_the_registry_rules if {
	d := decide(beeld_aggregate)
	d.obligations.aggregate.k == 10
	d.obligations.aggregate.wijk_k == 50
	d.obligations.aggregate.min_sources == 3
	d.obligations.aggregate.max_share_percent == 85
	d.obligations.aggregate.epsilon_micro == 500000
	d.obligations.aggregate.monthly_epsilon_micro == 10000000
	d.obligations.aggregate.rounding == 5
	d.obligations.aggregate.contribution_cap == 4
	d.obligations.aggregate.snapshot_interval_secs == 3600
	d.obligations.disclosure_level == "none"
}

test_aggregate_refused_obligations_have_no_rules if {
	d := decide(patch(beeld_aggregate, {"purpose": "kvo"}))
	d.allow == false
	not d.obligations.aggregate
}

test_aggregate_purpose_without_picture_denied if denied(patch(beeld_aggregate, {"purpose": "kvo"}), "aggregates_not_offered")

test_aggregate_unknown_purpose_denied if denied(patch(beeld_aggregate, {"purpose": "schuren-kijken"}), "purpose_unknown")

test_aggregate_question_missing_denied if denied(drop(beeld_aggregate, ["aggregate"]), "aggregate_question_missing")

test_aggregate_area_not_offered_denied if {
	rules := object.union(beeld_rules, {"areas": ["unit", "district"]})
	inp := beeld_aggregate
	d := decide_with_rules(inp, rules)
	d.allow == false
	"aggregates_not_offered" in d.reasons
}

test_aggregate_measure_not_offered_denied if {
	rules := object.union(beeld_rules, {"measures": ["subjects"]})
	inp := patch(beeld_aggregate, {"aggregate": {"area": "district", "measure": "cross_sector", "period": "none", "gemeenten": []}})
	d := decide_with_rules(inp, rules)
	"aggregates_not_offered" in d.reasons
}

test_aggregate_period_not_offered_denied if {
	rules := object.union(beeld_rules, {"periods": ["quarter"]})
	d := decide_with_rules(beeld_aggregate, rules)
	"aggregates_not_offered" in d.reasons
}

test_aggregate_sector_not_allowed_denied if {
	inp := patch(beeld_aggregate, {"requester": {"org": "kvo-a", "sector": "kvo", "public": false, "roles": ["analist"], "user": "k"}})
	denied(inp, "sector_not_allowed")
}

test_aggregate_role_not_allowed_denied if {
	inp := json.patch(beeld_aggregate, [{"op": "replace", "path": "/requester/roles", "value": ["signaleerder"]}])
	denied(inp, "role_not_allowed")
}

test_aggregate_scope_purpose_bounds_the_question if {
	scope := {"purpose": "kvo", "kinds": [], "sectors": [], "max_identifiers": 0, "not_after": now + 3600}
	denied(patch(beeld_aggregate, {"token_scope": scope}), "scope_purpose_mismatch")
	allowed(patch(beeld_aggregate, {"token_scope": object.union(scope, {"purpose": "beeld"})}))
}

test_aggregate_municipal_analyst_own_gemeente_allowed if {
	allowed(municipal_aggregate)
	allowed(patch(municipal_aggregate, {"aggregate": {"area": "wijk", "measure": "subjects", "period": "none", "gemeenten": ["GM0001"]}}))
}

test_aggregate_municipal_analyst_rest_of_unit_per_district if {
	allowed(patch(municipal_aggregate, {"aggregate": {"area": "district", "measure": "subjects", "period": "month", "gemeenten": []}}))
	allowed(patch(municipal_aggregate, {"aggregate": {"area": "unit", "measure": "cross_sector", "period": "none", "gemeenten": []}}))
}

test_aggregate_municipal_analyst_other_gemeente_denied if {
	denied(patch(municipal_aggregate, {"aggregate": {"area": "gemeente", "measure": "subjects", "period": "month", "gemeenten": ["GM0002"]}}), "area_not_allowed")
	denied(patch(municipal_aggregate, {"aggregate": {"area": "gemeente", "measure": "subjects", "period": "month", "gemeenten": ["GM0001", "GM0002"]}}), "area_not_allowed")
	denied(patch(municipal_aggregate, {"aggregate": {"area": "wijk", "measure": "subjects", "period": "month", "gemeenten": []}}), "area_not_allowed")
}

test_aggregate_municipal_analyst_without_gemeente_denied_detail if {
	inp := patch(municipal_aggregate, {"requester": {"org": "gemeente-z", "sector": "gemeente", "public": true, "roles": ["analist"], "user": "z"}})
	denied(inp, "area_not_allowed")
}

test_aggregate_expired_purpose_denied if {
	reg := json.patch(registry, [{"op": "add", "path": "/purposes/beeld/valid_until", "value": 1}])
	d := kruispunt.decision with input as beeld_aggregate with data.registry as reg
	"purpose_expired" in d.reasons
}

# The decision with the picture's rules of purpose `beeld` replaced.
decide_with_rules(inp, rules) := d if {
	reg := json.patch(registry, [{"op": "replace", "path": "/purposes/beeld/aggregates", "value": rules}])
	d := kruispunt.decision with input as inp with data.registry as reg
}

# ---------------------------------------------------------------------------------------------
# Feedback to the partners who signal: suppliers only
# ---------------------------------------------------------------------------------------------

feedback := {
	"action": "feedback",
	"requester": {"org": "kvo-a", "sector": "kvo", "public": false, "roles": ["signaleerder"], "user": "boer.jansen"},
	"purpose": "",
	"usage": no_usage,
	"now": now,
}

test_feedback_supplier_allowed if allowed(feedback)

test_feedback_supplier_in_an_asking_role_only_denied if {
	denied(patch(feedback, {"requester": {"org": "kvo-a", "sector": "kvo", "public": false, "roles": ["nobody"], "user": "x"}}), "not_a_supplier")
}

test_feedback_non_supplier_denied if {
	# The OM supplies under no purpose.
	denied(patch(feedback, {"requester": {"org": "om", "sector": "om", "public": true, "roles": ["officier-van-justitie"], "user": "ovj"}}), "not_a_supplier")
}

test_case_measures_offered_like_the_others if {
	every m in ["open_cases", "interventions"] {
		allowed(patch(beeld_aggregate, {"aggregate": {"area": "gemeente", "measure": m, "period": "month", "gemeenten": []}}))
	}
	rules := object.union(beeld_rules, {"measures": ["subjects"]})
	d := decide_with_rules(patch(beeld_aggregate, {"aggregate": {"area": "gemeente", "measure": "open_cases", "period": "month", "gemeenten": []}}), rules)
	"aggregates_not_offered" in d.reasons
}

test_case_measures_municipal_analyst_own_gemeente_only if {
	allowed(patch(municipal_aggregate, {"aggregate": {"area": "gemeente", "measure": "open_cases", "period": "month", "gemeenten": ["GM0001"]}}))
	denied(patch(municipal_aggregate, {"aggregate": {"area": "gemeente", "measure": "open_cases", "period": "month", "gemeenten": []}}), "area_not_allowed")
}
