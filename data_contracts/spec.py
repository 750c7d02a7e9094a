"""The written data contracts, loaded from ``data_contracts/contracts/<extract>.yaml``.

A contract says what one landing extract must look like: its columns and types, its
primary key, value ranges, allowed codes, patterns and the order its dates must keep.
Ingestion turns it into row-level quarantine rules (``data_contracts.rules``), the asset
checks turn it into a great-expectations suite (``data_contracts.gx_suite``) and the
data dictionary is rendered from it (``data_contracts.dictionary``), so the three can
never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

import yaml

CONTRACT_DIR = Path(__file__).parent / "contracts"

ColumnType = Literal["string", "integer", "double", "date"]

DUCKDB_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "date": "DATE",
}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: ColumnType
    description: str = ""
    required: bool = False
    allowed: tuple[str | int, ...] | None = None
    pattern: str | None = None
    min: float | str | None = None
    max: float | str | None = None
    not_in_future: bool = False
    # A required column may be blank on rows where every named column matches its pattern
    # (e.g. the diagnosis of an institutional inpatient claim): {column: regex}.
    blank_allowed_when: tuple[tuple[str, str], ...] = ()
    # An optional column becomes required on rows where any of these columns holds a value.
    required_with: tuple[str, ...] = ()
    # Warn (never block) when more than this share of the loaded rows leave the column blank.
    max_blank_share: float | None = None

    @property
    def duckdb_type(self) -> str:
        return DUCKDB_TYPES[self.type]

    def min_value(self) -> float | date | None:
        return _typed_bound(self.type, self.min)

    def max_value(self) -> float | date | None:
        return _typed_bound(self.type, self.max)


@dataclass(frozen=True)
class Contract:
    extract: str
    description: str
    grain: str
    primary_key: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    date_order: tuple[tuple[str, str], ...] = ()
    breach_threshold: float = 0.05
    feeds_models: bool = True
    # Date column whose month assigns a row to its landing partition; None for whole-file extracts.
    partition_by: str | None = None
    source_file: Path = field(default=CONTRACT_DIR)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.extract} has no column {name!r}")


def _typed_bound(col_type: str, bound: float | str | None) -> float | date | None:
    if bound is None:
        return None
    if col_type == "date":
        return date.fromisoformat(str(bound))
    return float(bound)


def _parse(path: Path) -> Contract:
    doc = yaml.safe_load(path.read_text())
    columns = []
    for raw in doc["columns"]:
        allowed = raw.get("allowed")
        columns.append(
            ColumnSpec(
                name=raw["name"],
                type=raw["type"],
                description=raw.get("description", ""),
                required=bool(raw.get("required", False)),
                allowed=tuple(allowed) if allowed is not None else None,
                pattern=raw.get("pattern"),
                min=raw.get("min"),
                max=raw.get("max"),
                not_in_future=bool(raw.get("not_in_future", False)),
                blank_allowed_when=tuple((str(k), str(v)) for k, v in (raw.get("blank_allowed_when") or {}).items()),
                required_with=tuple(raw.get("required_with") or ()),
                max_blank_share=float(raw["max_blank_share"]) if raw.get("max_blank_share") is not None else None,
            )
        )
    contract = Contract(
        extract=doc["extract"],
        description=doc["description"],
        grain=doc["grain"],
        primary_key=tuple(doc["primary_key"]),
        columns=tuple(columns),
        date_order=tuple(tuple(pair) for pair in doc.get("date_order") or ()),
        breach_threshold=float(doc.get("breach_threshold", 0.05)),
        feeds_models=bool(doc.get("feeds_models", True)),
        partition_by=doc.get("partition_by"),
        source_file=path,
    )
    _validate_contract(contract)
    return contract


def _validate_contract(contract: Contract) -> None:
    names = set(contract.column_names)
    if len(names) != len(contract.columns):
        raise ValueError(f"contract {contract.extract}: duplicate column names")
    for key in contract.primary_key:
        if key not in names:
            raise ValueError(f"contract {contract.extract}: key column {key!r} is not declared")
        if not contract.column(key).required:
            raise ValueError(f"contract {contract.extract}: key column {key!r} must be required")
    if contract.partition_by is not None:
        if contract.partition_by not in names or contract.column(contract.partition_by).type != "date":
            raise ValueError(f"contract {contract.extract}: partition_by must name a date column")
        if not contract.column(contract.partition_by).required:
            raise ValueError(f"contract {contract.extract}: partition_by column must be required")
    for col in contract.columns:
        if col.blank_allowed_when and not col.required:
            raise ValueError(f"contract {contract.extract}: blank_allowed_when on {col.name!r}, which is not required")
        if col.required_with and col.required:
            raise ValueError(f"contract {contract.extract}: required_with on {col.name!r}, which is always required")
        if col.name in contract.primary_key and col.blank_allowed_when:
            raise ValueError(f"contract {contract.extract}: key column {col.name!r} can never be blank")
        for name in [k for k, _ in col.blank_allowed_when] + list(col.required_with):
            if name not in names or name == col.name:
                raise ValueError(f"contract {contract.extract}: {col.name!r} refers to {name!r}, not another declared column")
        if col.max_blank_share is not None and not 0 <= col.max_blank_share <= 1:
            raise ValueError(f"contract {contract.extract}: max_blank_share of {col.name!r} must lie in [0, 1]")
    for earlier, later in contract.date_order:
        for name in (earlier, later):
            if name not in names or contract.column(name).type != "date":
                raise ValueError(f"contract {contract.extract}: date_order names {name!r}, not a date column")


@cache
def all_contracts() -> dict[str, Contract]:
    """Every contract, keyed by extract name, in a stable order."""
    contracts = [_parse(p) for p in sorted(CONTRACT_DIR.glob("*.yaml"))]
    return {c.extract: c for c in contracts}


def monthly_extracts() -> tuple[str, ...]:
    """Extracts that arrive as one file per service month."""
    return tuple(name for name in EXTRACTS if all_contracts()[name].partition_by is not None)


def load_contract(extract: str) -> Contract:
    try:
        return all_contracts()[extract]
    except KeyError:
        raise KeyError(f"no data contract for extract {extract!r}; known: {sorted(all_contracts())}") from None


EXTRACTS: tuple[str, ...] = (
    "eligibility",
    "medical_claim",
    "pharmacy_claim",
    "encounter",
    "condition",
    "lab_result",
    "medication",
    "sdoh_screening",
    "area_sdoh_county",
    "area_sdoh_zip",
    "cm_roster",
    "cm_case",
    "cm_contact",
    "cm_goal",
    "cm_intake_assignment",  # optional: only programs that run an intake lottery send it
)
