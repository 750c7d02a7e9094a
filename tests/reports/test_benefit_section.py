"""The report's "Who would benefit" section says in words whether the differences held up and what
the estimates rest on."""

from __future__ import annotations

import datetime as dt

import polars as pl

from models.benefit import CALIBRATION_SCHEMA, MODEL_SCHEMA
from reports.benefit import render_benefit_section


def _model(loading: tuple[float, float, float], shrinkage: float) -> pl.DataFrame:
    row = {k: None for k in MODEL_SCHEMA} | {
        "as_of_date": dt.date(2026, 1, 1), "outcome": "readmit_30d", "unit": "risk difference (probability)",
        "status": "estimated", "note": "", "stays": 15000, "enrolled_stays": 2600, "trimmed_stays": 10,
        "average_effect": 0.008, "average_effect_ci_low": -0.01, "average_effect_ci_high": 0.026,
        "heterogeneity_loading": loading[0], "heterogeneity_loading_ci_low": loading[1],
        "heterogeneity_loading_ci_high": loading[2], "shrinkage": shrinkage, "out_of_fold_sd": 0.01, "scored_stays": 500}
    return pl.DataFrame([row], schema=MODEL_SCHEMA)


GATES = pl.DataFrame([{"outcome": "readmit_30d", "kind": "gates", "term": f"quintile {g} of the out-of-fold effect",
                       "stays": 3000, "mean_estimated": 0.002 * g, "estimate": 0.003 * g, "ci_low": -0.01, "ci_high": 0.02}
                      for g in range(1, 6)], schema=CALIBRATION_SCHEMA)


def test_no_detected_heterogeneity_and_no_lottery_are_said_in_words() -> None:
    html = render_benefit_section(_model((-0.1, -0.6, 0.4), 0.0), GATES, "ranked by risk", None)
    assert "The data do not show which members benefit more" in html
    assert "orders the list as risk does" in html
    assert "No lottery arm" in html and "no unmeasured confounding" in html
    assert "0.8</b> fewer readmissions per 100 discharges" in html and "quintile 5" in html


def test_held_up_heterogeneity_and_a_lottery_arm() -> None:
    html = render_benefit_section(_model((0.7, 0.2, 1.2), 0.7), GATES, "ranked by expected benefit", 40)
    assert "held up out of fold" in html and "use 70% of the model" in html
    assert "lottery arm exists (latest band: 40 members)" in html


def test_missing_and_unestimated_models_say_so() -> None:
    assert "no estimate of who would benefit" in render_benefit_section(None, None, None, None)
    unfit = _model((0.0, 0.0, 0.0), 0.0).with_columns(pl.lit("not_estimable").alias("status"),
                                                       pl.lit("12 enrolled and 900 not enrolled").alias("note"))
    assert "Not estimated: 12 enrolled" in render_benefit_section(unfit, None, None, None)
