"""Faults survived: a killed run leaves every table whole, two runs on one home never interleave.

A whole-file extract is replaced in one transaction, a monthly extract one month at a time, so
after a kill every table (every month of a partitioned one) is either as it was or as the run
left it, never a mix within that unit.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from synth.generator import generate

MEMBERS = 3_000
RISKSTRAT = [sys.executable, "-m", "pipelines.cli"]


def _table_digests(warehouse: Path) -> dict[str, str]:
    """A digest per table, and per month for partitioned tables: the unit a load replaces atomically."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema || '.' || table_name, bool_or(column_name = '_partition') FROM information_schema.columns "
            "WHERE table_schema IN ('raw', 'quarantine') GROUP BY 1"
        ).fetchall()
        digests: dict[str, str] = {}
        for name, partitioned in tables:
            # run ids and load times differ between runs by design; the rows themselves must not
            rows = con.execute(
                f"SELECT {'_partition' if partitioned else 'NULL'} AS part, count(*) || ':' || "
                f"md5(string_agg(t::VARCHAR, '|' ORDER BY t::VARCHAR)) "
                f"FROM (SELECT COLUMNS(c -> c NOT IN ('_run_id', '_loaded_at')) FROM {name}) t GROUP BY part"
            ).fetchall()
            digests.update({f"{name}[{part}]": digest for part, digest in rows})
        return digests


def _run(landing: Path, home: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [*RISKSTRAT, "run", "--landing", str(landing), "--home", str(home), "--as-of", "2026-01-01"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )


def _resend_corrected(first: Path, second: Path) -> None:
    """``second`` = ``first`` re-sent with corrections: every file of every extract loses its last row."""
    shutil.copytree(first, second)
    for path in second.rglob("*.csv"):
        if "_oracle" in path.parts:
            continue
        lines = path.read_text().splitlines(keepends=True)
        if len(lines) > 2:
            path.write_text("".join(lines[:-1]))


@pytest.fixture(scope="module")
def landings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("faults")
    generate(out_dir=root / "first", members=MEMBERS, seed=21)
    _resend_corrected(root / "first", root / "second")
    return root / "first", root / "second"


@pytest.mark.slow
def test_killed_run_leaves_tables_whole_and_a_rerun_completes(landings, tmp_path: Path) -> None:
    first, second = landings
    home, reference = tmp_path / "home", tmp_path / "reference"
    assert _run(first, home).wait() == 0
    before = _table_digests(home / "warehouse.duckdb")
    assert _run(second, reference).wait() == 0
    after = _table_digests(reference / "warehouse.duckdb")

    victim = _run(second, home)
    # kill it while it is writing the largest extract
    deadline = time.monotonic() + 120
    for line in victim.stderr:
        if "ingest medical_claim" in line or time.monotonic() > deadline:
            break
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    during = _table_digests(home / "warehouse.duckdb")  # opens (and recovers) the killed run's file
    for table, digest in during.items():
        assert digest in (before.get(table), after.get(table)), f"{table} is neither its old nor its new state"

    assert _run(second, home).wait() == 0
    assert _table_digests(home / "warehouse.duckdb") == after


@pytest.mark.slow
def test_two_runs_on_one_home_one_succeeds_and_one_fails_clearly(landings, tmp_path: Path) -> None:
    first, _ = landings
    home = tmp_path / "home"
    runs = [_run(first, home), _run(first, home)]
    outcomes = [(r.wait(), r.stderr.read()) for r in runs]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    refused = next(err for code, err in outcomes if code == 2)
    assert "another riskstrat run" in refused
    assert _table_digests(home / "warehouse.duckdb")  # readable


@pytest.mark.slow
def test_a_corrupt_month_fails_only_that_month(landings, tmp_path: Path) -> None:
    first, _ = landings
    landing = tmp_path / "landing"
    subprocess.run(["cp", "-r", str(first), str(landing)], check=True)
    broken = sorted((landing / "medical_claim").glob("*.csv"))[5]
    broken.write_bytes(b"\x00\xff" * 10 + broken.read_bytes()[:50])
    home = tmp_path / "home"
    run = _run(landing, home)
    code, err = run.wait(), run.stderr.read()
    assert code == 2, err[-2000:]  # a data problem: one sentence, no traceback
    assert broken.name in err and "other month(s) loaded" in err and "Traceback" not in err
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        months = {m for (m,) in con.execute("SELECT DISTINCT _partition FROM raw.medical_claim").fetchall()}
    expected = {p.stem for p in (landing / "medical_claim").glob("*.csv")} - {broken.stem}
    assert months == expected
