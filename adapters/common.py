"""Helpers every adapter shares: reading source tables, dating, rule-based row accounting, writing.

An adapter reads each source table through :meth:`Conversion.table`, which finds its file
(``adapters.columns.TableSpec``), reads it as text (every column a string, so nothing is lost to
type guessing; ``.csv``, ``.txt``, ``.tsv``, ``.psv`` plain or gzipped, the delimiter sniffed from
the header line, and ``.parquet`` cast to text), matches the header to the spec case- and
whitespace-insensitively and through the format's aliases, fills absent optional columns with
nulls, drops the rest, and raises :class:`SourceLayoutError` naming the file and the column when a
required one is missing. It maps them with polars expressions and hands each canonical frame to
:class:`Conversion`, which writes it with ``data_contracts.landing.write_landing_extract`` and keeps
the books: rows read per source table, the columns used, filled and ignored, rows written per
extract, and every source row that did not become a canonical row, counted under the reason it was
left out and what that costs. Nothing is dropped without a count. Counts and reasons only: no row
contents are ever logged or raised.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from adapters.columns import TableSpec
from data_contracts.errors import RiskstratDataError
from data_contracts.landing import write_landing_extract
from data_contracts.spec import load_contract, monthly_extracts

# Contract lower bound on service dates (see data_contracts/contracts/*.yaml).
EARLIEST_SERVICE_DATE = date(1990, 1, 1)
ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"

TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".psv")
# gzipped first, so 'x.csv.gz' is not taken for a '.gz' file named 'x.csv'
SOURCE_SUFFIXES = (*[s + ".gz" for s in TEXT_SUFFIXES], *TEXT_SUFFIXES, ".parquet")
DELIMITERS = {",": "comma", "|": "pipe", "\t": "tab"}
TRUNCATED_LINE = "truncated last line (the file ends in the middle of a row)"


class SourceLayoutError(RiskstratDataError):
    """A source table is missing, unreadable, or lacks the columns its adapter needs."""


@dataclass(frozen=True)
class NotMapped:
    """Source rows that produced no canonical row: the reason (cause) and what it costs (consequence).

    ``inpatient_admissions``: how many of the rows were inpatient admissions (for tables that hold
    them; None elsewhere), so lost stays are never silent.
    """

    source_table: str
    reason: str
    rows: int
    consequence: str = ""
    inpatient_admissions: int | None = None


@dataclass(frozen=True)
class AdapterReport:
    """What one conversion read, wrote and left out.

    ``rows_in``: source table -> rows read. ``rows_written``: canonical extract -> rows written.
    ``not_mapped``: source rows left out, per table and reason, with the consequence.
    ``absent_tables``: source tables the format defines that were not in the folder;
    ``extracts_not_produced``: canonical extracts left out as a consequence (features needing them
    are null or absent). ``columns``: source table -> ``{"file", "used", "absent_filled_with_nulls",
    "ignored", "renamed"}`` (renamed: canonical column -> the header it was read from).
    ``enrolment_assumed``: no usable enrolment in the source, one span per person was assumed, so
    the enrolment checks cannot be made. ``code_systems``: extract -> ``{diagnosis_code_type: rows}``.
    ``sdoh_match``: route -> members matched (and ``members``). ``data_through`` / ``as_of``:
    recommended dates for ``run_pipeline``.
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
    columns: dict[str, dict] = field(default_factory=dict)
    enrolment_assumed: bool = False

    def not_mapped_by_table(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for item in self.not_mapped:
            out.setdefault(item.source_table, {})[item.reason] = item.rows
        return out

    def summary(self) -> str:
        """Plain-text summary (counts and reasons only)."""
        # the run's as-of is decided by month coverage (features.coverage), not by this report's as_of
        lines = [f"format {self.format}: data through {self.data_through}, latest claim or encounter end "
                 f"{self.as_of - timedelta(days=1) if self.as_of else None}"]
        if self.enrolment_assumed:
            lines.append(f"  ENROLMENT ASSUMED: {self.notes[0] if self.notes else ''}")
        lines += [f"  read    {t:<28} {n:>9,}" for t, n in self.rows_in.items()]
        lines += [f"  wrote   {e:<28} {n:>9,}" for e, n in self.rows_written.items()]
        for i in self.not_mapped:
            lines.append(f"  skipped {i.source_table:<28} {i.rows:>9,}  {i.reason}")
            if i.consequence:
                lines.append(f"          {'':<28} {'':>9}  -> {i.consequence}")
        for table, cols in self.columns.items():
            if cols.get("absent_filled_with_nulls"):
                lines.append(f"  columns {table} ({cols['file']}): absent, filled with nulls: {', '.join(cols['absent_filled_with_nulls'])}")
            if cols.get("ignored"):
                lines.append(f"  columns {table} ({cols['file']}): ignored: {', '.join(cols['ignored'])}")
            if cols.get("renamed"):
                lines.append(f"  columns {table} ({cols['file']}): read under other names: "
                             + ", ".join(f"{k} <- {v}" for k, v in cols["renamed"].items()))
        if self.absent_tables:
            lines.append(f"  absent source tables: {', '.join(self.absent_tables)}")
        if self.extracts_not_produced:
            lines.append(f"  canonical extracts not produced: {', '.join(self.extracts_not_produced)}")
        for extract, systems in self.code_systems.items():
            lines.append(f"  code systems in {extract}: " + ", ".join(f"{k} {v:,}" for k, v in systems.items()))
        if self.sdoh_match:
            lines.append("  SDOH match: " + ", ".join(f"{k} {v:,}" for k, v in self.sdoh_match.items()))
        lines += [f"  note: {n}" for n in self.notes[1 if self.enrolment_assumed else 0:]]
        return "\n".join(lines)


# ---- finding and reading source files -----------------------------------------------------------

def split_suffix(name: str) -> tuple[str, str] | None:
    """``(stem, suffix)`` for a readable source file name (suffix lower-cased), else None."""
    lower = name.lower()
    for suffix in SOURCE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)], suffix
    return None


def locate(source: Path, spec: TableSpec) -> list[Path]:
    """The file(s) holding ``spec``'s table in ``source`` or its ``spec.folders``: names matched
    case-insensitively, the first stem pattern (and, per stem, gzip before plain) preferred;
    every matching file when ``spec.many``."""
    for folder in (source, *[source / f for f in spec.folders]):
        if not folder.is_dir():
            continue
        files = [(p, split_suffix(p.name)) for p in sorted(folder.iterdir()) if p.is_file()]
        files = [(p, parts) for p, parts in files if parts is not None]
        for pattern in spec.files:
            found = [(p, suffix) for p, (stem, suffix) in files if re.fullmatch(pattern, stem, re.IGNORECASE)]
            if found and spec.many:
                return [p for p, _ in found]
            if found:
                return [min(found, key=lambda f: SOURCE_SUFFIXES.index(f[1]))[0]]
    return []


def _key(name: str) -> str:
    """A header name as matched: no BOM, quotes or surrounding space, lower case."""
    return name.replace("\ufeff", "").strip().strip('"').strip().lower()


def _sniff(header: str) -> str:
    counts = {d: header.count(d) for d in (",", "|", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_source(path: Path, fmt: str = "source") -> tuple[pl.DataFrame, int]:
    """A source file as a frame of text columns, and the number of broken lines left out (a truncated
    last line). Raises :class:`SourceLayoutError` naming the file when it cannot be read at all."""
    parts = split_suffix(path.name)
    suffix = parts[1] if parts else ".csv"
    if suffix == ".parquet":
        try:
            frame = pl.read_parquet(path)
            return frame.select(pl.all().cast(pl.String)), 0
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise SourceLayoutError(f"{fmt}: {path.name} is not a readable Parquet file of flat columns "
                                    f"({type(exc).__name__}); re-export it", source=path.name) from exc
    try:
        raw = path.read_bytes()
        if suffix.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceLayoutError(f"{fmt}: {path.name} could not be read or decompressed ({type(exc).__name__}); "
                                "copy or export the file again", source=path.name) from exc
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    if not raw.strip():
        raise SourceLayoutError(f"{fmt}: {path.name} is empty (no header row); export the table with its header",
                                source=path.name)
    header_end = raw.find(b"\n")
    header = raw[: header_end if header_end >= 0 else len(raw)].decode("utf-8", "replace").rstrip("\r")
    sep = _sniff(header)
    broken = 0
    if header_end >= 0 and not raw.endswith(b"\n"):
        # the last line has no line end: keep it only if it is a whole row
        last = raw[raw.rfind(b"\n") + 1:]
        width = len(next(csv.reader([header], delimiter=sep)))
        fields = next(csv.reader([last.decode("utf-8", "replace").rstrip("\r")], delimiter=sep), [])
        if last.count(b'"') % 2 == 1 or len(fields) < width:
            raw, broken = raw[: raw.rfind(b"\n") + 1], 1
    last_error: Exception | None = None
    for quote in ('"', None):
        try:
            frame = pl.read_csv(io.BytesIO(raw), separator=sep, quote_char=quote, infer_schema=False,
                                null_values=[""], encoding="utf8-lossy")
            return frame, broken
        except pl.exceptions.PolarsError as exc:
            last_error = exc
    raise SourceLayoutError(
        f"{fmt}: {path.name} could not be parsed as {DELIMITERS[sep]}-delimited text ({type(last_error).__name__}); "
        "check that every row has as many fields as the header and that quotes are closed", source=path.name,
    ) from last_error


def apply_spec(frame: pl.DataFrame, spec: TableSpec, fmt: str, file: str) -> tuple[pl.DataFrame, dict]:
    """``frame`` with exactly the spec's columns under their canonical names (absent optional ones
    null), and the column accounting; raises :class:`SourceLayoutError` for a missing required column."""
    by_key: dict[str, str] = {}
    for name in frame.columns:
        by_key.setdefault(_key(name), name)
    picked: dict[str, str] = {}  # canonical -> source header
    for col in spec.columns:
        for candidate in (col, *spec.aliases.get(col, ())):
            src = by_key.get(_key(candidate))
            if src is not None and src not in picked.values():
                picked[col] = src
                break
    missing = [c for c in spec.required if c not in picked]
    if missing:
        needs = "; ".join(dict.fromkeys(spec.required[c] for c in missing))
        other = [f"{a}" for c in missing for a in spec.aliases.get(c, ())]
        also = f" (nor {', '.join(other)})" if other else ""
        raise SourceLayoutError(
            f"{fmt}: {file} has no column{'s' if len(missing) > 1 else ''} {', '.join(missing)}{also} "
            f"(needed for {needs}); add {'them' if len(missing) > 1 else 'it'}, or check the header row",
            source=file, column=missing[0],
        )
    absent = [c for c in spec.optional if c not in picked]
    out = frame.select(
        *[pl.col(src).alias(col) for col, src in picked.items()],
        *[pl.lit(None, dtype=pl.String).alias(c) for c in absent],
    )
    info = {
        "file": file,
        "used": [c for c in spec.columns if c in picked],
        "absent_filled_with_nulls": absent,
        "ignored": [c for c in frame.columns if c not in picked.values()],
        "renamed": {c: s for c, s in picked.items() if _key(s) != _key(c)},
    }
    return out, info


def read_table(path: Path, fmt: str = "source") -> pl.LazyFrame:
    """A reference file (no spec: SDOH) as text columns, header names stripped of BOM, quotes and space."""
    frame, _ = read_source(path, fmt)
    return frame.rename({c: c.replace("\ufeff", "").strip().strip('"') for c in frame.columns}).lazy()


def has_column(frame: pl.LazyFrame, name: str) -> bool:
    return name in frame.collect_schema().names()


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
        self.consequences: dict[tuple[str, str], str] = {}
        self.inpatient_lost: dict[tuple[str, str], int] = {}
        self.columns: dict[str, dict] = {}
        self.specs: dict[str, TableSpec] = {}
        self.enrolment_assumed = False
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
    def table(self, spec: TableSpec, required: bool = False) -> pl.LazyFrame | None:
        """The source table ``spec`` describes, read through the spec (see :func:`apply_spec`); None
        (and listed as absent) when the folder has no such file, unless ``required``."""
        self.specs[spec.table] = spec
        paths = locate(self.source, spec)
        if not paths:
            if required:
                raise SourceLayoutError(
                    f"{self.fmt}: {self.source.name} has no {spec.table} table ({spec.expected_files()}), "
                    f"which is needed for {spec.needed_for}; add it, or check the format", source=spec.table)
            self.absent.append(spec.table)
            return None
        frames, infos, broken = [], [], 0
        for path in paths:
            raw, bad = read_source(path, self.fmt)
            frame, info = apply_spec(raw, spec, self.fmt, path.name)
            frames.append(frame.with_columns(pl.lit(path.name).alias("_file")) if spec.many else frame)
            infos.append(info)
            broken += bad
        # year files of one table may differ in their optional columns: align them by name
        frame = pl.concat(frames, how="diagonal") if len(frames) > 1 else frames[0]
        self.columns[spec.table] = {
            "file": ", ".join(i["file"] for i in infos),
            # a column absent from any one file (SynPUF's year files differ) is reported as absent
            "used": [c for c in infos[0]["used"] if all(c in i["used"] for i in infos)],
            "absent_filled_with_nulls": list(dict.fromkeys(c for i in infos for c in i["absent_filled_with_nulls"])),
            "ignored": list(dict.fromkeys(c for i in infos for c in i["ignored"])),
            "renamed": infos[0]["renamed"],
        }
        self.count_in(spec.table, frame.height + broken)
        self.skip(spec.table, TRUNCATED_LINE, broken, "that row is not read; check the copy of the file is complete")
        return frame.lazy()

    def count_in(self, name: str, rows: int) -> None:
        self.rows_in[name] = self.rows_in.get(name, 0) + rows

    def skip(self, table: str, reason: str, rows: int, consequence: str | None = None, inpatient: int | None = None) -> None:
        """Count ``rows`` of ``table`` not carried over, with the reason and what it costs (``consequence``,
        default the table's ``lost`` text) and, for tables that hold admissions, how many were inpatient."""
        if not rows:
            return
        key = (table, reason)
        self.not_mapped[key] += rows
        spec = self.specs.get(table)
        self.consequences.setdefault(key, consequence if consequence is not None else (spec.lost if spec else ""))
        if inpatient is not None:
            self.inpatient_lost[key] = self.inpatient_lost.get(key, 0) + inpatient

    def _consequence(self, key: tuple[str, str]) -> str:
        text = self.consequences.get(key, "")
        if key not in self.inpatient_lost:
            return text
        n = self.inpatient_lost[key]
        if n == 0:
            return f"none of them inpatient admissions; {text}" if text else "none of them inpatient admissions"
        stays = f"{n} of them inpatient admission{'s' if n > 1 else ''}, so th{'ose stays are' if n > 1 else 'at stay is'} lost"
        return stays if not text or "stays are lost" in text else f"{stays}; {text}"

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def assume_enrolment(self, why: str) -> None:
        """No usable enrolment in the source: say so first (the report's top note and ``enrolment_assumed``)."""
        self.enrolment_assumed = True
        text = (f"{why}: one enrolment span per person was assumed so the run can proceed, so the enrolment checks "
                "(enrolled at discharge, enrolled through the follow-up window) cannot be made")
        if text not in self.notes:
            self.notes.insert(0, text)

    def not_producing(self, extract: str, because: str) -> None:
        self.not_produced.append(extract)
        self.note(f"{extract} not produced: {because}")

    # mapping with accounting
    def keep(self, table: str, frame: pl.LazyFrame, rules: list[tuple], inpatient: pl.Expr | None = None) -> pl.DataFrame:
        """Rows of ``frame`` that break none of ``rules`` (reason, TRUE-when-left-out expression[, consequence]);
        the others are counted under the first rule they break, with the rule's consequence (default the
        table's) and, when ``inpatient`` (TRUE for an inpatient admission row) is given, how many of them
        were inpatient admissions."""
        reason = pl.lit(None, dtype=pl.String)
        for rule in reversed(rules):
            reason = pl.when(rule[1].fill_null(False)).then(pl.lit(rule[0])).otherwise(reason)
        flag = (inpatient.fill_null(False) if inpatient is not None else pl.lit(False)).alias("_inpatient")
        tagged = frame.with_columns(reason.alias("_skip_reason"), flag).collect()
        own = {rule[0]: rule[2] for rule in rules if len(rule) > 2}
        counts = tagged.group_by("_skip_reason").agg(pl.len().alias("n"), pl.col("_inpatient").sum().alias("inp"))
        for text, rows, inp in counts.iter_rows():
            if text is not None:
                self.skip(table, text, rows, own.get(text), int(inp) if inpatient is not None else None)
        return tagged.filter(pl.col("_skip_reason").is_null()).drop("_skip_reason", "_inpatient")

    def add(self, extract: str, frame: pl.DataFrame) -> None:
        """Queue canonical rows for ``extract`` (several source tables may feed one extract)."""
        self._frames.setdefault(extract, []).append(frame)

    def finish_extract(self, extract: str) -> int:
        frames = self._frames.pop(extract, [])
        if not frames:
            return 0
        frame = pl.concat(frames, how="diagonal_relaxed")
        contract = load_contract(extract)
        if frame.height == 0 and contract.partition_by is not None:
            # every source row was left out (and counted): the header-only file is written at finish
            return 0
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
        if not written and (self.landing / "eligibility.csv").exists():
            # no monthly row at all: the month enrolment starts, so raw tables still exist (empty)
            starts = pl.read_csv(self.landing / "eligibility.csv", columns=["enrollment_start_date"], infer_schema=False)
            written = sorted(starts["enrollment_start_date"].drop_nulls().str.slice(0, 7).to_list())
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
            not_mapped=tuple(NotMapped(t, r, n, self._consequence((t, r)), self.inpatient_lost.get((t, r)))
                             for (t, r), n in sorted(self.not_mapped.items())),
            absent_tables=tuple(self.absent),
            extracts_not_produced=tuple(self.not_produced),
            notes=tuple(self.notes),
            code_systems={k: dict(sorted(v.items())) for k, v in self.code_systems.items()},
            data_through=self.max_date,
            as_of=self.max_service_date + timedelta(days=1) if self.max_service_date else None,
            sdoh_match=dict(self.sdoh_match),
            columns=dict(self.columns),
            enrolment_assumed=self.enrolment_assumed,
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
