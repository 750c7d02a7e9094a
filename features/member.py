"""Member-level features and high-need labels as of one or more dates (``features.member_features``).

Grain: one row per (person_id, as_of_date) for members enrolled on ``as_of_date`` and alive before
it. The cohort and the windows are ``features/sql/features__member_cohort.sql`` (time is defined
there once); features and labels are ``features/sql/features__member_features.sql``.

Labels (both reported; ``high_need_label`` in config chooses the one that drives the intake list):

* ``high_need_cost_12m``: 1 for the top 5% of ``allowed_amount_next_12m`` (medical + pharmacy allowed
  amount dated in [as_of, as_of + 12 months)) among the members of the cohort at that as-of date.
* ``high_need_utilization_12m``: 1 when the member has 2 or more unplanned acute admissions (CMS planned
  readmission algorithm) or 4 or more ED visit dates in [as_of, as_of + 12 months). A need label that
  does not lean on spending: a cost label under-selects Black patients, who spend less at equal need
  (Obermeyer et al., Science 2019;366:447-53).

Both are NULL when the 12-month window is not complete in the data (as_of + 12 months > data_end).
The CMS-HCC scores come from hccinfhir (the library is the reference); it is called once per distinct
(age, sex, dual code, OREC, diagnosis set), so its cost grows at most linearly with members.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from data_contracts.errors import RiskstratDataError
from features.codelists import load_code_lists
from features.dictionary import MEMBER_FEATURES, MEMBER_SUBGROUP_COLUMNS
from features.sqlfiles import (
    define_macros,
    ensure_schema,
    load_sql,
    materialise_select,
    naming,
    script_part,
    sql_statements,
    used_params,
)

MEMBER_TABLE = "features.member_features"
ID_COLUMNS: tuple[str, ...] = ("person_id", "as_of_date")
LABEL_COLUMNS: tuple[str, ...] = (
    "high_need_cost_12m", "high_need_utilization_12m", "allowed_amount_next_12m",
    "unplanned_admissions_next_12m", "ed_visits_next_12m", "prior_cost_12m",
)
HIGH_NEED_LABELS: tuple[str, ...] = ("high_need_cost_12m", "high_need_utilization_12m")
LABEL_MONTHS = 12
REQUIRED_TABLES: tuple[str, ...] = (
    "raw.eligibility", "raw.medical_claim", "raw.pharmacy_claim", "raw.encounter", "raw.lab_result",
    "raw.sdoh_screening", "raw.area_sdoh_county", "raw.area_sdoh_zip", "raw.cm_case", "raw.cm_contact",
    "core.inpatient_stay", "core.diagnosis",
)
HCC_MODELS: dict[str, str] = {"v24": "CMS-HCC Model V24", "v28": "CMS-HCC Model V28"}
HCC_LIBRARY = "hccinfhir 0.4.0 (2026 coefficient tables, community segment by dual/age, raw score)"
# V28 payment HCC groups for the flags
HCC_V28_FLAGS: dict[str, tuple[int, int]] = {
    "hcc_diabetes_flag": (35, 38), "hcc_heart_failure_flag": (221, 226), "hcc_ckd_flag": (326, 329),
    "hcc_copd_flag": (276, 280), "hcc_cancer_flag": (17, 23), "hcc_dementia_flag": (125, 127),
    "hcc_psychiatric_flag": (151, 155),
}

DATA_END_SQL = """
SELECT max(d) + 1 FROM (
    SELECT max(claim_end_date) AS d FROM raw.medical_claim
    UNION ALL SELECT max(dispensing_date) FROM raw.pharmacy_claim
    UNION ALL SELECT max(encounter_end_date) FROM raw.encounter
)
"""


def data_end_date(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The day after the latest service date in the claims and encounters (exclusive data end)."""
    value = con.execute(DATA_END_SQL).fetchone()[0]
    if value is None:
        raise RiskstratDataError("raw.medical_claim and raw.encounter are both empty: cannot tell how far the data reaches; "
                                 "load claims or encounters", source="raw.medical_claim")
    return value


ENROLMENT_ON_SQL = """
SELECT
    count(DISTINCT person_id) FILTER (WHERE enrollment_start_date <= $as_of AND enrollment_end_date >= $as_of
                                      AND (death_date IS NULL OR death_date >= $as_of)),
    max(enrollment_end_date),
    max(least(enrollment_end_date, CAST($as_of AS DATE) - 1)) FILTER (WHERE enrollment_start_date < $as_of),
    min(enrollment_start_date) FILTER (WHERE enrollment_start_date > $as_of)
FROM raw.eligibility
"""


def enrolled_on(con: duckdb.DuckDBPyConnection, as_of: dt.date) -> int:
    """Members with an enrolment span in ``raw.eligibility`` covering ``as_of``."""
    return int(con.execute(ENROLMENT_ON_SQL, {"as_of": as_of}).fetchone()[0])


def no_enrolled_member_error(con: duckdb.DuckDBPyConnection, as_of: dt.date, table: str = "raw.eligibility") -> RiskstratDataError:
    """The one-sentence error for an as-of on which nobody is enrolled: the last enrolment month and
    an ``--as-of`` that would work (the last enrolled day before it, else the first one after it)."""
    _, last_end, before, after = con.execute(ENROLMENT_ON_SQL, {"as_of": as_of}).fetchone()
    if last_end is None:
        return RiskstratDataError(f"no member is enrolled on the as-of {as_of.isoformat()}: {table} holds no "
                                  "enrolment span; load eligibility", source=table)
    suggestion = before if before is not None else after
    return RiskstratDataError(
        f"no member is enrolled on the as-of {as_of.isoformat()} ({table} enrolment ends in {last_end:%Y-%m}, "
        f"the last enrolment month); pass --as-of {suggestion.isoformat()}"
        + (" or earlier" if suggestion == before else "") + ", or leave --as-of out to use the default rule",
        source=table)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus ``months`` calendar months, clipped to the month's end (as DuckDB's INTERVAL)."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def latest_complete_as_of(data_end: dt.date) -> dt.date:
    """The latest as-of date whose 12-month label window is complete before ``data_end`` (exclusive)."""
    candidate = add_months(data_end, -LABEL_MONTHS)
    while add_months(candidate, LABEL_MONTHS) > data_end:
        candidate -= dt.timedelta(days=1)
    return candidate


def default_as_of_dates(scoring_as_of: dt.date, data_end: dt.date, data_start: dt.date,
                        n_training: int = 4) -> list[dt.date]:
    """The scoring date plus up to ``n_training`` quarterly dates with complete labels and a full
    365-day look-back (``as_of - 365 >= data_start``), newest first."""
    dates = [scoring_as_of]
    anchor = latest_complete_as_of(data_end)
    for k in range(n_training):
        day = add_months(anchor, -3 * k)
        if day - dt.timedelta(days=365) < data_start:
            break
        if day not in dates:
            dates.append(day)
    return dates


HCC_SCORE_DECIMALS = 6


def hcc_scores(inputs: pl.DataFrame) -> pl.DataFrame:
    """CMS-HCC V24/V28 scores per distinct input row (library call per distinct input)."""
    from hccinfhir import HCCInFHIR
    from hccinfhir.datamodels import Demographics

    keys = ["age", "sex", "dual_elgbl_cd", "orec", "icd10cm_codes"]
    distinct = inputs.select(keys).unique(maintain_order=True)
    models = {k: HCCInFHIR(model_name=name) for k, name in HCC_MODELS.items()}
    out: dict[str, list] = {"v24": [], "v28": [], "count": [], **{f: [] for f in HCC_V28_FLAGS}}
    for age, sex, dual, orec, codes in distinct.iter_rows():
        if age is None or sex is None:  # the CMS-HCC models need both
            for key in out:
                out[key].append(None)
            continue
        demo = Demographics(age=int(age), sex=sex, dual_elgbl_cd=dual, orec=orec)
        r24 = models["v24"].calculate_from_diagnosis(list(codes), demo)
        r28 = models["v28"].calculate_from_diagnosis(list(codes), demo)
        hccs = {int(h) for h in r28.hcc_list if h.isdigit()}
        # to 6 decimals: the library's sum of coefficients carries last-bit noise that depends on the
        # order it adds them in (1.861 on one engine, 1.8609999999999998 on the other), and LightGBM
        # bins those as two values (issue 16); CMS itself publishes scores to 3 decimals
        out["v24"].append(round(float(r24.risk_score), HCC_SCORE_DECIMALS))
        out["v28"].append(round(float(r28.risk_score), HCC_SCORE_DECIMALS))
        out["count"].append(float(len(r28.hcc_list)))
        for flag, (lo, hi) in HCC_V28_FLAGS.items():
            out[flag].append(float(any(lo <= h <= hi for h in hccs)))
    scores = distinct.with_columns(
        pl.Series("hcc_score_v24", out["v24"], dtype=pl.Float64),
        pl.Series("hcc_score_v28", out["v28"], dtype=pl.Float64),
        pl.Series("hcc_count_v28", out["count"], dtype=pl.Float64),
        *[pl.Series(f, out[f], dtype=pl.Float64) for f in HCC_V28_FLAGS],
    )
    return inputs.join(scores, on=keys, how="left", nulls_equal=True).drop(keys)


def hcc_diagnosis_codes() -> pl.DataFrame:
    """ICD-10-CM codes that map to a CC in the CMS-HCC V24 or V28 model (hccinfhir's 2026 table).

    Codes outside this list cannot change a CMS-HCC score, so dropping them before the library call
    only shrinks the number of distinct inputs."""
    from importlib import resources

    with resources.as_file(resources.files("hccinfhir.data").joinpath("ra_dx_to_cc_2026.csv")) as path:
        table = pl.read_csv(path, infer_schema_length=0)
    return (table.filter(pl.col("model_name").is_in(list(HCC_MODELS.values())))
            .select(pl.col("diagnosis_code").alias("icd10cm_code")).unique().sort("icd10cm_code"))


def build_member_hcc(con: duckdb.DuckDBPyConnection) -> int:
    """Create the temp table ``_member_hcc`` for the current ``_member_cohort``; returns the number of
    distinct inputs scored."""
    con.register("_hcc_dx_frame", hcc_diagnosis_codes().to_arrow())
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _ref_hcc_dx AS SELECT * FROM _hcc_dx_frame")
    finally:
        con.unregister("_hcc_dx_frame")
    # one as-of date per statement (the file's -- memory: rule); an empty cohort still gives the columns
    dates = [row[0] for row in con.execute("SELECT DISTINCT as_of_date FROM _member_cohort ORDER BY 1").fetchall()]
    sql = load_sql("features__member_hcc_input")
    with naming("features__member_hcc_input"):
        inputs = pl.concat([con.execute(sql, {"as_of_date": d}).pl() for d in dates or [None]], how="vertical")
    hcc = hcc_scores(inputs)
    con.register("_member_hcc_frame", hcc.to_arrow())
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _member_hcc AS SELECT * FROM _member_hcc_frame")
    finally:
        con.unregister("_member_hcc_frame")
    return inputs.select(["age", "sex", "dual_elgbl_cd", "orec", "icd10cm_codes"]).n_unique()


def write_member_features(con: duckdb.DuckDBPyConnection, as_of_dates: list[dt.date]) -> None:
    """Create or replace ``features.member_features`` from ``_member_cohort`` and ``_member_hcc``.

    ``features__member_features.sql`` is a script run once per as-of date (ascending): each feature
    group into a temp table ``_mf_<group>``, then the date's rows, appended in person_id order. So a
    statement holds one snapshot and a few hash tables at a time (the file's ``-- memory:`` rule)."""
    ensure_schema(con, "features")
    define_macros(con)
    *groups, rows = sql_statements("features__member_features")
    for i, as_of in enumerate(sorted(set(as_of_dates))):
        # scan bounds: the 365-day look-back and a label end at or after as_of + 12 months
        params = {"as_of_date": as_of, "lookback_start": as_of - dt.timedelta(days=365),
                  "label_end": as_of + dt.timedelta(days=366)}
        for statement in groups:
            with naming("features__member_features", f"{script_part(statement)}, as-of {as_of.isoformat()}"):
                con.execute(statement, used_params(statement, params))
        head = f"CREATE OR REPLACE TABLE {MEMBER_TABLE} AS" if i == 0 else f"INSERT INTO {MEMBER_TABLE}"
        with naming("features__member_features", f"final fold, as-of {as_of.isoformat()}"):
            con.execute(f"{head}\n{rows}", used_params(rows, params))
    for (name,) in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, '_mf_')"
    ).fetchall():
        con.execute(f"DROP TABLE temp.main.{name}")  # names from the script's own CREATE statements


def build_member_dataset(
    con: duckdb.DuckDBPyConnection, as_of_dates: list[dt.date], data_end: dt.date | None = None
) -> dict[str, int]:
    """Create or replace ``features.member_features`` for every date in ``as_of_dates`` in one pass.

    ``data_end`` (exclusive) decides whether a label window is complete; default: the day after the
    latest service date (``data_end_date``). Needs the tables in ``REQUIRED_TABLES``
    (``core.diagnosis`` from ``features.diagnosis.build_diagnosis``). Returns ``rows``,
    ``as_of_dates``, ``labelled_rows`` (complete label window), ``high_need_cost``,
    ``high_need_utilization``, ``both_labels`` and ``hcc_distinct_inputs``.
    """
    if not as_of_dates:
        raise ValueError("build_member_dataset needs at least one as-of date")
    end = data_end or data_end_date(con)
    materialise_select(con, "features__member_cohort", "_member_cohort",
                       {"as_of_dates": sorted(set(as_of_dates)), "data_end": end})
    load_code_lists(con)
    distinct_inputs = build_member_hcc(con)
    write_member_features(con, sorted(set(as_of_dates)))
    return member_dataset_counts(con, distinct_inputs)


def member_dataset_counts(con: duckdb.DuckDBPyConnection, hcc_distinct_inputs: int) -> dict[str, int]:
    """The counts ``build_member_dataset`` returns, from ``features.member_features`` (whichever
    engine built it), after checking its columns against the feature dictionary."""
    columns = [r[0] for r in con.execute(f"DESCRIBE {MEMBER_TABLE}").fetchall()]
    expected = [*ID_COLUMNS, *LABEL_COLUMNS, *MEMBER_SUBGROUP_COLUMNS, *MEMBER_FEATURES]
    if columns != expected:
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected]
        raise RuntimeError(f"{MEMBER_TABLE} columns differ from the dictionary: missing {missing}, extra {extra}")
    rows, dates, labelled, cost, util, both = con.execute(
        f"""
        SELECT count(*), count(DISTINCT as_of_date), count(high_need_cost_12m),
               coalesce(sum(high_need_cost_12m), 0), coalesce(sum(high_need_utilization_12m), 0),
               count(*) FILTER (WHERE high_need_cost_12m = 1 AND high_need_utilization_12m = 1)
        FROM {MEMBER_TABLE}
        """
    ).fetchone()
    return {
        "rows": int(rows), "as_of_dates": int(dates), "labelled_rows": int(labelled),
        "high_need_cost": int(cost), "high_need_utilization": int(util), "both_labels": int(both),
        "hcc_distinct_inputs": int(hcc_distinct_inputs),
    }


def null_rates(con: duckdb.DuckDBPyConnection, as_of: dt.date | None = None) -> dict[str, float]:
    """Share of NULL values per feature column of ``features.member_features`` (optionally one date)."""
    where = "WHERE as_of_date = $as_of" if as_of else ""
    select = ", ".join(f'avg(CAST("{c}" IS NULL AS DOUBLE))' for c in MEMBER_FEATURES)
    row = con.execute(f"SELECT {select} FROM {MEMBER_TABLE} {where}", {"as_of": as_of} if as_of else {}).fetchone()
    return {c: (float(v) if v is not None else 0.0) for c, v in zip(MEMBER_FEATURES, row, strict=True)}


# Largest acceptable share of NULLs per feature (default 1%): features that are NULL by definition
# when the member has no such record (labs, screenings, fills, prior stays or cases) may be missing.
NULL_RATE_LIMITS: dict[str, float] = {
    **{name: 1.0 for name in MEMBER_FEATURES if name.startswith(("sdoh_", "pdc_"))},
    **{name: 1.0 for name in (
        "hemoglobin_last_365d", "low_hemoglobin_365d_flag", "sodium_last_365d", "low_sodium_365d_flag",
        "hba1c_last_365d", "high_hba1c_365d_flag", "egfr_last_365d", "low_egfr_365d_flag",
        "followup_7d_rate_365d", "days_since_last_discharge", "days_since_cm_case_close",
        # readmission_stay features that are NULL without a lab or a previous stay
        "last_hemoglobin", "low_hemoglobin_flag", "last_sodium", "low_sodium_flag",
        "days_since_prev_discharge", "followup_7d_prior_discharge_flag",
        # NULL without a screening in the 365 days before admission (the window since issue 15), which
        # is most stays of members never screened
        "social_needs_positive",
    )},
    **{name: 0.2 for name in ("svi_overall", "svi_socioeconomic", "svi_household", "svi_minority",
                              "svi_housing_transport", "median_household_income")},
}

_CUTOFF_RULES: dict[str, str] = {
    # a date-bearing feature must point before the as-of date
    "days_since_last_discharge_not_positive": "days_since_last_discharge < 1",
    "days_since_cm_case_close_not_positive": "days_since_cm_case_close < 1",
    # windows end at the as-of date: nested counts, and day totals that fit their window
    "ip_admissions_windows_not_nested": "NOT (ip_admissions_30d <= ip_admissions_90d AND ip_admissions_90d <= "
                                        "ip_admissions_180d AND ip_admissions_180d <= ip_admissions_365d)",
    "ed_visits_windows_not_nested": "NOT (ed_visits_30d <= ed_visits_90d AND ed_visits_90d <= ed_visits_180d "
                                    "AND ed_visits_180d <= ed_visits_365d)",
    "bed_days_exceed_window": "bed_days_30d > 30 OR bed_days_90d > 90 OR bed_days_180d > 180 OR bed_days_365d > 365",
    "enrolled_days_exceed_window": "enrolled_days_365d > 365",
    "shares_outside_0_1": "followup_7d_rate_365d NOT BETWEEN 0 AND 1 OR pdc_statin_180d NOT BETWEEN 0 AND 1 "
                          "OR pdc_ras_180d NOT BETWEEN 0 AND 1 OR pdc_diabetes_180d NOT BETWEEN 0 AND 1",
}


def cutoff_violations(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of ``features.member_features`` that break a point-in-time rule (empty when none).

    Features that carry a date (days since the last discharge / case closure) must point strictly
    before the as-of date; windowed counts must nest (30 <= 90 <= 180 <= 365 days) and day totals fit
    their window, which fails when a window reaches past the cut-off. The leakage tests
    (tests/features/test_features_leakage.py) are the full guard."""
    select = ", ".join(f"count(*) FILTER (WHERE {rule})" for rule in _CUTOFF_RULES.values())
    row = con.execute(f"SELECT {select} FROM {MEMBER_TABLE}").fetchone()
    return {name: int(n) for name, n in zip(_CUTOFF_RULES, row, strict=True) if n}
