"""Probability calibration fitted on the calibration slice; JSON-serialisable, no pickle."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw LightGBM probability to a calibrated one.

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
    def from_dict(cls, d: dict) -> Calibrator:
        return cls(method=d["method"], x=tuple(d["x"]), y=tuple(d["y"]), a=float(d["a"]), b=float(d["b"]))


def fit_calibrator(raw: np.ndarray, y: np.ndarray, method: str = "isotonic") -> Calibrator:
    """Fit ``isotonic`` (monotone step map) or ``platt`` (logistic on logit(raw)) on the calibration slice."""
    if method == "isotonic":
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return Calibrator("isotonic", tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))
    if method == "platt":
        p = np.clip(np.asarray(raw, dtype=float), 1e-6, 1 - 1e-6)
        lr = LogisticRegression(C=1e6).fit(np.log(p / (1 - p)).reshape(-1, 1), y)
        return Calibrator("platt", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}")
