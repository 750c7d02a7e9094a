"""Source-format adapters: the extracts users bring -> the canonical landing layout.

``detect_format(source)`` names the format of a folder from the files present;
``convert(fmt, source, landing, sdoh=None)`` writes canonical landing extracts (through
``data_contracts.landing.write_landing_extract``) and returns an :class:`AdapterReport`:
rows read per source table, rows written per extract, every source row not mapped with its
reason, source tables absent (and the canonical extracts not produced because of it), code
systems, SDOH match counts per route, notes, and the recommended ``data_through`` / ``as_of``
for ``pipelines.cli.run_pipeline``.

Each adapter maps source tables onto canonical extracts and nothing else; see docs/adapters.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from data_contracts.errors import RiskstratDataError
from adapters import mimic_iv, synpuf, synthea, tuva
from adapters import sdoh as sdoh_reference
from adapters.common import AdapterReport, Conversion, NotMapped, SourceLayoutError, find_table

__all__ = ["FORMATS", "AdapterReport", "NotMapped", "SourceLayoutError", "UnknownSourceFormat", "convert", "detect_format"]

FORMATS: tuple[str, ...] = ("canonical", "synthea", "mimic-iv", "tuva", "synpuf")

# What each format's folder must hold, in the words used in the error message.
EXPECTED_FILES: dict[str, str] = {
    "canonical": "eligibility.csv and medical_claim/YYYY-MM.csv (the riskstrat landing layout)",
    "synthea": ", ".join(f"{t}.csv[.gz]" for t in synthea.SIGNATURE),
    "mimic-iv": ", ".join(f"{t}.csv[.gz]" for t in mimic_iv.SIGNATURE) + " (in the folder or its hosp/)",
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
    if all(find_table(source, t) is not None for t in mimic_iv.SIGNATURE):
        found.append("mimic-iv")
    elif all(find_table(source, t) is not None for t in synthea.SIGNATURE):
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
    if fmt == "canonical":
        run = _copy_canonical(source, landing)
    else:
        module = {"synthea": synthea, "mimic-iv": mimic_iv, "tuva": tuva, "synpuf": synpuf}[fmt]
        run = module.convert(source, landing)
        run.finish_extract("eligibility")
    if sdoh is not None:
        sdoh_reference.convert(Path(sdoh), run)
    return run.finish()


def _copy_canonical(source: Path, landing: Path) -> Conversion:
    run = Conversion("canonical", source, landing)
    if source.resolve() != landing.resolve():
        shutil.copytree(source, landing, dirs_exist_ok=True)
    run.note("source is already in the canonical landing layout; files copied unchanged")
    return run
