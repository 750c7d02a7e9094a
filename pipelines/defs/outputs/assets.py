"""What people read: the intake list, the KPI marts, the program-lead report and the worklists.

Assets stay thin: the rules live in ``models.intake``, ``features.kpi`` and ``reports``.
"""

import json
from dataclasses import replace
from datetime import date

import dagster as dg
import polars as pl

from data_contracts.errors import RiskstratDataError
from features.kpi import CaseloadGuideline, build_kpi_readmission_monthly, build_program_kpis, record_history
from features.member import enrolled_on, no_enrolled_member_error
from features.readmission import READMISSION_TABLE
from features.spark_landing import kpi_readmission_on_spark, program_kpis_on_spark
from models.intake import (
    BENEFIT_OUTCOME,
    IntakeOptions,
    IntakeResult,
    build_intake,
    check_rank_by,
    expected_readmission_risk,
    record_assignment,
)
from models.paths import path_status, scored_for
from models.store import load_model
from pipelines.failures import surfaces_data_errors
from pipelines.resources import DUCKDB_POOL, RiskstratSettings, SqlEngine
from reports.analysis import calibration_on_test_window
from reports.program_report import write_program_report
from reports.worklist import write_intake_workbook, write_worklists

INTAKE_CSV = "intake_list.csv"
INTAKE_XLSX = "intake_list.xlsx"
PROGRAM_REPORT = "program_report.html"
WORKLIST_DIR = "worklists"
SCORE_TABLES = {"readmission": "ml.readmission_score", "high_need": "ml.high_need_score"}
DEFAULT_INTAKE_SCORE = "readmission"
PROGRAM_KPI_TABLES = (
    "kpi_transition_monthly", "kpi_referral_monthly", "kpi_case_closure_monthly", "kpi_caseload_monthly",
    "kpi_contact_compliance_monthly", "kpi_documentation", "kpi_utilization_monthly", "kpi_list_performance",
    "kpi_score_drift", "kpi_definition",
)


class IntakeConfig(dg.Config):
    acuity_weighted: bool = False  # count each open case by its acuity (1-3) against capacity
    rising_delta: float = 0.10  # score rise since the last scoring run that marks rising risk
    declined_days: int = 90  # members who declined within this many days are not offered again
    # evaluation lottery: band size as a share of the open slots; negative = the run's setting
    # (riskstrat run --evaluation-lottery), 0 = off
    evaluation_lottery: float = -1.0
    lottery_seed: int = -1  # negative = derived from the as-of date (YYYYMMDD), recorded either way


class KpiConfig(dg.Config):
    """Caseload guideline (active cases per case manager) by setting."""

    acute_low: int = 15
    acute_high: int = 25
    community_low: int = 30
    community_high: int = 40


def _intake_preview(intake: pl.DataFrame) -> str:
    preview = intake.head(10).select([c for c in ("rank", "score", "risk_tier", "reason_1") if c in intake.columns])
    return preview.to_pandas().to_markdown(index=False) if preview.height else "empty"


def _lottery_metadata(result: IntakeResult, fraction: float) -> dict:
    """Counts only: the band, its offered half and the seed, or why no lottery ran."""
    if fraction <= 0:
        return {}
    if result.assignment.height == 0:
        return {"evaluation_lottery": result.lottery_note}
    log = result.assignment
    return {"evaluation_lottery": f"band of {log.height} at the cut of {log['capacity'][0]} open slots",
            "lottery_offered": int(log["offered_flag"].sum()), "lottery_seed": int(log["lottery_seed"][0])}


INTAKE_CONTEXT = [
    dg.AssetKey(["core", "inpatient_stay"]), dg.AssetKey(["raw", "eligibility"]), dg.AssetKey(["raw", "encounter"]),
    dg.AssetKey(["raw", "cm_case"]), dg.AssetKey(["raw", "cm_roster"]), dg.AssetKey(["ml", "benefit_score"]),
]


def _benefit(con, rank_by: str) -> tuple[pl.DataFrame | None, str, str]:
    """ml.benefit_score (None when absent), the ranking to use and, when it is not the selected
    one, why: a benefit ranking without a 30-day readmission benefit estimate ranks by risk."""
    has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ml' AND table_name IN "
                      "('benefit_score', 'benefit_model')").fetchone()[0] == 2
    if not has:
        return None, ("risk" if rank_by != "risk" else rank_by), (
            "" if rank_by == "risk" else f"ranked by risk instead of {rank_by}: ml.benefit_score was not built")
    benefit = con.execute("SELECT * FROM ml.benefit_score").pl()
    status = con.execute("SELECT status, note FROM ml.benefit_model WHERE outcome = ?", [BENEFIT_OUTCOME]).fetchall()
    if rank_by != "risk" and (not status or status[0][0] != "estimated"):
        why = status[0][1] if status else "no 30-day readmission benefit model"
        return benefit, "risk", f"ranked by risk instead of {rank_by}: {why}"
    return benefit, rank_by, ""


def _choose_score(con, selected: str, as_of: date) -> tuple[str, str]:
    """The score to rank by: the selected one when it scored for this as-of, else the other one
    (with the reason), so one failed path still leaves a list."""
    if scored_for(con, selected, as_of):
        return selected, ""
    other = next(name for name in SCORE_TABLES if name != selected)
    status = path_status(con).filter(pl.col("path") == selected)
    why = status["detail"][0] if status.height and status["detail"][0] else "it was not built for this as-of"
    if scored_for(con, other, as_of):
        return other, f"ranked by the {other} score because the selected {selected} score is missing: {why}"
    raise RiskstratDataError(
        f"no score was built for the as-of {as_of.isoformat()} ({SCORE_TABLES[selected]}: {why}); fix the failed "
        "step above or pass an --as-of that scores", source=SCORE_TABLES[selected])


def intake_list_asset(score_name: str = DEFAULT_INTAKE_SCORE) -> dg.AssetsDefinition:
    """``marts.intake_list`` waiting on the ``score_name`` score only, so the other path failing
    never stops the list. The code location should build it with ``settings.intake_score``."""
    if score_name not in SCORE_TABLES:
        raise ValueError(f"intake score must be one of {sorted(SCORE_TABLES)}, not {score_name!r}")

    @dg.asset(
        key=["marts", "intake_list"],
        deps=[dg.AssetKey(["ml", f"{score_name}_score"]), *INTAKE_CONTEXT],
        group_name="outputs",
        kinds={"duckdb", "csv", "excel"},
        pool=DUCKDB_POOL,
    )
    @surfaces_data_errors
    def marts_intake_list(settings: RiskstratSettings, config: IntakeConfig) -> dg.MaterializeResult:
        """Members eligible for outreach (enrolled, alive, no open or pending case, not opted out, not
        recently declined), ranked by the configured score (settings.intake_score; the other score when
        the configured one failed for this as-of, said in the metadata) and cut at the team's open
        capacity, each with three plain-word reasons, open care gaps, a rising-risk mark, a suggested
        program and case manager and a contact-by date. Also HOME/outputs/intake_list.csv and
        intake_list.xlsx (full list plus one sheet per case manager); this run's list and scores are
        kept in marts.intake_list_history and marts.score_history. With an evaluation lottery
        (settings.evaluation_lottery or this asset's config), the band of members closest to the
        capacity cut is randomised: a seeded half gets the band's slots and is listed like any other
        member, the other half is not listed; every band member is appended to
        marts.intake_assignment (one round per as-of date, a re-run replaces its round)."""
        fraction = config.evaluation_lottery if config.evaluation_lottery >= 0 else settings.evaluation_lottery
        options = IntakeOptions(acuity_weighted=config.acuity_weighted, rising_delta=config.rising_delta,
                                declined_days=config.declined_days, evaluation_lottery=fraction,
                                lottery_seed=config.lottery_seed if config.lottery_seed >= 0 else None)
        check_rank_by(settings.intake_rank, settings.intake_score)
        selected = settings.intake_score
        if selected not in SCORE_TABLES:
            raise ValueError(f"settings.intake_score must be one of {sorted(SCORE_TABLES)}, not {selected!r}")
        with settings.connect() as con:
            as_of = settings.resolve_as_of(con)
            if enrolled_on(con, as_of) == 0:
                raise no_enrolled_member_error(con, as_of)
            score_name, fallback = _choose_score(con, selected, as_of)
            scores = con.execute(f"SELECT * FROM {SCORE_TABLES[score_name]}").pl()  # name from the fixed dict
            rank_by = settings.intake_rank if score_name == "readmission" else "risk"
            benefit, rank_by, rank_fallback = _benefit(con, rank_by)
            options = replace(options, rank_by=rank_by)
            result = build_intake(con, scores, as_of, score_name=score_name, options=options, benefit=benefit)
            intake = result.intake
            con.execute("CREATE SCHEMA IF NOT EXISTS marts")
            con.execute("CREATE OR REPLACE TABLE marts.intake_list AS SELECT * FROM intake")
            record_assignment(con, as_of, result.assignment)
            record_history(con, score_name, as_of, intake, scores.group_by("person_id").agg(pl.col("score").max()))
        path = settings.outputs_path / INTAKE_CSV
        intake.write_csv(path)
        workbook = write_intake_workbook(intake, settings.outputs_path / INTAKE_XLSX, as_of)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": intake.height,
                "as_of": as_of.isoformat(),
                "score": score_name,
                "selected_score": selected,
                **({"fallback": fallback} if fallback else {}),
                "rank_by": rank_by,
                "selected_rank_by": settings.intake_rank,
                **({"rank_fallback": rank_fallback} if rank_fallback else {}),
                **_lottery_metadata(result, fraction),
                "rising_risk": int(intake["rising_risk_flag"].sum()) if intake.height else 0,
                "path": str(path),
                "workbook": str(workbook),
                "preview": dg.MetadataValue.md(_intake_preview(intake)),
            }
        )

    return marts_intake_list


@dg.asset(
    key=["marts", "kpi_readmission_monthly"],
    # the label is built from core.inpatient_stay, so the KPI does not wait on the readmission model path
    deps=[dg.AssetKey(["core", "inpatient_stay"]), dg.AssetKey(["raw", "cm_case"]), dg.AssetKey(["raw", "eligibility"]),
          dg.AssetKey(["raw", "medical_claim"])],
    group_name="outputs",
    kinds={"duckdb", "csv"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def marts_kpi_readmission_monthly(settings: RiskstratSettings, engine: SqlEngine) -> dg.MaterializeResult:
    """30-day readmission rate by discharge month, for members in case management at discharge and
    for those not in it. Numerator: index stays with an unplanned readmission within 30 days;
    denominator: index stays whose 30-day window closed before the as-of date. month_complete_flag
    is 0 where claims for the month (or its 30-day window) are still running out."""
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        if engine.on_spark:
            summary = kpi_readmission_on_spark(con, engine.spark(settings, con), as_of)
        else:
            summary = build_kpi_readmission_monthly(con, as_of)
        kpi = con.execute("SELECT * FROM marts.kpi_readmission_monthly ORDER BY ALL").pl()
    path = settings.outputs_path / "kpi_readmission_monthly.csv"
    kpi.write_csv(path)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": kpi.height, "path": str(path), "engine": engine.name,
                  **{k: v for k, v in summary.items() if v is not None}}
    )


@dg.multi_asset(
    specs=[dg.AssetSpec(["marts", name], group_name="outputs", kinds={"duckdb", "csv"},
                        # no high-need asset: the KPIs stand when that path fails
                        deps=[dg.AssetKey(["core", "inpatient_stay"]), dg.AssetKey(["ml", "readmission_model"]),
                              dg.AssetKey(["marts", "intake_list"]), dg.AssetKey(["raw", "cm_contact"]),
                              dg.AssetKey(["raw", "cm_goal"]), dg.AssetKey(["raw", "pharmacy_claim"])])
           for name in PROGRAM_KPI_TABLES],
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def marts_program_kpis(settings: RiskstratSettings, config: KpiConfig, engine: SqlEngine):
    """Program KPIs (each table's grain, numerator, denominator and exclusions are in
    marts.kpi_definition and the SQL headers): readmission observed/expected/O-E and 7-day follow-up
    for members in case management and comparable members, referral-to-first-contact, engagement,
    referral completion, case length, resolution time, goals achieved, satisfaction, caseload
    against the guideline, follow-up compliance, documentation completeness, utilisation per 1,000
    member-months and PMPM, earlier lists' performance and score drift. Each also as
    HOME/outputs/<table>.csv."""
    guideline = CaseloadGuideline(config.acute_low, config.acute_high, config.community_low, config.community_high)
    pointer = settings.models_path / "readmission" / "CURRENT"
    model = load_model(settings.models_path / "readmission" / pointer.read_text().strip()) if pointer.exists() else None
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        stays = con.execute(f"SELECT * FROM {READMISSION_TABLE}").pl() if model is not None else None
        expected = expected_readmission_risk(model, stays) if model is not None else None
        if engine.on_spark:
            counts = program_kpis_on_spark(con, engine.spark(settings, con), as_of, expected=expected, guideline=guideline)
        else:
            counts = build_program_kpis(con, as_of, expected=expected, guideline=guideline)
        for name in PROGRAM_KPI_TABLES:
            path = settings.outputs_path / f"{name}.csv"
            con.execute(f"SELECT * FROM marts.{name}").pl().write_csv(path)  # name from the fixed tuple above
            yield dg.MaterializeResult(
                asset_key=["marts", name],
                metadata={"dagster/row_count": counts[f"marts.{name}"], "path": str(path),
                          "expected_from_model": model is not None, "engine": engine.name,
                          # the step's Spark and landing time, once (on its first table)
                          **({k: counts[k] for k in ("spark_sql_ms", "landing_ms") if k in counts}
                             if name == PROGRAM_KPI_TABLES[0] else {})},
            )


@dg.asset(
    key=["reports", "program_report"],
    # models, not scores: a score step that stops leaves the report, which says what is missing
    deps=[*(dg.AssetKey(["marts", name]) for name in PROGRAM_KPI_TABLES),
          dg.AssetKey(["marts", "kpi_readmission_monthly"]), dg.AssetKey(["marts", "program_effect"]),
          dg.AssetKey(["ml", "readmission_model"]), dg.AssetKey(["ml", "high_need_model"])],
    group_name="outputs",
    kinds={"html"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def reports_program_report(settings: RiskstratSettings) -> dg.MaterializeResult:
    """The program-lead report, one self-contained HTML file (inline CSS and SVG, no scripts, works
    offline): first whether case management works (the adjusted effect from marts.program_effect
    with its interval, balance, overlap, the lottery's randomised estimate and power line, the
    descriptive comparisons labelled as such), then KPI trends (months still running out marked),
    model calibration and lift, fairness, which score paths ran or stopped and why, the last run's
    data quality and the KPI definitions.
    HOME/outputs/program_report.html."""
    metrics_path = settings.outputs_path / "metrics.json"
    split = json.loads(metrics_path.read_text()).get("readmission", {}).get("split", {}) if metrics_path.exists() else {}
    pointer = settings.models_path / "readmission" / "CURRENT"
    with settings.connect(read_only=True) as con:
        as_of = settings.resolve_as_of(con)
        calibration = {}
        if pointer.exists() and split.get("test_start"):
            model = load_model(settings.models_path / "readmission" / pointer.read_text().strip())
            calibration["readmission"] = calibration_on_test_window(con, model, date.fromisoformat(split["test_start"]))
        path = write_program_report(con, metrics_path, as_of, settings.outputs_path / PROGRAM_REPORT, calibration)
    return dg.MaterializeResult(metadata={"path": str(path), "size_kb": round(path.stat().st_size / 1024, 1),
                                          "calibration_recomputed": sorted(calibration)})


@dg.asset(
    key=["reports", "case_manager_worklists"],
    deps=[dg.AssetKey(["marts", "intake_list"])],
    group_name="outputs",
    kinds={"html"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def reports_case_manager_worklists(settings: RiskstratSettings) -> dg.MaterializeResult:
    """One HTML worklist per suggested case manager (members, reasons, care gaps, contact-by date),
    in HOME/outputs/worklists/."""
    with settings.connect(read_only=True) as con:
        as_of = settings.resolve_as_of(con)
        intake = con.execute("SELECT * FROM marts.intake_list").pl()
    paths = write_worklists(intake, settings.outputs_path / WORKLIST_DIR, as_of)
    return dg.MaterializeResult(metadata={"worklists": len(paths), "folder": str(settings.outputs_path / WORKLIST_DIR)})
