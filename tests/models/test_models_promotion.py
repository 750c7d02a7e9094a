from __future__ import annotations

from models.promotion import compare


def _card(auroc, brier, task="readmission"):
    return {"task_key": task, "metrics": {"test": {"auroc": auroc, "brier": brier}}}


def test_promotes_only_when_no_worse():
    ok, why = compare(_card(0.75, 0.10), None)
    assert ok and "no current model" in why
    ok, why = compare(_card(0.76, 0.099), _card(0.75, 0.10))
    assert ok and "promote" in why and "0.7600 vs 0.7500" in why
    ok, why = compare(_card(0.74, 0.099), _card(0.75, 0.10))
    assert not ok and "AUROC lower" in why
    ok, why = compare(_card(0.76, 0.11), _card(0.75, 0.10))
    assert not ok and "Brier higher" in why
    ok, _ = compare(_card(0.745, 0.1004), _card(0.75, 0.10), tolerance=0.01)
    assert ok
    ok, why = compare(_card(0.9, 0.01, "high_need"), _card(0.75, 0.10))
    assert not ok and "not comparable" in why


def test_reads_cards_written_before_the_task_refactor():
    old = {"metrics": {"lightgbm": {"auroc": 0.7, "brier": 0.12}}}
    ok, _ = compare(_card(0.71, 0.11), old)
    assert ok
