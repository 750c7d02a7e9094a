"""The analyst notebooks are committed without outputs (they are executed on a generated run in
tests/reports/test_generated_run.py)."""

from __future__ import annotations

import json
from pathlib import Path

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks_and_they_carry_no_outputs():
    assert {p.name for p in NOTEBOOKS} >= {"explore_run.ipynb", "case_management_readmissions.ipynb"}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, f"{path.name}: strip outputs"
