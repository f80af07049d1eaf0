# Fixtures for the policy tests: a small registry and one valid input per scenario.
# Tests vary one thing at a time with object.union / object.remove, so each test shows
# exactly which fact flips the decision. Run with `kruispunt policy test` or
# `opa test policy/policies`.
package kruispunt_test

import rego.v1

import data.kruispunt

now := 1750000000

registry := {
	"guard": {"max_requests_per_minute": 60, "sweep_min_identifiers": 50, "sweep_no_hit_percent": 95},
	"districts": {"oost-utrecht": {"id": "oost-utrecht", "name": "Oost-Utrecht", "themes": ["buitengebied"]}},
	"taxonomy": {
		"buitengebied": {"title": "Buitengebied", "codes": {"barn-rental-unsolicited": "Ongevraagd huuraanbod schuur", "cash-rent": "Contante huur"}},
		"autobranche": {"title": "Autobranche", "codes": {"cash-car-purchase": "Contante aankoop", "notes-500": "Biljetten van 500"}},
		"horeca": {"title": "Horeca", "codes": {"cash-loan-offer": "Contante lening aangeboden"}},
	},
	"partners": {
		"kvo-a": {"id": "kvo-a", "name": "KVO A", "sector": "kvo", "public": false, "require_mtls": false},
		"kvo-b": {"id": "kvo-b", "name": "KVO B", "sector": "kvo", "public": false, "require_mtls": false},
		"auto-a": {"id": "auto-a", "name": "Autobedrijf A", "sector": "autobranche", "public": false, "require_mtls": false},
		"horeca-a": {"id": "horeca-a", "name": "Horeca A", "sector": "horeca", "public": false, "require_mtls": false},
		"gemeente-a": {"id": "gemeente-a", "name": "Gemeente A", "sector": "gemeente", "public": true, "require_mtls": false, "gemeente": "GM0001"},
		"gemeente-z": {"id": "gemeente-z", "name": "Gemeente Z (no gemeente code)", "sector": "gemeente", "public": true, "require_mtls": false},
		"riec": {"id": "riec", "name": "RIEC", "sector": "riec", "public": true, "require_mtls": false},
		"politie": {"id": "politie", "name": "Politie", "sector": "politie", "public": true, "require_mtls": true},
		"om": {"id": "om", "name": "OM", "sector": "om", "public": true, "require_mtls": true},
	},
	"purposes": {
		"kvo": {
			"id": "kvo", "title": "KVO signalering", "legal_basis": "avg-art-6-1-f", "controller": "riec",
			"active": true, "requester_sectors": ["kvo", "gemeente", "riec"], "roles": ["signaleerder", "analist"],
			"identifier_kinds": ["adres", "kvk", "kenteken", "telefoon"], "recipients": ["kvo", "gemeente", "riec"],
			"source_sectors": ["kvo", "gemeente"], "themes": ["buitengebied"], "disclosure_ceiling": "categories",
			"min_sources": 2, "retention_days": 365, "daily_identifier_budget": 500,
			"max_identifiers_per_request": 100, "embargo_days": 0, "derived_from": [],
		},
		"auto": {
			"id": "auto", "title": "Contante aankopen", "legal_basis": "wwft-art-3", "controller": "riec",
			"active": true, "requester_sectors": ["autobranche", "riec"], "roles": ["compliance"],
			"identifier_kinds": ["kenteken", "vin", "persoon", "bsn"], "recipients": ["autobranche", "riec"],
			"source_sectors": ["autobranche"], "themes": ["autobranche"], "disclosure_ceiling": "categories",
			"min_sources": 2, "retention_days": 365, "daily_identifier_budget": 1000,
			"max_identifiers_per_request": 200, "embargo_days": 0, "derived_from": [], "ap_permit": "AP-TEST-1",
		},
		"bibob": {
			"id": "bibob", "title": "Bibob-screening", "legal_basis": "wet-bibob", "controller": "gemeente-a",
			"active": true, "requester_sectors": ["gemeente", "horeca"], "roles": ["bibob-adviseur"],
			"supplier_roles": ["signaleerder", "bibob-adviseur"],
			"identifier_kinds": ["kvk", "adres", "persoon"], "recipients": ["gemeente", "riec", "om", "politie", "horeca"],
			"source_sectors": ["horeca", "gemeente", "riec"], "themes": ["horeca"], "disclosure_ceiling": "details",
			"min_sources": 1, "retention_days": 730, "daily_identifier_budget": 200,
			"max_identifiers_per_request": 50, "embargo_days": 0, "derived_from": ["bibob"],
		},
		"wpg19": {
			"id": "wpg19", "title": "Opsporing art. 19", "legal_basis": "wpg-art-19", "controller": "politie",
			"active": true, "requester_sectors": ["politie"], "roles": ["rechercheur"],
			"supplier_roles": ["signaleerder", "compliance"],
			"identifier_kinds": ["kenteken", "kvk", "bsn", "adres", "persoon"], "recipients": ["politie", "om", "kvo"],
			"source_sectors": ["kvo", "autobranche", "horeca", "gemeente", "riec", "politie"], "themes": ["buitengebied", "autobranche"],
			"disclosure_ceiling": "details", "min_sources": 1, "retention_days": 365, "daily_identifier_budget": 200,
			"max_identifiers_per_request": 50, "embargo_days": 30, "derived_from": ["politie"],
		},
		"wpg20": {
			"id": "wpg20", "title": "Samenwerkingsverband art. 20", "legal_basis": "wpg-art-20", "controller": "politie",
			"active": true, "requester_sectors": ["politie", "om"], "roles": ["rechercheur"],
			"identifier_kinds": ["kenteken", "kvk", "adres"], "recipients": ["politie", "riec"],
			"source_sectors": ["kvo", "gemeente", "riec"], "themes": ["buitengebied"], "disclosure_ceiling": "categories",
			"min_sources": 1, "retention_days": 365, "daily_identifier_budget": 500,
			"max_identifiers_per_request": 100, "embargo_days": 14, "derived_from": ["politie", "riec"],
		},
		"beeld": {
			"id": "beeld", "title": "Ondermijningsbeeld", "legal_basis": "riec-convenant", "controller": "riec",
			"active": true, "requester_sectors": ["riec", "gemeente"], "roles": ["analist"],
			"identifier_kinds": ["kvk", "adres"], "recipients": ["riec", "gemeente"],
			"source_sectors": ["kvo", "gemeente"], "themes": ["buitengebied"], "disclosure_ceiling": "none",
			"min_sources": 3, "retention_days": 365, "daily_identifier_budget": 10000,
			"max_identifiers_per_request": 1000, "embargo_days": 0, "derived_from": [],
			"aggregates": beeld_rules,
		},
		"dormant": {
			"id": "dormant", "title": "Gestopt", "legal_basis": "avg-art-6-1-f", "controller": "riec",
			"active": false, "requester_sectors": ["kvo"], "roles": ["signaleerder"],
			"identifier_kinds": ["adres"], "recipients": ["kvo"], "source_sectors": ["kvo"], "themes": ["buitengebied"],
			"disclosure_ceiling": "hit", "min_sources": 1, "retention_days": 30, "daily_identifier_budget": 10,
			"max_identifiers_per_request": 10, "embargo_days": 0, "derived_from": [],
		},
		"lapsed": {
			"id": "lapsed", "title": "Verlopen", "legal_basis": "avg-art-6-1-f", "controller": "riec",
			"active": true, "valid_until": 1700000000, "requester_sectors": ["kvo"], "roles": ["signaleerder"],
			"identifier_kinds": ["adres"], "recipients": ["kvo"], "source_sectors": ["kvo"], "themes": ["buitengebied"],
			"disclosure_ceiling": "hit", "min_sources": 1, "retention_days": 30, "daily_identifier_budget": 10,
			"max_identifiers_per_request": 10, "embargo_days": 0, "derived_from": [],
		},
	},
	"coalitions": {
		"kvo-oost": {"id": "kvo-oost", "name": "KVO Oost", "members": ["kvo-a", "gemeente-a", "riec", "politie"], "purposes": ["kvo", "wpg19", "beeld", "dormant", "lapsed"]},
		"auto-mn": {"id": "auto-mn", "name": "Autobranche", "members": ["auto-a", "riec", "politie"], "purposes": ["auto", "wpg19"]},
		"bibob-gooi": {"id": "bibob-gooi", "name": "Bibob", "members": ["gemeente-a", "horeca-a", "riec"], "purposes": ["bibob"]},
		"casus": {"id": "casus", "name": "Casusoverleg", "members": ["riec", "politie", "om", "gemeente-a"], "purposes": ["wpg20", "beeld"]},
	},
	"cases": {"open_sectors": ["riec", "gemeente", "politie"], "open_role": "casusregisseur", "consent_sectors": ["om"], "consent_role": "officier-van-justitie"},
	"partnership_decisions": {
		"pd-1": {
			"id": "pd-1", "interest": "Bestrijding ondermijning", "partnership": "casus", "purpose": "wpg20",
			"data": ["kenteken", "kvk", "adres"], "conditions": "Alleen casusoverleg", "recipients": ["politie", "riec"],
			"decided_by": "Hoofdofficier", "valid_until": 1800000000,
		},
		"pd-old": {
			"id": "pd-old", "interest": "Bestrijding ondermijning", "partnership": "casus", "purpose": "wpg20",
			"data": ["kenteken", "kvk", "adres"], "conditions": "Alleen casusoverleg", "recipients": ["politie", "riec"],
			"decided_by": "Hoofdofficier", "valid_until": 1700000000,
		},
	},
}

no_usage := {"identifiers_today": 0, "requests_last_minute": 0, "no_hits_today": 0, "queries_today": 0}

justification := "Verdachte huurt drie schuren; nodig om de eigenaren te bepalen in zaak 2025-0042."

police19 := {
	"action": "match",
	"requester": {"org": "politie", "sector": "politie", "public": true, "roles": ["rechercheur"], "user": "r.de.vries"},
	"purpose": "wpg19",
	"legal_basis": "wpg-art-19",
	"case_reference": "PL0900-2025-0042",
	"consent_id": "OvJ-MN-2025-117",
	"justification": justification,
	"identifier_kinds": ["kenteken"],
	"identifier_count": 3,
	"requested_level": "details",
	"token_scope": {
		"purpose": "wpg19", "case_reference": "PL0900-2025-0042", "legal_basis": "wpg-art-19",
		"consent_id": "OvJ-MN-2025-117", "kinds": ["kenteken", "kvk"], "sectors": ["kvo", "autobranche"],
		"max_identifiers": 10, "not_after": now + 3600,
	},
	"case": {"reference": "PL0900-2025-0042", "state": "open", "participants": ["om", "politie", "riec"]},
	"consent": {
		"id": "OvJ-MN-2025-117", "case_reference": "PL0900-2025-0042", "purpose": "wpg19",
		"kinds": ["kenteken", "kvk"], "max_identifiers": 10, "ceiling": "details",
		"valid_until": now + 86400, "issuer_org": "om", "withdrawn": false,
	},
	"usage": no_usage,
	"now": now,
}

police20 := {
	"action": "match",
	"requester": {"org": "politie", "sector": "politie", "public": true, "roles": ["rechercheur"], "user": "r.de.vries"},
	"purpose": "wpg20",
	"coalition": "casus",
	"legal_basis": "wpg-art-20",
	"case_reference": "PL0900-2025-0077",
	"consent_id": "pd-1",
	"identifier_kinds": ["kvk"],
	"identifier_count": 1,
	"requested_level": "hit",
	"token_scope": {
		"purpose": "wpg20", "case_reference": "PL0900-2025-0077", "legal_basis": "wpg-art-20",
		"consent_id": "pd-1", "kinds": ["kvk"], "sectors": ["kvo", "gemeente", "riec"],
		"max_identifiers": 5, "not_after": now + 3600,
	},
	"case": {"reference": "PL0900-2025-0077", "state": "intervention", "participants": ["gemeente-a", "politie", "riec"]},
	"usage": no_usage,
	"now": now,
}

kvo_match := {
	"action": "match",
	"requester": {"org": "kvo-a", "sector": "kvo", "public": false, "roles": ["signaleerder"], "user": "boer.jansen"},
	"purpose": "kvo",
	"coalition": "kvo-oost",
	"identifier_kinds": ["adres"],
	"identifier_count": 1,
	"requested_level": "hit",
	"usage": no_usage,
	"now": now,
}

kvo_upload := {
	"action": "upload",
	"requester": {"org": "kvo-a", "sector": "kvo", "public": false, "roles": ["signaleerder"], "user": "boer.jansen"},
	"purpose": "kvo",
	"coalition": "kvo-oost",
	"identifier_kinds": ["adres", "kenteken"],
	"identifier_count": 2,
	"requested_level": "none",
	"signal_codes": ["barn-rental-unsolicited"],
	"oldest_signal_at": now - 86400,
	"usage": no_usage,
	"now": now,
}

auto_match := {
	"action": "match",
	"requester": {"org": "auto-a", "sector": "autobranche", "public": false, "roles": ["compliance"], "user": "verkoop"},
	"purpose": "auto",
	"coalition": "auto-mn",
	"identifier_kinds": ["persoon"],
	"identifier_count": 1,
	"requested_level": "hit",
	"usage": no_usage,
	"now": now,
}

bibob_match := {
	"action": "match",
	"requester": {"org": "gemeente-a", "sector": "gemeente", "public": true, "roles": ["bibob-adviseur"], "user": "bibob.team"},
	"purpose": "bibob",
	"coalition": "bibob-gooi",
	"case_reference": "BIBOB-2025-12",
	"justification": "Vergunningaanvraag exploitatie; investeerder met contante lening moet getoetst worden.",
	"identifier_kinds": ["kvk"],
	"identifier_count": 1,
	"requested_level": "details",
	"usage": no_usage,
	"now": now,
}

beeld_query := {
	"action": "match",
	"requester": {"org": "riec", "sector": "riec", "public": true, "roles": ["analist"], "user": "analist.1"},
	"purpose": "beeld",
	"identifier_kinds": ["kvk"],
	"identifier_count": 500,
	"requested_level": "none",
	"usage": no_usage,
	"now": now,
}

# The release rules of the picture (the registry's defaults).
beeld_rules := {
	"areas": ["unit", "district", "gemeente", "wijk"], "measures": ["subjects", "multi_source", "cross_sector", "signals", "open_cases", "interventions"],
	"periods": ["week", "month", "quarter"], "k": 10, "wijk_k": 50, "min_sources": 3, "max_share_percent": 85,
	"epsilon_micro": 500000, "monthly_epsilon_micro": 10000000, "rounding": 5, "contribution_cap": 4, "signal_cap": 5,
	"snapshot_interval_secs": 3600, "max_range_days": 1100,
}

# An RIEC analyst asks the heat map per gemeente.
beeld_aggregate := {
	"action": "aggregate",
	"requester": {"org": "riec", "sector": "riec", "public": true, "roles": ["analist"], "user": "analist.1"},
	"purpose": "beeld",
	"aggregate": {"area": "gemeente", "measure": "subjects", "period": "month", "gemeenten": []},
	"usage": no_usage,
	"now": now,
}

# A municipal analyst of gemeente-a (GM0001).
municipal_aggregate := patch(beeld_aggregate, {
	"requester": {"org": "gemeente-a", "sector": "gemeente", "public": true, "roles": ["analist"], "user": "a.1"},
	"aggregate": {"area": "gemeente", "measure": "subjects", "period": "month", "gemeenten": ["GM0001"]},
})

audit_read := {
	"action": "audit_read",
	"requester": {"org": "kvo-a", "sector": "kvo", "public": false, "roles": ["privacy-officer"], "user": "fg"},
	"purpose": "",
	"target_org": "kvo-a",
	"usage": no_usage,
	"now": now,
}

coalition_add := {
	"action": "coalition_add",
	"requester": {"org": "gemeente-a", "sector": "gemeente", "public": true, "roles": ["coalitiebeheerder"], "user": "beheer"},
	"purpose": "",
	"coalition": "kvo-oost",
	"target_org": "kvo-a",
	"usage": no_usage,
	"now": now,
}

# The RIEC's case director brings the police into the channel of a registered case both take
# part in (the OM too; gemeente-a and the KVO do not).
case_channel := {
	"action": "case_channel",
	"requester": {"org": "riec", "sector": "riec", "public": true, "roles": ["casusregisseur"], "user": "regisseur"},
	"purpose": "",
	"case_reference": "MN-2025-0042",
	"case": {"reference": "MN-2025-0042", "state": "open", "participants": ["riec", "politie", "om"]},
	"target_org": "politie",
	"usage": no_usage,
	"now": now,
}

withdraw := {
	"action": "withdraw",
	"requester": {"org": "kvo-a", "sector": "kvo", "public": false, "roles": ["signaleerder"], "user": "boer.jansen"},
	"purpose": "kvo",
	"target_org": "kvo-a",
	"usage": no_usage,
	"now": now,
}

# decide(inp) is the decision for `inp` against the fixture registry.
decide(inp) := d if {
	d := kruispunt.decision with input as inp with data.registry as registry
}

allowed(inp) if decide(inp).allow == true

# denied(inp, code): refused, with `code` among the reasons.
denied(inp, code) if {
	d := decide(inp)
	d.allow == false
	code in d.reasons
}

patch(base, p) := object.union(base, p)

drop(base, keys) := object.remove(base, keys)
