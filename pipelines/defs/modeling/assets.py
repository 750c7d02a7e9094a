"""Train, store and score the 30-day readmission model."""

import json
from datetime import timedelta

import dagster as dg
import polars as pl

from features.readmission import READMISSION_TABLE
from models.readmission import train_readmission_model
from models.score import score_frame
from models.store import load_model, save_model
from pipelines.resources import DUCKDB_POOL, RiskstratSettings

MODEL_SEED = 7
SCORING_WINDOW_DAYS = 30
CURRENT_MODEL_POINTER = "readmission/CURRENT"

RECENT_DISCHARGES_SQL = f"""
SELECT * FROM {READMISSION_TABLE}
WHERE discharge_date >= $window_start AND discharge_date < $as_of
"""


@dg.asset(
    key=["ml", "readmission_model"],
    deps=[dg.AssetKey(["features", "readmission_stay"])],
    group_name="modeling",
    kinds={"lightgbm"},
)
def ml_readmission_model(context: dg.AssetExecutionContext, settings: RiskstratSettings) -> dg.MaterializeResult:
    """LightGBM 30-day readmission model trained on a time split (train, then calibration, then
    test on the latest labelled months), with logistic-regression and LACE baselines on the same
    test rows. Saved in LightGBM's text format with a JSON card under HOME/models/readmission/."""
    with settings.connect(read_only=True) as con:
        as_of = settings.resolve_as_of(con)
        frame = con.execute(f"SELECT * FROM {READMISSION_TABLE}").pl()
    model = train_readmission_model(frame, as_of, seed=MODEL_SEED)
    model_dir = save_model(model, settings.models_path / "readmission")
    (settings.models_path / CURRENT_MODEL_POINTER).write_text(model_dir.name)

    metrics_path = settings.outputs_path / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    test = model.metrics["lightgbm"]
    metrics["readmission"] = {
        "data": f"{READMISSION_TABLE}: index stays discharged before {as_of.isoformat()} with an observable 30-day outcome",
        "split": model.split,
        "test": test,
        "baselines": {
            "lace": model.metrics["lace"],
            "logistic": model.metrics["logistic_regression"],
        },
        "model_dir": str(model_dir),
    }
    metrics_path.write_text(json.dumps(metrics, indent=2, default=str))
    context.log.info(f"readmission test AUROC {test['auroc']:.3f} (LACE {model.metrics['lace']['auroc']:.3f})")
    return dg.MaterializeResult(
        metadata={
            "test_auroc": round(test["auroc"], 4),
            "test_auroc_ci": str([round(v, 4) for v in test["auroc_ci"]]),
            "lace_auroc": round(model.metrics["lace"]["auroc"], 4),
            "logistic_auroc": round(model.metrics["logistic_regression"]["auroc"], 4),
            "test_rows": test["n"],
            "test_events": test["events"],
            "split": dg.MetadataValue.json(model.split),
            "model_dir": str(model_dir),
        }
    )


@dg.asset(
    key=["ml", "readmission_score"],
    deps=[dg.AssetKey(["ml", "readmission_model"]), dg.AssetKey(["features", "readmission_stay"])],
    group_name="modeling",
    kinds={"duckdb"},
    pool=DUCKDB_POOL,
)
def ml_readmission_score(settings: RiskstratSettings) -> dg.MaterializeResult:
    """Calibrated readmission risk and the top three SHAP reasons for every index stay discharged
    in the 30 days before the as-of date (the stays whose outcome is still open)."""
    model_dir = settings.models_path / "readmission" / (settings.models_path / CURRENT_MODEL_POINTER).read_text().strip()
    model = load_model(model_dir)
    with settings.connect() as con:
        as_of = settings.resolve_as_of(con)
        recent = con.execute(
            RECENT_DISCHARGES_SQL, {"window_start": as_of - timedelta(days=SCORING_WINDOW_DAYS), "as_of": as_of}
        ).pl()
        scores = score_frame(model, recent) if recent.height else pl.DataFrame()
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        if scores.height:
            con.execute("CREATE OR REPLACE TABLE ml.readmission_score AS SELECT * FROM scores")
        else:
            con.execute("CREATE OR REPLACE TABLE ml.readmission_score (person_id VARCHAR, stay_id VARCHAR, discharge_date DATE, score DOUBLE)")
    return dg.MaterializeResult(
        metadata={"dagster/row_count": scores.height, "as_of": as_of.isoformat(), "model_dir": model_dir.name}
    )
