"""A synthetic features.readmission_stay-shaped frame with a known signal, and one trained model."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from features.dictionary import MODEL_FEATURES

AS_OF = dt.date(2024, 8, 1)


def make_frame(n: int = 4000, seed: int = 11) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    days = rng.integers(0, (AS_OF - dt.date(2021, 1, 1)).days - 1, size=n)
    discharge = np.datetime64("2021-01-01") + days.astype("timedelta64[D]")
    prior = rng.poisson(0.6, n).astype(float)
    ed = rng.poisson(0.8, n).astype(float)
    los = rng.gamma(2.0, 2.5, n).round()
    charlson = rng.poisson(1.5, n).astype(float)
    emergency = (rng.random(n) < 0.7).astype(float)
    hgb = rng.normal(12.5, 1.8, n)
    hgb[rng.random(n) < 0.2] = np.nan
    followup = np.where(prior > 0, (rng.random(n) < 0.5).astype(float), np.nan)
    lace_l = np.select([los < 1, los <= 3, los <= 6, los <= 13], [0, los, 4, 5], 7).astype(float)
    lace_c = np.where(charlson >= 4, 5.0, charlson)
    lace_e = np.minimum(ed, 4.0)
    cols = {
        "age_at_discharge": rng.integers(20, 95, n).astype(float),
        "female_flag": (rng.random(n) < 0.55).astype(float),
        "dual_flag": (rng.random(n) < 0.2).astype(float),
        "length_of_stay_days": los,
        "emergency_admit_flag": emergency,
        "lace_l": lace_l, "lace_a": 3 * emergency, "lace_c": lace_c, "lace_e": lace_e,
        "lace_score": lace_l + 3 * emergency + lace_c + lace_e,
        "prior_ip_stays_180d": prior, "prior_ip_stays_365d": prior + rng.poisson(0.3, n),
        "ed_visits_180d": ed,
        "days_since_prev_discharge": np.where(prior > 0, rng.integers(1, 180, n), np.nan).astype(float),
        "last_hemoglobin": hgb, "low_hemoglobin_flag": np.where(np.isnan(hgb), np.nan, (hgb < 12).astype(float)),
        "last_sodium": rng.normal(139, 3, n), "low_sodium_flag": np.zeros(n),
        "allowed_amount_prior_365d": rng.gamma(1.5, 8000, n),
        "followup_7d_prior_discharge_flag": followup,
        "open_cm_case_flag": (rng.random(n) < 0.15).astype(float),
        "svi_overall": rng.random(n),
    }
    cols["low_sodium_flag"] = (cols["last_sodium"] < 135).astype(float)
    for name in MODEL_FEATURES:  # features added to the dictionary later: noise, no signal
        cols.setdefault(name, rng.normal(0, 1, n))
    logit = (-2.6 + 0.7 * prior + 0.25 * ed + 0.25 * charlson + 0.05 * los
             + 0.8 * np.nan_to_num(cols["low_hemoglobin_flag"]) + 0.6 * (followup == 0))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pl.DataFrame({
        "stay_id": [f"s{i:05d}" for i in range(n)],
        "person_id": [f"p{i % (n // 2):05d}" for i in range(n)],
        "discharge_date": discharge.astype("datetime64[D]"),
        "readmit_30d": y,
        "hospital_score": np.clip(np.round(prior + lace_l / 3 + np.nan_to_num(cols["low_hemoglobin_flag"])), 0, 13),
        "hospital_claims_only_flag": np.isnan(hgb).astype(float),
        "sex": np.where(cols["female_flag"] == 1, "female", "male"),
        "race": rng.choice(["white", "black", "asian", "other"], n, p=[0.6, 0.2, 0.1, 0.1]),
    }).with_columns(
        pl.col("discharge_date").cast(pl.Date),
        pl.col("readmit_30d").cast(pl.Int32),
        *[pl.Series(name, cols[name], dtype=pl.Float64).fill_nan(None) for name in MODEL_FEATURES],
    )
    unobservable = pl.col("discharge_date") + pl.duration(days=30) >= AS_OF
    return frame.with_columns(pl.when(unobservable).then(None).otherwise(pl.col("readmit_30d")).alias("readmit_30d"))


