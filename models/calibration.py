"""Probability calibration: a map fitted on out-of-fold predictions, chosen by out-of-time log
loss, then shifted on the logit scale to the most recent labelled period (the base rate drifts).
JSON-serialisable, no pickle."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import brentq
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw LightGBM probability to a calibrated one.

    ``isotonic``: piecewise-linear through (x, y) knots, clipped at the ends (what
    sklearn's IsotonicRegression.predict does). ``platt``: sigmoid(a * logit(p) + b).
    ``offset`` (calibration-in-the-large) is then added on the logit scale.
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0
    offset: float = 0.0

    def _map(self, raw: np.ndarray) -> np.ndarray:
        if self.method == "isotonic":
            return np.interp(raw, np.asarray(self.x), np.asarray(self.y))
        if self.method == "platt":
            return _sigmoid(self.a * _logit(raw) + self.b)
        raise ValueError(f"unknown calibration method {self.method!r}")

    def apply(self, raw: np.ndarray) -> np.ndarray:
        p = self._map(np.asarray(raw, dtype=float))
        return p if self.offset == 0.0 else _sigmoid(_logit(p) + self.offset)

    def shifted(self, offset: float) -> Calibrator:
        """The same map with ``offset`` added to its calibration-in-the-large."""
        return replace(self, offset=self.offset + float(offset))

    def to_dict(self) -> dict:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b,
                "offset": self.offset}

    @classmethod
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(method=d["method"], x=tuple(d["x"]), y=tuple(d["y"]), a=float(d["a"]), b=float(d["b"]),
                   offset=float(d.get("offset", 0.0)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    y = np.asarray(y, dtype=float)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str = "isotonic") -> Calibrator:
    """Fit ``isotonic`` (monotone step map) or ``platt`` (logistic on logit(raw)) on the calibration slice."""
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return Calibrator("isotonic", tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))
    if method == "platt":
        lr = LogisticRegression(C=1e6).fit(_logit(raw).reshape(-1, 1), y)
        return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}")


def fit_offset(p: np.ndarray, y: np.ndarray) -> float:
    """Calibration-in-the-large: the logit shift d with sum(sigmoid(logit p + d)) = sum(y), the
    maximum-likelihood intercept with logit p as an offset. Needs both classes."""
    y, z = np.asarray(y, dtype=float), _logit(p)
    events = y.sum()
    if events == 0 or events == len(y):
        raise ValueError(f"cannot shift calibration on {len(y)} rows with {int(events)} events: need both classes")
    return float(brentq(lambda d: _sigmoid(z + d).sum() - events, -20.0, 20.0, xtol=1e-10))


METHODS: tuple[str, ...] = ("platt", "isotonic")
def drift_sd(p: np.ndarray, y: np.ndarray, period: np.ndarray) -> tuple[float, dict]:
    """How much the base rate really moves between labelled periods, on the logit scale: the
    DerSimonian-Laird random-effects estimate (Controlled Clinical Trials 1986) of the SD of the
    periods' calibration-in-the-large shifts, over what their sampling variance alone explains.

    Each period g's shift d_g (``fit_offset`` of ``p`` on its rows) has sampling variance
    v_g = 1 / sum p'(1 - p') (p' the shifted probabilities); with w_g = 1 / v_g and Q the weighted
    sum of squared deviations from the weighted mean, tau^2 = max(0, (Q - (G - 1)) /
    (sum w - sum w^2 / sum w)). This is the actuary's credibility question (how much weight does
    the latest period's experience earn?) answered from the data's own history, not a constant:
    0 when the periods differ no more than chance makes them. Periods with one class only are
    left out; fewer than 3 usable periods give tau = 0 (no evidence of drift)."""
    p, y, period = np.asarray(p, dtype=float), np.asarray(y, dtype=float), np.asarray(period)
    shifts, variances = [], []
    for g in np.unique(period):
        mask = period == g
        events = y[mask].sum()
        if events == 0 or events == mask.sum():
            continue
        d = fit_offset(p[mask], y[mask])
        shifted = _sigmoid(_logit(p[mask]) + d)
        shifts.append(d)
        variances.append(1.0 / max(float(np.sum(shifted * (1 - shifted))), 1e-9))
    record = {"periods": len(shifts), "period_shifts": [round(float(d), 4) for d in shifts]}
    if len(shifts) < 3:
        return 0.0, record | {"tau2": 0.0, "q": None}
    d, w = np.asarray(shifts), 1.0 / np.asarray(variances)
    mean = float(np.sum(w * d) / w.sum())
    q = float(np.sum(w * (d - mean) ** 2))
    tau2 = max(0.0, (q - (len(d) - 1)) / float(w.sum() - np.sum(w**2) / w.sum()))
    return float(np.sqrt(tau2)), record | {"tau2": tau2, "q": q}


def shrunk_offset(p: np.ndarray, y: np.ndarray, prior_sd: float) -> tuple[float, float, float]:
    """(shrunk shift, raw shift, weight): ``fit_offset`` times tau^2 / (tau^2 + 1 / sum p(1 - p)),
    tau = ``prior_sd`` (the SD of true drift between periods, ``drift_sd``)."""
    raw = fit_offset(p, y)
    shifted = _sigmoid(_logit(p) + raw)
    variance = 1.0 / max(float(np.sum(shifted * (1 - shifted))), 1e-9)
    weight = prior_sd**2 / (prior_sd**2 + variance) if prior_sd > 0 else 0.0
    return raw * weight, raw, weight


def fit_out_of_fold_calibrator(
    oof_raw: np.ndarray, y: np.ndarray, block: np.ndarray, methods: tuple[str, ...] = METHODS,
    period: np.ndarray | None = None,
) -> tuple[Calibrator, dict]:
    """Calibrate on out-of-fold predictions instead of one small slice.

    ``oof_raw``: each labelled row's raw score from a model that did not see its label; ``block``:
    its fold, numbered in time order (the highest is the most recent labelled period; member
    folds of one snapshot are simply numbered). Each method is scored out of time: fitted on
    blocks before k, log loss on block k, summed over every later block. The winner is refitted
    on every row, then its calibration-in-the-large is shifted towards the most recent block
    (``shrunk_offset``), by as much as the drift between the labelled ``period``s (default: the
    blocks) says the base rate really moves (``drift_sd``). Returns the calibrator and a record of
    the choice (log loss per method, the drift estimate, the shift, row counts)."""
    oof_raw, y, block = np.asarray(oof_raw, dtype=float), np.asarray(y, dtype=int), np.asarray(block)
    blocks = sorted(np.unique(block).tolist())
    if len(blocks) < 2:
        raise ValueError("out-of-fold calibration needs at least two blocks (earlier and recent rows)")
    recent = block == blocks[-1]
    for name, mask in (("earliest", block == blocks[0]), ("recent", recent), ("all", np.ones(len(y), dtype=bool))):
        events = int(y[mask].sum())
        if events == 0 or events == int(mask.sum()):
            raise ValueError(f"out-of-fold calibration: the {name} rows ({int(mask.sum())}) hold {events} events; "
                             "need both classes")
    losses: dict[str, float] = {}
    for m in methods:
        total, rows = 0.0, 0
        for k in blocks[1:]:
            before, held = block < k, block == k
            if 0 < y[before].sum() < before.sum():
                total += log_loss(y[held], fit_calibrator(oof_raw[before], y[before], m).apply(oof_raw[held])) * held.sum()
                rows += int(held.sum())
        losses[m] = total / max(rows, 1)
    method = min(losses, key=losses.get)
    calibrator = fit_calibrator(oof_raw, y, method)
    prior_sd, drift = drift_sd(calibrator.apply(oof_raw), y, block if period is None else np.asarray(period))
    offset, raw_offset, weight = shrunk_offset(calibrator.apply(oof_raw[recent]), y[recent], prior_sd)
    record = {
        "method": method, "out_of_time_log_loss": losses, "offset": offset, "offset_unshrunk": raw_offset,
        "offset_weight": weight, "drift_sd": prior_sd, "drift": drift, "blocks": len(blocks),
        "oof_rows": int(len(y)), "oof_events": int(y.sum()),
        "recent_rows": int(recent.sum()), "recent_events": int(y[recent].sum()),
    }
    return calibrator.shifted(offset), record
