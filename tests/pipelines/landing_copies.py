"""A small generated landing folder for the CLI and check tests, and copies of it to break."""

from __future__ import annotations

import shutil
from pathlib import Path

from synth.generator import generate

SMALL_LANDING_MONTHS = 24


def make_small_landing(out: Path) -> Path:
    generate(out_dir=out, members=300, seed=5, months=SMALL_LANDING_MONTHS)
    return out


def copy_landing(landing: Path, tmp_path: Path) -> Path:
    """A copy to break, without the generator's answer key and defect manifest."""
    target = tmp_path / "landing"
    shutil.copytree(landing, target, ignore=shutil.ignore_patterns("_oracle", "_manifest.json"))
    return target
