"""Acute inpatient stays from institutional claims (``core.inpatient_stay``).

The rule lives in ``features/sql/core__inpatient_stay.sql``; this module runs it and
returns counts for the asset's metadata.
"""

from __future__ import annotations

import duckdb

from features.codelists import load_code_lists
from features.sqlfiles import run_sql

STAY_TABLE = "core.inpatient_stay"


def build_inpatient_stays(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Create or replace ``core.inpatient_stay`` from ``raw.medical_claim``.

    Returns ``claim_lines_in`` and ``claims_in`` (acute inpatient institutional lines and
    claims), ``stays_out``, ``transfers_chained`` (transfer links used to join claims),
    ``stays_with_transfer`` and ``claims_merged`` (claims that did not open a stay of
    their own: overlapping/interim bills plus transfer links), ``planned_stays`` (stays the CMS
    Planned Readmission Algorithm v4.0 calls planned, were they a readmission).
    """
    load_code_lists(con, gem=True)
    run_sql(con, "core__inpatient_stay")
    lines, claims = con.execute(
        """
        SELECT count(*), count(DISTINCT claim_id)
        FROM raw.medical_claim
        WHERE claim_type = 'institutional' AND bill_type_code LIKE '011%' AND admission_date IS NOT NULL
        """
    ).fetchone()
    stays, links, with_transfer, n_claims, planned = con.execute(
        """
        SELECT count(*), coalesce(sum(n_transfer_links), 0), coalesce(sum(transfer_chained_flag), 0),
               coalesce(sum(n_claims), 0), coalesce(sum(planned_flag), 0)
        FROM core.inpatient_stay
        """
    ).fetchone()
    return {
        "claim_lines_in": int(lines),
        "claims_in": int(claims),
        "stays_out": int(stays),
        "transfers_chained": int(links),
        "stays_with_transfer": int(with_transfer),
        "claims_merged": int(n_claims) - int(stays),
        "planned_stays": int(planned),
    }
