"""A retrained model replaces the current one only when its test metrics are no worse."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.defs.modeling.assets import _promote
from pipelines.resources import RiskstratSettings


def _model(models: Path, name: str, auroc: float, brier: float) -> Path:
    folder = models / "readmission" / name
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps({"task_key": "readmission", "metrics": {"test": {"auroc": auroc, "brier": brier}}}))
    return folder


def test_worse_candidate_keeps_the_current_model_and_says_why(tmp_path: Path) -> None:
    settings = RiskstratSettings(home=str(tmp_path))
    first = _model(settings.models_path, "m1", 0.74, 0.10)
    assert _promote(settings, "readmission", first, {"test": {"auroc": 0.74}})[0]
    worse = _model(settings.models_path, "m2", 0.70, 0.11)
    promoted, why = _promote(settings, "readmission", worse, {"test": {"auroc": 0.70}})
    assert not promoted and "AUROC lower" in why
    assert (settings.models_path / "readmission" / "CURRENT").read_text() == "m1"
    metrics = json.loads((settings.outputs_path / "metrics.json").read_text())
    assert metrics["readmission"]["test"]["auroc"] == 0.74
    assert "AUROC lower" in metrics["readmission_rejected_candidate"]["promotion"]
    better = _model(settings.models_path, "m3", 0.76, 0.09)
    assert _promote(settings, "readmission", better, {"test": {"auroc": 0.76}})[0]
    assert (settings.models_path / "readmission" / "CURRENT").read_text() == "m3"
