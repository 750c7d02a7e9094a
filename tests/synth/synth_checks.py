"""Helpers shared by the generator tests: contract checks and published-figure metrics."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import polars as pl

import glob

from data_contracts.landing import extract_glob
from data_contracts.spec import EXTRACTS, load_contract
from synth.generator import OPTIONAL_EXTRACTS

_DUCK = {"string": "VARCHAR", "integer": "BIGINT", "double": "DOUBLE", "date": "DATE"}


def read_raw(out: Path, extract: str) -> pl.DataFrame:
    """A CSV extract as strings, exactly as written ('' kept as null)."""
    return pl.scan_csv(extract_glob(out, extract), infer_schema=False).collect()


def contract_violations(out: Path, window_end: str) -> dict[str, list[str]]:
    """Every contract rule checked directly from the YAML contracts; returns the failures."""
    bad: dict[str, list[str]] = {}
    con = duckdb.connect()
    for extract in EXTRACTS:
        c = load_contract(extract)
        path = extract_glob(out, extract)
        if extract in OPTIONAL_EXTRACTS and not glob.glob(path):
            continue  # an optional extract the run did not write
        errs: list[str] = []
        header = Path(sorted(glob.glob(path))[0]).open().readline().strip().split(",")
        if header != c.column_names:
            errs.append(f"header {header} != {c.column_names}")
            bad[extract] = errs
            continue
        cols = ", ".join(f"'{n}': 'VARCHAR'" for n in c.column_names)
        con.execute(f"CREATE OR REPLACE TABLE raw AS SELECT * FROM read_csv('{path}', header=true, "
                    f"columns={{{cols}}}, quote='', escape='', strict_mode=true)")
        n = con.execute("SELECT count(*) FROM raw").fetchone()[0]
        for col in c.columns:
            q = f'"{col.name}"'
            checks = []
            if col.required:
                checks.append((f"{q} IS NULL", "required"))
            if col.type != "string":
                checks.append((f"{q} IS NOT NULL AND TRY_CAST({q} AS {_DUCK[col.type]}) IS NULL", "type"))
            if col.type == "date":
                checks.append((f"{q} IS NOT NULL AND NOT regexp_full_match({q}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')", "iso"))
            typed = f"TRY_CAST({q} AS {_DUCK[col.type]})"
            if col.allowed is not None:
                vals = ", ".join(f"'{v}'" for v in col.allowed)
                checks.append((f"{q} IS NOT NULL AND {q} NOT IN ({vals})", "allowed"))
            if col.pattern:
                checks.append((f"{q} IS NOT NULL AND NOT regexp_full_match({q}, '{col.pattern}')", "pattern"))
            if col.min is not None:
                lit = f"DATE '{col.min}'" if col.type == "date" else str(col.min)
                checks.append((f"{typed} < {lit}", "min"))
            if col.max is not None:
                lit = f"DATE '{col.max}'" if col.type == "date" else str(col.max)
                checks.append((f"{typed} > {lit}", "max"))
            if col.type == "date" and col.name != "enrollment_end_date":
                checks.append((f"{typed} > DATE '{window_end}'", "after window end"))
            for cond, what in checks:
                k = con.execute(f"SELECT count(*) FROM raw WHERE {cond}").fetchone()[0]
                if k:
                    errs.append(f"{col.name}: {k} {what}")
        for a, b in c.date_order:
            k = con.execute(f'SELECT count(*) FROM raw WHERE TRY_CAST("{a}" AS DATE) > TRY_CAST("{b}" AS DATE)').fetchone()[0]
            if k:
                errs.append(f"date_order {a} <= {b}: {k}")
        keys = ", ".join(f'"{k}"' for k in c.primary_key)
        k = con.execute(f"SELECT count(*) - count(DISTINCT ({keys})) FROM raw").fetchone()[0]
        if k:
            errs.append(f"duplicate keys: {k}")
        if n == 0:
            errs.append("empty")
        if errs:
            bad[extract] = errs
    return bad


def charlson_points_sql() -> str:
    # Charlson (1987) weights as used by LACE, from ICD-10-CM prefixes
    return """
        max(CASE WHEN dx LIKE 'I21%' OR dx LIKE 'I22%' OR dx LIKE 'I252%' THEN 1 ELSE 0 END)
      + max(CASE WHEN dx LIKE 'I50%' OR dx LIKE 'I110%' THEN 1 ELSE 0 END)
      + max(CASE WHEN dx LIKE 'J44%' OR dx LIKE 'J43%' THEN 1 ELSE 0 END)
      + greatest(max(CASE WHEN dx LIKE 'E112%' OR dx LIKE 'E113%' OR dx LIKE 'E114%' OR dx LIKE 'E115%' THEN 2 ELSE 0 END),
                 max(CASE WHEN dx LIKE 'E10%' OR dx LIKE 'E11%' THEN 1 ELSE 0 END))
      + max(CASE WHEN dx LIKE 'N18%' OR dx LIKE 'N19%' THEN 2 ELSE 0 END)
      + max(CASE WHEN dx LIKE 'C%' THEN 2 ELSE 0 END)
      + max(CASE WHEN dx LIKE 'F01%' OR dx LIKE 'F02%' OR dx LIKE 'F03%' OR dx LIKE 'G30%' THEN 1 ELSE 0 END)"""


def lace_table(out: Path) -> pl.DataFrame:
    """LACE for every oracle index stay, computed from the generated claims only."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW mc AS SELECT * FROM read_csv('{extract_glob(out, 'medical_claim')}', header=true, all_varchar=true)")
    con.execute(f"CREATE VIEW ix AS SELECT * FROM read_csv('{out / '_oracle' / 'index_stays.csv'}', header=true, all_varchar=true)")
    return con.execute(f"""
        WITH stays AS (
            SELECT ix.claim_id, ix.person_id, CAST(ix.admission_date AS DATE) adm, CAST(ix.discharge_date AS DATE) dis,
                   CAST(ix.readmit_30d AS INT) y, CAST(ix.p_readmit_30d AS DOUBLE) p, mc.admit_type_code
            FROM ix JOIN mc ON mc.claim_id = ix.claim_id AND mc.claim_line_number = '1'),
        dx AS (
            SELECT person_id, CAST(claim_start_date AS DATE) d, unnest([diagnosis_code_1, diagnosis_code_2, diagnosis_code_3]) dx
            FROM mc WHERE claim_line_number = '1'),
        charl AS (
            SELECT s.claim_id, {charlson_points_sql()} AS charlson
            FROM stays s JOIN dx ON dx.person_id = s.person_id AND dx.d BETWEEN s.dis - 365 AND s.dis
            WHERE dx.dx IS NOT NULL GROUP BY s.claim_id),
        ed AS (
            SELECT s.claim_id, count(*) n FROM stays s JOIN mc ON mc.person_id = s.person_id
             AND mc.bill_type_code = '0131' AND mc.claim_line_number = '1'
             AND CAST(mc.claim_start_date AS DATE) >= s.adm - 182 AND CAST(mc.claim_start_date AS DATE) < s.adm
            GROUP BY s.claim_id)
        SELECT s.claim_id, s.y, s.p, date_diff('day', s.adm, s.dis) AS los,
               CASE WHEN date_diff('day', s.adm, s.dis) < 1 THEN 0 WHEN date_diff('day', s.adm, s.dis) <= 3
                    THEN date_diff('day', s.adm, s.dis) WHEN date_diff('day', s.adm, s.dis) <= 6 THEN 4
                    WHEN date_diff('day', s.adm, s.dis) <= 13 THEN 5 ELSE 7 END
             + CASE WHEN s.admit_type_code = '1' THEN 3 ELSE 0 END
             + CASE WHEN coalesce(c.charlson, 0) >= 4 THEN 5 ELSE coalesce(c.charlson, 0) END
             + least(coalesce(e.n, 0), 4) AS lace
        FROM stays s LEFT JOIN charl c USING (claim_id) LEFT JOIN ed e USING (claim_id)
        ORDER BY s.claim_id""").pl()


def realised_readmissions(out: Path) -> pl.DataFrame:
    """Recompute readmit_30d for the oracle's index stays from medical_claim alone."""
    con = duckdb.connect()
    con.execute(f"CREATE VIEW mc AS SELECT * FROM read_csv('{extract_glob(out, 'medical_claim')}', header=true, all_varchar=true)")
    con.execute(f"CREATE VIEW ix AS SELECT * FROM read_csv('{out / '_oracle' / 'index_stays.csv'}', header=true, all_varchar=true)")
    return con.execute("""
        WITH ip AS (SELECT person_id, CAST(admission_date AS DATE) adm, admit_type_code
                    FROM mc WHERE bill_type_code = '0111' AND claim_line_number = '1')
        SELECT ix.claim_id, CAST(ix.readmit_30d AS INT) oracle,
               CAST(count(ip.adm) > 0 AS INT) AS claims
        FROM ix LEFT JOIN ip ON ip.person_id = ix.person_id AND ip.admit_type_code <> '3'
             AND ip.adm BETWEEN CAST(ix.discharge_date AS DATE) + 1 AND CAST(ix.discharge_date AS DATE) + 30
        GROUP BY ALL ORDER BY 1""").pl()


def top5_share(out: Path, window_end: str) -> float:
    """Share of allowed spend (medical + pharmacy, last 12 months) carried by the top 5% of members
    enrolled in that year, zero spenders included (the MEPS definition)."""
    con = duckdb.connect()
    end = f"DATE '{window_end}'"
    return con.execute(f"""
        WITH enrolled AS (
            SELECT DISTINCT person_id FROM read_csv('{extract_glob(out, 'eligibility')}', header=true, all_varchar=true)
            WHERE CAST(enrollment_start_date AS DATE) <= {end}
              AND CAST(enrollment_end_date AS DATE) > {end} - INTERVAL 365 DAY),
        spend AS (
            SELECT person_id, CAST(allowed_amount AS DOUBLE) a FROM read_csv('{extract_glob(out, 'medical_claim')}', header=true, all_varchar=true)
            WHERE CAST(claim_start_date AS DATE) > {end} - INTERVAL 365 DAY
            UNION ALL
            SELECT person_id, CAST(allowed_amount AS DOUBLE) FROM read_csv('{extract_glob(out, 'pharmacy_claim')}', header=true, all_varchar=true)
            WHERE CAST(dispensing_date AS DATE) > {end} - INTERVAL 365 DAY),
        per AS (SELECT e.person_id, coalesce(sum(s.a), 0) tot FROM enrolled e LEFT JOIN spend s USING (person_id) GROUP BY 1),
        ranked AS (SELECT tot, row_number() OVER (ORDER BY tot DESC) r, count(*) OVER () n FROM per)
        SELECT sum(CASE WHEN r <= n * 0.05 THEN tot ELSE 0 END) / sum(tot) FROM ranked""").fetchone()[0]


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, score))
