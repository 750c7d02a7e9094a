"""High-need model: one row per (member, as-of date); the next 12 months' need or cost as the label.

Snapshots come from ``models.timesplit.high_need_snapshots``: training snapshots, then a
calibration snapshot 12 months before the test snapshot, whose 12-month label window ends where
the test window starts. Members appear in several snapshots, but every training label window
closes before the test as-of, so no member's test-period future is in a training row.
"""

from __future__ import annotations

import polars as pl

from models.training import InsufficientTrainingData
from models.timesplit import SnapshotPlan, calibration_members
from models.metrics import BOOTSTRAP_MAX_ROWS
from models.training import DEFAULT_SEARCH, TRAIN_MAX_ROWS, TaskSpec, TrainedModel, fit_task

HIGH_NEED_TABLE = "features.member_features"
DATE_COLUMN = "as_of_date"
DEFAULT_LABEL = "high_need_utilization_12m"
LABELS: dict[str, str] = {
    "high_need_utilization_12m": (
        "high_need_utilization_12m = 1 when the member has 2 or more unplanned acute admissions (CMS planned "
        "readmission algorithm) or 4 or more ED visit dates in [as_of, as_of + 12 months); NULL when the window "
        "is not complete (see features.member)."
    ),
    "high_need_cost_12m": (
        "high_need_cost_12m = 1 for the top 5% of allowed_amount_next_12m (medical + pharmacy allowed amount in "
        "[as_of, as_of + 12 months)) among the snapshot's members; NULL when the window is not complete."
    ),
}
PRIOR_COST_COLUMN = "prior_cost_12m"
# "auto": Platt or isotonic by out-of-time log loss on out-of-fold scores (see models.readmission).
# Fitted on the calibration snapshot alone, isotonic's top step reached exactly 1.0 on the demo data.
CALIBRATION_METHOD = "auto"
# The demo generator's oracle defines high need as 1+ unplanned admission in the period; evaluation
# also scores the model and the oracle against that definition on the same rows.
ORACLE_LABEL_SOURCE = "unplanned_admissions_next_12m"
ORACLE_LABEL = "oracle_definition_label"


def member_features() -> tuple[str, ...]:
    """The model features of ``features.member_features`` (``features.dictionary.MEMBER_FEATURES``)."""
    from features import dictionary

    feats = tuple(getattr(dictionary, "MEMBER_FEATURES", ()))
    if not feats:
        raise ValueError("features.dictionary.MEMBER_FEATURES is empty or missing: the member feature set has not landed")
    return feats


def member_dictionary() -> dict:
    """Reason templates of the member features (``features.member_dictionary.MEMBER_SPECS``): some names
    (``ed_visits_180d``, ``dual_flag``) also exist for stays, where the words refer to the admission."""
    from features.member_dictionary import MEMBER_SPECS

    return {spec.name: spec for spec in MEMBER_SPECS}


def high_need_spec(label: str = DEFAULT_LABEL, features: tuple[str, ...] | None = None) -> TaskSpec:
    if label not in LABELS:
        raise ValueError(f"unknown high-need label {label!r}; choose one of {sorted(LABELS)}")
    return TaskSpec(
        key="high_need",
        task="high need in the next 12 months, per member and as-of date",
        label=label,
        label_definition=LABELS[label],
        date_column=DATE_COLUMN,
        features=tuple(features) if features is not None else member_features(),
        id_columns=("person_id",),
        # out-of-fold folds group members: snapshots of one member share overlapping label windows
        fold_by="person_id",
        label_window_days=365,
    )


def check_planned_dates(present: set, plan: SnapshotPlan) -> None:
    """Raise ``InsufficientTrainingData`` naming the planned as-of dates missing from ``present``."""
    wanted = [*plan.train, plan.calibration, plan.test]
    if missing := [d.isoformat() for d in wanted if d not in present]:
        raise InsufficientTrainingData(
            f"{HIGH_NEED_TABLE} lacks the planned as-of dates {missing} "
            f"(has {sorted(d.isoformat() for d in present)}); build it with models.timesplit.high_need_snapshots(...).all_dates()"
        )


def split_snapshots(frame: pl.DataFrame, plan: SnapshotPlan, label: str) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """Labelled rows of the planned snapshots; raises when a planned snapshot is absent."""
    check_planned_dates(set(frame[DATE_COLUMN].unique().to_list()), plan)
    # lazily, each part filtered then sorted: no sorted copy of every labelled row beside the frame
    # (the same rows in the same order as sorting first: (as_of_date, person_id) is the grain)
    labelled = frame.lazy().filter(pl.col(label).is_not_null())
    people = labelled.select(pl.col("person_id").unique()).collect()["person_id"].to_list()
    held_out = pl.col("person_id").is_in(sorted(calibration_members(people, plan.calibration_share)))
    slices = {
        "train": pl.col(DATE_COLUMN).is_in(list(plan.train)) & ~held_out,
        "calibration": (pl.col(DATE_COLUMN) == plan.calibration) & held_out,
        "test": pl.col(DATE_COLUMN) == plan.test,
    }
    parts = {name: labelled.filter(rule).sort(DATE_COLUMN, "person_id").collect() for name, rule in slices.items()}
    return parts, plan.as_dict() | {"label": label}


def train_high_need_model(
    frame: pl.DataFrame, plan: SnapshotPlan, label: str = DEFAULT_LABEL, seed: int = 7,
    features: tuple[str, ...] | None = None, calibration_method: str = CALIBRATION_METHOD, search=DEFAULT_SEARCH,
    max_train_rows: int = TRAIN_MAX_ROWS, max_bootstrap_rows: int = BOOTSTRAP_MAX_ROWS,
) -> TrainedModel:
    """LightGBM on the training snapshots, calibrated on the calibration snapshot, tested on the test
    snapshot; baselines: prior-year cost and logistic regression on the same rows. The other label
    (need vs cost) is reported for the same scores under ``metrics['other_labels']``. The row caps
    (``max_train_rows``, ``max_bootstrap_rows``) are ``fit_task``'s."""
    parts, split = split_snapshots(frame, plan, label)
    return fit_high_need_parts(parts, split, label, seed, features, calibration_method, search, max_train_rows,
                               max_bootstrap_rows)


def fit_high_need_parts(
    parts: dict[str, pl.DataFrame], split: dict[str, str], label: str = DEFAULT_LABEL, seed: int = 7,
    features: tuple[str, ...] | None = None, calibration_method: str = CALIBRATION_METHOD, search=DEFAULT_SEARCH,
    max_train_rows: int = TRAIN_MAX_ROWS, max_bootstrap_rows: int = BOOTSTRAP_MAX_ROWS,
    sampled_by_caller: dict | None = None,
) -> TrainedModel:
    """``train_high_need_model`` on parts already split (``split_snapshots``, or
    ``models.spark_score.high_need_parts_spark`` with the training part sampled on Spark and its
    record in ``sampled_by_caller``)."""
    from models.metrics import evaluate

    spec = high_need_spec(label, features)
    model = fit_task(spec, parts, split, seed=seed, score_baselines={"prior_cost": PRIOR_COST_COLUMN},
                     calibration_method=calibration_method, search=search, max_train_rows=max_train_rows,
                     max_bootstrap_rows=max_bootstrap_rows, sampled_by_caller=sampled_by_caller)
    model.metrics["baselines"]["prior_cost"]["label"] = "allowed amount in the 12 months before the as-of date"
    other: dict[str, dict] = {}
    test = parts["test"]
    for name in LABELS:
        if name != label and name in test.columns:
            both = test.with_columns(pl.Series("_raw", model.test_predictions["score_raw"])).filter(pl.col(name).is_not_null())
            y = both[name].cast(pl.Int64).to_numpy()
            if 0 < y.sum() < len(y):
                other[name] = evaluate(y, both["_raw"].to_numpy(), None, seed=seed, max_rows=max_bootstrap_rows)
                model.test_predictions = model.test_predictions.with_columns(test[name].alias(name))
    if ORACLE_LABEL_SOURCE in test.columns:  # the demo oracle's own definition, for the ceiling only
        model.test_predictions = model.test_predictions.with_columns(
            (test[ORACLE_LABEL_SOURCE] >= 1).cast(pl.Int64).alias(ORACLE_LABEL)
        )
    model.metrics["other_labels"] = other
    return model
