"""30-day readmission model: the time split of index stays and the task's baselines (LACE, HOSPITAL)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from features.dictionary import MODEL_FEATURES
from models.calibration import Calibrator, fit_calibrator  # noqa: F401  (re-exported for older imports)
from models.timesplit import add_months
from models.metrics import BOOTSTRAP_MAX_ROWS
from models.training import DEFAULT_SEARCH, TRAIN_MAX_ROWS, TaskSpec, TrainedModel, fit_task

LABEL = "readmit_30d"
DATE_COLUMN = "discharge_date"
LABEL_DEFINITION = (
    "readmit_30d = 1 when any acute inpatient stay starts 1-30 days after the index discharge and is not "
    "planned by the CMS Planned Readmission Algorithm v4.0; index = acute stay discharged alive, not AMA, "
    "not transferred, enrolled for the 30 days after (CMS hospital-wide logic by default, HEDIS PCR by "
    "config: see features/sql/features__readmission_label.sql); rows whose 30-day window is not complete "
    "at as_of are unlabelled and not used."
)
TASK = "30-day unplanned readmission after an acute inpatient discharge"
TEST_MONTHS = 6
CALIBRATION_MONTHS = 3
LOOKBACK_DAYS = 365  # the longest feature window; training rows need this much history
# Inpatient claims are written at discharge, so a readmission admitted in the last days before the
# as-of and still in hospital then is in no extract: the last month's labels run low (the generator's
# truth says 0.92-0.93 of expected for discharges in the 2 months before a 100k extract's end).
# Stays are labelled for training and testing only when the outcome window closed this long before
# the as-of, long enough for all but the rare 30+ day readmission stay to have ended and been billed.
LABEL_RUNOUT_DAYS = 30
# "auto": Platt or isotonic, whichever has the lower log loss on the calibration slice when fitted on
# the training rows' out-of-fold scores (models.calibration.fit_out_of_fold_calibrator). Fitted on
# the 3-month slice alone, isotonic steps overfit (test slope 0.6-0.7 on 100k generated members).
CALIBRATION_METHOD = "auto"
HOSPITAL_COLUMN = "hospital_score"
HOSPITAL_CLAIMS_ONLY_FLAG = "hospital_claims_only_flag"

__all__ = ["TrainedModel", "Calibrator", "fit_calibrator", "readmission_spec", "temporal_split", "train_readmission_model"]


def readmission_spec(features: tuple[str, ...] = MODEL_FEATURES) -> TaskSpec:
    return TaskSpec(
        key="readmission", task=TASK, label=LABEL, label_definition=LABEL_DEFINITION,
        date_column=DATE_COLUMN, features=tuple(features), id_columns=("stay_id", "person_id"),
    )


def temporal_split(as_of: dt.date) -> dict[str, dt.date]:
    """Split dates: the last labelable discharge is as_of - 31 - LABEL_RUNOUT_DAYS days (its
    30-day window closed and its readmissions billed); the last 6 labelable months are test, the 3
    months before are calibration, everything earlier is training.

    A training stay's 30-day outcome window closes before the calibration slice starts only if
    it was discharged 30+ days before it; stays discharged in the 30 days before
    ``calibration_start`` (and before ``test_start``) are dropped, so no training or calibration
    label looks into a later slice.
    """
    labelable_end = as_of - dt.timedelta(days=31 + LABEL_RUNOUT_DAYS)
    test_start = add_months(labelable_end, -TEST_MONTHS) + dt.timedelta(days=1)
    calibration_start = add_months(test_start, -CALIBRATION_MONTHS)
    return {"calibration_start": calibration_start, "test_start": test_start, "labelable_end": labelable_end}


def split_stays(
    frame: pl.DataFrame, as_of: dt.date, history_start: dt.date | None = None,
) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """Labelled stays cut into train / calibration / test by discharge date (see ``temporal_split``).

    ``history_start``: the first date of data; stays discharged less than LOOKBACK_DAYS after it
    have truncated 12-month features and are left out of training."""
    split = temporal_split(as_of)
    guard = dt.timedelta(days=30)
    date = pl.col(DATE_COLUMN)
    labelled = frame.filter(pl.col(LABEL).is_not_null() & (date <= split["labelable_end"]))
    order = [DATE_COLUMN, "stay_id"] if "stay_id" in frame.columns else [DATE_COLUMN]
    labelled = labelled.sort(order)
    parts = {
        "train": labelled.filter(
            (date < split["calibration_start"] - guard)
            & (date >= (history_start + dt.timedelta(days=LOOKBACK_DAYS) if history_start else dt.date.min))
        ),
        "calibration": labelled.filter(date.is_between(split["calibration_start"], split["test_start"] - guard, closed="left")),
        "test": labelled.filter(date >= split["test_start"]),
    }
    out = {k: v.isoformat() for k, v in split.items()} | {
        "as_of": as_of.isoformat(),
        "rule": ("by discharge date; stays whose 30-day outcome window reaches into the next slice are dropped; "
                 f"the last {LABEL_RUNOUT_DAYS} days before the as-of are left for readmissions to end and be billed"),
        "history_start": history_start.isoformat() if history_start else "",
        "train_start": (
            max(labelled[DATE_COLUMN].min(), history_start + dt.timedelta(days=LOOKBACK_DAYS)) if history_start
            else labelled[DATE_COLUMN].min()
        ).isoformat() if labelled.height else "",
        "train_end": (split["calibration_start"] - guard - dt.timedelta(days=1)).isoformat(),
        "calibration_end": (split["test_start"] - guard - dt.timedelta(days=1)).isoformat(),
    }
    return parts, out


def train_readmission_model(
    frame: pl.DataFrame, as_of: dt.date, seed: int = 7, calibration_method: str = CALIBRATION_METHOD,
    search=DEFAULT_SEARCH, history_start: dt.date | None = None, max_train_rows: int = TRAIN_MAX_ROWS,
    max_bootstrap_rows: int = BOOTSTRAP_MAX_ROWS,
) -> TrainedModel:
    """Fit LightGBM on the earlier labelled stays, stop early and calibrate on the next 3 months,
    test on the last 6, with the logistic-regression, LACE and (when the frame has it) HOSPITAL
    baselines on the same test rows. ``frame`` is ``features.readmission_stay``. The row caps
    (``max_train_rows``, ``max_bootstrap_rows``) are ``fit_task``'s."""
    spec = readmission_spec()
    parts, split = split_stays(frame, as_of, history_start)
    baselines = {"lace": "lace_score"}
    if HOSPITAL_COLUMN in frame.columns:
        baselines["hospital"] = HOSPITAL_COLUMN
    model = fit_task(spec, parts, split, seed=seed, score_baselines=baselines,
                     calibration_method=calibration_method, search=search, max_train_rows=max_train_rows,
                     max_bootstrap_rows=max_bootstrap_rows)
    if "hospital" in model.metrics["baselines"]:
        test = parts["test"]
        share = float(test[HOSPITAL_CLAIMS_ONLY_FLAG].cast(pl.Float64).mean()) if HOSPITAL_CLAIMS_ONLY_FLAG in test.columns else None
        model.metrics["baselines"]["hospital"]["label"] = (
            "HOSPITAL score (Donze 2013); claims-only variant on rows without labs" if share else "HOSPITAL score (Donze 2013)"
        )
        model.metrics["baselines"]["hospital"]["claims_only_share"] = share
    model.metrics["baselines"]["lace"]["label"] = "LACE index (van Walraven 2010)"
    return model
