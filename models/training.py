"""Task-agnostic training on a time split: LightGBM (small seeded search, early stopping on the
calibration slice; a shrunk search and fewer features below MIN_EVENTS_PER_FEATURE), calibration
on out-of-fold predictions over the training and calibration periods, a scikit-learn logistic
baseline and one-score baselines, all predicted on the same test rows.

A task (30-day readmission, high need) supplies a ``TaskSpec`` and its three slices; this module
knows nothing about stays or members.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import hashlib

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from models.calibration import METHODS, Calibrator, fit_offset, fit_out_of_fold_calibrator

SUBGROUP_COLUMNS: tuple[str, ...] = ("sex", "age_band", "race", "ethnicity", "dual_flag", "svi_quartile")
MAX_ROUNDS = 1000
# LightGBM threads for fitting and test predictions. One: with deterministic=True and row-wise
# histograms a 1-thread fit is bit-identical to a 2-thread one (the model text matches), and on the
# shared 2-core machine (the two model assets train side by side, other work runs) the 2-thread
# fit's OpenMP threads spin against other processes: 100 rounds on the 200k-member high-need rows
# took 15.5 s wall / 10.5 s CPU with 2 threads and 1.3 s / 0.9 s with 1 (load average 5).
NUM_THREADS = 1
EARLY_STOPPING_ROUNDS = 50
# A bigger model must buy at least this much calibration-slice AUROC to be chosen: TreeSHAP
# cost grows with trees x leaves, and reasons are computed for every row people read.
SIZE_TOLERANCE_AUROC = 0.002
# (num_leaves, min_data_in_leaf): small to medium trees; a seeded search, not a sweep.
DEFAULT_SEARCH: tuple[tuple[int, int], ...] = ((7, 100), (15, 100), (15, 400), (31, 200))
# Below this many training events per feature the model shrinks: on 10k generated members
# readmission has about 4 events per feature (131 events, 34 features) and the full search gave a
# test calibration slope of 0.83; at 100k (50+ per feature) it gave 0.93. 10 is the classic
# events-per-variable floor for a logistic model; trees need at least as many.
MIN_EVENTS_PER_FEATURE = 10
# shrunk: stumps to 7-leaf trees, a slower rate, ten times the L2 penalty, fewer columns per tree,
# and only the features the events can support (events / MIN_EVENTS_PER_FEATURE, at least 8)
SHRUNK_SEARCH: tuple[tuple[int, int], ...] = ((3, 40), (5, 60), (7, 80))
SHRUNK_PARAMS: dict = {"learning_rate": 0.03, "lambda_l2": 10.0, "feature_fraction": 0.7}
SHRUNK_MIN_FEATURES = 8
# out-of-fold predictions for calibration: time blocks (or member groups) over the training rows
OOF_FOLDS = 4
# the paired AUROC difference vs logistic regression: non-inferior when its lower bound is above this
NON_INFERIORITY_MARGIN = -0.02
# Above this many training rows every fitted model (LightGBM search, out-of-fold refits, logistic
# and one-score baselines) sees a member-level sample of this many rows, stratified by whether the
# member has an event (``sample_training_rows``); calibration and test rows are never sampled. The
# high-need task has about 64k training rows at 100k members (unchanged), 128k at 200k and about
# 640k at 1M; readmission about 10k, 22k and 110k. On the 200k-member learning curve test AUROC and
# log loss are flat from 64k rows on (docs/models.md, "Training at scale").
TRAIN_MAX_ROWS = 100_000


@dataclass(frozen=True)
class TaskSpec:
    key: str
    task: str
    label: str
    label_definition: str
    date_column: str
    features: tuple[str, ...]
    id_columns: tuple[str, ...]
    # out-of-fold calibration folds: "time" (contiguous date blocks, rows whose label window reaches
    # into the held-out block dropped from its fit) or a member column (rows grouped by member)
    fold_by: str = "time"
    label_window_days: int = 30
    # whose rows move together when training rows are sampled (``sample_training_rows``)
    member_column: str = "person_id"


@dataclass(frozen=True)
class Regime:
    """How much model the training events support (``choose_regime``)."""

    name: str  # "full" or "shrunk"
    events: int
    n_features: int
    events_per_feature: float
    threshold: float
    search: tuple[tuple[int, int], ...]
    params: dict
    max_features: int
    reason: str

    def to_dict(self) -> dict:
        return {"name": self.name, "events": self.events, "n_features": self.n_features,
                "events_per_feature": self.events_per_feature, "threshold": self.threshold,
                "search": [list(s) for s in self.search], "params": self.params,
                "max_features": self.max_features, "reason": self.reason}


def choose_regime(
    events: int, n_features: int, search: Sequence[tuple[int, int]] = DEFAULT_SEARCH,
    threshold: float = MIN_EVENTS_PER_FEATURE,
) -> Regime:
    """``full`` (the given search, every feature) at ``threshold`` or more training events per
    feature; below it ``shrunk``: SHRUNK_SEARCH, SHRUNK_PARAMS and at most
    max(SHRUNK_MIN_FEATURES, events // threshold) features."""
    epf = events / max(n_features, 1)
    if epf >= threshold:
        return Regime("full", events, n_features, round(epf, 2), threshold, tuple(search), {}, n_features,
                      f"{events} training events for {n_features} features ({epf:.1f} per feature, "
                      f"at least {threshold:g}): the full search on every feature")
    keep = min(n_features, max(SHRUNK_MIN_FEATURES, int(events // threshold)))
    return Regime("shrunk", events, n_features, round(epf, 2), threshold, SHRUNK_SEARCH, dict(SHRUNK_PARAMS), keep,
                  f"{events} training events for {n_features} features ({epf:.1f} per feature, below {threshold:g}): "
                  f"trees of {SHRUNK_SEARCH[0][0]}-{SHRUNK_SEARCH[-1][0]} leaves, L2 {SHRUNK_PARAMS['lambda_l2']:g}, "
                  f"learning rate {SHRUNK_PARAMS['learning_rate']:g}, the {keep} features with the most gain "
                  "in a first fit")


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
    # the calibrator shifted to the test period when its O/E interval excluded 1 (O/E KPIs use it)
    recalibrated: Calibrator | None = None

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        return self.booster.predict(x, num_threads=2)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.calibrator.apply(self.predict_raw(x))


def lgb_params(seed: int, num_leaves: int = 15, min_data_in_leaf: int = 100, overrides: Mapping | None = None) -> dict:
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
        "num_threads": NUM_THREADS,
        "verbose": -1,
    } | dict(overrides or {})


def fit_lightgbm(
    x_tr: np.ndarray, y_tr: np.ndarray, x_cal: np.ndarray, y_cal: np.ndarray, features: Sequence[str],
    seed: int, search: Sequence[tuple[int, int]] = DEFAULT_SEARCH, overrides: Mapping | None = None,
) -> tuple[lgb.Booster, dict, list[dict]]:
    """Fit one booster per search point with early stopping on the calibration slice's log loss;
    keep the smallest (trees x leaves) whose calibration AUROC is within SIZE_TOLERANCE_AUROC of the best.
    Returns the booster, its params and the search log."""
    train_ds = lgb.Dataset(x_tr, y_tr, feature_name=list(features), free_raw_data=False)
    cal_ds = lgb.Dataset(x_cal, y_cal, reference=train_ds)
    fits = []
    for num_leaves, min_data in search:
        params = lgb_params(seed, num_leaves, min_data, overrides)
        booster = lgb.train(
            params, train_ds, num_boost_round=MAX_ROUNDS, valid_sets=[cal_ds], valid_names=["calibration"],
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        trees = int(booster.best_iteration or booster.current_iteration())
        auc = float(roc_auc_score(y_cal, booster.predict(x_cal, num_iteration=trees, num_threads=NUM_THREADS)))
        fits.append((booster, params, {"num_leaves": num_leaves, "min_data_in_leaf": min_data,
                                       "trees": trees, "calibration_auroc": auc, "size": trees * num_leaves}))
    best = max(f[2]["calibration_auroc"] for f in fits)
    eligible = [f for f in fits if f[2]["calibration_auroc"] >= best - SIZE_TOLERANCE_AUROC]
    booster, params, info = min(eligible, key=lambda f: f[2]["size"])
    # keep only the trees early stopping chose, so the saved text file and SHAP use the same model
    booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=info["trees"]))
    log = [f[2] | {"chosen": f[2] is info} for f in fits]
    return booster, params | {"num_boost_round": info["trees"], "early_stopping_rounds": EARLY_STOPPING_ROUNDS}, log



def select_features(
    x_tr: np.ndarray, y_tr: np.ndarray, x_cal: np.ndarray, y_cal: np.ndarray, features: Sequence[str], seed: int,
    regime: Regime,
) -> list[str]:
    """The ``regime.max_features`` features with the most total gain in a first fit of the regime's
    search (all of them when the regime keeps every feature); ties keep the dictionary order."""
    if regime.max_features >= len(features):
        return list(features)
    pilot, _, _ = fit_lightgbm(x_tr, y_tr, x_cal, y_cal, features, seed, regime.search, regime.params)
    gain = pilot.feature_importance(importance_type="gain")
    order = sorted(range(len(features)), key=lambda i: (-gain[i], i))
    return [features[i] for i in sorted(order[: regime.max_features])]


def _mask_features(x: np.ndarray, features: Sequence[str], keep: Sequence[str]) -> np.ndarray:
    """Columns outside ``keep`` set to missing: LightGBM cannot split on an all-missing column, so
    the booster keeps the card's feature layout (scoring unchanged) but never uses them."""
    dropped = [i for i, f in enumerate(features) if f not in set(keep)]
    if not dropped:
        return x
    x = x.copy()
    x[:, dropped] = np.nan
    return x


def _stable_fold(value: str, folds: int) -> int:
    return int(hashlib.sha256(str(value).encode()).hexdigest()[:8], 16) % folds


def _member_key(value: object, seed: int) -> int:
    """A member's place in the training sample's order: sha256 of the seed and the id (stable across
    runs and processes, and independent of the calibration-member and fold hashes, which hash the id alone)."""
    return int(hashlib.sha256(f"training-sample:{seed}:{value}".encode()).hexdigest()[:15], 16)


def sample_training_rows(
    frame: pl.DataFrame, label: str, member_column: str = "person_id", max_rows: int = TRAIN_MAX_ROWS, seed: int = 7,
) -> tuple[np.ndarray, dict]:
    """Which training rows the models are fitted on, and a record of the rule for the card.

    Up to ``max_rows`` rows: all of them (``engaged`` false). Above: whole members, so a member's
    rows (snapshots, stays) are all in or all out; members are split into two strata, with and
    without an event in the slice, each stratum keeps its share of ``max_rows`` rows, and within a
    stratum members are taken in the order of a seeded sha256 of their id until the share is
    full. The sample is deterministic, its row count is at most ``max_rows``, and its event rate
    is the slice's (to the member granularity). Returns a boolean mask over ``frame``'s rows."""
    n = frame.height
    y = frame[label].cast(pl.Int64)
    events = int(y.sum())
    record = sampling_record(n, events, max_rows, seed)
    if n <= max_rows:
        return np.ones(n, dtype=bool), record
    if member_column not in frame.columns:
        raise ValueError(f"training rows ({n}) exceed max_rows {max_rows} and the frame has no member column "
                         f"{member_column!r} to sample whole members by")
    members = frame.group_by(member_column).agg(
        pl.len().cast(pl.Int64).alias("_rows"), (pl.col(label).cast(pl.Int64).max() > 0).alias("_stratum"))
    keys = [_member_key(m, seed) for m in members[member_column].to_list()]
    members = (
        members.with_columns(pl.Series("_key", keys, dtype=pl.UInt64))
        .sort("_stratum", "_key")
        .with_columns(
            pl.col("_rows").cum_sum().over("_stratum").alias("_cum_rows"),
            (pl.col("_rows").sum().over("_stratum") * max_rows // n).alias("_quota"),
        )
    )
    kept = members.filter(pl.col("_cum_rows") <= pl.col("_quota"))
    keep = frame[member_column].is_in(kept[member_column].implode()).to_numpy()
    record |= sampled_record(n, events, int(keep.sum()), int(y.to_numpy()[keep].sum()), members.height, kept.height,
                             members.filter(pl.col("_stratum")).height, int(kept["_stratum"].sum()), max_rows)
    return keep, record


def sampling_record(rows: int, events: int, max_rows: int, seed: int) -> dict:
    """``sample_training_rows``'s record before sampling (every row fitted, ``engaged`` false)."""
    return {"engaged": False, "max_rows": int(max_rows), "rows": rows, "events": events,
            "sampled_rows": rows, "sampled_events": events, "seed": seed,
            "rule": f"every training row is fitted ({rows} rows, at most {max_rows} before sampling)"}


def sampled_record(
    rows: int, events: int, sampled_rows: int, sampled_events: int, members: int, sampled_members: int,
    members_with_event: int, sampled_members_with_event: int, max_rows: int,
) -> dict:
    """The engaged part of ``sample_training_rows``'s record (for the card), from its counts; shared
    with ``models.spark_score.sample_training_rows_spark``, which counts on Spark."""
    return {
        "engaged": True, "members": members, "sampled_members": sampled_members,
        "sampled_rows": sampled_rows, "sampled_events": sampled_events,
        "stratified_by": "member has an event in the training slice",
        "members_with_event": members_with_event, "sampled_members_with_event": sampled_members_with_event,
        "rule": (f"{rows} training rows ({events} events) exceed {max_rows}: models fitted on a member-level sample of "
                 f"{sampled_rows} rows ({sampled_events} events, {sampled_members} of {members} members), "
                 "stratified by whether the member has an event, members in seeded sha256 order; "
                 "calibration and test rows are not sampled"),
    }


def oof_folds(frame: pl.DataFrame, spec: TaskSpec, folds: int = OOF_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, held-out rows) masks over ``frame`` (the training slice) for out-of-fold predictions.

    ``fold_by == "time"``: ``folds`` contiguous blocks of equal row count in date order; a block's
    model is fitted on every other block except the rows discharged in the ``label_window_days``
    before the block starts (their outcome window reaches into it). Otherwise rows are grouped by
    the member column named in ``fold_by`` (a stable hash), so no member is on both sides: member
    snapshots' label windows overlap, and trees learn a member's overlapping outcome."""
    n = frame.height
    if spec.fold_by == "time":
        dates = frame[spec.date_column].to_numpy()
        order = np.argsort(dates, kind="stable")
        block = np.empty(n, dtype=np.int64)
        for k, part in enumerate(np.array_split(order, folds)):
            block[part] = k
        out = []
        for k in range(folds):
            held = block == k
            if not held.any():
                continue
            start = dates[held].min()
            guard = (dates < start) & (dates >= start - np.timedelta64(spec.label_window_days, "D"))
            out.append((~held & ~guard, held))
        return out
    group = np.array([_stable_fold(v, folds) for v in frame[spec.fold_by].to_list()], dtype=np.int64)
    return [(group != k, group == k) for k in range(folds) if (group == k).any()]


def out_of_fold_raw(
    x: np.ndarray, y: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], params: Mapping, rounds: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores of each held-out row from a booster (``params``, ``rounds`` trees, no early
    stopping) fitted on its fold's fit rows; returns the scores and each row's fold number (-1 for
    rows not scored: a fold whose fit rows hold one class is skipped)."""
    raw = np.full(len(y), np.nan)
    block = np.full(len(y), -1, dtype=np.int64)
    params = {k: v for k, v in params.items() if k not in ("num_boost_round", "early_stopping_rounds")}
    for k, (fit, held) in enumerate(folds):
        if fit.sum() < 50 or y[fit].sum() in (0, fit.sum()):
            continue
        booster = lgb.train(params, lgb.Dataset(x[fit], y[fit]), num_boost_round=max(1, rounds))
        raw[held] = booster.predict(x[held], num_threads=NUM_THREADS)
        block[held] = k
    return raw, block


def compare_to_logistic(difference: Mapping, margin: float = NON_INFERIORITY_MARGIN) -> dict:
    """The decided comparison of LightGBM with logistic regression on the same rows: non-inferior
    when the paired difference's lower 95% bound is above ``margin``; a gain only when it is above 0."""
    low = difference["auroc_difference_ci"][0]
    verdict = "gain" if low > 0 else "non-inferior" if low > margin else "not shown non-inferior"
    return dict(difference) | {"margin": margin, "verdict": verdict}


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
    calibration_method: str = "auto",
    search: Sequence[tuple[int, int]] = DEFAULT_SEARCH,
    max_train_rows: int = TRAIN_MAX_ROWS,
    max_bootstrap_rows: int | None = None,
    sampled_by_caller: Mapping | None = None,
) -> TrainedModel:
    """Fit LightGBM on ``parts['train']`` (the regime from ``choose_regime``), stop early on
    ``parts['calibration']``, calibrate on out-of-fold predictions (``calibration_method``: "auto"
    chooses Platt or isotonic by log loss on the calibration slice), shift to the calibration
    slice's base rate, and predict it and every baseline on ``parts['test']``. When the test
    rows' O/E interval excludes 1, ``model.recalibrated`` shifts the calibrator to the test rows
    (for O/E KPIs, which look at later periods still).

    ``score_baselines`` maps a baseline name to a column ranked as is (LACE, HOSPITAL, prior cost);
    its probability comes from a one-feature logistic fit on the training rows. The logistic
    regression baseline is always fitted. ``model.metrics`` holds the test metrics of everything;
    ``model.test_predictions`` the test rows for capacity, fairness and oracle evaluation.

    Above ``max_train_rows`` training rows every model is fitted on ``sample_training_rows``'s
    member-level sample (``metrics['sampling']`` records it either way); above
    ``max_bootstrap_rows`` test rows (default ``models.metrics.BOOTSTRAP_MAX_ROWS``) the AUROC and
    AUPRC intervals are analytic instead of bootstrapped. Test rows are never sampled.
    ``sampled_by_caller``: the record of a sample the caller already drew, ``parts['train']``
    holding only its rows (``models.spark_score.sample_training_rows_spark`` collects just those to
    the driver); it is recorded as is, and the split's ``n_train`` is the rows before sampling.
    """
    from models.metrics import BOOTSTRAP_MAX_ROWS, evaluate, paired_auroc_difference

    boot_rows = BOOTSTRAP_MAX_ROWS if max_bootstrap_rows is None else max_bootstrap_rows

    missing = sorted({c for c in (*spec.features, spec.label, spec.date_column) if c not in parts["train"].columns})
    if missing:
        raise ValueError(f"{spec.key}: training frame lacks columns {missing}")
    check_slices(parts, spec, split)
    if sampled_by_caller is not None:
        sampling, train = dict(sampled_by_caller), parts["train"]
    else:
        keep, sampling = sample_training_rows(parts["train"], spec.label, spec.member_column, max_train_rows, seed)
        train = parts["train"].filter(pl.Series(keep)) if sampling["engaged"] else parts["train"]
    x_tr, y_tr = _xy(train, spec)
    (x_cal, y_cal), (x_te, y_te) = (_xy(parts[n], spec) for n in ("calibration", "test"))
    feats = list(spec.features)

    regime = choose_regime(int(y_tr.sum()), len(feats), search)
    kept = select_features(x_tr, y_tr, x_cal, y_cal, feats, seed, regime)
    x_tr_m, x_cal_m = _mask_features(x_tr, feats, kept), _mask_features(x_cal, feats, kept)
    booster, params, log = fit_lightgbm(x_tr_m, y_tr, x_cal_m, y_cal, feats, seed, regime.search, regime.params)
    raw_cal = booster.predict(x_cal, num_threads=NUM_THREADS)
    # calibration on out-of-fold scores of the training rows plus the final booster's scores of the
    # calibration slice (it never trained on them), chosen by log loss on that later slice
    folds = oof_folds(train, spec)
    oof, block = out_of_fold_raw(x_tr_m, y_tr, folds, params, params["num_boost_round"])
    scored = block >= 0
    methods = METHODS if calibration_method == "auto" else (calibration_method,)
    # the periods whose base rates say how much it drifts: the time blocks, or for member folds
    # (one label window per snapshot date) the snapshot dates, the calibration slice last
    period = None
    if spec.fold_by != "time":
        dates = np.r_[train[spec.date_column].to_numpy()[scored], parts["calibration"][spec.date_column].to_numpy()]
        period = np.unique(dates, return_inverse=True)[1]
    calibrator, calibration_record = fit_out_of_fold_calibrator(
        np.r_[oof[scored], raw_cal], np.r_[y_tr[scored], y_cal],
        np.r_[block[scored], np.full(len(y_cal), len(folds))], methods, period=period,
    )
    raw_te = booster.predict(x_te, num_threads=NUM_THREADS)
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
    baselines: dict[str, dict] = {"logistic": evaluate(y_te, preds["logistic_score"].to_numpy(), preds["logistic_score"].to_numpy(),
                                                       seed=seed, max_rows=boot_rows)
                                  | {"calibration_regime": "logistic regression as fitted on the training rows; not recalibrated"}}
    for name, column in (score_baselines or {}).items():
        tr_score = train[column].cast(pl.Float64).to_numpy()
        te_score = np.nan_to_num(test[column].cast(pl.Float64).to_numpy())
        prob = score_baseline(tr_score, y_tr, te_score)
        preds = preds.with_columns(pl.Series(f"{name}_score", te_score), pl.Series(f"{name}_prob", prob))
        baselines[name] = evaluate(y_te, te_score, prob, seed=seed, max_rows=boot_rows) | {
            "column": column, "calibration_regime": "one-feature logistic fit on the training rows; not recalibrated"}

    for name, r in baselines.items():
        column = "logistic_score" if name == "logistic" else f"{name}_score"
        r["vs_lightgbm"] = paired_auroc_difference(y_te, raw_te, preds[column].to_numpy(), seed=seed, max_rows=boot_rows)
    test_metrics = evaluate(y_te, raw_te, prob_te, seed=seed, max_rows=boot_rows) | {
        "trees": params["num_boost_round"], "num_leaves": params["num_leaves"], "calibration_regime": regime.name}
    recalibrated, recalibration = _recalibrate_if_off(calibrator, prob_te, y_te, test_metrics)
    metrics = {
        # ties from the isotonic steps are broken by the raw score, as the intake list ranks
        "test": test_metrics,
        "test_uncalibrated": evaluate(y_te, raw_te, raw_te, seed=seed, max_rows=boot_rows),
        "calibration_slice": {"n": int(len(y_cal)), "events": int(y_cal.sum()), "method": calibrator.method},
        "calibration": calibration_record | {"methods_tried": list(methods)},
        "regime": regime.to_dict() | {"features_used": kept},
        "recalibration": recalibration,
        "vs_logistic": compare_to_logistic(baselines["logistic"]["vs_lightgbm"]),
        "baselines": baselines,
        "sampling": sampling,
    }
    split = dict(split) | {f"n_{n}": str(parts[n].height) for n in ("train", "calibration", "test")}
    if sampling["engaged"]:
        split["n_train"] = str(sampling["rows"])
        split["n_train_fitted"] = str(train.height)
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
        recalibrated=recalibrated,
    )


def _recalibrate_if_off(
    calibrator: Calibrator, prob_te: np.ndarray, y_te: np.ndarray, test: Mapping,
) -> tuple[Calibrator | None, dict]:
    """When the test rows' O/E interval excludes 1, the calibrator shifted to the test rows (the
    latest labelled period) and a sentence saying so; otherwise (None, a record that it holds)."""
    from models.metrics import oe_excludes_one

    lo, hi = test["oe_ci"]
    figures = f"observed / expected {test['oe']:.2f} (95% CI {lo:.2f}-{hi:.2f}) on {test['n']} test rows"
    if not oe_excludes_one(test["oe_ci"]):
        return None, {"applied": False, "note": f"{figures}: the interval covers 1, probabilities hold in the large"}
    offset = fit_offset(prob_te, y_te)
    direction = "under-predicts" if test["oe"] > 1 else "over-predicts"
    return calibrator.shifted(offset), {
        "applied": True, "offset": offset,
        "note": (f"{figures}: the interval excludes 1, the model {direction} events in the latest labelled period; "
                 f"O/E KPIs use probabilities recalibrated on the test period (logit shift {offset:+.2f}); "
                 "rankings and the intake list are unchanged"),
    }
