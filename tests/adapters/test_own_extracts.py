"""The two extracts from the own-extracts report run end to end: an older Synthea export (year-only
payer spans, no claims.csv, inpatient encounters without a reason code) and a Tuva input layer with
only the columns a warehouse fills, its claims running out past the last eligibility month. Each run
ends with an intake list and KPIs; the Synthea stays and readmissions equal a plain SQL count over
its encounters."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from pipelines.cli import main

from own_extracts import SHARED, TUVA_ELIGIBILITY_END, synthea_2x, tuva_warehouse

pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared extracts not found at {SHARED} (../shared is absent)")
CODES = Path(__file__).resolve().parents[2] / "features" / "codes"

SYNTHEA_PLAIN_SQL = """
-- Independent of the adapter and the stay SQL, read straight from the source files.
-- stay        = inpatient encounters from 1990 on (the contracts' earliest service date) of a known
--               patient, overlapping ones (start before the latest stop so far) chained into one;
-- index       = not ended by the patient's death, 30-day window closed before the run's as-of, and
--               the 31 days [discharge, discharge + 30] inside one run of the patient's payer years
--               (1 January of START_YEAR to 31 December of END_YEAR, consecutive years joined), unless
--               the patient has no payer span at all or died by discharge + 30 (the label's rules,
--               docs/features.md);
-- readmission = another stay of the patient admitted 1-30 days after discharge and before the as-of,
--               not planned: its principal reason code (first in the stay), mapped through the shipped
--               SNOMED CT -> ICD-10-CM subset, is not an always-planned diagnosis of the CMS list (the
--               encounters carry no procedures).
WITH patients AS (
    SELECT Id, TRY_CAST(DEATHDATE AS DATE) AS death FROM read_csv($patients, header = true, all_varchar = true)
),
enc AS (
    SELECT e.PATIENT AS person, CAST(e.START AS DATE) AS s, CAST(e.STOP AS DATE) AS t, e.REASONCODE AS reason,
           CAST(e.START AS TIMESTAMP) AS start_ts
    FROM read_csv($encounters, header = true, all_varchar = true) AS e
    WHERE e.ENCOUNTERCLASS = 'inpatient' AND CAST(e.START AS DATE) >= DATE '1990-01-01'
      AND e.PATIENT IN (SELECT Id FROM patients)
),
flagged AS (
    SELECT *, CASE WHEN s < max(t) OVER (PARTITION BY person ORDER BY s, t ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                   THEN 0 ELSE 1 END AS new_stay
    FROM enc
),
numbered AS (SELECT *, sum(new_stay) OVER (PARTITION BY person ORDER BY s, t ROWS UNBOUNDED PRECEDING) AS stay_no FROM flagged),
stays AS (
    SELECT person, stay_no, min(s) AS adm, max(t) AS dis,
           arg_min(reason, start_ts) FILTER (WHERE reason IS NOT NULL) AS principal_snomed
    FROM numbered GROUP BY person, stay_no
),
codes AS (SELECT * FROM read_csv($codes, header = true, all_varchar = true)),
snomed AS (SELECT * FROM read_csv($snomed, header = true, all_varchar = true)),
planned AS (
    SELECT DISTINCT st.person, st.adm FROM stays AS st
    JOIN snomed AS m ON m.snomed_code = st.principal_snomed
    JOIN codes AS c ON c.list_type = 'always_planned_diagnosis' AND c.code_system = 'icd-10-cm'
                   AND starts_with(m.icd10cm_code, c.code_prefix)
),
years AS (
    SELECT PATIENT AS person, make_date(CAST(START_YEAR AS INTEGER), 1, 1) AS a, make_date(CAST(END_YEAR AS INTEGER), 12, 31) AS b
    FROM read_csv($transitions, header = true, all_varchar = true)
),
ycut AS (
    SELECT *, CASE WHEN a <= max(b) OVER (PARTITION BY person ORDER BY a, b ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) + 1
                   THEN 0 ELSE 1 END AS new_island FROM years
),
ynum AS (SELECT *, sum(new_island) OVER (PARTITION BY person ORDER BY a, b ROWS UNBOUNDED PRECEDING) AS island FROM ycut),
covered AS (SELECT person, min(a) AS a, max(b) AS b FROM ynum GROUP BY person, island),
idx AS (
    SELECT st.* FROM stays AS st JOIN patients AS p ON p.Id = st.person
    WHERE NOT (p.death IS NOT NULL AND p.death BETWEEN st.adm AND st.dis)
      AND st.dis + 30 < $as_of
      AND (st.person NOT IN (SELECT person FROM covered)
           OR (p.death IS NOT NULL AND p.death <= st.dis + 30)
           OR EXISTS (SELECT 1 FROM covered AS c WHERE c.person = st.person AND c.a <= st.dis AND c.b >= st.dis + 30))
)
SELECT (SELECT count(*) FROM stays) AS stays,
       count(*) AS index_stays,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM stays AS r WHERE r.person = i.person AND r.adm > i.dis AND r.adm <= i.dis + 30
             AND r.adm < $as_of AND (r.person, r.adm) NOT IN (SELECT (person, adm) FROM planned))) AS readmissions
FROM idx AS i
"""


def _run(source: Path, home: Path, capsys: pytest.CaptureFixture) -> str:
    code = main(["run", "--landing", str(source), "--home", str(home)])
    err = capsys.readouterr().err
    assert code == 0, err[-3000:]
    assert "Traceback" not in err
    assert (home / "outputs" / "intake_list.csv").exists()
    assert {p.name for p in (home / "outputs").glob("kpi_*.csv")} >= {"kpi_readmission_monthly.csv", "kpi_utilization_monthly.csv"}
    return err


@pytest.mark.slow
def test_older_synthea_export_runs_and_its_stays_equal_a_plain_count(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = synthea_2x(tmp_path / "synthea-2x")
    home = tmp_path / "home"
    err = _run(source, home, capsys)
    assert "payer spans give years, not dates" in err
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        as_of = con.execute("SELECT max(as_of_date) FROM audit.month_coverage").fetchone()[0]
        stays, without_dx = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE principal_diagnosis_code IS NULL) FROM core.inpatient_stay").fetchone()
        index, readmitted = con.execute(
            "SELECT count(*), sum(readmit_30d) FROM features.readmission_stay WHERE readmit_30d IS NOT NULL").fetchone()
    with duckdb.connect() as con:
        plain = con.execute(SYNTHEA_PLAIN_SQL, {
            "patients": str(source / "patients.csv.gz"), "encounters": str(source / "encounters.csv.gz"),
            "transitions": str(source / "payer_transitions.csv.gz"), "as_of": as_of,
            "codes": str(CODES / "cms_planned_readmission_v4.csv"), "snomed": str(CODES / "snomed_ct_to_icd10cm.csv"),
        }).fetchone()
    assert without_dx > 0, "the fixture's inpatient encounters without a reason code must still be stays"
    assert (stays, index, readmitted) == plain


@pytest.mark.slow
def test_tuva_with_claims_past_eligibility_scores_both_paths(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    source = tuva_warehouse(tmp_path / "tuva")
    home = tmp_path / "home"
    err = _run(source, home, capsys)
    assert "absent, filled with nulls: gender, race, ethnicity" in err
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        as_of = con.execute("SELECT max(as_of_date) FROM audit.month_coverage").fetchone()[0]
        claims_end = con.execute("SELECT max(claim_end_date) FROM raw.medical_claim").fetchone()[0]
        members = con.execute("SELECT count(*) FROM ml.high_need_score").fetchone()[0]
    # claims run a month past eligibility; the as-of stays inside the enrolment, so members are scored
    assert claims_end > TUVA_ELIGIBILITY_END >= as_of > date(2018, 1, 1)
    assert members > 0
