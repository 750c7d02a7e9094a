"""Load one landing file into ``raw.<extract>``, quarantining every row that breaks its contract.

The whole file is read as text, so a wrong type becomes a quarantined row rather than a
failed load; lines the CSV parser cannot split into the contract's columns become
``malformed_row`` quarantine rows with their original text. Good rows are cast to the
contract's types. ``raw`` and ``quarantine`` are replaced in one transaction, so a run
killed part-way leaves the previous tables as they were.

Monthly extracts are loaded in batches (``ingest_months``): many small month files are read in one
scan and written in one transaction, while every month keeps its own accounting (one
``audit.ingest_log`` row, its own breach decision, its own content hash), so a source whose dates
span decades does not pay one transaction per month.

Nothing here logs row contents: results carry counts and rule identifiers only.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from data_contracts.errors import RiskstratDataError
from data_contracts.rules import (
    classify_sql,
    compile_rules,
    duplicate_key_sql,
    partition_rule,
    quote_ident,
    typed_name,
    typed_select_list,
)
from data_contracts.spec import Contract

AUDIT_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.ingest_log (
    run_id VARCHAR,
    extract VARCHAR,
    source_file VARCHAR,
    file_sha256 VARCHAR,
    rows_read BIGINT,
    rows_loaded BIGINT,
    rows_quarantined BIGINT,
    status VARCHAR,
    missing_optional_columns VARCHAR,
    logged_at TIMESTAMP
);
ALTER TABLE audit.ingest_log ADD COLUMN IF NOT EXISTS partition VARCHAR;
"""


# A file breaches its contract only when it also has at least this many quarantined rows.
BREACH_MIN_ROWS = 5


class ContractBreach(RiskstratDataError):
    """An extract broke its contract past the threshold; the message names file, rule and count."""


class ExtractFileError(RiskstratDataError):
    """A landing file is missing, unreadable or lacks required columns."""


@dataclass(frozen=True)
class IngestResult:
    extract: str
    source_file: str
    file_sha256: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    quarantined_by_rule: dict[str, int]
    missing_optional_columns: tuple[str, ...] = ()
    extra_columns: tuple[str, ...] = ()
    source_lines_exact: bool = True
    breach_threshold: float = 0.05
    partition: str | None = None
    # True when the file matched the last load of its partition byte for byte: nothing was written.
    unchanged: bool = False

    @property
    def quarantine_rate(self) -> float:
        return self.rows_quarantined / self.rows_read if self.rows_read else 0.0

    @property
    def breached(self) -> bool:
        # A share alone would stop a run over one bad row in a 15-row month file.
        return self.quarantine_rate > self.breach_threshold and self.rows_quarantined >= BREACH_MIN_ROWS

    def breach_message(self) -> str:
        worst_rule, worst_count = max(self.quarantined_by_rule.items(), key=lambda kv: kv[1], default=("none", 0))
        return (
            f"{self.source_file}: {self.rows_quarantined} of {self.rows_read} rows "
            f"({self.quarantine_rate:.1%}) broke the {self.extract} contract, above its threshold of "
            f"{self.breach_threshold:.1%}; most common rule {worst_rule!r} ({worst_count} rows). "
            f"Rows are kept in quarantine.{self.extract} with their reasons; raw.{self.extract} was left unchanged."
        )


def _open_bytes(path: Path) -> io.BufferedReader:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # noqa: SIM115


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def csv_header(path: Path) -> list[str]:
    """The header of a landing CSV (plain or gzip; a UTF-8 BOM is dropped), names stripped."""
    with _open_bytes(path) as handle:
        first = handle.readline()
    try:
        header = next(csv.reader([first.decode("utf-8-sig")]))
    except (StopIteration, UnicodeDecodeError) as exc:
        raise ExtractFileError(f"{path.name}: cannot read a CSV header ({type(exc).__name__})", source=path.name) from None
    return [h.strip() for h in header]


def data_line_count(path: Path) -> int:
    """Physical lines after the header (a last line without a newline counts)."""
    newlines, last = 0, b"\n"
    # a truncated or corrupt gzip stream raises OSError/EOFError: callers say what it means for them
    with _open_bytes(path) as handle:
        handle.readline()
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return newlines + (0 if last == b"\n" else 1)


def parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    return [row[0] for row in con.execute("SELECT name FROM parquet_schema($path) WHERE name <> 'schema'",
                                          {"path": str(path)}).fetchall()]


def _file_facts(path: Path) -> tuple[str, int, list[str]]:
    """SHA-256 of the file, its count of physical data lines, and its CSV header.

    A plain file is read once for both the hash and the line count (a gzip file's hash is of its
    compressed bytes, its lines of the text inside, so it is read twice)."""
    header = csv_header(path)
    if path.name.endswith(".gz"):
        return _sha256(path), data_line_count(path), header
    digest, newlines, last, in_header = hashlib.sha256(), 0, b"\n", True
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 22), b""):
            digest.update(chunk)
            if in_header:
                # lines are counted after the header's own newline, as data_line_count does
                end = chunk.find(b"\n")
                if end < 0:
                    continue
                in_header, chunk = False, chunk[end + 1:]
                if not chunk:
                    continue
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return digest.hexdigest(), newlines + (0 if last == b"\n" else 1), header


def _parquet_facts(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, list[str]]:
    return _sha256(path), parquet_columns(con, path)


def _stage_read(con: duckdb.DuckDBPyConnection, contract: Contract, path: Path, header: list[str], stage: str, rejects: str) -> None:
    """Read the file as text into temp table ``stage`` (file order kept in rowid)."""
    if path.name.endswith(".parquet"):
        present = [c for c in contract.column_names if c in header]
        cols = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in present)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT {cols} FROM read_parquet($path)", {"path": str(path)})
        con.execute(f"CREATE OR REPLACE TEMP TABLE {rejects} (line BIGINT, csv_line VARCHAR)")
        return
    columns = "{" + ", ".join(f"'{h}': 'VARCHAR'" for h in header) + "}"
    con.execute(f"DROP TABLE IF EXISTS {rejects}_errors; DROP TABLE IF EXISTS {rejects}_scans")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {stage} AS
        SELECT * FROM read_csv($path, header = true, auto_detect = false, columns = {columns},
            delim = ',', quote = '"', escape = '"', store_rejects = true,
            rejects_table = '{rejects}_errors', rejects_scan = '{rejects}_scans')""",
        {"path": str(path)},
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {rejects} AS
        SELECT line, any_value(csv_line) AS csv_line FROM {rejects}_errors GROUP BY line"""
    )


def _latest_load(con: duckdb.DuckDBPyConnection, extract: str, partition: str | None) -> tuple | None:
    return con.execute(
        """SELECT file_sha256, rows_read, rows_loaded, rows_quarantined FROM audit.ingest_log
        WHERE extract = $extract AND partition IS NOT DISTINCT FROM $partition AND status = 'loaded'
        ORDER BY logged_at DESC LIMIT 1""",
        {"extract": extract, "partition": partition},
    ).fetchone()


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $s AND table_name = $t",
            {"s": schema, "t": table},
        ).fetchone()[0]
    )


def _ensure_tables(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create raw/quarantine tables of a partitioned extract, adding columns a newer contract declares."""
    name = quote_ident(contract.extract)
    raw_cols = [(c.name, c.duckdb_type) for c in contract.columns] + [("_partition", "VARCHAR")]
    quarantine_cols = [(c.name, "VARCHAR") for c in contract.columns] + list(QUARANTINE_META_COLUMNS)
    for schema, cols in (("raw", raw_cols), ("quarantine", quarantine_cols)):
        ddl = ", ".join(f"{quote_ident(n)} {t}" for n, t in cols)
        con.execute(f"CREATE TABLE IF NOT EXISTS {schema}.{name} ({ddl})")
        present = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = $s AND table_name = $t",
            {"s": schema, "t": contract.extract},
        ).fetchall()}
        for col, col_type in cols:
            if col not in present:
                con.execute(f"ALTER TABLE {schema}.{name} ADD COLUMN {quote_ident(col)} {col_type}")


QUARANTINE_META_COLUMNS = (
    ("_rule", "VARCHAR"),
    ("_reasons", "VARCHAR"),
    ("_source_line", "BIGINT"),
    ("_raw_line", "VARCHAR"),
    ("_source_file", "VARCHAR"),
    ("_partition", "VARCHAR"),
    ("_run_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP"),
)


def ingest_extract(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    path: Path,
    data_through: date,
    run_id: str = "",
    breach_threshold: float | None = None,
    partition: str | None = None,
) -> IngestResult:
    """Validate ``path`` against ``contract`` and load it into ``raw``/``quarantine``.

    Without ``partition`` the file is the whole extract and replaces both tables. With
    ``partition`` (``YYYY-MM``, for contracts with ``partition_by``) the file is one service
    month: it replaces only that month's rows, rows dated outside the month are quarantined,
    and keys already loaded from another month count as duplicates. A file whose SHA-256
    matches the last load of the same partition changes nothing.

    Raises ``ExtractFileError`` for unreadable files or missing required columns and
    ``ContractBreach`` when the quarantined share passes the threshold (quarantine is still
    written, raw is not). Both happen before anything is written, or inside one transaction.
    """
    threshold = contract.breach_threshold if breach_threshold is None else breach_threshold
    extract = contract.extract
    if partition is not None and contract.partition_by is None:
        raise ValueError(f"{extract} is not a monthly extract; it cannot be loaded by partition")
    if partition is None and contract.partition_by is not None:
        raise ValueError(f"{extract} arrives per month; pass the partition (YYYY-MM) of {path.name}")
    if partition is not None:
        outcome = ingest_months(con, contract, {partition: path}, data_through, run_id=run_id, breach_threshold=breach_threshold)
        if outcome.failures:
            raise outcome.failures[0][1]
        return outcome.results[0]
    is_parquet = path.name.endswith(".parquet")
    try:
        if is_parquet:
            sha, header = _parquet_facts(con, path)
            data_lines = None
        else:
            sha, data_lines, header = _file_facts(path)
    except (OSError, EOFError, duckdb.Error) as exc:
        raise ExtractFileError(f"{path.name}: the file is truncated or corrupt ({type(exc).__name__}); nothing was loaded") from None

    con.execute(AUDIT_DDL)
    previous = _latest_load(con, extract, partition)
    if previous is not None and previous[0] == sha and table_exists(con, "raw", extract):
        return IngestResult(
            extract=extract, source_file=path.name, file_sha256=sha, rows_read=previous[1], rows_loaded=previous[2],
            rows_quarantined=previous[3], quarantined_by_rule={}, breach_threshold=threshold, partition=partition,
            unchanged=True,
        )

    missing = [c for c in contract.column_names if c not in header]
    missing_required = [c for c in missing if contract.column(c).required]
    if missing_required:
        raise ExtractFileError(
            f"{path.name}: required column(s) {missing_required} missing from the {extract} extract; "
            f"the file has {len(header)} columns. Nothing was loaded."
        )
    extra = tuple(h for h in header if h not in contract.column_names)

    stage, rejects, classified = f"_stage_{extract}", f"_rejects_{extract}", f"_classified_{extract}"
    try:
        _stage_read(con, contract, path, header, stage, rejects)
    except duckdb.Error as exc:
        # DuckDB's own message can quote a line of the file: keep it out of logs.
        raise ExtractFileError(f"{path.name}: could not be parsed as {extract} ({type(exc).__name__}); nothing was loaded") from None

    fill_missing = "".join(f", NULL::VARCHAR AS {quote_ident(c)}" for c in missing)
    ordered = ", ".join(quote_ident(c) for c in contract.column_names)
    rules, params = compile_rules(contract, data_through, staged=True)
    source = f"(SELECT _row, {ordered} FROM (SELECT rowid AS _row, *{fill_missing} FROM {stage}))"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {classified} AS {classify_sql(contract, rules, source)}", params)
    con.execute(duplicate_key_sql(contract, classified))
    con.execute(f"DROP TABLE {stage}")  # classified holds every column: free the text copy before writing

    n_parsed, n_bad = con.execute(f"SELECT count(*), count(_rule) FROM {classified}").fetchone()
    n_rejected = con.execute(f"SELECT count(*) FROM {rejects}").fetchone()[0]
    rows_read = n_parsed + n_rejected
    lines_exact = data_lines is not None and data_lines == rows_read
    by_rule = dict(con.execute(f"SELECT _rule, count(*) FROM {classified} WHERE _rule IS NOT NULL GROUP BY 1 ORDER BY 1").fetchall())
    if n_rejected:
        by_rule["malformed_row"] = n_rejected

    result = IngestResult(
        extract=extract,
        source_file=path.name,
        file_sha256=sha,
        rows_read=rows_read,
        rows_loaded=n_parsed - n_bad,
        rows_quarantined=n_bad + n_rejected,
        quarantined_by_rule=by_rule,
        missing_optional_columns=tuple(missing),
        extra_columns=extra,
        source_lines_exact=lines_exact or is_parquet,
        breach_threshold=threshold,
        partition=partition,
    )

    # Physical line of a parsed row = its parsed ordinal + header + malformed lines before it;
    # only exact when every record sits on one line, which the line count above confirms.
    line_expr = (
        f"""c._row + 2 + (SELECT count(*) FROM (
                SELECT line - 2 - (row_number() OVER (ORDER BY line) - 1) AS good_before FROM {rejects}
            ) g WHERE g.good_before <= c._row)"""
        if lines_exact
        else ("c._row + 1" if is_parquet else "NULL::BIGINT")
    )
    text_cols = ", ".join(f"c.{quote_ident(col)}" for col in contract.column_names)
    null_cols = ", ".join(f"NULL::VARCHAR AS {quote_ident(col)}" for col in contract.column_names)
    quarantine_select = f"""
        SELECT {text_cols}, c._rule, c._reasons, ({line_expr})::BIGINT AS _source_line, NULL::VARCHAR AS _raw_line,
               $file AS _source_file, $partition::VARCHAR AS _partition, $run_id AS _run_id, $loaded_at AS _loaded_at
        FROM {classified} c WHERE c._rule IS NOT NULL
        UNION ALL
        SELECT {null_cols}, 'malformed_row', 'malformed_row', r.line, r.csv_line, $file, $partition, $run_id, $loaded_at
        FROM {rejects} r"""
    # the classified table is in file order (one streaming projection, insertion order kept): no sort
    raw_select = f"SELECT {typed_select_list(contract)} FROM {classified} WHERE _rule IS NULL"
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    meta = {"file": path.name, "run_id": run_id, "loaded_at": loaded_at, "partition": partition}
    name = quote_ident(extract)

    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw; CREATE SCHEMA IF NOT EXISTS quarantine;")
        con.execute(f"CREATE OR REPLACE TABLE quarantine.{name} AS {quarantine_select}", meta)
        if not result.breached:
            con.execute(f"CREATE OR REPLACE TABLE raw.{name} AS {raw_select}")
        con.execute(
            """INSERT INTO audit.ingest_log BY NAME SELECT $run_id AS run_id, $extract AS extract, $partition AS partition,
                $file AS source_file, $sha AS file_sha256, $read AS rows_read, $loaded AS rows_loaded,
                $quarantined AS rows_quarantined, $status AS status, $missing AS missing_optional_columns,
                $at AS logged_at""",
            {
                "run_id": run_id,
                "extract": extract,
                "partition": partition,
                "file": path.name,
                "sha": sha,
                "read": result.rows_read,
                "loaded": result.rows_loaded if not result.breached else 0,
                "quarantined": result.rows_quarantined,
                "status": "breach" if result.breached else "loaded",
                "missing": ",".join(result.missing_optional_columns),
                "at": loaded_at,
            },
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {stage}; DROP TABLE IF EXISTS {classified}")

    if result.breached:
        raise ContractBreach(result.breach_message())
    return result


def create_empty_raw_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """An empty, correctly typed ``raw.<extract>`` for a source that does not supply the extract."""
    cols = ", ".join(f"{quote_ident(c.name)} {c.duckdb_type}" for c in contract.columns)
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(f"CREATE OR REPLACE TABLE raw.{quote_ident(contract.extract)} ({cols})")


def create_empty_quarantine_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """An empty ``quarantine.<extract>`` with the columns a loaded one has, for an extract the source
    does not supply, so every table the ingest asset reports as materialised exists."""
    text_cols = ", ".join(f"{quote_ident(c)} VARCHAR" for c in contract.column_names)
    con.execute("CREATE SCHEMA IF NOT EXISTS quarantine")
    con.execute(f"CREATE OR REPLACE TABLE quarantine.{quote_ident(contract.extract)} ({text_cols}, _rule VARCHAR, "
                "_reasons VARCHAR, _source_line BIGINT, _raw_line VARCHAR, _source_file VARCHAR, _partition VARCHAR, "
                "_run_id VARCHAR, _loaded_at TIMESTAMP)")


# A batch reads at most this many month files, and this many bytes of them, in one scan and
# writes them in one transaction. Small months (decades of sparse history) share a batch. The byte
# cap bounds memory whatever the population: a batch is held as text, then classified (the text
# dropped once classified): peak RSS 1.7 GB with 250 MB batches at 200k members. Each batch also probes
# every raw row of the other months for keys already loaded, so at 1M members (about 37 MB per
# lab_result month) a 64 MB cap meant 36 probes of a raw table growing to 20M rows; at 256 MB it
# is 6 (issue 17).
MAX_BATCH_FILES = 500
MAX_BATCH_BYTES = 256 << 20


@dataclass(frozen=True)
class _MonthFile:
    month: str
    path: Path
    sha: str
    data_lines: int | None  # physical data lines (None for parquet)
    header: tuple[str, ...]
    size: int

    @property
    def is_parquet(self) -> bool:
        return self.path.name.endswith(".parquet")


@dataclass
class MonthsOutcome:
    """What ``ingest_months`` did: a result per month it read (loaded or unchanged) and the months that
    failed (truncated or corrupt file, missing required column, contract breach) with their error."""

    results: list[IngestResult] = field(default_factory=list)
    failures: list[tuple[str, RiskstratDataError]] = field(default_factory=list)
    batches: int = 0


def ensure_monthly_tables(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """``raw``/``quarantine`` tables of a monthly extract and ``audit.ingest_log``, created when missing
    (an extract with no month file yet still has an empty, typed table for the stages after it)."""
    con.execute(AUDIT_DDL)
    con.execute("CREATE SCHEMA IF NOT EXISTS raw; CREATE SCHEMA IF NOT EXISTS quarantine;")
    _ensure_tables(con, contract)


def ingest_months(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    files: Mapping[str, Path],
    data_through: date,
    run_id: str = "",
    breach_threshold: float | None = None,
) -> MonthsOutcome:
    """Load month files ``{YYYY-MM: path}`` of a monthly extract, many months per read and transaction.

    Per month the rules of a single-file load hold: a file whose SHA-256 matches the last load of its
    month changes nothing; a re-sent month replaces only that month's rows; a row dated outside its
    file's month, or a key loaded from another month (or an earlier month of the same batch), is
    quarantined; each month gets its own ``audit.ingest_log`` row and its own breach decision (a
    breached month keeps its previous ``raw`` rows). A file that cannot be read fails only its month:
    a batch whose scan fails is retried file by file. Failures are returned, not raised.
    """
    if contract.partition_by is None:
        raise ValueError(f"{contract.extract} is a whole-file extract; load it with ingest_extract")
    threshold = contract.breach_threshold if breach_threshold is None else breach_threshold
    outcome = MonthsOutcome()
    ensure_monthly_tables(con, contract)
    latest = {
        row[0]: row[1:]
        for row in con.execute(
            """SELECT partition, file_sha256, rows_read, rows_loaded, rows_quarantined FROM audit.ingest_log
            WHERE extract = $extract AND status = 'loaded' AND partition IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY partition ORDER BY logged_at DESC) = 1""",
            {"extract": contract.extract},
        ).fetchall()
    }
    pending: list[_MonthFile] = []
    for month in sorted(files):
        path = files[month]
        try:
            item = _month_file(con, path, month)
        except ExtractFileError as exc:
            outcome.failures.append((month, exc))
            continue
        previous = latest.get(month)
        if previous is not None and previous[0] == item.sha:
            outcome.results.append(IngestResult(
                extract=contract.extract, source_file=path.name, file_sha256=item.sha, rows_read=previous[1],
                rows_loaded=previous[2], rows_quarantined=previous[3], quarantined_by_rule={},
                breach_threshold=threshold, partition=month, unchanged=True,
            ))
            continue
        missing_required = [c for c in contract.required_columns if c not in item.header]
        if missing_required:
            outcome.failures.append((month, ExtractFileError(
                f"{path.name}: required column(s) {missing_required} missing from the {contract.extract} extract; "
                f"the file has {len(item.header)} columns. Nothing was loaded."
            )))
            continue
        pending.append(item)

    for batch in _batches(pending):
        try:
            results = _load_batch(con, contract, batch, data_through, run_id, threshold)
        except ExtractFileError as exc:
            if len(batch) == 1:
                outcome.failures.append((batch[0].month, exc))
                continue
            # one unreadable file fails the shared scan: load the batch file by file to isolate it
            results = []
            for item in batch:
                try:
                    results += _load_batch(con, contract, [item], data_through, run_id, threshold)
                except ExtractFileError as single:
                    outcome.failures.append((item.month, single))
                outcome.batches += 1
        else:
            outcome.batches += 1
        for result in results:
            if result.breached:
                outcome.failures.append((result.partition, ContractBreach(result.breach_message())))
            else:
                outcome.results.append(result)
    outcome.results.sort(key=lambda r: r.partition or "")
    outcome.failures.sort(key=lambda f: f[0])
    return outcome


def _month_file(con: duckdb.DuckDBPyConnection, path: Path, month: str) -> _MonthFile:
    try:
        if path.name.endswith(".parquet"):
            sha, header = _parquet_facts(con, path)
            data_lines = None
        else:
            sha, data_lines, header = _file_facts(path)
        size = path.stat().st_size
    except (OSError, EOFError, duckdb.Error) as exc:
        raise ExtractFileError(f"{path.name}: the file is truncated or corrupt ({type(exc).__name__}); nothing was loaded") from None
    return _MonthFile(month, path, sha, data_lines, tuple(header), size)


def _batches(items: list[_MonthFile]) -> list[list[_MonthFile]]:
    """Consecutive months with the same layout, up to MAX_BATCH_FILES files and MAX_BATCH_BYTES bytes."""
    batches: list[list[_MonthFile]] = []
    for item in items:
        last = batches[-1] if batches else None
        if (
            last is not None
            and (last[0].is_parquet, last[0].header) == (item.is_parquet, item.header)
            and len(last) < MAX_BATCH_FILES
            and sum(i.size for i in last) + item.size <= MAX_BATCH_BYTES
        ):
            last.append(item)
        else:
            batches.append([item])
    return batches


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    batch: list[_MonthFile],
    data_through: date,
    run_id: str,
    threshold: float,
) -> list[IngestResult]:
    """Read, classify and write the month files of one batch (one layout) in one transaction."""
    extract = contract.extract
    header = list(batch[0].header)
    is_parquet = batch[0].is_parquet
    stage, rejects, classified, months = (f"_stage_{extract}", f"_rejects_{extract}", f"_classified_{extract}",
                                          f"_months_{extract}")
    paths = [str(i.path) for i in batch]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {months} (file_index INTEGER, path VARCHAR, file VARCHAR, month VARCHAR)")
    con.execute(
        f"INSERT INTO {months} SELECT unnest($i), unnest($p), unnest($f), unnest($m)",
        {"i": list(range(len(batch))), "p": paths, "f": [i.path.name for i in batch], "m": [i.month for i in batch]},
    )
    try:
        if is_parquet:
            present = [c for c in contract.column_names if c in header]
            cols = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in present)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {stage} AS SELECT {cols}, file_index FROM read_parquet($paths)",
                {"paths": paths},
            )
            con.execute(f"CREATE OR REPLACE TEMP TABLE {rejects} (path VARCHAR, line BIGINT, csv_line VARCHAR)")
        else:
            columns = "{" + ", ".join(f"'{h}': 'VARCHAR'" for h in header) + "}"
            con.execute(f"DROP TABLE IF EXISTS {rejects}_errors; DROP TABLE IF EXISTS {rejects}_scans")
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {stage} AS
                SELECT *, file_index FROM read_csv($paths, header = true, auto_detect = false, columns = {columns},
                    delim = ',', quote = '"', escape = '"', store_rejects = true,
                    rejects_table = '{rejects}_errors', rejects_scan = '{rejects}_scans')""",
                {"paths": paths},
            )
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {rejects} AS
                SELECT s.file_path AS path, e.line, any_value(e.csv_line) AS csv_line
                FROM {rejects}_errors AS e JOIN {rejects}_scans AS s ON s.scan_id = e.scan_id AND s.file_id = e.file_id
                GROUP BY ALL"""
            )
    except duckdb.Error as exc:
        # DuckDB's own message can quote a line of the file: keep it out of logs.
        names = ", ".join(i.path.name for i in batch) if len(batch) <= 3 else f"one of {len(batch)} files"
        raise ExtractFileError(f"{names}: could not be parsed as {extract} ({type(exc).__name__}); nothing was loaded") from None

    try:
        missing = [c for c in contract.column_names if c not in header]
        fill_missing = "".join(f", NULL::VARCHAR AS {quote_ident(c)}" for c in missing)
        ordered = ", ".join(quote_ident(c) for c in contract.column_names)
        rules, params = compile_rules(contract, data_through, staged=True)
        rules = [*rules, partition_rule(contract, staged=True)]
        # A file's rows sit together in the stage, in file order (one scan, insertion order kept), so a
        # row's ordinal in its file is its rowid less the file's first rowid: no window, no sort.
        first_row = dict(con.execute(f"SELECT file_index, min(rowid) FROM {stage} GROUP BY 1").fetchall())
        # The file's month, name and first row are looked up from short lists rather than joined, so
        # classifying is one streaming projection and keeps the stage's order (a join may not).
        # (file_index: the file's position in the scan's list of paths, from 0)
        lookup = {"_months": [i.month for i in batch], "_files": [i.path.name for i in batch],
                  "_first": [first_row.get(n, 0) for n in range(len(batch))]}
        at = "s.file_index::INTEGER + 1"
        # _row: order across the batch (months in order, file order within); _file_row: ordinal in its file
        source = f"""(SELECT s.rowid AS _row, s.rowid - ($_first::BIGINT[])[{at}] AS _file_row,
                $_months[{at}] AS _partition, $_files[{at}] AS _file,
                {", ".join("s." + quote_ident(c) for c in contract.column_names)}
            FROM (SELECT rowid, *{fill_missing} FROM {stage}) AS s)"""
        con.execute(f"CREATE OR REPLACE TEMP TABLE {classified} AS {classify_sql(contract, rules, source)}",
                    {**params, **lookup})
        con.execute(f"DROP TABLE {stage}")  # classified holds every column: free the text copy before writing
        con.execute(duplicate_key_sql(contract, classified))
        _mark_cross_partition_duplicates(con, contract, classified, months)

        # one aggregate for every count of the batch: rows parsed per month and quarantined per rule
        parsed: dict[str, tuple[int, int]] = {}
        by_rule: dict[str, dict[str, int]] = {}
        for month, rule, n in con.execute(
            f"SELECT _partition, _rule, count(*) FROM {classified} GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall():
            n_all, n_bad = parsed.get(month, (0, 0))
            parsed[month] = (n_all + n, n_bad + (n if rule is not None else 0))
            if rule is not None:
                by_rule.setdefault(month, {})[rule] = n
        rejected = dict(con.execute(
            f"SELECT m.month, count(*) FROM {rejects} AS r JOIN {months} AS m ON m.path = r.path GROUP BY 1").fetchall())
        results = []
        for item in batch:
            n_parsed, n_bad = parsed.get(item.month, (0, 0))
            n_rejected = rejected.get(item.month, 0)
            month_rules = dict(by_rule.get(item.month, {}))
            if n_rejected:
                month_rules["malformed_row"] = n_rejected
            rows_read = n_parsed + n_rejected
            results.append(IngestResult(
                extract=extract, source_file=item.path.name, file_sha256=item.sha, rows_read=rows_read,
                rows_loaded=n_parsed - n_bad, rows_quarantined=n_bad + n_rejected, quarantined_by_rule=month_rules,
                missing_optional_columns=tuple(missing),
                extra_columns=tuple(h for h in header if h not in contract.column_names),
                source_lines_exact=is_parquet or item.data_lines == rows_read,
                breach_threshold=threshold, partition=item.month,
            ))
        exact = [r.partition for r in results if r.source_lines_exact]

        # Physical line of a parsed row = its ordinal in the file + header + malformed lines before it;
        # only exact when every record of the file sits on one line, which the line count confirms.
        line_expr = (
            "c._file_row + 1"
            if is_parquet
            else f"""CASE WHEN list_contains($exact, c._partition) THEN c._file_row + 2 + (
                    SELECT count(*) FROM _good_before g WHERE g.path = m.path AND g.good_before <= c._file_row)
                END"""
        )
        if not is_parquet:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _good_before AS
                SELECT path, line - 2 - (row_number() OVER (PARTITION BY path ORDER BY line) - 1) AS good_before
                FROM {rejects}"""
            )
        text_cols = ", ".join(f"c.{quote_ident(col)}" for col in contract.column_names)
        null_cols = ", ".join(f"NULL::VARCHAR AS {quote_ident(col)}" for col in contract.column_names)
        quarantine_select = f"""
            SELECT {text_cols}, c._rule, c._reasons, ({line_expr})::BIGINT AS _source_line, NULL::VARCHAR AS _raw_line,
                   c._file AS _source_file, c._partition, $run_id AS _run_id, $loaded_at AS _loaded_at
            FROM {classified} c JOIN {months} m ON m.month = c._partition WHERE c._rule IS NOT NULL
            UNION ALL
            SELECT {null_cols}, 'malformed_row', 'malformed_row', r.line, r.csv_line, m.file, m.month, $run_id, $loaded_at
            FROM {rejects} r JOIN {months} m ON m.path = r.path"""
        replace = [r.partition for r in results if not r.breached]
        # the classified table is in batch order (one streaming projection, insertion order kept): no sort
        raw_select = (f"SELECT {typed_select_list(contract)}, _partition FROM {classified} "
                      f"WHERE _rule IS NULL AND list_contains($replace, _partition)")
        loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
        name = quote_ident(extract)
        all_months = [i.month for i in batch]

        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM quarantine.{name} WHERE list_contains($months, _partition)", {"months": all_months})
            q_params: dict[str, object] = {"run_id": run_id, "loaded_at": loaded_at}
            if not is_parquet:
                q_params["exact"] = exact
            con.execute(f"INSERT INTO quarantine.{name} BY NAME {quarantine_select}", q_params)
            if replace:
                con.execute(f"DELETE FROM raw.{name} WHERE list_contains($months, _partition)", {"months": replace})
                con.execute(f"INSERT INTO raw.{name} BY NAME {raw_select}", {"replace": replace})
            con.execute(
                """INSERT INTO audit.ingest_log BY NAME
                SELECT $run_id AS run_id, $extract AS extract, unnest($partition) AS partition,
                    unnest($file) AS source_file, unnest($sha) AS file_sha256, unnest($read) AS rows_read,
                    unnest($loaded) AS rows_loaded, unnest($quarantined) AS rows_quarantined,
                    unnest($status) AS status, $missing AS missing_optional_columns, $at AS logged_at""",
                {
                    "run_id": run_id,
                    "extract": extract,
                    "partition": [r.partition for r in results],
                    "file": [r.source_file for r in results],
                    "sha": [r.file_sha256 for r in results],
                    "read": [r.rows_read for r in results],
                    "loaded": [0 if r.breached else r.rows_loaded for r in results],
                    "quarantined": [r.rows_quarantined for r in results],
                    "status": ["breach" if r.breached else "loaded" for r in results],
                    "missing": ",".join(missing),
                    "at": loaded_at,
                },
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {stage}; DROP TABLE IF EXISTS {classified}; DROP TABLE IF EXISTS _good_before")
    return results


def _mark_cross_partition_duplicates(con: duckdb.DuckDBPyConnection, contract: Contract, classified: str, months: str) -> None:
    """A clean row whose key is already loaded from a month outside this batch is a duplicate, not a second
    fact (months of the batch are being replaced, and duplicates within it were judged in file order)."""
    raw = f"raw.{quote_ident(contract.extract)}"
    # a first load (or a batch re-sending every loaded month) has nothing to compare against; the probe
    # would still hash every key of the batch
    if con.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {raw} WHERE _partition NOT IN (SELECT month FROM {months}))").fetchone()[0]:
        return
    keys = " AND ".join(
        f"r.{quote_ident(k)} = c.{typed_name(contract.column(k))}" for k in contract.primary_key
    )
    con.execute(
        f"""UPDATE {classified} c SET _rule = 'duplicate_key', _reasons = 'duplicate_key'
        WHERE c._rule IS NULL AND EXISTS (
            SELECT 1 FROM {raw} r
            WHERE r._partition NOT IN (SELECT month FROM {months}) AND {keys}
        )"""
    )
