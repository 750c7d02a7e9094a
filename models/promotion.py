"""Model promotion: a new model replaces the current one only if it is no worse on its test rows."""

from __future__ import annotations

from models.metrics import oe_excludes_one


def _test_metrics(card: dict) -> dict:
    metrics = card.get("metrics", {})
    test = metrics.get("test") or metrics.get("lightgbm")  # cards written before the task refactor
    if not test or "auroc" not in test or "brier" not in test:
        raise ValueError(f"model card for {card.get('task_key', card.get('task', '?'))!r} has no test AUROC and Brier")
    return test


def compare(new_card: dict, current_card: dict | None, tolerance: float = 0.0) -> tuple[bool, str]:
    """Promote when the new test AUROC >= current - tolerance and the new Brier <= current + tolerance,
    and refuse a candidate whose test O/E interval excludes 1 while the current model's covers it
    (a card without an O/E interval, from before intervals, is not judged on it).

    With no current model the new one is promoted. Cards of different tasks are never compared.
    The message names both figures so the decision can be read in the run log.
    """
    new = _test_metrics(new_card)
    if current_card is None:
        return True, f"no current model: promote (test AUROC {new['auroc']:.4f}, Brier {new['brier']:.4f})"
    new_task, cur_task = new_card.get("task_key"), current_card.get("task_key")
    if new_task and cur_task and new_task != cur_task:
        return False, f"not comparable: new model is for {new_task!r}, current for {cur_task!r}"
    cur = _test_metrics(current_card)
    auroc_ok = new["auroc"] >= cur["auroc"] - tolerance
    brier_ok = new["brier"] <= cur["brier"] + tolerance
    figures = (f"test AUROC {new['auroc']:.4f} vs {cur['auroc']:.4f}, Brier {new['brier']:.4f} vs {cur['brier']:.4f}"
               f" (tolerance {tolerance})")
    new_ci, cur_ci = new.get("oe_ci"), cur.get("oe_ci")
    oe_ok = not (new_ci and cur_ci and oe_excludes_one(new_ci) and not oe_excludes_one(cur_ci))
    if not oe_ok:
        figures += (f"; test O/E {new['oe']:.2f} ({new_ci[0]:.2f}-{new_ci[1]:.2f}) excludes 1, the current model's "
                    f"{cur['oe']:.2f} ({cur_ci[0]:.2f}-{cur_ci[1]:.2f}) does not")
    if auroc_ok and brier_ok and oe_ok:
        return True, f"promote: no worse on both: {figures}"
    worse = [name for name, ok in (("AUROC lower", auroc_ok), ("Brier higher", brier_ok),
                                   ("O/E interval excludes 1", oe_ok)) if not ok]
    return False, f"keep current: {' and '.join(worse)}: {figures}"
