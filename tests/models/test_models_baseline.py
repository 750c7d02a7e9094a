"""Without a trained model the list is ranked by a published score, with its own parts as reasons."""

from __future__ import annotations

import datetime as dt

import polars as pl

from features.dictionary import FEATURE_DICTIONARY
from models.baseline import LACE_BASIS, lace_scores, prior_cost_scores
from models.high_need import member_dictionary


def test_lace_baseline_ranks_by_points_and_names_the_largest_parts() -> None:
    frame = pl.DataFrame({
        "person_id": ["a", "b"], "stay_id": ["s1", "s2"], "discharge_date": [dt.date(2024, 1, 1)] * 2,
        "lace_l": [4, 1], "lace_a": [3, 0], "lace_c": [2, 5], "lace_e": [0, 1], "lace_score": [9, 7],
    })
    scores = lace_scores(frame, FEATURE_DICTIONARY)
    assert scores["score_raw"].to_list() == [9.0, 7.0]
    # LACE is a rank: no column a KPI could sum as expected readmissions
    assert scores["score"].null_count() == 2
    assert scores["score_basis"].unique().to_list() == [LACE_BASIS]
    assert scores["reason_feature_1"].to_list() == ["lace_l", "lace_c"]
    assert scores["reason_feature_2"].to_list() == ["lace_a", "lace_l"]
    assert scores["reason_1"][0] == "raises risk: " + FEATURE_DICTIONARY["lace_l"].reason(4.0)


def test_prior_cost_baseline_explains_only_the_top_rows() -> None:
    frame = pl.DataFrame({
        "person_id": list("abc"), "as_of_date": [dt.date(2024, 1, 1)] * 3, "prior_cost_12m": [100.0, 5000.0, None],
        "ip_admissions_365d": [0, 2, 1], "ed_visits_365d": [1, 0, 3], "allowed_amount_365d": [100.0, 5000.0, 0.0],
        "hcc_score_v28": [0.5, 1.2, None], "charlson_index": [0, 3, 1],
    })
    scores = prior_cost_scores(frame, member_dictionary(), explain_top=2)
    assert scores["person_id"].to_list() == ["b", "a", "c"]
    assert scores["reason_1"].null_count() == 1 and scores["reason_1"][2] is None
    assert scores["reason_feature_1"][0] in {"ip_admissions_365d", "allowed_amount_365d", "hcc_score_v28", "charlson_index"}
