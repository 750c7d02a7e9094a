"""Mutations of a source folder for the robustness tests, as hypothesis strategies.

A :class:`Mutation` is one change to one table (one file) of a working copy of a source folder:
drop a column, reorder the columns, change the header case, add unknown columns, blank a whole
column, truncate the last line, gzip/gunzip the file, convert it to Parquet, change its dialect
(BOM, CRLF, pipe or tab delimiter), or shift every date of the whole folder by decades
(MIMIC-style: one offset for everyone or one per person). ``apply_all`` applies a list of them to
a folder in place; ``describe`` says in one line what was done, for the failure message.

Tables are read and written as text (every column a string), so a mutation changes only what it
says it changes.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from hypothesis import strategies as st

# Content mutations change the rows or columns; container mutations change how the file is stored.
COLUMN_KINDS = ("drop_column", "blank_column", "header_case_column")
TABLE_KINDS = ("reorder_columns", "header_case_all", "add_unknown_columns", "truncate_last_line")
CONTAINER_KINDS = ("gzip_toggle", "to_parquet", "bom", "crlf", "pipe_delimited", "tab_delimited")
KINDS = (*COLUMN_KINDS, *TABLE_KINDS, *CONTAINER_KINDS, "shift_dates")
# How often each kind is drawn: the column changes the issue names first carry more weight.
WEIGHTED_KINDS = (*KINDS, "drop_column", "drop_column", "blank_column", "shift_dates")
# Mutations that lose nothing: a robust reader gives the same rows as from the original file.
LOSSLESS = frozenset({"reorder_columns", "add_unknown_columns", "gzip_toggle", "to_parquet", "bom", "crlf",
                      "header_case_all", "header_case_column", "pipe_delimited", "tab_delimited"})
CASES = ("upper", "lower", "title", "swap")

ISO_DATE = r"^\d{4}-\d{2}-\d{2}"
COMPACT_DATE = r"^(19|20|21)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$"


@dataclass(frozen=True)
class Mutation:
    kind: str
    table: str = ""  # file path relative to the source folder ("" for shift_dates)
    column: str = ""
    params: tuple = field(default=())

    def describe(self) -> str:
        bits = [self.kind]
        if self.table:
            bits.append(f"table={self.table}")
        if self.column:
            bits.append(f"column={self.column}")
        if self.params:
            bits.append(f"params={self.params}")
        return " ".join(bits)

    @property
    def lossless(self) -> bool:
        return self.kind in LOSSLESS


def describe(mutations: list[Mutation]) -> str:
    return "; ".join(m.describe() for m in mutations)


# ---- reading and writing one table ------------------------------------------------------------

def table_files(folder: Path, suffixes: tuple[str, ...] = (".csv", ".csv.gz", ".parquet")) -> list[str]:
    """Every table file under ``folder`` (relative paths, sorted)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name.endswith(suffixes))


def read_text(path: Path) -> str:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def read_frame(path: Path) -> pl.DataFrame:
    if path.name.endswith(".parquet"):
        return pl.read_parquet(path)
    return pl.read_csv(io.StringIO(read_text(path)), infer_schema=False)


def header(path: Path) -> list[str]:
    if path.name.endswith(".parquet"):
        return pl.read_parquet_schema(path).names() if hasattr(pl, "read_parquet_schema") else list(pl.read_parquet(path, n_rows=0).columns)
    first = read_text(path).split("\n", 1)[0]
    return pl.read_csv(io.StringIO(first + "\n"), infer_schema=False).columns


def _write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)


def _stem(name: str) -> str:
    for suffix in (".csv.gz", ".csv", ".parquet"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


# ---- applying --------------------------------------------------------------------------------

def apply_all(folder: Path, mutations: list[Mutation], person_columns: dict[str, str] | None = None) -> dict[str, str]:
    """Apply ``mutations`` to ``folder`` in place; returns {original table: file name now}.

    Per table: content changes first (on the parsed frame), then storage (dialect, truncation,
    compression or Parquet), so any combination is well defined.
    """
    renamed: dict[str, str] = {}
    for m in mutations:
        if m.kind == "shift_dates":
            renamed = shift_dates(folder, years=m.params[0], per_person=m.params[1], person_columns=person_columns or {})
    by_table: dict[str, list[Mutation]] = {}
    for m in mutations:
        if m.table:
            by_table.setdefault(m.table, []).append(m)
    for table, ops in by_table.items():
        renamed[table] = _apply_table(folder, renamed.get(table, table), ops)
    return renamed


def _apply_table(folder: Path, table: str, ops: list[Mutation]) -> str:
    path = folder / table
    kinds = {m.kind for m in ops}
    # column changes first (they name columns as the file has them), then whole-header ones
    content = [m for m in ops if m.kind in COLUMN_KINDS] + [
        m for m in ops if m.kind in ("reorder_columns", "header_case_all", "add_unknown_columns")]
    delimiter = "|" if "pipe_delimited" in kinds else "\t" if "tab_delimited" in kinds else ","
    if content or delimiter != "," or "to_parquet" in kinds or path.name.endswith(".parquet"):
        frame = read_frame(path)
        for m in content:
            frame = _content(frame, m)
        if "to_parquet" in kinds:
            target = path.with_name(_stem(path.name) + ".parquet")
            path.unlink()
            frame.write_parquet(target)
            return str(target.relative_to(folder))
        text = frame.write_csv(separator=delimiter)
    else:
        text = read_text(path)
    if "truncate_last_line" in kinds:
        fraction = next(m for m in ops if m.kind == "truncate_last_line").params[0]
        text = truncate_last_line(text, fraction)
    if "crlf" in kinds:
        text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    data = text.encode("utf-8")
    if "bom" in kinds:
        data = b"\xef\xbb\xbf" + data
    name = path.name
    if "gzip_toggle" in kinds:
        name = name[:-3] if name.endswith(".gz") else name + ".gz"
    target = path.with_name(name)
    path.unlink()
    _write_bytes(target, data)
    return str(target.relative_to(folder))


def _content(frame: pl.DataFrame, m: Mutation) -> pl.DataFrame:
    if m.kind == "drop_column":
        return frame.drop(m.column)
    if m.kind == "blank_column":
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias(m.column))
    if m.kind == "header_case_column":
        return frame.rename({m.column: recase(m.column, m.params[0])})
    if m.kind == "header_case_all":
        new = [recase(c, m.params[0]) for c in frame.columns]
        if len(set(new)) < len(new):  # two names that differ only in case: leave the header as it was
            return frame
        return frame.rename(dict(zip(frame.columns, new)))
    if m.kind == "reorder_columns":
        order = list(m.params[0])
        return frame.select([frame.columns[i] for i in order if i < frame.width] + [c for i, c in enumerate(frame.columns) if i not in order])
    if m.kind == "add_unknown_columns":
        names, value = m.params
        taken = set(frame.columns)
        return frame.with_columns(*[pl.lit(value, dtype=pl.String).alias(n) for n in names if n not in taken])
    raise ValueError(m.kind)


def recase(name: str, case: str) -> str:
    return {"upper": name.upper(), "lower": name.lower(), "title": name.title(), "swap": name.swapcase()}[case]


def truncate_last_line(text: str, fraction: float) -> str:
    """Cut the file part-way through its last line (no trailing newline), as an interrupted copy does."""
    body = text.rstrip("\r\n")
    start = body.rfind("\n") + 1
    last = body[start:]
    if start == 0 or len(last) < 2:  # header only, or a one-character line: nothing to cut inside
        return body
    keep = max(1, min(len(last) - 1, int(len(last) * fraction)))
    return body[: start + keep]


MONTH_FILE = re.compile(r"^(\d{4})-(\d{2})(\..+)$")


def shift_dates(folder: Path, years: int, per_person: bool, person_columns: dict[str, str]) -> dict[str, str]:
    """Move every date in every table by ``years`` (whole decades) on the calendar, keeping times of day
    (29 February becomes the 28th in a year that has none).

    ``per_person``: as MIMIC-IV does, each person gets their own shift (``years`` plus 0-3 further
    decades, from a hash of the id), consistently across tables; tables without a person column
    get ``years``. ISO dates/datetimes and compact ``YYYYMMDD`` dates in ``*_DT`` columns are
    shifted; four-digit ``*year`` columns move by whole years. With one shift for everyone, monthly
    landing files (``YYYY-MM.csv``) are renamed to their new month, as a re-cut extract would be.
    Returns {file: its new name} for the files renamed.
    """
    renamed: dict[str, str] = {}
    for rel in table_files(folder):
        path = folder / rel
        frame = read_frame(path)
        person = next((c for c in frame.columns if c == person_columns.get(_stem(path.name), person_columns.get("*", ""))), None)
        if per_person and person is not None:
            extra = pl.col(person).fill_null("").hash(seed=11) % 4 * 10
            shift_years = pl.lit(years, dtype=pl.Int64) + extra.cast(pl.Int64)
        else:
            shift_years = pl.lit(years, dtype=pl.Int64)
        offset = pl.format("{}y", shift_years)
        exprs = []
        for col in frame.columns:
            values = frame[col].drop_nulls()
            values = values.filter(values.str.len_chars() > 0)
            if values.len() == 0:
                continue
            if values.str.contains(ISO_DATE).all():
                parsed = pl.col(col).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
                moved = parsed.dt.offset_by(offset).dt.strftime("%Y-%m-%d") + pl.col(col).str.slice(10)
                exprs.append(pl.when(parsed.is_not_null()).then(moved).otherwise(pl.col(col)).alias(col))
            elif col.upper().endswith("_DT") and values.str.contains(COMPACT_DATE).all():
                parsed = pl.col(col).str.to_date("%Y%m%d", strict=False)
                moved = parsed.dt.offset_by(offset).dt.strftime("%Y%m%d")
                exprs.append(pl.when(parsed.is_not_null()).then(moved).otherwise(pl.col(col)).alias(col))
            elif col.lower().endswith("year") and values.str.contains(r"^\d{4}$").all():
                exprs.append((pl.col(col).cast(pl.Int64, strict=False) + shift_years).cast(pl.String).alias(col))
        if exprs:
            shifted = frame.with_columns(exprs)
            if path.name.endswith(".parquet"):
                shifted.write_parquet(path)
            else:
                _write_bytes(path, shifted.write_csv().encode("utf-8"))
        month = MONTH_FILE.match(path.name)
        if month and not per_person:
            target = path.with_name(f"{int(month.group(1)) + years:04d}-{month.group(2)}{month.group(3)}")
            path.rename(target)
            renamed[rel] = str(target.relative_to(folder))
    return renamed


# ---- strategies ------------------------------------------------------------------------------

@st.composite
def mutation(draw, headers: dict[str, list[str]], kinds: tuple[str, ...] = WEIGHTED_KINDS) -> Mutation:
    """One mutation of one of the tables in ``headers`` ({relative file: column names})."""
    kind = draw(st.sampled_from(kinds))
    if kind == "shift_dates":
        decades = draw(st.sampled_from([-6, -4, -3, -2, -1, 1, 2, 3, 5, 8, 10, 15]))
        return Mutation(kind, params=(decades * 10, draw(st.booleans())))
    table = draw(st.sampled_from(sorted(headers)))
    columns = headers[table]
    if kind in COLUMN_KINDS:
        column = draw(st.sampled_from(columns))
        params = (draw(st.sampled_from(CASES)),) if kind == "header_case_column" else ()
        return Mutation(kind, table, column, params)
    if kind == "header_case_all":
        return Mutation(kind, table, params=(draw(st.sampled_from(CASES)),))
    if kind == "reorder_columns":
        return Mutation(kind, table, params=(tuple(draw(st.permutations(range(len(columns))))),))
    if kind == "add_unknown_columns":
        names = draw(st.lists(st.sampled_from(["zz_extra", "Unnamed: 0", "_source_row", "EXTRA_ID", "comment text"]),
                              min_size=1, max_size=3, unique=True))
        return Mutation(kind, table, params=(tuple(names), draw(st.sampled_from(["", "1", "free text, quoted", "2024-01-01"]))))
    if kind == "truncate_last_line":
        return Mutation(kind, table, params=(draw(st.sampled_from([0.1, 0.5, 0.9])),))
    return Mutation(kind, table)


def mutations(headers: dict[str, list[str]], max_size: int = 3) -> st.SearchStrategy[list[Mutation]]:
    """One to ``max_size`` mutations; at most one storage change per table (gzip, Parquet and a
    delimiter do not combine) and one date shift."""

    def compatible(ms: list[Mutation]) -> bool:
        storage: dict[str, int] = {}
        for m in ms:
            if m.kind in ("gzip_toggle", "to_parquet", "pipe_delimited", "tab_delimited"):
                storage[m.table] = storage.get(m.table, 0) + 1
        if any(n > 1 for n in storage.values()):
            return False
        if sum(m.kind == "shift_dates" for m in ms) > 1:
            return False
        # a column mutation needs its column still present under its name
        dropped = {(m.table, m.column) for m in ms if m.kind in ("drop_column", "header_case_column")}
        for m in ms:
            if m.kind in ("header_case_all",) and any(t == m.table for t, _ in dropped):
                return False
        return len({(m.table, m.column) for m in ms if m.column}) == sum(1 for m in ms if m.column)

    return st.lists(mutation(headers), min_size=1, max_size=max_size).filter(compatible)


__all__ = ["KINDS", "LOSSLESS", "Mutation", "apply_all", "describe", "header", "mutations", "read_frame", "table_files",
           "truncate_last_line"]
