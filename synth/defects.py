"""Writing extracts, and injecting attributable defects into CSV extracts (``--dirty-rate``).

Each defective physical line carries exactly one defect of one of these classes:

* ``malformed_row``   - the line has one field too few or one too many;
* ``wrong_type``      - 'abc' / '12.3.4' in an integer or double column, '2024-13-45' in a date column;
* ``duplicate_key``   - a copy of a clean row appended at the end of the file;
* ``impossible_date`` - a ``date_order`` pair violated (later date = earlier date - 1..30 days), or
                        a date before the column's minimum ('1850-01-01', e.g. birth_date);
* ``future_date``     - a date in 2031 in a ``not_in_future`` column (never the earlier side of a pair);
* ``unknown_code``    - 'XYZ' in a coded string column (allowed set or code pattern), 7 in a coded integer;
* ``negative_amount`` - a negative paid_amount;
* ``missing_column``  - one optional column (``medical_claim.procedure_code_1``) dropped from the file.

Primary-key columns are never altered, so every defect can be found by its key.  Each one is
listed in ``_manifest.json`` with its 1-based physical line (header = line 1).

Extracts are written through a ``LandingWriter``, so a generator working in member chunks
appends each chunk's rows to the same files (header once) and its defects' lines count the
rows earlier chunks wrote; ``duplicate_key`` copies then follow their own chunk's rows.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl

from data_contracts.spec import Contract

ID_PATTERN = "^[A-Za-z0-9_.-]{1,64}$"
MISSING_COLUMN = ("medical_claim", "procedure_code_1")
DECIMALS = {"svi_overall": 4, "svi_socioeconomic": 4, "svi_household": 4, "svi_minority": 4,
            "svi_housing_transport": 4, "result_value": 2, "quantity": 1}
DEFECT_CLASSES = ("malformed_row", "wrong_type", "duplicate_key", "impossible_date", "future_date",
                  "unknown_code", "negative_amount", "missing_column")
_POLARS = {"string": pl.Utf8, "integer": pl.Int64, "double": pl.Float64, "date": pl.Date}


def typed_frame(df: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """Exactly the contract's columns, in order, with the contract's types."""
    missing = [c for c in contract.column_names if c not in df.columns]
    if missing:
        raise ValueError(f"{contract.extract}: generator did not produce {missing}")
    return df.select([pl.col(c.name).cast(_POLARS[c.type]) for c in contract.columns])


def text_frame(df: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """All columns as the strings written to CSV (ISO dates, fixed decimals, '' for null)."""
    exprs = []
    for c in contract.columns:
        col = pl.col(c.name)
        if c.type == "date":
            e = col.cast(pl.Date).dt.to_string("%Y-%m-%d")
        elif c.type == "integer":
            e = col.cast(pl.Int64).cast(pl.Utf8)
        elif c.type == "double":
            k = DECIMALS.get(c.name, 2)
            scaled = (col.cast(pl.Float64) * 10**k).round(0).cast(pl.Int64)
            e = (scaled // 10**k).cast(pl.Utf8) + "." + (scaled % 10**k).cast(pl.Utf8).str.zfill(k)
        else:
            e = col.cast(pl.Utf8)
        exprs.append(e.fill_null("").alias(c.name))
    return df.select(exprs)


def _months(typed: pl.DataFrame, contract: Contract) -> pl.Series:
    """Landing month (YYYY-MM) of each row of a monthly extract."""
    return typed[contract.partition_by].dt.strftime("%Y-%m")


class LandingWriter:
    """Writes landing files, possibly in several calls per file (one per member chunk).

    The first write of a CSV file in a run creates it with its header; later writes append data
    lines, and ``data_lines`` says how many a file holds so far (defect line numbers continue
    from there).  Parquet cannot be appended: with ``chunked=True`` each write goes to a part
    under ``out_dir/_chunks/`` and ``finish()`` concatenates the parts, in order, into the one
    file per extract or month the landing layout allows, then removes ``_chunks``.
    """

    PARTS = "_chunks"

    def __init__(self, out_dir: Path, file_format: str = "csv", chunked: bool = False):
        self.out_dir = Path(out_dir)
        self.file_format = file_format
        self.chunked = chunked
        self.lines: dict[Path, int] = {}
        self.parts: dict[Path, list[Path]] = {}
        if chunked:
            shutil.rmtree(self.out_dir / self.PARTS, ignore_errors=True)

    def data_lines(self, path: Path) -> int:
        """Data lines already written to ``path`` in this run (0 for a file not yet written)."""
        return self.lines.get(Path(path), 0)

    def csv(self, path: Path, header: str, lines: pl.Series) -> None:
        path = Path(path)
        first = path not in self.lines
        with open(path, "wb" if first else "ab") as fh:
            if first:
                fh.write((header + "\n").encode())
            if len(lines):
                pl.DataFrame({"line": lines}).write_csv(fh, include_header=False, quote_style="never")
        self.lines[path] = self.lines.get(path, 0) + len(lines)

    def parquet(self, path: Path, frame: pl.DataFrame) -> None:
        path = Path(path)
        if not self.chunked:
            frame.write_parquet(path, statistics=False)
            return
        parts = self.parts.setdefault(path, [])
        part = self.out_dir / self.PARTS / path.relative_to(self.out_dir).with_suffix(f".{len(parts)}.parquet")
        part.parent.mkdir(parents=True, exist_ok=True)
        frame.write_parquet(part, statistics=False)
        parts.append(part)

    def oracle(self, name: str, frame: pl.DataFrame) -> None:
        """Append a chunk's rows to ``_oracle/<name>.csv`` (header with the first chunk)."""
        path = self.out_dir / "_oracle" / f"{name}.csv"
        first = path not in self.lines
        with open(path, "wb" if first else "ab") as fh:
            frame.write_csv(fh, include_header=first)
        self.lines[path] = self.lines.get(path, 0) + frame.height

    def finish(self) -> None:
        for path, parts in self.parts.items():
            pl.concat([pl.read_parquet(p) for p in parts]).write_parquet(path, statistics=False)
        if self.chunked:
            shutil.rmtree(self.out_dir / self.PARTS, ignore_errors=True)
        self.parts = {}


def write_extract(df: pl.DataFrame, contract: Contract, out_dir: Path, file_format: str,
                  writer: LandingWriter | None = None) -> int:
    """Write one extract: a single file, or one file per service month for monthly extracts
    (``<extract>/YYYY-MM.csv``), the layout files arrive in.  With a ``writer`` that has already
    written some of these files (an earlier member chunk), the rows are appended."""
    writer = writer or LandingWriter(out_dir, file_format)
    typed = typed_frame(df, contract)
    if contract.partition_by is None:
        if file_format == "parquet":
            writer.parquet(Path(out_dir) / f"{contract.extract}.parquet", typed)
        else:
            writer.csv(Path(out_dir) / f"{contract.extract}.csv", ",".join(contract.column_names),
                       _lines(text_frame(typed, contract)))
        return typed.height
    folder = Path(out_dir) / contract.extract
    folder.mkdir(parents=True, exist_ok=True)
    months = _months(typed, contract)
    if file_format == "parquet":
        for (month,), part in typed.with_columns(months.alias("_month")).partition_by("_month", as_dict=True).items():
            writer.parquet(folder / f"{month}.parquet", part.drop("_month"))
    else:
        _write_monthly(writer, folder, ",".join(contract.column_names), _lines(text_frame(typed, contract)), months)
    return typed.height


def _write_monthly(writer: LandingWriter, folder: Path, header: str, lines: pl.Series,
                   months: pl.Series) -> pl.DataFrame:
    """Write ``lines`` into ``folder/<month>.csv`` in order; return each line's file and 1-based
    physical line (after the lines earlier writes put in that file)."""
    placed = pl.DataFrame({"month": months, "line": lines}).with_columns(
        (pl.int_range(pl.len()).over("month") + 2).alias("file_line")
    )
    before = {month: writer.data_lines(folder / f"{month}.csv") for month in placed["month"].unique().to_list()}
    if any(before.values()):
        placed = placed.with_columns(
            pl.col("file_line") + pl.col("month").replace_strict(before, return_dtype=pl.Int64)
        )
    for (month,), part in placed.partition_by("month", as_dict=True, maintain_order=True).items():
        writer.csv(folder / f"{month}.csv", header, part["line"])
    return placed.select("month", "file_line")


def _lines(txt: pl.DataFrame) -> pl.Series:
    return txt.select(pl.concat_str(pl.all(), separator=",").alias("line")).to_series()


def _candidates(contract: Contract) -> dict[str, list]:
    key = set(contract.primary_key)
    later = {b for _a, b in contract.date_order}
    earlier = {a for a, _b in contract.date_order}
    out: dict[str, list] = {"malformed_row": [None], "duplicate_key": [None]}
    out["wrong_type"] = [c.name for c in contract.columns if c.type != "string" and c.name not in key]
    imp = [("pair", a, b) for a, b in contract.date_order]
    imp += [("min", c.name, None) for c in contract.columns
            if c.type == "date" and c.name not in later and c.name not in key and c.min is not None]
    out["impossible_date"] = imp
    out["future_date"] = [c.name for c in contract.columns
                          if c.type == "date" and c.not_in_future and c.name not in earlier and c.name not in key]
    out["unknown_code"] = [c.name for c in contract.columns if c.name not in key and (
        c.allowed is not None or (c.pattern is not None and c.pattern != ID_PATTERN))]
    out["negative_amount"] = ["paid_amount"] if "paid_amount" in contract.column_names else []
    return {k: v for k, v in out.items() if v}


def inject_defects(df: pl.DataFrame, contract: Contract, out_dir: Path, rate: float,
                   rng: np.random.Generator, win, writer: LandingWriter | None = None,
                   first: bool = True) -> tuple[int, list[dict]]:
    """Write ``contract.extract``.csv with about ``rate * rows`` defects; return (rows, manifest).

    With a ``writer`` the rows are appended after an earlier chunk's and the manifest's lines
    count those; ``first`` is False for later chunks, which do not list ``missing_column`` again."""
    writer = writer or LandingWriter(out_dir)
    typed = typed_frame(df, contract)
    txt = text_frame(typed, contract)
    n = txt.height
    extract = contract.extract
    manifest: list[dict] = []
    cands = _candidates(contract)
    if extract == MISSING_COLUMN[0]:  # never put a cell defect in the column that gets dropped
        cands = {k: [o for o in v if o != MISSING_COLUMN[1]] for k, v in cands.items()}
        cands = {k: v for k, v in cands.items() if v}
    classes = sorted(cands)
    n_def = int(np.floor(rate * n + rng.random()))
    per = np.full(len(classes), n_def // len(classes))
    per[rng.choice(len(classes), n_def % len(classes), replace=False)] += 1
    used = np.zeros(n, dtype=bool)
    cols = {c: txt[c] for c in txt.columns}
    changed: dict[str, dict[int, str]] = {}
    malformed: list[int] = []
    dup_src: list[int] = []
    col_min = {c.name: str(c.min) for c in contract.columns if c.type == "date" and c.min is not None}

    def take(k: int, ok: np.ndarray | None = None) -> np.ndarray:
        pool = ~used if ok is None else (~used & ok)
        idx = np.flatnonzero(pool)
        k = min(k, idx.size)
        pick = np.sort(rng.choice(idx, k, replace=False)) if k else np.zeros(0, dtype=np.int64)
        used[pick] = True
        return pick

    def setv(col: str, rows: np.ndarray, values) -> None:
        d = changed.setdefault(col, {})
        vals = np.broadcast_to(np.asarray(values, dtype=object), rows.shape)
        for r, v in zip(rows.tolist(), vals.tolist()):
            d[r] = v

    def record(defect: str, rows: np.ndarray, column: str | None) -> None:
        for r in rows.tolist():
            manifest.append({"extract": extract, "defect": defect, "line": r + 2, "key": None, "column": column,
                             "_row": r})

    for cls, k in zip(classes, per):
        if k == 0:
            continue
        options = cands[cls]
        which = rng.integers(0, len(options), k)
        for oi, opt in enumerate(options):
            kk = int((which == oi).sum())
            if kk == 0:
                continue
            if cls == "malformed_row":
                rows = take(kk)
                malformed.extend(rows.tolist())
                record(cls, rows, None)
            elif cls == "duplicate_key":
                rows = take(kk)
                dup_src.extend(rows.tolist())
            elif cls == "wrong_type":
                ctype = contract.column(opt).type
                rows = take(kk)
                bad = {"integer": ["abc", "1.5x"], "double": ["abc", "12.3.4"], "date": ["2024-13-45", "not-a-date"]}[ctype]
                setv(opt, rows, np.array(bad, dtype=object)[rng.integers(0, 2, rows.size)])
                record(cls, rows, opt)
            elif cls == "impossible_date":
                kind, a, b = opt
                if kind == "min":
                    rows = take(kk)
                    setv(a, rows, "1850-01-01")
                    record(cls, rows, a)
                else:
                    ea = cols[a].to_numpy()
                    okm = (ea != "") & (cols[b].to_numpy() != "")
                    rows = take(kk, okm)
                    delta = rng.integers(1, 31, rows.size)
                    newd = (ea[rows].astype("datetime64[D]") - delta).astype(str)
                    floor = col_min.get(b, "1900-01-01")
                    good = newd >= np.str_(floor)
                    used[rows[~good]] = False
                    rows, newd = rows[good], newd[good]
                    setv(b, rows, newd.astype(object))
                    record(cls, rows, b)
            elif cls == "future_date":
                rows = take(kk)
                days = rng.integers(0, 365, rows.size)
                setv(opt, rows, (np.datetime64("2031-01-01") + days).astype(str).astype(object))
                record(cls, rows, opt)
            elif cls == "unknown_code":
                rows = take(kk)
                setv(opt, rows, "7" if contract.column(opt).type == "integer" else "XYZ")
                record(cls, rows, opt)
            elif cls == "negative_amount":
                rows = take(kk)
                cur = cols[opt].gather(rows).to_numpy().astype(object)
                neg = np.where((cur == "") | (cur == "0.00"), "-12.50", np.char.add("-", cur.astype(str)))
                setv(opt, rows, neg.astype(object))
                record(cls, rows, opt)
    # apply cell changes
    for col, d in changed.items():
        if d:
            idx = np.fromiter(d.keys(), dtype=np.int64)
            s = cols[col].clone()
            s.scatter(idx, pl.Series(list(d.values()), dtype=pl.Utf8))
            cols[col] = s
    drop = None
    if (extract, MISSING_COLUMN[1]) == MISSING_COLUMN and MISSING_COLUMN[1] in cols:
        drop = MISSING_COLUMN[1]
    names = [c for c in contract.column_names if c != drop]
    out = pl.DataFrame({c: cols[c] for c in names})
    lines = _lines(out)
    if malformed:
        mi = np.array(sorted(malformed), dtype=np.int64)
        sub = lines.gather(mi)
        fewer = rng.random(mi.size) < 0.5
        fixed = pl.select(pl.when(pl.Series(fewer)).then(sub.str.replace(r",[^,]*$", ""))
                          .otherwise(sub + ",EXTRA")).to_series()
        lines = lines.clone()
        lines.scatter(mi, fixed)
    if dup_src:
        ds = np.array(dup_src, dtype=np.int64)
        lines = pl.concat([lines, lines.gather(ds)])
        for j, r in enumerate(ds.tolist()):
            manifest.append({"extract": extract, "defect": "duplicate_key", "line": n + 2 + j, "key": None,
                             "column": None, "_row": r})
    if contract.partition_by is None:
        path = Path(out_dir) / f"{extract}.csv"
        before = writer.data_lines(path)
        if before:
            for d in manifest:
                d["line"] += before
        writer.csv(path, ",".join(names), lines)
        placed = None
    else:
        folder = Path(out_dir) / extract
        folder.mkdir(parents=True, exist_ok=True)
        months = _months(typed, contract)
        if dup_src:
            months = pl.concat([months, months.gather(np.array(dup_src, dtype=np.int64))])
        placed = _write_monthly(writer, folder, ",".join(names), lines, months)
    # keys as written (key columns are never altered)
    if manifest:
        rows = np.array([d.pop("_row") for d in manifest], dtype=np.int64)
        keyvals = {k: cols[k].gather(rows).to_list() for k in contract.primary_key}
        for i, d in enumerate(manifest):
            d["key"] = {k: keyvals[k][i] for k in contract.primary_key}
            if placed is None:
                d["file"] = f"{extract}.csv"
            else:
                at = d["line"] - 2  # position among all written lines
                d["file"] = f"{extract}/{placed['month'][at]}.csv"
                d["line"] = int(placed["file_line"][at])
    if drop and first:
        manifest.append({"extract": extract, "defect": "missing_column", "line": 1, "key": None, "column": drop,
                         "file": extract if placed is not None else f"{extract}.csv"})
    manifest.sort(key=lambda d: (d["file"], d["line"]))
    return len(lines), manifest
