"""Model I/O: LightGBM text format + a JSON model card (no pickle)."""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import version
from pathlib import Path

import lightgbm as lgb

from models.readmission import Calibrator, TrainedModel

BOOSTER_FILE = "booster.txt"
CARD_FILE = "card.json"


def schema_hash(feature_dtypes: dict[str, str]) -> str:
    """sha256 of the ordered (feature name, dtype) pairs."""
    payload = json.dumps([[name, dtype] for name, dtype in feature_dtypes.items()], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _versions() -> dict[str, str]:
    return {pkg: version(pkg) for pkg in ("lightgbm", "scikit-learn", "numpy", "polars", "duckdb")}


def save_model(model: TrainedModel, models_dir: Path) -> Path:
    """Write ``<models_dir>/readmission_<as_of>_<hash8>/{booster.txt,card.json}``; returns that folder."""
    digest = schema_hash(model.feature_dtypes)
    out = Path(models_dir) / f"readmission_{model.split.get('as_of', 'unknown')}_{digest[:8]}"
    out.mkdir(parents=True, exist_ok=True)
    model.booster.save_model(str(out / BOOSTER_FILE))
    card = {
        "task": model.task,
        "label_definition": model.label_definition,
        "features": [{"name": n, "dtype": d} for n, d in model.feature_dtypes.items()],
        "schema_hash": digest,
        "split": model.split,
        "metrics": model.metrics,
        "params": model.params,
        "calibrator": model.calibrator.to_dict(),
        "library_versions": _versions(),
        "booster_file": BOOSTER_FILE,
    }
    (out / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=False), encoding="utf-8")
    return out


def load_model(path: Path) -> TrainedModel:
    """Read a folder written by ``save_model``; checks the card's schema hash."""
    path = Path(path)
    card = json.loads((path / CARD_FILE).read_text(encoding="utf-8"))
    dtypes = {f["name"]: f["dtype"] for f in card["features"]}
    if schema_hash(dtypes) != card["schema_hash"]:
        raise ValueError(f"{path / CARD_FILE}: schema_hash does not match its feature list")
    booster = lgb.Booster(model_file=str(path / card["booster_file"]))
    if booster.feature_name() != list(dtypes):
        raise ValueError(f"{path}: booster features {booster.feature_name()} differ from the card {list(dtypes)}")
    return TrainedModel(
        booster=booster,
        calibrator=Calibrator.from_dict(card["calibrator"]),
        feature_names=list(dtypes),
        feature_dtypes=dtypes,
        split=card["split"],
        metrics=card["metrics"],
        params=card["params"],
        label_definition=card["label_definition"],
        task=card["task"],
    )
