from __future__ import annotations

from pathlib import Path

from features.dictionary import (
    FEATURE_DICTIONARY,
    MEMBER_FEATURES,
    MODEL_FEATURES,
    SUBGROUP_COLUMNS,
    dictionary_markdown,
    features_markdown,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_every_feature_is_documented_with_a_reason():
    assert 10 <= len(MODEL_FEATURES) <= 40
    md = dictionary_markdown()
    for name, spec in FEATURE_DICTIONARY.items():
        assert spec.definition and spec.window and spec.source and spec.unit
        if spec.role == "feature":
            assert spec.reason(1.0) and spec.reason(0.0) and spec.reason(None)
    for name in MODEL_FEATURES:
        assert f"`{name}`" in md
    assert md.count("\n") == len(MODEL_FEATURES) + 2


def test_member_features_are_documented_and_subgroups_are_not_features():
    assert len(MEMBER_FEATURES) == len(set(MEMBER_FEATURES)) >= 40
    assert all(name in FEATURE_DICTIONARY for name in MEMBER_FEATURES)
    for name in ("sex", "age_band", "race", "ethnicity", "svi_quartile"):
        assert FEATURE_DICTIONARY[name].role == "subgroup"
        assert name not in MODEL_FEATURES and name not in MEMBER_FEATURES
    assert "dual_flag" in SUBGROUP_COLUMNS


def test_generated_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == features_markdown(), "regenerate docs/features.md"
