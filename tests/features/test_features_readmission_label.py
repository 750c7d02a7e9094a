from __future__ import annotations

import pytest
from rawrows import D, ip_claim, member

from features.readmission import build_readmission_dataset
from features.stays import build_inpatient_stays

AS_OF = D(2023, 12, 31)


def _labels(con, variant="cms_hwr"):
    build_inpatient_stays(con)
    counts = build_readmission_dataset(con, AS_OF, variant)
    rows = con.execute(
        "SELECT person_id, readmit_30d FROM features.readmission_stay WHERE admission_date = ? ORDER BY person_id",
        [D(2023, 1, 1)],
    ).fetchall()
    return counts, dict(rows)


def test_cms_planned_readmission_algorithm(raw_db):
    con = raw_db(
        eligibility=[member(p) for p in ("p1", "p2", "p3", "p4")],
        medical_claim=[
            # p1: elective PCI for stable coronary disease (potentially planned, non-acute dx) -> planned
            ip_claim("a1", "p1", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("a2", "p1", D(2023, 1, 20), D(2023, 1, 21), admit_type="3", dx="I2510", procedure="02703DZ"),
            # p2: PCI for an acute MI (acute principal dx) -> unplanned although admit type is elective
            ip_claim("b1", "p2", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("b2", "p2", D(2023, 1, 20), D(2023, 1, 22), admit_type="3", dx="I214", procedure="02703DZ"),
            # p3: kidney transplant (always planned procedure) -> planned
            ip_claim("c1", "p3", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("c2", "p3", D(2023, 1, 15), D(2023, 1, 25), dx="N186", procedure="0TY00Z0"),
            # p4: elective admission for heart failure, no procedure: not on any planned list -> unplanned
            ip_claim("d1", "p4", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("d2", "p4", D(2023, 1, 15), D(2023, 1, 18), admit_type="3", dx="I509"),
        ],
    )
    counts, labels = _labels(con)
    assert labels == {"p1": 0, "p2": 1, "p3": 0, "p4": 1}
    assert counts["planned_readmissions_only"] == 2
    reasons = dict(con.execute("SELECT stay_id[:2], planned_reason FROM core.inpatient_stay WHERE planned_flag = 1").fetchall())
    assert sorted(reasons.values()) == ["always_planned_procedure", "potentially_planned_procedure"]


def test_enrolment_after_discharge_and_its_ehr_only_substitute(raw_db):
    con = raw_db(
        eligibility=[
            member("p1", end=D(2023, 1, 20)),  # leaves 15 days after discharge: outcome not observable
            member("p2", end=D(2023, 1, 20), death=D(2023, 1, 20)),  # dies within 30 days: kept
            member("p3", end=D(2023, 1, 31)), member("p3", start=D(2023, 2, 1)),  # contiguous spans: covered
        ],
        medical_claim=[ip_claim(f"{p}1", p, D(2023, 1, 1), D(2023, 1, 5)) for p in ("p1", "p2", "p3", "p4")],
    )
    counts, labels = _labels(con)
    assert labels == {"p2": 0, "p3": 0, "p4": 0}  # p4 has no eligibility row at all (EHR-only)
    assert counts["excluded_not_enrolled_30d"] == 1
    assert counts["no_enrolment_record"] == 1 and counts["index_stays"] == 3


def test_hedis_pcr_variant_adds_its_exclusions(raw_db):
    con = raw_db(
        eligibility=[
            member("p1", birth=D(2010, 1, 1)),  # 12 years old
            member("p2", birth=D(1990, 1, 1)),
            member("p3", start=D(2022, 10, 1)),  # enrolled 3 months before discharge
            member("p4"),
        ],
        medical_claim=[
            ip_claim("a", "p1", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("b", "p2", D(2023, 1, 1), D(2023, 1, 5), dx="O800"),
            ip_claim("c", "p3", D(2023, 1, 1), D(2023, 1, 5)),
            ip_claim("d", "p4", D(2023, 1, 1), D(2023, 1, 5)),
        ],
    )
    cms, cms_labels = _labels(con, "cms_hwr")
    hedis, hedis_labels = _labels(con, "hedis_pcr")
    assert set(cms_labels) == {"p1", "p2", "p3", "p4"}
    assert set(hedis_labels) == {"p4"}
    assert (hedis["excluded_age_under_18"], hedis["excluded_pregnancy_perinatal"],
            hedis["excluded_not_enrolled_prior_365d"]) == (1, 1, 1)
    with pytest.raises(ValueError, match="variant"):
        build_readmission_dataset(con, AS_OF, "medicare_star")
