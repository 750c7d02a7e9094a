"""Task-agnostic training on a time split: LightGBM (small seeded search, early stopping on the
calibration slice), calibration, a scikit-learn logistic baseline and one-score baselines, all
predicted on the same test rows.

A task (30-day readmission, high need) supplies a ``TaskSpec`` and its three slices; this module
knows nothing about stays or members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from models.calibration import Calibrator, fit_calibrator

SUBGROUP_COLUMNS: tuple[str, ...] = ("sex", "age_band", "race", "ethnicity", "dual_flag", "svi_quartile")
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 50
# A bigger model must buy at least this much calibration-slice AUROC to be chosen: TreeSHAP
# cost grows with trees x leaves, and reasons are computed for every row people read.
SIZE_TOLERANCE_AUROC = 0.002
# (num_leaves, min_data_in_leaf): small to medium trees; a seeded search, not a sweep.
DEFAULT_SEARCH: tuple[tuple[int, int], ...] = ((7, 100), (15, 100), (15, 400), (31, 200))


@dataclass(frozen=True)
class TaskSpec:
    key: str
    task: str
    label: str
    label_definition: str
    date_column: str
    features: tuple[str, ...]
    id_columns: tuple[str, ...]


@dataclass
class TrainedModel:
    booster: lgb.Booster
    calibrator: Calibrator
    feature_names: list[str]
    feature_dtypes: dict[str, str]
    split: dict[str, str]
    metrics: dict[str, dict]
    params: dict = field(default_factory=dict)
    label_definition: str = ""
    task: str = ""
    task_key: str = "readmission"
    label: str = ""
    search: list[dict] = field(default_factory=list)
    # test rows (ids, label, subgroups, model and baseline scores); used by evaluation, never saved
    test_predictions: pl.DataFrame | None = None

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, num_threads=2)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator.apply(self.predict_raw(x))


def lgb_params(seed: int, num_leaves: int = 15, min_data_in_leaf: int = 100) -> dict:
    return {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": num_leaves,
        "min_data_in_leaf": min_data_in_leaf,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 2,
        "verbose": -1,
    }


def fit_lightgbm(
    x_tr: np.ndarray, y_tr: np.ndarray, x_cal: np.ndarray, y_cal: np.ndarray, features: Sequence[str],
    seed: int, search: Sequence[tuple[int, int]] = DEFAULT_SEARCH,
) -> tuple[lgb.Booster, dict, list[dict]]:
    """Fit one booster per search point with early stopping on the calibration slice's log loss;
    keep the smallest (trees x leaves) whose calibration AUROC is within SIZE_TOLERANCE_AUROC of the best.
    Returns the booster, its params and the search log."""
    train_ds = lgb.Dataset(x_tr, y_tr, feature_name=list(features), free_raw_data=False)
    cal_ds = lgb.Dataset(x_cal, y_cal, reference=train_ds)
    fits = []
    for num_leaves, min_data in search:
        params = lgb_params(seed, num_leaves, min_data)
        booster = lgb.train(
            params, train_ds, num_boost_round=MAX_ROUNDS, valid_sets=[cal_ds], valid_names=["calibration"],
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        trees = int(booster.best_iteration or booster.current_iteration())
        auc = float(roc_auc_score(y_cal, booster.predict(x_cal, num_iteration=trees, num_threads=2)))
        fits.append((booster, params, {"num_leaves": num_leaves, "min_data_in_leaf": min_data,
                                       "trees": trees, "calibration_auroc": auc, "size": trees * num_leaves}))
    best = max(f[2]["calibration_auroc"] for f in fits)
    eligible = [f for f in fits if f[2]["calibration_auroc"] >= best - SIZE_TOLERANCE_AUROC]
    booster, params, info = min(eligible, key=lambda f: f[2]["size"])
    # keep only the trees early stopping chose, so the saved text file and SHAP use the same model
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=info["trees"]))
    log = [f[2] | {"chosen": f[2] is info} for f in fits]
    return booster, params | {"num_boost_round": info["trees"], "early_stopping_rounds": EARLY_STOPPING_ROUNDS}, log


def fit_logistic(x_tr: np.ndarray, y_tr: np.ndarray):
    """Median imputation + StandardScaler + logistic regression (unscaled claims features do not converge)."""
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000)).fit(x_tr, y_tr)


def score_baseline(train_score: np.ndarray, y_tr: np.ndarray, test_score: np.ndarray) -> np.ndarray:
    """A point score's probability: one-feature logistic fit on the training rows (ranking unchanged)."""
    lr = LogisticRegression(max_iter=1000).fit(np.nan_to_num(train_score).reshape(-1, 1), y_tr)
    return lr.predict_proba(np.nan_to_num(test_score).reshape(-1, 1))[:, 1]


def _xy(frame: pl.DataFrame, spec: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    return (frame.select(spec.features).cast(pl.Float64).to_numpy(),
            frame[spec.label].cast(pl.Int64).to_numpy())


class InsufficientTrainingData(ValueError):
    """Too few labelled rows for a temporal split; the pipeline ranks by a published score instead."""


def check_slices(parts: Mapping[str, pl.DataFrame], spec: TaskSpec, split: Mapping[str, object]) -> None:
    for name in ("train", "calibration", "test"):
        sub = parts[name]
        events = int(sub[spec.label].cast(pl.Int64).sum()) if sub.height else 0
        if sub.height < 50 or events < 5 or sub.height - events < 5:
            raise InsufficientTrainingData(
                f"{spec.key}: {name} slice has {sub.height} rows and {events} events (split {dict(split)}); "
                "need at least 50 rows and 5 of each class for a temporal split"
            )


def fit_task(
    spec: TaskSpec,
    parts: Mapping[str, pl.DataFrame],
    split: dict[str, str],
    seed: int = 7,
    score_baselines: Mapping[str, str] | None = None,
    calibration_method: str = "isotonic",
    search: Sequence[tuple[int, int]] = DEFAULT_SEARCH,
) -> TrainedModel:
    """Fit LightGBM on ``parts['train']``, stop early and calibrate on ``parts['calibration']``, and
    predict it and every baseline on ``parts['test']``.

    ``score_baselines`` maps a baseline name to a column ranked as is (LACE, HOSPITAL, prior cost);
    its probability comes from a one-feature logistic fit on the training rows. The logistic
    regression baseline is always fitted. ``model.metrics`` holds the test metrics of everything;
    ``model.test_predictions`` the test rows for capacity, fairness and oracle evaluation.
    """
    from models.metrics import evaluate, paired_auroc_difference

    missing = sorted({c for c in (*spec.features, spec.label, spec.date_column) if c not in parts["train"].columns})
    if missing:
        raise ValueError(f"{spec.key}: training frame lacks columns {missing}")
    check_slices(parts, spec, split)
    (x_tr, y_tr), (x_cal, y_cal), (x_te, y_te) = (_xy(parts[n], spec) for n in ("train", "calibration", "test"))
    feats = list(spec.features)

    booster, params, log = fit_lightgbm(x_tr, y_tr, x_cal, y_cal, feats, seed, search)
    raw_cal = booster.predict(x_cal, num_threads=2)
    calibrator = fit_calibrator(raw_cal, y_cal, calibration_method)
    raw_te = booster.predict(x_te, num_threads=2)
    prob_te = calibrator.apply(raw_te)

    from models.fairness import subgroup_frame

    logit = fit_logistic(x_tr, y_tr)
    test = subgroup_frame(parts["test"])
    keep = [c for c in (*spec.id_columns, spec.date_column, *SUBGROUP_COLUMNS) if c in test.columns]
    preds = test.select(list(dict.fromkeys(keep))).with_columns(
        pl.Series(spec.label, y_te, dtype=pl.Int64),
        pl.Series("score", prob_te, dtype=pl.Float64),
        pl.Series("score_raw", raw_te, dtype=pl.Float64),
        pl.Series("logistic_score", logit.predict_proba(x_te)[:, 1], dtype=pl.Float64),
    )
    baselines: dict[str, dict] = {"logistic": evaluate(y_te, preds["logistic_score"].to_numpy(), preds["logistic_score"].to_numpy(), seed=seed)}
    for name, column in (score_baselines or {}).items():
        tr_score = parts["train"][column].cast(pl.Float64).to_numpy()
        te_score = np.nan_to_num(test[column].cast(pl.Float64).to_numpy())
        prob = score_baseline(tr_score, y_tr, te_score)
        preds = preds.with_columns(pl.Series(f"{name}_score", te_score), pl.Series(f"{name}_prob", prob))
        baselines[name] = evaluate(y_te, te_score, prob, seed=seed) | {"column": column}

    for name, r in baselines.items():
        column = "logistic_score" if name == "logistic" else f"{name}_score"
        r["vs_lightgbm"] = paired_auroc_difference(y_te, raw_te, preds[column].to_numpy(), seed=seed)
    metrics = {
        # ties from the isotonic steps are broken by the raw score, as the intake list ranks
        "test": evaluate(y_te, raw_te, prob_te, seed=seed) | {"trees": params["num_boost_round"], "num_leaves": params["num_leaves"]},
        "test_uncalibrated": evaluate(y_te, raw_te, raw_te, seed=seed),
        "calibration_slice": {"n": int(len(y_cal)), "events": int(y_cal.sum()), "method": calibration_method},
        "baselines": baselines,
    }
    split = dict(split) | {f"n_{n}": str(parts[n].height) for n in ("train", "calibration", "test")}
    return TrainedModel(
        booster=booster,
        calibrator=calibrator,
        feature_names=feats,
        feature_dtypes={f: "Float64" for f in feats},
        split=split,
        metrics=metrics,
        params=params,
        label_definition=spec.label_definition,
        task=spec.task,
        task_key=spec.key,
        label=spec.label,
        search=log,
        test_predictions=preds,
    )
