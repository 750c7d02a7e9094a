from __future__ import annotations

import numpy as np
import polars as pl

from models.fairness import FairnessConfig, fairness_rows, fairness_table, subgroup_frame
from models.metrics import top_k_selection


def _scenario(n=6000, seed=3):
    rng = np.random.default_rng(seed)
    group = rng.choice(["A", "B", "C"], n, p=[0.6, 0.39, 0.01])
    p = rng.beta(1.5, 8, n)
    y = (rng.random(n) < p).astype(int)
    score = p.copy()
    score[group == "B"] *= 0.5  # the model under-ranks group B: fewer of its true positives are selected
    return y, p, score, group


def test_under_selected_group_is_flagged_and_tiny_group_is_not_judged():
    y, p, score, group = _scenario()
    selected = top_k_selection(score, 600)
    groups = pl.DataFrame({"race": group})
    report = fairness_table(y, p, score, selected, groups, FairnessConfig(), columns=["race"])
    b, a, c = (report["groups"]["race"][g] for g in ("B", "A", "C"))
    assert b["share_selected"] < b["share_positives"]
    assert any("of true positives" in f for f in b["flags"]) and any("false negative rate" in f for f in b["flags"])
    assert any(f.startswith("race=B:") for f in report["flags"])
    assert not a["flags"]
    assert c["judged"] is False and not c["flags"]  # ~60 rows: too few to judge
    rows = fairness_rows(report)
    assert set(rows["level"]) == {"A", "B", "C"}


def test_thresholds_are_configurable():
    y, p, score, group = _scenario()
    selected = top_k_selection(score, 600)
    lax = FairnessConfig(auroc_gap=1, fnr_gap=1, oe_low=0, oe_high=100, share_ratio=0)
    report = fairness_table(y, p, score, selected, pl.DataFrame({"race": group}), lax, columns=["race"])
    assert report["flags"] == []


def test_subgroups_are_derived_from_features_when_absent():
    frame = pl.DataFrame({"female_flag": [1.0, 0.0, None], "age_at_discharge": [80.0, 30.0, None],
                          "svi_overall": [0.1, 0.9, None], "dual_flag": [1.0, 0.0, 0.0]})
    out = subgroup_frame(frame)
    assert out["sex"].to_list() == ["female", "male", "unknown"]
    assert out["age_band"].to_list() == ["75+", "18-44", "unknown"]
    assert out["svi_quartile"].to_list() == ["Q1", "Q4", "unknown"]
    assert out["dual_flag"].to_list() == ["1", "0", "0"]
