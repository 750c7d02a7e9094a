from __future__ import annotations

from features.dictionary import FEATURE_DICTIONARY, MODEL_FEATURES, dictionary_markdown


def test_every_feature_is_documented_with_a_reason():
    assert 10 <= len(MODEL_FEATURES) <= 25
    md = dictionary_markdown()
    for name, spec in FEATURE_DICTIONARY.items():
        assert f"`{name}`" in md
        assert spec.definition and spec.window and spec.source and spec.unit
        assert spec.reason(1.0) and spec.reason(0.0) and spec.reason(None)
    assert md.count("\n") == len(MODEL_FEATURES) + 2
