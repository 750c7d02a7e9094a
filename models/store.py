"""Model I/O: LightGBM text format + a JSON model card (no pickle)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import lightgbm as lgb

from data_contracts.errors import RiskstratDataError
from models.calibration import Calibrator
from models.training import TrainedModel

BOOSTER_FILE = "booster.txt"
CARD_FILE = "card.json"
REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("lightgbm", "scikit-learn", "numpy", "polars", "duckdb", "shap", "matplotlib")


def schema_hash(feature_dtypes: dict[str, str]) -> str:
    """sha256 of the ordered (feature name, dtype) pairs."""
    payload = json.dumps([[name, dtype] for name, dtype in feature_dtypes.items()], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def code_commit() -> str:
    """The repository's HEAD commit (with '+dirty' when the tree has changes), or 'unknown'."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def model_card(model: TrainedModel) -> dict:
    """The JSON card: task, label, features and schema hash, data windows and split, metrics,
    parameters and search, calibrator, library versions and code commit."""
    return {
        "task_key": model.task_key,
        "task": model.task,
        "label": model.label,
        "label_definition": model.label_definition,
        "features": [{"name": n, "dtype": d} for n, d in model.feature_dtypes.items()],
        "schema_hash": schema_hash(model.feature_dtypes),
        "split": model.split,
        "metrics": model.metrics,
        "params": model.params,
        "search": model.search,
        "calibrator": model.calibrator.to_dict(),
        "recalibrated_calibrator": model.recalibrated.to_dict() if model.recalibrated is not None else None,
        "library_versions": _versions(),
        "code_commit": code_commit(),
        "booster_file": BOOSTER_FILE,
    }


def save_model(model: TrainedModel, models_dir: Path) -> Path:
    """Write ``<models_dir>/<task_key>_<as_of>_<hash8>/{booster.txt,card.json}``; returns that folder."""
    card = model_card(model)
    as_of = model.split.get("as_of") or model.split.get("score_as_of_date", "unknown")
    out = Path(models_dir) / f"{model.task_key}_{as_of}_{card['schema_hash'][:8]}"
    out.mkdir(parents=True, exist_ok=True)
    model.booster.save_model(str(out / BOOSTER_FILE))
    (out / CARD_FILE).write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    return out


def read_card(path: Path) -> dict:
    return json.loads((Path(path) / CARD_FILE).read_text(encoding="utf-8"))


def load_model(path: Path) -> TrainedModel:
    """Read a folder written by ``save_model``; checks the card's schema hash against its feature list
    and the booster's features."""
    path = Path(path)
    card = read_card(path)
    dtypes = {f["name"]: f["dtype"] for f in card["features"]}
    if schema_hash(dtypes) != card["schema_hash"]:
        raise RiskstratDataError(f"{path / CARD_FILE}: schema_hash does not match its feature list; the model folder was "
                                 "edited or damaged: delete it and rerun to retrain", source=str(path / CARD_FILE))
    booster = lgb.Booster(model_file=str(path / card["booster_file"]))
    if booster.feature_name() != list(dtypes):
        raise RiskstratDataError(f"{path}: booster features differ from the card's feature list; the model folder was "
                                 "edited or damaged: delete it and rerun to retrain", source=str(path))
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
        task_key=card.get("task_key", "readmission"),
        label=card.get("label", ""),
        search=card.get("search", []),
        recalibrated=Calibrator.from_dict(card["recalibrated_calibrator"]) if card.get("recalibrated_calibrator") else None,
    )
