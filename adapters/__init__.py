"""Source-format adapters: the extracts users bring -> the canonical landing layout.

``detect_format(source)`` names the format of a folder from the files present;
``convert(fmt, source, landing, sdoh=None)`` writes canonical landing extracts (through
``data_contracts.landing.write_landing_extract``) and returns an :class:`AdapterReport`:
rows read per source table, rows written per extract, every source row not mapped with its
reason, source tables absent (and the canonical extracts not produced because of it), code
systems, SDOH match counts per route, notes, and the recommended ``data_through`` / ``as_of``
for ``pipelines.cli.run_pipeline``. ``describe_columns(fmt)`` returns the columns each source
table of a format needs (with what for), may have, and has had under other names.

A problem in the data a user brings raises :class:`RiskstratDataError` (``SourceLayoutError``,
``UnknownSourceFormat``) with one sentence naming the format, the file, the column and what to do;
no polars exception escapes ``convert`` or ``detect_format``.

Each adapter maps source tables onto canonical extracts and nothing else; see docs/adapters.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl

from data_contracts.errors import RiskstratDataError
from adapters import mimic_iv, synpuf, synthea, tuva
from adapters import sdoh as sdoh_reference
from adapters.columns import SPECS, TableSpec, describe_columns
from adapters.common import AdapterReport, Conversion, NotMapped, SourceLayoutError, locate

__all__ = ["FORMATS", "AdapterReport", "NotMapped", "SourceLayoutError", "TableSpec", "UnknownSourceFormat", "convert",
           "describe_columns", "detect_format"]

FORMATS: tuple[str, ...] = ("canonical", "synthea", "mimic-iv", "tuva", "synpuf")

# What each format's folder must hold, in the words used in the error message.
EXPECTED_FILES: dict[str, str] = {
    "canonical": "eligibility.csv and medical_claim/YYYY-MM.csv (the riskstrat landing layout)",
    "synthea": ", ".join(f"{t}.csv[.gz]" for t in synthea.SIGNATURE),
    "mimic-iv": ", ".join(f"{t}.csv[.gz]" for t in mimic_iv.SIGNATURE) + " (in the folder or its hosp/ or core/)",
    "tuva": "eligibility[_seed].csv[.gz] and medical_claim[_seed].csv[.gz]",
    "synpuf": "DE1_0_*_Beneficiary_Summary_File_*.csv[.gz] and DE1_0_*_Inpatient_Claims_*.csv[.gz]",
}


class UnknownSourceFormat(RiskstratDataError):
    """The folder matches no known source format."""


def _is_canonical(source: Path) -> bool:
    has_elig = any((source / f"eligibility{s}").exists() for s in (".csv", ".csv.gz", ".parquet"))
    return has_elig and (source / "medical_claim").is_dir()


def _matches(source: Path) -> list[str]:
    found = []
    if _is_canonical(source):
        found.append("canonical")
    if all(locate(source, SPECS["mimic-iv"][t]) for t in mimic_iv.SIGNATURE):
        found.append("mimic-iv")
    elif all(locate(source, SPECS["synthea"][t]) for t in synthea.SIGNATURE):
        found.append("synthea")
    if tuva.find(source, "eligibility") is not None and tuva.find(source, "medical_claim") is not None and not _is_canonical(source):
        found.append("tuva")
    if synpuf.beneficiary_files(source) and synpuf.find(source, "Inpatient_Claims"):
        found.append("synpuf")
    return found


def detect_format(source: Path) -> str:
    """The format of ``source``; raises ``UnknownSourceFormat`` naming what each format expects."""
    source = Path(source)
    if not source.is_dir():
        raise UnknownSourceFormat(f"{source}: not a folder")
    found = _matches(source)
    if len(found) == 1:
        return found[0]
    expected = "; ".join(f"{fmt}: {files}" for fmt, files in EXPECTED_FILES.items())
    if not found:
        raise UnknownSourceFormat(
            f"{source.name}: cannot tell the source format from its files. Expected one of - {expected}. "
            "Pass --format to choose one."
        )
    raise UnknownSourceFormat(f"{source.name}: files of several formats ({', '.join(found)}); pass --format to choose one")


def convert(fmt: str, source: Path, landing: Path, sdoh: Path | None = None) -> AdapterReport:
    """Write the canonical landing extracts for ``source`` (format ``fmt``) into ``landing``.

    ``sdoh``: a folder holding the public SDOH reference files
    (``svi-county/``, ``zip-county-crosswalk/``, ``acs-income-zcta/``); when given,
    ``area_sdoh_county`` and ``area_sdoh_zip`` are written too and the report carries the member
    match counts per route.
    """
    source, landing = Path(source), Path(landing)
    if fmt not in FORMATS:
        raise UnknownSourceFormat(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not source.is_dir():
        raise UnknownSourceFormat(f"{source}: not a folder")
    try:
        if fmt == "canonical":
            run = _copy_canonical(source, landing)
        else:
            module = {"synthea": synthea, "mimic-iv": mimic_iv, "tuva": tuva, "synpuf": synpuf}[fmt]
            run = module.convert(source, landing)
            run.finish_extract("eligibility")
        if sdoh is not None:
            sdoh_reference.convert(Path(sdoh), run)
        return run.finish()
    except pl.exceptions.PolarsError as exc:
        # the boundary: a value polars could not handle is a data problem; its message may quote row
        # contents, so only its type is named here (the chained exception keeps it for --debug)
        raise SourceLayoutError(
            f"{fmt}: a table in {source.name} holds values the {fmt} adapter cannot map ({type(exc).__name__}); "
            "check the columns listed in docs/adapters.md for this format, or run with --debug", source=source.name,
        ) from exc


def _copy_canonical(source: Path, landing: Path) -> Conversion:
    run = Conversion("canonical", source, landing)
    if source.resolve() != landing.resolve():
        shutil.copytree(source, landing, dirs_exist_ok=True)
    run.note("source is already in the canonical landing layout; files copied unchanged")
    return run
