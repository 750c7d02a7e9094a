"""Acute inpatient stays from institutional claims and EHR inpatient encounters (``core.inpatient_stay``).

The rule lives in ``features/sql/core__inpatient_stay.sql``; this module runs it and
returns counts for the asset's metadata.
"""

from __future__ import annotations

import duckdb

from features.codelists import load_code_lists
from features.sqlfiles import run_sql

STAY_TABLE = "core.inpatient_stay"


def build_inpatient_stays(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Create or replace ``core.inpatient_stay`` from ``raw.medical_claim`` and ``raw.encounter``.

    Returns ``claim_lines_in`` and ``claims_in`` (acute inpatient institutional lines and
    claims), ``encounters_in`` (EHR inpatient encounters no claim overlaps, which build stays of
    their own), ``stays_out``, ``encounter_only_stays``, ``transfers_chained`` (transfer links
    used), ``stays_with_transfer`` and ``claims_merged`` (records that did not open a stay of their
    own: overlapping/interim bills plus transfer links), ``planned_stays`` (stays the CMS Planned
    Readmission Algorithm v4.0 calls planned, were they a readmission), ``stays_without_diagnosis``
    (no ICD-10-CM principal diagnosis: blank or unmapped) and
    ``potentially_planned_unknown_diagnosis`` (of those, stays with a potentially planned procedure,
    which the conservative reading counts as unplanned).
    """
    load_code_lists(con, gem=True)
    run_sql(con, "core__inpatient_stay")
    return inpatient_stay_counts(con)


def inpatient_stay_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """The counts ``build_inpatient_stays`` returns, read from ``core.inpatient_stay`` and its inputs
    (whichever engine built the table)."""
    load_code_lists(con, gem=True)
    lines, claims = con.execute(
        """
        SELECT count(*), count(DISTINCT claim_id)
        FROM raw.medical_claim
        WHERE claim_type = 'institutional' AND bill_type_code LIKE '011%' AND admission_date IS NOT NULL
        """
    ).fetchone()
    stays, links, with_transfer, n_claims, n_encounters, encounter_only, planned, unknown_dx = con.execute(
        """
        SELECT count(*), coalesce(sum(n_transfer_links), 0), coalesce(sum(transfer_chained_flag), 0),
               coalesce(sum(n_claims), 0), coalesce(sum(n_encounters), 0),
               count(*) FILTER (WHERE stay_source = 'encounter'), coalesce(sum(planned_flag), 0),
               coalesce(sum(principal_diagnosis_unknown_flag), 0)
        FROM core.inpatient_stay
        """
    ).fetchone()
    potential_unknown = con.execute(
        """
        SELECT count(DISTINCT s.stay_id)
        FROM (SELECT stay_id, unnest(procedure_codes) AS code FROM core.inpatient_stay
              WHERE principal_diagnosis_unknown_flag = 1) AS s
        JOIN _ref_planned_readmission AS r
            ON r.code_system = 'icd-10-pcs' AND r.list_type = 'potentially_planned_procedure'
           AND starts_with(s.code, r.code_prefix)
        """
    ).fetchone()[0]
    return {
        "claim_lines_in": int(lines),
        "claims_in": int(claims),
        "encounters_in": int(n_encounters),
        "stays_out": int(stays),
        "encounter_only_stays": int(encounter_only),
        "transfers_chained": int(links),
        "stays_with_transfer": int(with_transfer),
        "claims_merged": int(n_claims) + int(n_encounters) - int(stays),
        "planned_stays": int(planned),
        "stays_without_diagnosis": int(unknown_dx),
        "potentially_planned_unknown_diagnosis": int(potential_unknown),
    }
