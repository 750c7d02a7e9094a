"""30-day readmission model: temporal split, LightGBM + baselines, calibration, metrics."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.isotonic import IsotonicRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.dictionary import MODEL_FEATURES
from models.metrics import evaluate

LABEL = "readmit_30d"
DATE_COLUMN = "discharge_date"
LABEL_DEFINITION = (
    "readmit_30d = 1 when any unplanned (admit_type_code <> '3') acute inpatient admission starts "
    "1-30 days after the index discharge; index = acute stay discharged alive, not AMA, not transferred; "
    "rows whose 30-day window is not complete at as_of are unlabelled and not used."
)
TEST_MONTHS = 6
CALIBRATION_MONTHS = 3


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw LightGBM probability to a calibrated one; JSON-serialisable, no pickle.

    ``isotonic``: piecewise-linear through (x, y) knots, clipped at the ends (what
    sklearn's IsotonicRegression.predict does). ``platt``: sigmoid(a * logit(p) + b).
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def apply(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.method == "isotonic":
            return np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        if self.method == "platt":
            p = np.clip(raw, 1e-6, 1 - 1e-6)
            return 1 / (1 + np.exp(-(self.a * np.log(p / (1 - p)) + self.b)))
        raise ValueError(f"unknown calibration method {self.method!r}")

    def to_dict(self) -> dict:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, d: dict) -> "Calibrator":
        return cls(method=d["method"], x=tuple(d["x"]), y=tuple(d["y"]), a=float(d["a"]), b=float(d["b"]))


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str = "isotonic") -> Calibrator:
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return Calibrator("isotonic", tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))
    if method == "platt":
        p = np.clip(raw, 1e-6, 1 - 1e-6)
        lr = LogisticRegression(C=1e6).fit(np.log(p / (1 - p)).reshape(-1, 1), y)
        return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}")


@dataclass
class TrainedModel:
    booster: lgb.Booster
    calibrator: Calibrator
    feature_names: list[str]
    feature_dtypes: dict[str, str]
    split: dict[str, str]
    metrics: dict[str, dict]
    params: dict = field(default_factory=dict)
    label_definition: str = LABEL_DEFINITION
    task: str = "30-day unplanned readmission after an acute inpatient discharge"

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, num_threads=2)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator.apply(self.predict_raw(x))


def add_months(day: dt.date, months: int) -> dt.date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return dt.date(year, month, min(day.day, _month_end(year, month).day))


def _month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def temporal_split(as_of: dt.date) -> dict[str, dt.date]:
    """Split dates: the last labelable discharge is as_of - 31 days; the last 6 labelable
    months are test, the 3 months before are calibration, everything earlier is training."""
    labelable_end = as_of - dt.timedelta(days=31)
    test_start = add_months(labelable_end, -TEST_MONTHS) + dt.timedelta(days=1)
    calibration_start = add_months(test_start, -CALIBRATION_MONTHS)
    return {"calibration_start": calibration_start, "test_start": test_start, "labelable_end": labelable_end}


def lgb_params(seed: int) -> dict:
    return {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 40,
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


def train_readmission_model(frame: pl.DataFrame, as_of: dt.date, seed: int = 7) -> TrainedModel:
    """Fit LightGBM on the earlier labelled stays, calibrate on the next 3 months, test on the last 6.

    ``frame`` is ``features.readmission_stay`` (any extra columns are ignored). Baselines on the
    same test rows: logistic regression (median impute + StandardScaler) and the LACE score
    (ranked as is; its probability from a one-feature logistic fit on the training rows).
    """
    missing = [c for c in (*MODEL_FEATURES, LABEL, DATE_COLUMN) if c not in frame.columns]
    if missing:
        raise ValueError(f"training frame lacks columns {missing}")
    split = temporal_split(as_of)
    labelled = frame.filter(pl.col(LABEL).is_not_null() & (pl.col(DATE_COLUMN) <= split["labelable_end"]))
    part = (
        pl.when(pl.col(DATE_COLUMN) >= split["test_start"]).then(pl.lit("test"))
        .when(pl.col(DATE_COLUMN) >= split["calibration_start"]).then(pl.lit("calibration"))
        .otherwise(pl.lit("train"))
    )
    labelled = labelled.with_columns(part.alias("_part")).sort(DATE_COLUMN, "stay_id" if "stay_id" in frame.columns else DATE_COLUMN)
    feats = list(MODEL_FEATURES)
    sets = {}
    for name in ("train", "calibration", "test"):
        sub = labelled.filter(pl.col("_part") == name)
        y = sub[LABEL].cast(pl.Int64).to_numpy()
        if sub.height < 50 or y.sum() < 5 or y.sum() == len(y):
            raise ValueError(
                f"{name} slice has {sub.height} rows and {int(y.sum())} events (split {split}); "
                "need at least 50 rows and 5 events of each class for a temporal split"
            )
        sets[name] = (sub.select(feats).cast(pl.Float64).to_numpy(), y)
    (x_tr, y_tr), (x_cal, y_cal), (x_te, y_te) = sets["train"], sets["calibration"], sets["test"]

    params = lgb_params(seed)
    train_ds = lgb.Dataset(x_tr, y_tr, feature_name=feats, free_raw_data=False)
    cal_ds = lgb.Dataset(x_cal, y_cal, reference=train_ds)
    booster = lgb.train(
        params, train_ds, num_boost_round=200, valid_sets=[cal_ds], valid_names=["calibration"],
        callbacks=[lgb.early_stopping(20, verbose=False)],
    )
    calibrator = fit_calibrator(booster.predict(x_cal, num_threads=2), y_cal, "isotonic")

    raw_te = booster.predict(x_te, num_threads=2)
    logit = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(), LogisticRegression(max_iter=2000))
    logit.fit(x_tr, y_tr)
    lace_idx = feats.index("lace_score")
    lace_lr = LogisticRegression(max_iter=1000).fit(np.nan_to_num(x_tr[:, [lace_idx]]), y_tr)
    lace_te = np.nan_to_num(x_te[:, lace_idx])
    metrics = {
        "lightgbm": evaluate(y_te, calibrator.apply(raw_te), calibrator.apply(raw_te), seed=seed),
        "lightgbm_uncalibrated": evaluate(y_te, raw_te, raw_te, seed=seed),
        "logistic_regression": evaluate(y_te, logit.predict_proba(x_te)[:, 1], logit.predict_proba(x_te)[:, 1], seed=seed),
        "lace": evaluate(y_te, lace_te, lace_lr.predict_proba(lace_te.reshape(-1, 1))[:, 1], seed=seed),
    }
    metrics["lightgbm"]["best_iteration"] = int(booster.best_iteration or booster.current_iteration())
    split_out = {k: v.isoformat() for k, v in split.items()} | {
        "as_of": as_of.isoformat(),
        "train_start": labelled[DATE_COLUMN].min().isoformat(),
        "n_train": str(len(y_tr)), "n_calibration": str(len(y_cal)), "n_test": str(len(y_te)),
    }
    return TrainedModel(
        booster=booster,
        calibrator=calibrator,
        feature_names=feats,
        feature_dtypes={f: "Float64" for f in feats},
        split=split_out,
        metrics=metrics,
        params=params | {"num_boost_round": 200, "early_stopping_rounds": 20},
    )
