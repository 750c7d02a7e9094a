from __future__ import annotations

from rawrows import D, ip_claim, office_claim

from features.stays import build_inpatient_stays


def _stays(con):
    return con.execute(
        "SELECT person_id, admission_date, discharge_date, length_of_stay_days, admit_type_code, "
        "discharge_disposition_code, principal_diagnosis_code, allowed_amount, n_claims "
        "FROM core.inpatient_stay ORDER BY person_id, admission_date"
    ).fetchall()


def test_transfer_chain_collapses_into_one_stay(raw_db):
    con = raw_db(medical_claim=[
        ip_claim("a", "p1", D(2023, 1, 1), D(2023, 1, 5), disposition="02", admit_type="1", dx="I214"),
        ip_claim("b", "p1", D(2023, 1, 6), D(2023, 1, 10), disposition="01", admit_type="2", dx="I509"),
        # a transfer link of 0 days also chains
        ip_claim("c", "p2", D(2023, 3, 1), D(2023, 3, 4), disposition="02"),
        ip_claim("d", "p2", D(2023, 3, 4), D(2023, 3, 9), disposition="06"),
    ])
    counts = build_inpatient_stays(con)
    assert _stays(con) == [
        ("p1", D(2023, 1, 1), D(2023, 1, 10), 9, "1", "01", "I214", 2000.0, 2),
        ("p2", D(2023, 3, 1), D(2023, 3, 9), 8, "1", "06", "I509", 2000.0, 2),
    ]
    assert counts["claims_in"] == 4
    assert counts["stays_out"] == 2
    assert counts["transfers_chained"] == 2


def test_overlapping_and_multi_line_claims_collapse(raw_db):
    con = raw_db(medical_claim=[
        ip_claim("a", "p1", D(2023, 2, 1), D(2023, 2, 10), disposition="01", line=1, allowed=700.0),
        ip_claim("a", "p1", D(2023, 2, 1), D(2023, 2, 10), disposition="01", line=2, allowed=300.0),
        ip_claim("b", "p1", D(2023, 2, 3), D(2023, 2, 8), disposition="01", allowed=500.0),
    ])
    counts = build_inpatient_stays(con)
    assert _stays(con) == [("p1", D(2023, 2, 1), D(2023, 2, 10), 9, "1", "01", "I509", 1500.0, 2)]
    assert counts == {"claim_lines_in": 3, "claims_in": 2, "encounters_in": 0, "stays_out": 1,
                      "encounter_only_stays": 0, "transfers_chained": 0, "stays_with_transfer": 0,
                      "claims_merged": 1, "planned_stays": 0, "stays_without_diagnosis": 0,
                      "potentially_planned_unknown_diagnosis": 0}


def test_adjacent_without_transfer_or_two_day_gap_stays_apart(raw_db):
    con = raw_db(medical_claim=[
        ip_claim("a", "p1", D(2023, 3, 1), D(2023, 3, 5), disposition="01"),
        ip_claim("b", "p1", D(2023, 3, 6), D(2023, 3, 8), disposition="01"),
        ip_claim("c", "p2", D(2023, 3, 1), D(2023, 3, 5), disposition="02"),
        ip_claim("d", "p2", D(2023, 3, 7), D(2023, 3, 9), disposition="01"),
        # another person's claim on the same dates never chains
        ip_claim("e", "p3", D(2023, 3, 6), D(2023, 3, 9), disposition="01"),
        office_claim("f", "p1", D(2023, 3, 10)),
    ])
    counts = build_inpatient_stays(con)
    assert counts["stays_out"] == 5
    assert counts["transfers_chained"] == 0
    ids = con.execute("SELECT count(DISTINCT stay_id) FROM core.inpatient_stay").fetchone()[0]
    assert ids == 5
