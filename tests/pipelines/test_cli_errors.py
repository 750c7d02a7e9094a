"""A data problem is reported in one sentence naming the file and column, never as a traceback.

``riskstrat run`` runs as a user would start it (a subprocess) on broken copies of a small
generated landing folder: the exit status is 2, stderr names the file (and the column when
there is one) and holds no traceback, unless ``--debug`` asks for one. A bug (any other
exception) exits 3 in one line.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from landing_copies import copy_landing

RISKSTRAT = [sys.executable, "-m", "pipelines.cli"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def landing(small_landing: Path) -> Path:
    return small_landing


def _broken_copy(landing: Path, tmp_path: Path) -> Path:
    return copy_landing(landing, tmp_path)


def _riskstrat(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*RISKSTRAT, *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def _run(landing: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    return _riskstrat(*extra, "run", "--landing", str(landing), "--home", str(home))


def _drop_column(path: Path, column: str) -> None:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    index = rows[0].index(column)
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([row[:index] + row[index + 1:] for row in rows])


def test_a_missing_required_column_names_the_file_and_column(landing: Path, tmp_path: Path) -> None:
    broken = _broken_copy(landing, tmp_path)
    _drop_column(broken / "eligibility.csv", "birth_date")
    done = _run(broken, tmp_path / "home")
    assert done.returncode == 2, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    # the check that opens every run stops it before anything is loaded
    assert last.startswith("riskstrat: cannot run: eligibility.csv: required column(s) birth_date missing"), last
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr
    assert "Warning" not in done.stderr  # a run prints no Python warnings


def test_a_zero_byte_extract_stops_the_run_before_loading(landing: Path, tmp_path: Path) -> None:
    broken = _broken_copy(landing, tmp_path)
    (broken / "eligibility.csv").write_bytes(b"")
    done = _run(broken, tmp_path / "home")
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip().splitlines()[-1].startswith("riskstrat: cannot run: eligibility.csv: cannot be read")
    assert "Traceback" not in done.stderr and not (tmp_path / "home" / "warehouse.duckdb").exists()


def test_a_corrupt_month_is_a_data_error_and_debug_shows_where_it_was_raised(landing: Path, tmp_path: Path) -> None:
    broken = _broken_copy(landing, tmp_path)
    month = sorted((broken / "medical_claim").glob("*.csv"))[3]
    month.write_bytes(b"\x00\xff" * 10 + month.read_bytes()[:50])
    done = _run(broken, tmp_path / "home", "--debug")
    assert done.returncode == 2, done.stderr[-3000:]
    assert "riskstrat: ingest medical_claim:" in done.stderr and month.name in done.stderr
    # the step's whole chain: the Failure, and the code that raised the data error
    assert "Traceback of step ingest_medical_claim" in done.stderr
    assert "pipelines/defs/ingest/assets.py" in done.stderr


def test_a_header_only_extract_is_named_in_one_line_per_sentence(landing: Path, tmp_path: Path) -> None:
    broken = _broken_copy(landing, tmp_path)
    header = (broken / "eligibility.csv").read_text().splitlines()[0]
    (broken / "eligibility.csv").write_text(header + "\n")
    done = _run(broken, tmp_path / "home")
    assert done.returncode == 2, done.stderr[-3000:]
    verdicts = [line for line in done.stderr.splitlines() if line.startswith("riskstrat: ")]
    assert verdicts and all("eligibility" in line for line in verdicts)
    assert len(verdicts) == len(set(line.split(": ", 2)[2] for line in verdicts))  # steps sharing a sentence share a line
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr
    assert "Warning" not in done.stderr


def test_a_folder_of_unknown_files_says_which_formats_it_expected(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "members_2024.csv").write_text("id,name\n1,x\n")
    (folder / "notes.txt").write_text("hello\n")
    done = _run(folder, tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("riskstrat: exports: cannot tell the source format")
    assert "canonical" in done.stderr and "--format" in done.stderr
    assert "Traceback" not in done.stderr

    debug = _riskstrat("run", "--landing", str(folder), "--home", str(tmp_path / "home"), "--debug")
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr and "UnknownSourceFormat" in debug.stderr


def test_a_bug_exits_3_in_one_line_without_its_message(monkeypatch, capsys) -> None:
    from pipelines import cli

    def broken(args):
        raise RuntimeError("could not convert 'P00000042' to int")  # a library message quoting a value

    monkeypatch.setattr(cli, "cmd_contracts", broken)
    assert cli.main(["contracts"]) == 3
    err = capsys.readouterr().err
    assert err == (
        "riskstrat: internal error (RuntimeError) in contracts; rerun with --debug for the traceback\n"
    )

    assert cli.main(["contracts", "--debug"]) == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "P00000042" in err
    assert err.strip().endswith("internal error (RuntimeError) in contracts; the traceback is above")


def test_an_os_error_keeps_its_reason_and_path(monkeypatch, capsys) -> None:
    from pipelines import cli

    def missing(args):
        raise FileNotFoundError(2, "No such file or directory", "/data/roster.csv")

    monkeypatch.setattr(cli, "cmd_contracts", missing)
    assert cli.main(["--debug", "contracts"]) == 3
    assert "Traceback" in capsys.readouterr().err
    assert cli.main(["contracts"]) == 3
    err = capsys.readouterr().err
    assert "internal error (FileNotFoundError: [Errno 2] No such file or directory: '/data/roster.csv')" in err


def test_a_data_error_from_a_command_exits_2_with_its_sentence(monkeypatch, capsys) -> None:
    from data_contracts.errors import RiskstratDataError
    from pipelines import cli

    def bad(args):
        raise RiskstratDataError("roster.csv: column cm_id is empty in every row; fill it", source="roster.csv")

    monkeypatch.setattr(cli, "cmd_contracts", bad)
    assert cli.main(["contracts"]) == 2
    assert capsys.readouterr().err == "riskstrat: roster.csv: column cm_id is empty in every row; fill it\n"


def test_a_too_short_synth_window_is_a_usage_error(capsys) -> None:
    from pipelines import cli

    with pytest.raises(SystemExit) as usage:
        cli.main(["synth", "--members", "10", "--months", "6", "--out", "unused"])
    assert usage.value.code == 2
    assert "--months: must be at least 13 (features and labels need a year of history), got 6" in capsys.readouterr().err


def test_only_messages_riskstrat_wrote_are_printed() -> None:
    import argparse

    from data_contracts.errors import exception_summary, raised_by_riskstrat
    from pipelines.cli import _iso_date

    assert raised_by_riskstrat(str(REPO / "models" / "score.py"), "        raise ValueError(")
    assert not raised_by_riskstrat(str(REPO / "models" / "score.py"), "    return int(text)")  # a builtin on a value
    assert not raised_by_riskstrat("/venv/site-packages/polars/frame.py", "    raise ComputeError(msg)")
    with pytest.raises(argparse.ArgumentTypeError) as ours:
        _iso_date("2024-13-45")
    assert exception_summary(ours.value) == "ArgumentTypeError: expected a date as YYYY-MM-DD, got '2024-13-45'"
    with pytest.raises(ValueError) as foreign:
        int("P00000042")
    assert exception_summary(foreign.value) == "ValueError"


def test_the_cli_offers_every_adapter_format() -> None:
    from adapters import FORMATS
    from pipelines.cli import FORMAT_ARGUMENT

    assert FORMAT_ARGUMENT["choices"] == ["auto", *FORMATS]


def test_ranking_the_high_need_list_by_benefit_is_refused_before_anything_runs(landing: Path, tmp_path: Path) -> None:
    done = _riskstrat("run", "--landing", str(landing), "--home", str(tmp_path / "home"),
                      "--intake-score", "high_need", "--intake-rank", "benefit")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "riskstrat: cannot run: --intake-rank benefit ranks discharges by their expected benefit; use it with "
        "--intake-score readmission, or rank the high-need list by risk"]
    assert not (tmp_path / "home" / "warehouse.duckdb").exists()
