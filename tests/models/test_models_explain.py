from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import shap

from data_contracts.errors import RiskstratDataError
from features.dictionary import FEATURE_DICTIONARY
from models.explain import global_importance, shap_contributions, top_reasons
from models.score import explain_members, score_frame


def test_reasons_match_shap_tree_explainer(trained, synthetic_frame):
    rows = synthetic_frame.filter(pl.col("prior_ip_stays_180d") >= 2).head(8).vstack(synthetic_frame.head(8))
    x = rows.select(trained.feature_names).to_numpy()
    ours = shap_contributions(trained.booster, x)
    reference = np.asarray(shap.TreeExplainer(trained.booster).shap_values(x))
    if reference.ndim == 3:  # older shap returns one array per class
        reference = reference[-1]
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6)

    reasons = top_reasons(trained.booster, rows, trained.feature_names, k=3)
    assert reasons.height == rows.height
    for i in range(rows.height):
        # expected: features raising risk by descending SHAP, then those lowering it by |SHAP|
        up = sorted([(v, j) for j, v in enumerate(reference[i]) if v > 0], key=lambda t: -t[0])
        down = sorted([(v, j) for j, v in enumerate(reference[i]) if v < 0], key=lambda t: t[0])
        expected = [trained.feature_names[j] for _, j in (up + down)[:3]]
        named = [reasons[f"reason_feature_{r}"][i] for r in (1, 2, 3)]
        assert named == expected
        for r, name in enumerate(named, start=1):
            value = rows[name][i]
            shap_value = reference[i][trained.feature_names.index(name)]
            direction = "raises" if shap_value > 0 else "lowers"
            assert reasons[f"reason_{r}"][i] == f"{direction} risk: " + FEATURE_DICTIONARY[name].reason(value)
            np.testing.assert_allclose(reasons[f"reason_shap_{r}"][i], shap_value, rtol=1e-9)
    # every row carries three readable reasons
    assert all(reasons[f"reason_{r}"].null_count() == 0 for r in (1, 2, 3))
    # members with 2+ recent stays: the stay count is among their reasons, in plain words
    assert reasons["reason_1"].str.contains("hospital stays in the last").any()


def test_only_the_rows_people_read_are_explained(trained, synthetic_frame):
    frame = synthetic_frame.head(400)
    out = score_frame(trained, frame, explain_top=25)
    explained = out.filter(pl.col("reason_1").is_not_null())
    assert explained.height == 25
    assert explained["score_raw"].min() >= out.filter(pl.col("reason_1").is_null())["score_raw"].max()
    full = score_frame(trained, frame)
    assert full.filter(pl.col("reason_1").is_not_null()).height == 400
    # the explained rows carry the same reasons as when every row is explained
    joined = explained.join(full, on="stay_id", suffix="_full")
    assert (joined["reason_1"] == joined["reason_1_full"]).all()


def test_global_importance_ranks_the_signal(trained, synthetic_frame):
    imp = global_importance(trained.booster, synthetic_frame, trained.feature_names, sample_rows=500)
    assert [r["mean_abs_shap"] for r in imp] == sorted((r["mean_abs_shap"] for r in imp), reverse=True)
    # the synthetic label depends on prior stays, ED visits, Charlson, LOS, hemoglobin and follow-up only
    noise = {"age_at_discharge", "female_flag", "dual_flag", "open_cm_case_flag", "svi_overall",
             "allowed_amount_prior_365d", "last_sodium", "low_sodium_flag"}
    assert not {r["feature"] for r in imp[:3]} & noise
    assert all(r["definition"] for r in imp)


def test_reason_templates_read_as_words():
    spec = FEATURE_DICTIONARY["prior_ip_stays_180d"]
    assert spec.reason(3.0) == "3 other hospital stays in the last 6 months"
    assert FEATURE_DICTIONARY["followup_7d_prior_discharge_flag"].reason(0.0) == (
        "no follow-up visit within 7 days of the last discharge"
    )
    assert FEATURE_DICTIONARY["last_hemoglobin"].reason(None) == "no recent hemoglobin result"


def test_any_member_can_be_explained_on_request(trained, synthetic_frame):
    pid = synthetic_frame["person_id"][0]
    out = explain_members(trained, synthetic_frame, [pid])
    assert set(out["person_id"]) == {pid} and out["reason_3"].null_count() == 0
    with pytest.raises(RiskstratDataError, match="none of the 1 requested members"):
        explain_members(trained, synthetic_frame, ["nobody"])
