"""A stay is a stay: an admission without a diagnosis, or known only from the EHR, is an index stay and a readmission."""

from __future__ import annotations

from rawrows import D, ip_claim, member

from features.readmission import build_readmission_dataset
from features.stays import build_inpatient_stays

AS_OF = D(2023, 12, 31)


def _no_dx(claim_id: str, person_id: str, admission, discharge, **kwargs) -> dict:
    return ip_claim(claim_id, person_id, admission, discharge, dx=None, dx_type=None, **kwargs)


def _encounter(encounter_id: str, person_id: str, start, end, dx: str | None = None, disposition: str | None = None) -> dict:
    return {
        "encounter_id": encounter_id, "person_id": person_id, "encounter_type": "inpatient",
        "encounter_start_date": start, "encounter_end_date": end, "primary_diagnosis_code": dx,
        "diagnosis_code_type": "icd-10-cm" if dx else None, "discharge_disposition_code": disposition,
    }


def _labels(con) -> tuple[dict, dict]:
    stays = build_inpatient_stays(con)
    build_readmission_dataset(con, AS_OF)
    rows = con.execute("SELECT person_id, admission_date, readmit_30d FROM features.readmission_stay").fetchall()
    return stays, {(p, a): y for p, a, y in rows}


def test_stays_without_a_diagnosis_are_index_stays_and_readmissions(raw_db):
    con = raw_db(
        eligibility=[member("p1")],
        medical_claim=[
            _no_dx("a1", "p1", D(2023, 1, 1), D(2023, 1, 5)),
            _no_dx("a2", "p1", D(2023, 1, 20), D(2023, 1, 22)),
        ],
    )
    stays, labels = _labels(con)
    assert stays["stays_out"] == 2 and stays["stays_without_diagnosis"] == 2
    # the first is an index stay readmitted on day 15; the second an index stay with no readmission
    assert labels == {("p1", D(2023, 1, 1)): 1, ("p1", D(2023, 1, 20)): 0}
    principal = con.execute(
        "SELECT principal_diagnosis_code, principal_icd10cm_code, principal_diagnosis_unknown_flag, planned_flag "
        "FROM core.inpatient_stay ORDER BY admission_date").fetchall()
    assert principal == [(None, None, 1, 0), (None, None, 1, 0)]


def test_planned_rule_for_an_unknown_principal_diagnosis(raw_db):
    con = raw_db(
        eligibility=[member(p) for p in ("p1", "p2", "p3")],
        medical_claim=[
            # p1: kidney transplant (always planned procedure) without a diagnosis -> still planned
            ip_claim("a1", "p1", D(2023, 1, 1), D(2023, 1, 5)),
            _no_dx("a2", "p1", D(2023, 1, 15), D(2023, 1, 25), procedure="0TY00Z0"),
            # p2: PCI (potentially planned) without a diagnosis: PA4 cannot rule out an acute one -> unplanned
            ip_claim("b1", "p2", D(2023, 1, 1), D(2023, 1, 5)),
            _no_dx("b2", "p2", D(2023, 1, 20), D(2023, 1, 21), admit_type="3", procedure="02703DZ"),
            # p3: the same PCI with a known non-acute diagnosis stays planned
            ip_claim("c1", "p3", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("c2", "p3", D(2023, 1, 20), D(2023, 1, 21), admit_type="3", dx="I2510", procedure="02703DZ"),
        ],
    )
    stays, labels = _labels(con)
    assert labels[("p1", D(2023, 1, 1))] == 0
    assert labels[("p2", D(2023, 1, 1))] == 1
    assert labels[("p3", D(2023, 1, 1))] == 0
    assert stays["potentially_planned_unknown_diagnosis"] == 1
    reasons = dict(con.execute("SELECT person_id, planned_reason FROM core.inpatient_stay WHERE admission_date > ?",
                               [D(2023, 1, 10)]).fetchall())
    assert reasons == {"p1": "always_planned_procedure", "p2": None, "p3": "potentially_planned_procedure"}


def test_a_chained_stay_takes_the_first_known_diagnosis_with_its_code_system(raw_db):
    con = raw_db(medical_claim=[
        _no_dx("a", "p1", D(2023, 1, 1), D(2023, 1, 5), disposition="02"),
        ip_claim("b", "p1", D(2023, 1, 6), D(2023, 1, 10), dx="4280", dx_type="icd-9-cm"),
    ])
    build_inpatient_stays(con)
    assert con.execute(
        "SELECT n_claims, principal_diagnosis_code, diagnosis_code_type, principal_diagnosis_unknown_flag "
        "FROM core.inpatient_stay").fetchall() == [(2, "4280", "icd-9-cm", 0)]


def test_ehr_only_sources_build_stays_from_inpatient_encounters(raw_db):
    con = raw_db(
        eligibility=[member("p1")],
        encounter=[
            _encounter("e1", "p1", D(2023, 1, 1), D(2023, 1, 5)),
            _encounter("e2", "p1", D(2023, 1, 20), D(2023, 1, 22), dx="I509", disposition="01"),
            {**_encounter("e3", "p1", D(2023, 1, 25), D(2023, 1, 25)), "encounter_type": "office"},
        ],
    )
    stays, labels = _labels(con)
    assert (stays["stays_out"], stays["encounter_only_stays"], stays["claims_in"]) == (2, 2, 0)
    assert labels == {("p1", D(2023, 1, 1)): 1, ("p1", D(2023, 1, 20)): 0}
    assert con.execute("SELECT stay_source, n_encounters, principal_icd10cm_code FROM core.inpatient_stay "
                       "ORDER BY admission_date").fetchall() == [("encounter", 1, None), ("encounter", 1, "I509")]


def test_a_stay_sent_as_claim_and_encounter_counts_once(raw_db):
    con = raw_db(
        eligibility=[member("p1")],
        medical_claim=[ip_claim("a1", "p1", D(2023, 1, 1), D(2023, 1, 5), dx="I214")],
        encounter=[
            # the same admission seen in the EHR (dates a day apart at either end still overlap)
            _encounter("e1", "p1", D(2023, 1, 2), D(2023, 1, 4), dx="I509"),
            # a later admission only the EHR knows about: a readmission
            _encounter("e2", "p1", D(2023, 1, 20), D(2023, 1, 22)),
        ],
    )
    stays, labels = _labels(con)
    assert (stays["stays_out"], stays["claims_in"], stays["encounters_in"], stays["encounter_only_stays"]) == (2, 1, 1, 1)
    assert con.execute("SELECT stay_source, principal_diagnosis_code FROM core.inpatient_stay ORDER BY admission_date"
                       ).fetchall() == [("claims", "I214"), ("encounter", None)]
    assert labels[("p1", D(2023, 1, 1))] == 1
