from __future__ import annotations

import numpy as np
import polars as pl
import shap

from features.dictionary import FEATURE_DICTIONARY
from models.explain import shap_contributions, top_reasons


def test_reasons_match_shap_tree_explainer(trained, synthetic_frame):
    rows = synthetic_frame.filter(pl.col("prior_ip_stays_180d") >= 2).head(8)
    x = rows.select(trained.feature_names).to_numpy()
    ours = shap_contributions(trained.booster, x)
    reference = np.asarray(shap.TreeExplainer(trained.booster).shap_values(x))
    if reference.ndim == 3:  # older shap returns one array per class
        reference = reference[-1]
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6)

    reasons = top_reasons(trained.booster, rows, trained.feature_names, k=3)
    assert reasons.height == rows.height
    for i in range(rows.height):
        positive = [(v, trained.feature_names[j]) for j, v in enumerate(reference[i]) if v > 0]
        expected = [name for _, name in sorted(positive, key=lambda t: -t[0])[:3]]
        named = [reasons[f"reason_feature_{r}"][i] for r in (1, 2, 3) if reasons[f"reason_feature_{r}"][i]]
        assert named == expected
        for r, name in enumerate(named, start=1):
            value = rows[name][i]
            assert reasons[f"reason_{r}"][i] == "raises risk: " + FEATURE_DICTIONARY[name].reason(value)
            assert reasons[f"reason_shap_{r}"][i] > 0
    # members with 2+ recent stays: the stay count is among their reasons, in plain words
    assert reasons["reason_1"].str.contains("hospital stays in the last").any()


def test_reason_templates_read_as_words():
    spec = FEATURE_DICTIONARY["prior_ip_stays_180d"]
    assert spec.reason(3.0) == "3 other hospital stays in the last 6 months"
    assert FEATURE_DICTIONARY["followup_7d_prior_discharge_flag"].reason(0.0) == (
        "no follow-up visit within 7 days of the last discharge"
    )
    assert FEATURE_DICTIONARY["last_hemoglobin"].reason(None) == "no recent hemoglobin result"
