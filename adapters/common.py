"""Helpers every adapter shares: reading source tables, dating, rule-based row accounting, writing.

An adapter reads source tables as text (every column a string, so nothing is lost to type
guessing), maps them with polars expressions, and hands each canonical frame to
:class:`Conversion`, which writes it with ``data_contracts.landing.write_landing_extract`` and
keeps the books: rows read per source table, rows written per extract, and every source row that
did not become a canonical row, counted under the reason it was left out. Nothing is dropped
without a count. Counts and reasons only: no row contents are ever logged or raised.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from data_contracts.errors import RiskstratDataError
from data_contracts.landing import write_landing_extract
from data_contracts.spec import load_contract, monthly_extracts

# Contract lower bound on service dates (see data_contracts/contracts/*.yaml).
EARLIEST_SERVICE_DATE = date(1990, 1, 1)
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

SOURCE_SUFFIXES = (".csv.gz", ".csv")


class SourceLayoutError(RiskstratDataError):
    """A source table is present but lacks the columns its adapter needs."""


@dataclass(frozen=True)
class NotMapped:
    """Source rows that produced no canonical row, with the reason."""

    source_table: str
    reason: str
    rows: int


@dataclass(frozen=True)
class AdapterReport:
    """What one conversion read, wrote and left out.

    ``rows_in``: source table -> rows read. ``rows_written``: canonical extract -> rows written.
    ``not_mapped``: source rows left out, per table and reason. ``absent_tables``: source tables the
    format defines that were not in the folder; ``extracts_not_produced``: canonical extracts left
    out as a consequence (features needing them are null or absent). ``code_systems``: extract ->
    ``{diagnosis_code_type: rows}``. ``sdoh_match``: route -> members matched (and ``members``).
    ``data_through`` / ``as_of``: recommended dates for ``run_pipeline``.
    """

    format: str
    source: str
    rows_in: dict[str, int]
    rows_written: dict[str, int]
    not_mapped: tuple[NotMapped, ...]
    absent_tables: tuple[str, ...]
    extracts_not_produced: tuple[str, ...]
    notes: tuple[str, ...]
    code_systems: dict[str, dict[str, int]]
    data_through: date | None
    as_of: date | None
    sdoh_match: dict[str, int] = field(default_factory=dict)

    def not_mapped_by_table(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for item in self.not_mapped:
            out.setdefault(item.source_table, {})[item.reason] = item.rows
        return out

    def summary(self) -> str:
        """Plain-text summary (counts and reasons only)."""
        lines = [f"format {self.format}: data_through {self.data_through}, as_of {self.as_of}"]
        lines += [f"  read    {t:<28} {n:>9,}" for t, n in self.rows_in.items()]
        lines += [f"  wrote   {e:<28} {n:>9,}" for e, n in self.rows_written.items()]
        lines += [f"  skipped {i.source_table:<28} {i.rows:>9,}  {i.reason}" for i in self.not_mapped]
        if self.absent_tables:
            lines.append(f"  absent source tables: {', '.join(self.absent_tables)}")
        if self.extracts_not_produced:
            lines.append(f"  canonical extracts not produced: {', '.join(self.extracts_not_produced)}")
        for extract, systems in self.code_systems.items():
            lines.append(f"  code systems in {extract}: " + ", ".join(f"{k} {v:,}" for k, v in systems.items()))
        if self.sdoh_match:
            lines.append("  SDOH match: " + ", ".join(f"{k} {v:,}" for k, v in self.sdoh_match.items()))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def find_table(source: Path, name: str) -> Path | None:
    """``<name>.csv.gz`` or ``<name>.csv`` in ``source`` (or its ``hosp/`` folder), else None."""
    for folder in (source, source / "hosp"):
        for suffix in SOURCE_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.exists():
                return path
    return None


def read_table(path: Path) -> pl.LazyFrame:
    """A source CSV (gzip or plain) with every column as text; header names stripped of quotes/space."""
    frame = pl.read_csv(path, infer_schema=False, null_values=[""], truncate_ragged_lines=False)
    return frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns}).lazy()


def require_columns(frame: pl.LazyFrame, table: str, columns: list[str]) -> None:
    have = set(frame.collect_schema().names())
    missing = [c for c in columns if c not in have]
    if missing:
        raise SourceLayoutError(f"{table}: missing column(s) {missing}; cannot map this table")


def has_column(frame: pl.LazyFrame, name: str) -> bool:
    return name in frame.collect_schema().names()


def col_or_null(frame: pl.LazyFrame, name: str) -> pl.Expr:
    """The column when the source version has it, else a typed null (column layouts differ by version)."""
    return pl.col(name) if has_column(frame, name) else pl.lit(None, dtype=pl.String).alias(name)


# ---- value expressions -------------------------------------------------------------------------

def iso_date(name: str) -> pl.Expr:
    """Date from 'YYYY-MM-DD', 'YYYY-MM-DD hh:mm:ss' or 'YYYY-MM-DDThh:mm:ssZ' text."""
    return pl.col(name).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def compact_date(name: str) -> pl.Expr:
    """Date from 'YYYYMMDD' text (CMS files)."""
    return pl.col(name).str.strip_chars().str.to_date("%Y%m%d", strict=False)


def undotted(expr: pl.Expr) -> pl.Expr:
    """Diagnosis code without dots or spaces, upper case; blank -> null."""
    cleaned = expr.str.replace_all(r"[.\s]", "").str.to_uppercase()
    return pl.when(cleaned.str.len_chars() > 0).then(cleaned).otherwise(None)


def zip5(expr: pl.Expr) -> pl.Expr:
    """Five-digit ZIP: ZIP+4 cut to five, short numeric ZIPs zero-padded; blank or 00000 -> null."""
    digits = expr.str.strip_chars().str.slice(0, 5)
    padded = pl.when(digits.str.contains(r"^[0-9]{3,5}$")).then(digits.str.zfill(5))
    return pl.when(padded == "00000").then(None).otherwise(padded)


def fips5(expr: pl.Expr) -> pl.Expr:
    """Five-digit county FIPS (zero-padded); blank, non-numeric or 00000 -> null."""
    text = expr.str.strip_chars().str.replace(r"\.0$", "")
    padded = pl.when(text.str.contains(r"^[0-9]{4,5}$")).then(text.str.zfill(5))
    return pl.when(padded.str.ends_with("000") | (padded == "00000")).then(None).otherwise(padded)


def code_map(expr: pl.Expr, mapping: dict[str, str], default: str | None = None) -> pl.Expr:
    """Map source codes through a closed dictionary; unknown -> ``default``."""
    return expr.replace_strict(mapping, default=default, return_dtype=pl.String)


STATE_CODES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA", "Colorado": "CO",
    "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
    "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA", "Washington": "WA",
    "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY", "Puerto Rico": "PR",
}


def state_code(expr: pl.Expr) -> pl.Expr:
    """Two-letter state code from a name or a code; unknown -> null."""
    text = expr.str.strip_chars()
    upper = text.str.to_uppercase()
    by_name = text.str.to_titlecase().replace_strict(STATE_CODES, default=None, return_dtype=pl.String)
    return pl.when(upper.is_in(list(STATE_CODES.values()))).then(upper).otherwise(by_name)


# ---- the books ---------------------------------------------------------------------------------

class Conversion:
    """Accumulates one conversion's counts while the adapter writes canonical extracts."""

    def __init__(self, fmt: str, source: Path, landing: Path) -> None:
        self.fmt = fmt
        self.source = source
        self.landing = landing
        self.rows_in: dict[str, int] = {}
        self.rows_written: Counter[str] = Counter()
        self.not_mapped: Counter[tuple[str, str]] = Counter()
        self.absent: list[str] = []
        self.not_produced: list[str] = []
        self.notes: list[str] = []
        self.code_systems: dict[str, Counter[str]] = {}
        self.sdoh_match: dict[str, int] = {}
        # person_id -> county name, for the SDOH state + county name route (sources that carry one)
        self.county_names: pl.DataFrame | None = None
        self._frames: dict[str, list[pl.DataFrame]] = {}
        self.max_date: date | None = None
        self.max_service_date: date | None = None

    # reading
    def table(self, name: str, required: bool = False) -> pl.LazyFrame | None:
        path = find_table(self.source, name)
        if path is None:
            if required:
                raise SourceLayoutError(f"{self.source.name}: the {self.fmt} table {name} is missing")
            self.absent.append(name)
            return None
        frame = read_table(path)
        self.rows_in[name] = self.rows_in.get(name, 0) + frame.select(pl.len()).collect().item()
        return frame

    def count_in(self, name: str, rows: int) -> None:
        self.rows_in[name] = self.rows_in.get(name, 0) + rows

    def skip(self, table: str, reason: str, rows: int) -> None:
        if rows:
            self.not_mapped[(table, reason)] += rows

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def not_producing(self, extract: str, because: str) -> None:
        self.not_produced.append(extract)
        self.note(f"{extract} not produced: {because}")

    # mapping with accounting
    def keep(self, table: str, frame: pl.LazyFrame, rules: list[tuple[str, pl.Expr]]) -> pl.DataFrame:
        """Rows of ``frame`` that break none of ``rules`` (reason, TRUE-when-left-out expression);
        the others are counted under the first rule they break."""
        reason = pl.lit(None, dtype=pl.String)
        for text, broken in reversed(rules):
            reason = pl.when(broken.fill_null(False)).then(pl.lit(text)).otherwise(reason)
        tagged = frame.with_columns(reason.alias("_skip_reason")).collect()
        for text, rows in tagged.group_by("_skip_reason").len().iter_rows():
            if text is not None:
                self.skip(table, text, rows)
        return tagged.filter(pl.col("_skip_reason").is_null()).drop("_skip_reason")

    def add(self, extract: str, frame: pl.DataFrame) -> None:
        """Queue canonical rows for ``extract`` (several source tables may feed one extract)."""
        self._frames.setdefault(extract, []).append(frame)

    def finish_extract(self, extract: str) -> int:
        frames = self._frames.pop(extract, [])
        if not frames:
            return 0
        frame = pl.concat(frames, how="diagonal_relaxed")
        contract = load_contract(extract)
        if "diagnosis_code_type" in frame.columns:
            counts = self.code_systems.setdefault(extract, Counter())
            for code_type, rows in frame.group_by("diagnosis_code_type").len().iter_rows():
                counts[code_type or "none"] += rows
        date_cols = [c.name for c in contract.columns if c.type == "date" and c.name in frame.columns]
        service_cols = [c for c in date_cols if c not in ("birth_date", "enrollment_end_date", "end_date")]
        if service_cols and frame.height:
            latest = frame.select(pl.max_horizontal([pl.col(c).max() for c in service_cols])).item()
            if latest is not None:
                self.max_date = latest if self.max_date is None else max(self.max_date, latest)
        if extract in ("medical_claim", "encounter") and frame.height:
            end_col = "claim_end_date" if extract == "medical_claim" else "encounter_end_date"
            latest = frame[end_col].max()
            if latest is not None:
                self.max_service_date = latest if self.max_service_date is None else max(self.max_service_date, latest)
        written = write_landing_extract(frame, extract, self.landing)
        self.rows_written[extract] += written
        return written

    def _write_empty_monthly(self) -> None:
        """A header-only file for each monthly extract the source cannot fill, in the first landing month,
        so ingestion loads an empty ``raw.<extract>`` (zero rows, stated) instead of finding no table."""
        written = sorted(p.stem for e in monthly_extracts() for p in (self.landing / e).glob("*.csv"))
        if not written:
            return
        for extract in monthly_extracts():
            folder = self.landing / extract
            if folder.is_dir() and any(folder.glob("*.csv")):
                continue
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{written[0]}.csv").write_text(",".join(load_contract(extract).column_names) + "\n")
            self.rows_written[extract] += 0
            if extract not in self.not_produced:
                self.not_produced.append(extract)

    def finish(self) -> AdapterReport:
        for extract in list(self._frames):
            self.finish_extract(extract)
        if self.fmt != "canonical":
            self._write_empty_monthly()
        return AdapterReport(
            format=self.fmt,
            source=str(self.source),
            rows_in=dict(self.rows_in),
            rows_written=dict(sorted(self.rows_written.items())),
            not_mapped=tuple(NotMapped(t, r, n) for (t, r), n in sorted(self.not_mapped.items())),
            absent_tables=tuple(self.absent),
            extracts_not_produced=tuple(self.not_produced),
            notes=tuple(self.notes),
            code_systems={k: dict(sorted(v.items())) for k, v in self.code_systems.items()},
            data_through=self.max_date,
            as_of=self.max_service_date + timedelta(days=1) if self.max_service_date else None,
            sdoh_match=dict(self.sdoh_match),
        )


BEFORE_1990 = "service date before 1990-01-01 (the contracts' earliest service date)"
NO_DATE = "no parseable date"
NO_PERSON = "person not in the member table"


# Therapeutic classes of the canonical medication/pharmacy contracts, matched on the drug name
# (generic names; the first matching class wins, so combination inhalers count as inhaled steroids).
DRUG_CLASS_PATTERNS: tuple[tuple[str, str], ...] = (
    ("insulin", r"insulin"),
    ("sglt2", r"gliflozin"),
    ("metformin", r"metformin"),
    ("statin", r"atorvastatin|simvastatin|rosuvastatin|pravastatin|lovastatin|pitavastatin|fluvastatin"),
    ("ace_arb", r"pril\b|sartan\b|sacubitril"),
    ("beta_blocker", r"olol\b|carvedilol|labetalol"),
    ("diuretic", r"furosemide|torsemide|bumetanide|hydrochlorothiazide|chlorthalidone|spironolactone|metolazone|eplerenone"),
    ("anticoagulant", r"warfarin|apixaban|rivaroxaban|dabigatran|edoxaban|enoxaparin|heparin"),
    ("antiplatelet", r"clopidogrel|aspirin|ticagrelor|prasugrel"),
    ("inhaled_steroid", r"fluticasone|budesonide|beclomethasone|mometasone|ciclesonide"),
    ("bronchodilator", r"albuterol|levalbuterol|ipratropium|tiotropium|salmeterol|formoterol|umeclidinium|vilanterol"),
    ("antidepressant", r"sertraline|fluoxetine|citalopram|paroxetine|venlafaxine|duloxetine|bupropion|mirtazapine|trazodone|amitriptyline|nortriptyline"),
    ("antipsychotic", r"quetiapine|olanzapine|risperidone|haloperidol|aripiprazole|ziprasidone|clozapine|lurasidone"),
    ("opioid", r"oxycodone|hydrocodone|morphine|fentanyl|hydromorphone|tramadol|methadone|codeine|buprenorphine|meperidine|tapentadol"),
)


def drug_class(name: pl.Expr) -> pl.Expr:
    """Canonical drug_class from a drug name or description; 'other' when no class matches."""
    lowered = name.str.to_lowercase()
    out = pl.lit("other")
    for cls, pattern in reversed(DRUG_CLASS_PATTERNS):
        out = pl.when(lowered.str.contains(pattern)).then(pl.lit(cls)).otherwise(out)
    return out
