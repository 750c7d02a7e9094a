"""Where each extract sits in a landing folder.

Whole-file extracts land as ``<extract>.csv`` (or ``.csv.gz``, ``.parquet``); monthly extracts
(contracts with ``partition_by``) land as one file per service month,
``<extract>/YYYY-MM.csv``, so a late or corrected month is re-sent and reloaded alone.
"""

from __future__ import annotations

import re
from pathlib import Path

from data_contracts.errors import RiskstratDataError
from data_contracts.spec import load_contract, monthly_extracts

LANDING_SUFFIXES = (".csv", ".csv.gz", ".parquet")
MONTH_NAME = re.compile(r"^(\d{4}-(0[1-9]|1[0-2]))(\.csv|\.csv\.gz|\.parquet)$")


class LandingLayoutError(RiskstratDataError):
    """The landing folder holds an extract in a shape the pipeline does not read."""


def find_extract_file(landing: Path, extract: str) -> Path | None:
    """The single landing file of a whole-file extract, or None."""
    found = [landing / f"{extract}{s}" for s in LANDING_SUFFIXES if (landing / f"{extract}{s}").exists()]
    if len(found) > 1:
        raise LandingLayoutError(f"{landing.name}: more than one file for extract {extract!r}: {[p.name for p in found]}")
    return found[0] if found else None


def month_files(landing: Path, extract: str) -> dict[str, Path]:
    """``{YYYY-MM: path}`` for a monthly extract's files."""
    if load_contract(extract).partition_by is None:
        raise ValueError(f"{extract} is a whole-file extract")
    single = find_extract_file(landing, extract)
    if single is not None:
        raise LandingLayoutError(
            f"{single.name}: {extract} arrives per service month; put its rows in {extract}/YYYY-MM.csv files"
        )
    folder = landing / extract
    files: dict[str, Path] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            match = MONTH_NAME.match(path.name)
            if match is None:
                continue
            if match.group(1) in files:
                raise LandingLayoutError(f"{extract}/{path.name}: a second file for month {match.group(1)}")
            files[match.group(1)] = path
    return files


def landing_months(landing: Path) -> list[str]:
    """Every month for which any monthly extract has a file, in order."""
    months: set[str] = set()
    for extract in monthly_extracts():
        months.update(month_files(landing, extract))
    return sorted(months)


def extract_glob(landing: Path, extract: str, suffix: str = ".csv") -> str:
    """A glob covering every file of an extract, for DuckDB's and polars' readers."""
    if load_contract(extract).partition_by is None:
        return str(landing / f"{extract}{suffix}")
    return str(landing / extract / f"*{suffix}")


_POLARS_TYPES = {"string": "String", "integer": "Int64", "double": "Float64", "date": "Date"}


def write_landing_extract(frame, extract: str, landing: Path) -> int:
    """Write a polars frame as a canonical landing extract (CSV, RFC 4180 quoting).

    The frame must hold the contract's required columns; optional columns it lacks are left
    out of the file, so ingestion reports them as missing rather than as empty values.
    Monthly extracts are split into ``<extract>/YYYY-MM.csv`` by their partition date.
    Returns the number of rows written.
    """
    import polars as pl

    contract = load_contract(extract)
    missing_required = [c for c in contract.required_columns if c not in frame.columns]
    if missing_required:
        raise ValueError(f"{extract}: cannot write a landing file without required columns {missing_required}")
    columns = [c for c in contract.columns if c.name in frame.columns]
    typed = frame.select([pl.col(c.name).cast(getattr(pl, _POLARS_TYPES[c.type]), strict=False) for c in columns])
    landing.mkdir(parents=True, exist_ok=True)
    if contract.partition_by is None:
        typed.write_csv(landing / f"{extract}.csv", date_format="%Y-%m-%d")
        return typed.height
    folder = landing / extract
    folder.mkdir(parents=True, exist_ok=True)
    months = typed[contract.partition_by].dt.strftime("%Y-%m")
    if typed.height == 0:
        return 0  # nothing to place in a month; the adapter writes a header-only file for the extract
    if months.null_count() == len(months):
        raise RiskstratDataError(f"{extract}: no row has a {contract.partition_by}, so no row can be placed in a monthly "
                                 "file; check that the source dates parse", source=extract, column=contract.partition_by)
    # rows without a partition date land in the first month's file, where ingestion quarantines them
    months = months.fill_null(months.min())
    for (month,), part in typed.with_columns(months.alias("_month")).partition_by("_month", as_dict=True).items():
        part.drop("_month").write_csv(folder / f"{month}.csv", date_format="%Y-%m-%d")
    return typed.height
