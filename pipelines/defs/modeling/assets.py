"""Train, store and score the 30-day readmission and high-need models.

Assets stay thin: the split, training, evaluation, fairness, explanations and the model card live
in ``models/``; these read tables, call one library function each and record key figures.
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from data_contracts.errors import RiskstratDataError
from features.dictionary import FEATURE_DICTIONARY, MODEL_FEATURES
from features.member import enrolled_on, no_enrolled_member_error
from features.readmission import READMISSION_TABLE
from models.high_need import (
    DEFAULT_LABEL,
    HIGH_NEED_TABLE,
    fit_high_need_parts,
    member_dictionary,
    member_features,
    train_high_need_model,
)
from models.baseline import HIGH_NEED_BASELINE, READMISSION_BASELINE, lace_scores, prior_cost_scores
from models.oracle import high_need_oracle_auroc, readmission_oracle_auroc
from models.paths import record_path
from models.promotion import compare
from models.readmission import train_readmission_model
from models.score import score_frame
from models.store import CARD_FILE, load_model
from models.training import InsufficientTrainingData
from models.timesplit import high_need_snapshots
from models.workflow import finish_model, merge_metrics, metrics_entry
from pipelines.failures import surfaces_data_errors
from pipelines.resources import DUCKDB_POOL, RiskstratSettings, SqlEngine

MODEL_SEED = 7
SCORING_WINDOW_DAYS = 30
CURRENT_MODEL_POINTER = "{task}/CURRENT"
SQL_DIR = Path(__file__).parent / "sql"
HISTORY_START_SQL = "SELECT min(claim_start_date) FROM raw.medical_claim"
RECENT_DISCHARGES_SQL = f"""
SELECT * FROM {READMISSION_TABLE}
WHERE discharge_date >= $window_start AND discharge_date < $as_of
"""
MEMBER_SNAPSHOT_SQL = f"SELECT * FROM {HIGH_NEED_TABLE} WHERE as_of_date = $as_of"
# highest raw score first; equal scores by person_id, so the order never depends on the engine
HIGH_NEED_SCORE_ORDER = "score_raw DESC, person_id"
LATEST_SNAPSHOT_SQL = f"SELECT max(as_of_date) FROM {HIGH_NEED_TABLE}"
LATEST_DISCHARGE_SQL = f"SELECT max(discharge_date) FROM {READMISSION_TABLE} WHERE discharge_date < $as_of"
# Reasons are computed for the rows people read: the top of the list, with room for members the
# intake list drops as ineligible.
EXPLAIN_CAPACITY_MULTIPLE = 3
EXPLAIN_MIN_SHARE = 0.05


class HighNeedConfig(dg.Config):
    label: str = DEFAULT_LABEL  # or "high_need_cost_12m"; both labels are reported


def _program_capacity(con: duckdb.DuckDBPyConnection, as_of: date) -> int:
    return int(con.execute((SQL_DIR / "ml__program_capacity.sql").read_text(), {"as_of": as_of}).fetchone()[0])


def _history_start(con: duckdb.DuckDBPyConnection) -> date:
    start = con.execute(HISTORY_START_SQL).fetchone()[0]
    if start is None:
        raise RiskstratDataError("raw.medical_claim is empty: no history to train on; load medical claims",
                                 source="raw.medical_claim")
    return start


@contextmanager
def _records_failure(settings: RiskstratSettings, path: str, as_of: date | None = None) -> Iterator[None]:
    """A data error in a score step is recorded in audit.score_path (for the intake list and the
    report), then re-raised so the step fails with its sentence."""
    try:
        yield
    except RiskstratDataError as exc:
        with settings.connect() as con:
            record_path(con, path, as_of or settings.resolve_as_of(con), "failed", detail=str(exc))
        raise


def _empty_snapshot_error(con: duckdb.DuckDBPyConnection, as_of: date) -> RiskstratDataError:
    """Why the member snapshot at ``as_of`` is empty, with an --as-of that would work."""
    if enrolled_on(con, as_of) == 0:
        return no_enrolled_member_error(con, as_of)
    latest = con.execute(LATEST_SNAPSHOT_SQL).fetchone()[0]
    hint = f"its latest as-of is {latest.isoformat()}" if latest else "it is empty"
    return RiskstratDataError(
        f"{HIGH_NEED_TABLE} has no snapshot for the run's as-of {as_of.isoformat()} ({hint}): nothing to score; "
        f"rebuild features/member_features for this as-of" + (f" or pass --as-of {latest.isoformat()}" if latest else ""),
        source=HIGH_NEED_TABLE)


def _current_model_dir(settings: RiskstratSettings, task: str) -> Path | None:
    """The promoted model's folder, or None when no model has been trained for this home."""
    pointer = settings.models_path / CURRENT_MODEL_POINTER.format(task=task)
    if not pointer.exists():
        return None
    return settings.models_path / task / pointer.read_text().strip()


def _promote(settings: RiskstratSettings, task: str, model_dir: Path, entry: dict) -> tuple[bool, str]:
    """Point CURRENT at the new model only when its test metrics are no worse than the current one's."""
    current_dir = _current_model_dir(settings, task)
    current_card = (
        json.loads((current_dir / CARD_FILE).read_text())
        if current_dir is not None and current_dir != model_dir and (current_dir / CARD_FILE).exists()
        else None
    )
    promoted, why = compare(json.loads((model_dir / CARD_FILE).read_text()), current_card)
    if promoted:
        (settings.models_path / CURRENT_MODEL_POINTER.format(task=task)).write_text(model_dir.name)
        merge_metrics(settings.outputs_path / "metrics.json", task, entry)
    else:
        # the scores, list and metrics keep describing the current model; the candidate is kept for review
        merge_metrics(settings.outputs_path / "metrics.json", f"{task}_rejected_candidate", {**entry, "promotion": why})
    return promoted, why


def _not_trained(
    context: dg.AssetExecutionContext, settings: RiskstratSettings, task: str, reason: str, baseline: str
) -> dg.MaterializeResult:
    """Record that no model could be trained; scoring then ranks by the baseline unless a model exists."""
    current = _current_model_dir(settings, task)
    scored_by = current.name if current is not None else baseline
    fallback = (f"no {task} model trained ({reason}); the run scores with "
                + (f"the promoted model {scored_by}" if current is not None else f"the {baseline} baseline"))
    context.log.warning(fallback)
    merge_metrics(settings.outputs_path / "metrics.json", task,
                  {"trained": False, "reason": reason, "scored_by": scored_by, "fallback": fallback})
    return dg.MaterializeResult(metadata={"trained": False, "reason": reason, "scored_by": scored_by,
                                          "fallback": fallback})


def _model_metadata(entry: dict, model_dir: Path) -> dict:
    test = entry["test"]
    meta = {
        "test_auroc": round(test["auroc"], 4),
        "test_auroc_ci": str([round(v, 4) for v in test["auroc_ci"]]),
        "test_brier": round(test["brier"], 4),
        "calibration_slope": round(test["calibration_slope"], 3),
        "test_rows": test["n"],
        "test_events": test["events"],
        "ppv_at_capacity": round(test["capacity"]["ppv"], 4),
        "capacity_k": test["capacity"]["k"],
        **{f"{name}_auroc": round(b["auroc"], 4) for name, b in entry["baselines"].items()},
        "fairness_flags": dg.MetadataValue.json(entry["fairness"]["flags"]),
        "split": dg.MetadataValue.json(entry["split"]),
        # above models.training.TRAIN_MAX_ROWS training rows the models see a member-level sample
        "train_rows_fitted": entry["sampling"]["sampled_rows"],
        "train_sampled": entry["sampling"]["engaged"],
        "interval_method": test["ci_method"],
        "model_card": dg.MetadataValue.path(str(model_dir / "model_card.md")),
    }
    if "oracle_auroc" in entry:
        meta["oracle_auroc"] = round(entry["oracle_auroc"], 4)
    return meta


@dg.asset(
    key=["ml", "readmission_model"],
    deps=[dg.AssetKey(["features", "readmission_stay"]), dg.AssetKey(["raw", "cm_roster"]), dg.AssetKey(["raw", "cm_case"])],
    group_name="modeling",
    kinds={"lightgbm"},
)
@surfaces_data_errors
def ml_readmission_model(context: dg.AssetExecutionContext, settings: RiskstratSettings) -> dg.MaterializeResult:
    """LightGBM 30-day readmission model on a time split (train, then calibration, then test on the
    latest labelled months), with logistic-regression, LACE and HOSPITAL baselines on the same test
    rows, PPV/sensitivity/lift at the programme's capacity, a fairness table and, when the demo
    answer key is present, the oracle AUROC. Saved as LightGBM text + JSON card + markdown card
    under HOME/models/readmission/; metrics merged into HOME/outputs/metrics.json."""
    with settings.connect(read_only=True) as con:
        as_of = settings.resolve_as_of(con)
        frame = con.execute(f"SELECT * FROM {READMISSION_TABLE}").pl()
        capacity = _program_capacity(con, as_of)
        history_start = _history_start(con)
    try:
        model = train_readmission_model(frame, as_of, seed=MODEL_SEED, history_start=history_start)
    except InsufficientTrainingData as exc:
        return _not_trained(context, settings, "readmission", str(exc), READMISSION_BASELINE)
    oracle = readmission_oracle_auroc(model.test_predictions, settings.landing_path, model.label)
    test_frame = frame.filter(pl.col("stay_id").is_in(model.test_predictions["stay_id"].implode()))
    model_dir = finish_model(model, test_frame, settings.models_path / "readmission", capacity, "discharge_date", oracle)
    entry = metrics_entry(model, model_dir, f"{READMISSION_TABLE}: index stays discharged before {as_of.isoformat()} "
                                           "with an observable 30-day outcome")
    promoted, why = _promote(settings, "readmission", model_dir, entry)
    context.log.info(f"readmission test AUROC {entry['test']['auroc']:.3f}; flags: {len(entry['fairness']['flags'])}; {why}")
    return dg.MaterializeResult(metadata={**_model_metadata(entry, model_dir), "promoted": promoted, "promotion": why})


@dg.asset(
    key=["ml", "readmission_score"],
    deps=[dg.AssetKey(["ml", "readmission_model"]), dg.AssetKey(["features", "readmission_stay"])],
    group_name="modeling",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def ml_readmission_score(settings: RiskstratSettings) -> dg.MaterializeResult:
    """Calibrated readmission risk and the top three SHAP reasons for every index stay discharged
    in the 30 days before the as-of date (the stays whose outcome is still open). With no such stay
    the table is empty and the metadata names an --as-of that would score some; the outcome is
    recorded in audit.score_path."""
    with _records_failure(settings, "readmission"):
        return _score_readmission(settings)


def _score_readmission(settings: RiskstratSettings) -> dg.MaterializeResult:
    model_dir = _current_model_dir(settings, "readmission")
    model = load_model(model_dir) if model_dir is not None else None
    note = ""
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        recent = con.execute(
            RECENT_DISCHARGES_SQL, {"window_start": as_of - timedelta(days=SCORING_WINDOW_DAYS), "as_of": as_of}
        ).pl()
        if not recent.height:
            scores = pl.DataFrame()
        elif model is None:
            scores = lace_scores(recent, FEATURE_DICTIONARY)
        else:
            scores = score_frame(model, recent, current_features=MODEL_FEATURES)
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        if scores.height:
            con.execute("CREATE OR REPLACE TABLE ml.readmission_score AS SELECT * FROM scores")
        else:
            con.execute("CREATE OR REPLACE TABLE ml.readmission_score (person_id VARCHAR, stay_id VARCHAR, "
                        "discharge_date DATE, score DOUBLE, score_raw DOUBLE, reason_1 VARCHAR, reason_2 VARCHAR, reason_3 VARCHAR)")
            latest = con.execute(LATEST_DISCHARGE_SQL, {"as_of": as_of}).fetchone()[0]
            note = (f"no index stay in {READMISSION_TABLE} was discharged in the {SCORING_WINDOW_DAYS} days before "
                    f"the as-of {as_of.isoformat()}: nothing to score"
                    + (f"; --as-of {(latest + timedelta(days=1)).isoformat()} would score the latest discharge" if latest else ""))
        scored_by = model_dir.name if model_dir is not None else READMISSION_BASELINE
        record_path(con, "readmission", as_of, "scored", scores.height, scored_by, note)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": scores.height, "as_of": as_of.isoformat(), "scored_by": scored_by,
                  **({"empty_because": note} if note else {})}
    )


@dg.asset(
    key=["ml", "high_need_model"],
    deps=[dg.AssetKey(["features", "member_features"]), dg.AssetKey(["raw", "cm_roster"]), dg.AssetKey(["raw", "cm_case"])],
    group_name="modeling",
    kinds={"lightgbm"},
)
@surfaces_data_errors
def ml_high_need_model(
    context: dg.AssetExecutionContext, settings: RiskstratSettings, config: HighNeedConfig, engine: SqlEngine,
) -> dg.MaterializeResult:
    """LightGBM high-need model (label chosen by config, default: an unplanned admission in the next
    12 months) on member snapshots: quarterly training snapshots, a calibration snapshot whose
    12-month window ends where the test window starts, and the test snapshot; prior-year cost and
    logistic-regression baselines on the same rows, capacity metrics, fairness and the oracle AUROC
    when present. Saved under HOME/models/high_need/; metrics merged into HOME/outputs/metrics.json.
    Under the Spark engine the training rows are sampled on Spark and only the sample, the
    calibration and the test snapshot reach this process (``models.spark_score.high_need_parts_spark``;
    the model card records the sample), the same rows as in process."""
    with settings.connect(read_only=True) as con:
        as_of = settings.resolve_as_of(con)
        try:
            plan = high_need_snapshots(as_of, _history_start(con))
        except InsufficientTrainingData as exc:
            return _not_trained(context, settings, "high_need", str(exc), HIGH_NEED_BASELINE)
        capacity = _program_capacity(con, as_of)
        # read here, train after the connection is closed: training takes minutes at 1M members, and an
        # open connection would hold the file's lock against the steps that write it
        if engine.on_spark:
            spark = engine.spark(settings, con)
            test_frame = con.execute(f"SELECT * FROM {HIGH_NEED_TABLE} WHERE as_of_date = $test", {"test": plan.test}).pl()
        else:
            frame = con.execute(f"SELECT * FROM {HIGH_NEED_TABLE} WHERE as_of_date IN (SELECT unnest($dates))",
                                {"dates": [*plan.train, plan.calibration, plan.test]}).pl()
            test_frame = frame.filter(pl.col("as_of_date") == plan.test)
    try:
        if engine.on_spark:
            from models.spark_score import high_need_parts_spark

            parts, split, sample = high_need_parts_spark(spark, HIGH_NEED_TABLE, plan, config.label, seed=MODEL_SEED)
            model = fit_high_need_parts(parts, split, label=config.label, seed=MODEL_SEED, sampled_by_caller=sample)
        else:
            model = train_high_need_model(frame, plan, label=config.label, seed=MODEL_SEED)
    except InsufficientTrainingData as exc:
        return _not_trained(context, settings, "high_need", str(exc), HIGH_NEED_BASELINE)
    oracle = high_need_oracle_auroc(model.test_predictions, settings.landing_path, model.label, plan.test)
    model_dir = finish_model(model, test_frame, settings.models_path / "high_need", capacity, None, oracle,
                             dictionary=member_dictionary())
    entry = metrics_entry(model, model_dir, f"{HIGH_NEED_TABLE}: member snapshots {plan.as_dict()}")
    promoted, why = _promote(settings, "high_need", model_dir, entry)
    context.log.info(f"high-need test AUROC {entry['test']['auroc']:.3f}; flags: {len(entry['fairness']['flags'])}; {why}")
    return dg.MaterializeResult(metadata={**_model_metadata(entry, model_dir), "promoted": promoted, "promotion": why})


@dg.asset(
    key=["ml", "high_need_score"],
    deps=[dg.AssetKey(["ml", "high_need_model"]), dg.AssetKey(["features", "member_features"])],
    group_name="modeling",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
@surfaces_data_errors
def ml_high_need_score(settings: RiskstratSettings, engine: SqlEngine) -> dg.MaterializeResult:
    """Calibrated high-need probability for every member in the as-of snapshot, ranked by the raw
    score; TreeSHAP reasons (three, in plain words) for the highest-ranked members, enough to cover
    the intake list at capacity (3 x free slots, at least the top 5%); other rows have null reasons.
    An empty snapshot stops the step with a sentence naming an --as-of that would work; the
    outcome is recorded in audit.score_path, and the readmission path does not wait on this one.
    Under the Spark engine the snapshot (every member) is scored and explained on Spark
    (``models.spark_score.score_member_snapshot``), the same rows and reasons."""
    with _records_failure(settings, "high_need"):
        return _score_high_need(settings, engine)


def _score_high_need(settings: RiskstratSettings, engine: SqlEngine | None = None) -> dg.MaterializeResult:
    model_dir = _current_model_dir(settings, "high_need")
    model = load_model(model_dir) if model_dir is not None else None
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        on_spark = model is not None and engine is not None and engine.on_spark
        # on Spark the snapshot is read there; here only its size
        rows = con.execute(f"SELECT count(*) FROM ({MEMBER_SNAPSHOT_SQL})", {"as_of": as_of}).fetchone()[0]
        if rows == 0:
            con.execute("DROP TABLE IF EXISTS ml.high_need_score")  # never leave an earlier run's scores
            raise _empty_snapshot_error(con, as_of)
        snapshot = None if on_spark else con.execute(MEMBER_SNAPSHOT_SQL, {"as_of": as_of}).pl()
        capacity = _program_capacity(con, as_of)
        explain_top = max(EXPLAIN_CAPACITY_MULTIPLE * capacity, int(EXPLAIN_MIN_SHARE * rows))
        if model is None:
            scores = prior_cost_scores(snapshot, member_dictionary(), explain_top=explain_top)
        elif on_spark:
            from features.spark_landing import land_frame
            from models.spark_score import score_member_snapshot

            spark = engine.spark(settings, con)
            scored = score_member_snapshot(spark, model, HIGH_NEED_TABLE, as_of, explain_top=explain_top,
                                           current_features=member_features(), dictionary=member_dictionary())
            land_frame(con, spark, scored, "ml.high_need_score", HIGH_NEED_SCORE_ORDER)
        else:
            scores = score_frame(model, snapshot, id_columns=("person_id", "as_of_date"), explain_top=explain_top,
                                 current_features=member_features(), dictionary=member_dictionary())
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        if not on_spark:
            con.execute(f"CREATE OR REPLACE TABLE ml.high_need_score AS SELECT * FROM scores ORDER BY {HIGH_NEED_SCORE_ORDER}")
        scored_rows = con.execute("SELECT count(*) FROM ml.high_need_score").fetchone()[0]
        scored_by = model_dir.name if model_dir is not None else HIGH_NEED_BASELINE
        record_path(con, "high_need", as_of, "scored", scored_rows, scored_by)
    return dg.MaterializeResult(
        metadata={"dagster/row_count": scored_rows, "explained_rows": min(explain_top, scored_rows),
                  "as_of": as_of.isoformat(), "scored_by": scored_by,
                  "engine": "spark" if on_spark else "duckdb"}
    )
