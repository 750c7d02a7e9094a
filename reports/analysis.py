"""Helpers the analyst notebooks call: read a run's warehouse and metrics, summarise the cohort,
labels and features, check calibration, and compare members in case management with comparable
members. Every function takes a connection or frames and returns a polars frame."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from scipy import stats

from features.readmission import LABEL, READMISSION_TABLE
from models.intake import CASE_MANAGEMENT_FEATURES, expected_readmission_risk
from models.metrics import calibration_curve
from models.store import load_model


def open_warehouse(home: Path) -> duckdb.DuckDBPyConnection:
    """Read-only connection to ``HOME/warehouse.duckdb`` (the pipeline may keep running)."""
    path = Path(home) / "warehouse.duckdb"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `riskstrat run --home {home}` first")
    return duckdb.connect(str(path), read_only=True)


def read_metrics(home: Path) -> dict:
    path = Path(home) / "outputs" / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def current_model(home: Path, task: str = "readmission"):
    """The model the pipeline scores with (``HOME/models/<task>/CURRENT``)."""
    pointer = Path(home) / "models" / task / "CURRENT"
    if not pointer.exists():
        raise FileNotFoundError(f"{pointer} not found: no trained {task} model in this run")
    return load_model(Path(home) / "models" / task / pointer.read_text().strip())


def index_stays(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return con.execute(f"SELECT * FROM {READMISSION_TABLE}").pl()


def cohort_by_month(stays: pl.DataFrame) -> pl.DataFrame:
    """Index stays, labelled stays, readmissions and the label rate per discharge month."""
    return (
        stays.group_by(pl.col("discharge_date").dt.truncate("1mo").alias("discharge_month"))
        .agg(pl.len().alias("index_stays"), pl.col(LABEL).count().alias("labelled"),
             pl.col(LABEL).sum().alias("readmissions"), pl.col(LABEL).mean().alias("readmission_rate"))
        .sort("discharge_month")
    )


def label_rate_by(stays: pl.DataFrame, column: str) -> pl.DataFrame:
    """Label rate and counts by the values of one column (a subgroup or a flag)."""
    return (
        stays.filter(pl.col(LABEL).is_not_null())
        .group_by(column).agg(pl.len().alias("stays"), pl.col(LABEL).sum().alias("readmissions"),
                              pl.col(LABEL).mean().alias("readmission_rate"))
        .sort(column)
    )


def feature_summary(stays: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    """Per feature: missing share, mean, 10th/50th/90th percentile, and the mean among readmitted
    and not-readmitted labelled stays."""
    rows = []
    labelled = stays.filter(pl.col(LABEL).is_not_null())
    for f in features:
        col = stays[f].cast(pl.Float64)
        rows.append({
            "feature": f, "missing_share": col.is_null().mean(), "mean": col.mean(),
            "p10": col.quantile(0.1), "median": col.median(), "p90": col.quantile(0.9),
            "mean_readmitted": labelled.filter(pl.col(LABEL) == 1)[f].cast(pl.Float64).mean(),
            "mean_not_readmitted": labelled.filter(pl.col(LABEL) == 0)[f].cast(pl.Float64).mean(),
        })
    return pl.DataFrame(rows)


def performance_table(metrics: dict) -> pl.DataFrame:
    """One row per task and model (current model and baselines) with the test metrics present."""
    fields = ("auroc", "auprc", "brier", "calibration_slope", "calibration_intercept", "n", "events")
    rows = []
    for task, entry in metrics.items():
        if not isinstance(entry, dict) or "test" not in entry:
            continue
        for model, m in {"current model": entry["test"], **(entry.get("baselines") or {})}.items():
            if isinstance(m, dict):
                rows.append({"task": task, "model": model, **{f: m.get(f) for f in fields}})
    return pl.DataFrame(rows, infer_schema_length=None)


def with_expected(stays: pl.DataFrame, model, as_if_not_in_case_management: bool = True) -> pl.DataFrame:
    """``stays`` with the current model's calibrated probability ``expected_p``; by default computed
    as if the member were not in case management (the expectation the O/E comparisons use); pass
    False for the model's own prediction (calibration checks)."""
    neutralise = CASE_MANAGEMENT_FEATURES if as_if_not_in_case_management else ()
    return stays.join(expected_readmission_risk(model, stays, neutralise), on="stay_id", how="left")


def calibration_on_test_window(con: duckdb.DuckDBPyConnection, model, test_start: dt.date, bins: int = 10) -> list[dict]:
    """Calibration bins (n, mean_predicted, observed) of the model's own predictions on the labelled
    index stays discharged from ``test_start`` (the time-split test window)."""
    stays = con.execute(f"SELECT * FROM {READMISSION_TABLE} WHERE discharge_date >= $start AND {LABEL} IS NOT NULL",
                        {"start": test_start}).pl()
    if stays.height == 0:
        return []
    return calibration_table(with_expected(stays, model, as_if_not_in_case_management=False), test_start, bins).to_dicts()


def calibration_table(stays: pl.DataFrame, since: dt.date, bins: int = 10) -> pl.DataFrame:
    """Observed rate against mean expected_p by decile of expected_p, over labelled stays
    discharged on or after ``since`` (use the test window start to stay out of sample)."""
    rows = stays.filter(pl.col(LABEL).is_not_null() & (pl.col("discharge_date") >= since))
    if rows.height == 0:
        return pl.DataFrame(schema={"n": pl.Int64, "mean_predicted": pl.Float64, "observed": pl.Float64})
    return pl.DataFrame(calibration_curve(rows[LABEL].to_numpy(), rows["expected_p"].to_numpy(), bins))


def _poisson_ci(observed: int, expected: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) confidence interval of O/E for a Poisson count."""
    a = 1 - level
    lo = stats.chi2.ppf(a / 2, 2 * observed) / 2 if observed > 0 else 0.0
    hi = stats.chi2.ppf(1 - a / 2, 2 * (observed + 1)) / 2
    return lo / expected, hi / expected


def compare_cohorts(stays: pl.DataFrame, cohort: str = "open_cm_case_flag") -> pl.DataFrame:
    """Observed and model-expected readmissions for stays in case management at discharge
    (``cohort`` = 1) and the others: rate, O/E and its exact 95% interval, and the risk-standardised
    rate (O/E x the overall observed rate). Descriptive, not an effect: the expectation adjusts for
    the model's risk only, with no interval on the difference and no balance check; the effect
    estimate is in ``marts.program_effect`` (:func:`program_effect`)."""
    rows = stays.filter(pl.col(LABEL).is_not_null() & pl.col("expected_p").is_not_null())
    overall = rows[LABEL].mean()
    out = []
    for value, part in rows.group_by(cohort, maintain_order=True):
        observed, expected = int(part[LABEL].sum()), float(part["expected_p"].sum())
        lo, hi = _poisson_ci(observed, expected)
        out.append({"in_case_management": int(value[0]), "stays": part.height, "observed": observed,
                    "expected": expected, "observed_rate": observed / part.height, "oe_ratio": observed / expected,
                    "oe_ci_low": lo, "oe_ci_high": hi, "risk_standardised_rate": observed / expected * overall})
    return pl.DataFrame(out).sort("in_case_management", descending=True)


def program_effect(con: duckdb.DuckDBPyConnection, methods: tuple[str, ...] = ()) -> pl.DataFrame:
    """Rows of ``marts.program_effect`` (the adjusted, randomised and descriptive estimates the
    report's first section shows), only ``methods`` when given (``aipw``, ``lottery_itt``, ``naive``,
    ``pre_post``); raises when the pipeline has not built the table."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'marts' "
                         "AND table_name = 'program_effect'").fetchone()[0]
    if not exists:
        raise FileNotFoundError("marts.program_effect is not in this warehouse: run the pipeline's program_effect step")
    rows = con.execute("SELECT * FROM marts.program_effect ORDER BY outcome, program, method").pl()
    return rows.filter(pl.col("method").is_in(list(methods))) if methods else rows


def rates_by_risk_decile(stays: pl.DataFrame, cohort: str = "open_cm_case_flag", bins: int = 10) -> pl.DataFrame:
    """Readmission rate in and out of case management within deciles of expected risk: the
    like-for-like comparison (members at similar predicted risk)."""
    rows = stays.filter(pl.col(LABEL).is_not_null() & pl.col("expected_p").is_not_null())
    edges = np.unique(np.quantile(rows["expected_p"].to_numpy(), np.linspace(0, 1, bins + 1)[1:-1]))
    decile = np.searchsorted(edges, rows["expected_p"].to_numpy(), side="right") + 1
    return (
        rows.with_columns(pl.Series("risk_decile", decile, dtype=pl.Int64))
        .group_by("risk_decile", cohort)
        .agg(pl.len().alias("stays"), pl.col("expected_p").mean().alias("mean_expected"),
             pl.col(LABEL).mean().alias("observed_rate"))
        .sort("risk_decile", cohort)
    )
