"""Load one landing file into ``raw.<extract>``, quarantining every row that breaks its contract.

The whole file is read as text, so a wrong type becomes a quarantined row rather than a
failed load; lines the CSV parser cannot split into the contract's columns become
``malformed_row`` quarantine rows with their original text. Good rows are cast to the
contract's types. ``raw`` and ``quarantine`` are replaced in one transaction, so a run
killed part-way leaves the previous tables as they were.

Nothing here logs row contents: results carry counts and rule identifiers only.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb

from data_contracts.errors import RiskstratDataError
from data_contracts.rules import classify_sql, compile_rules, partition_rules, quote_ident, typed_select_list, typed_value
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


def _file_facts(path: Path) -> tuple[str, int, list[str]]:
    """SHA-256 of the file, its count of physical data lines, and its CSV header."""
    digest = hashlib.sha256()
    newlines = 0
    last = b"\n"
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 22), b""):
            digest.update(chunk)
    with _open_bytes(path) as handle:
        first = handle.readline()
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    data_lines = newlines + (0 if last == b"\n" else 1)
    try:
        header = next(csv.reader([first.decode("utf-8-sig")]))
    except (StopIteration, UnicodeDecodeError) as exc:
        raise ExtractFileError(f"{path.name}: cannot read a CSV header ({type(exc).__name__})") from None
    return digest.hexdigest(), data_lines, [h.strip() for h in header]


def _parquet_facts(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[str, list[str]]:
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 22), b""):
            digest.update(chunk)
    names = [row[0] for row in con.execute("SELECT name FROM parquet_schema($path) WHERE name <> 'schema'", {"path": str(path)}).fetchall()]
    return digest.hexdigest(), names


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
    rules, params = compile_rules(contract, data_through)
    if partition is not None:
        month_rule, month_params = partition_rules(contract, partition, len(params))
        rules, params = [*rules, *month_rule], {**params, **month_params}
    source = f"(SELECT _row, {ordered} FROM (SELECT rowid AS _row, *{fill_missing} FROM {stage}))"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {classified} AS {classify_sql(contract, rules, source)}", params)
    if partition is not None:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw; CREATE SCHEMA IF NOT EXISTS quarantine;")
        _ensure_tables(con, contract)
        _mark_cross_partition_duplicates(con, contract, classified, partition)

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
    raw_select = f"SELECT {typed_select_list(contract)} FROM {classified} WHERE _rule IS NULL ORDER BY _row"
    loaded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    meta = {"file": path.name, "run_id": run_id, "loaded_at": loaded_at, "partition": partition}
    name = quote_ident(extract)

    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw; CREATE SCHEMA IF NOT EXISTS quarantine;")
        if partition is None:
            con.execute(f"CREATE OR REPLACE TABLE quarantine.{name} AS {quarantine_select}", meta)
            if not result.breached:
                con.execute(f"CREATE OR REPLACE TABLE raw.{name} AS {raw_select}")
        else:
            con.execute(f"DELETE FROM quarantine.{name} WHERE _partition = $partition", {"partition": partition})
            con.execute(f"INSERT INTO quarantine.{name} BY NAME {quarantine_select}", meta)
            if not result.breached:
                con.execute(f"DELETE FROM raw.{name} WHERE _partition = $partition", {"partition": partition})
                con.execute(
                    f"INSERT INTO raw.{name} BY NAME SELECT *, $partition AS _partition FROM ({raw_select})",
                    {"partition": partition},
                )
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


def _mark_cross_partition_duplicates(con: duckdb.DuckDBPyConnection, contract: Contract, classified: str, partition: str) -> None:
    """A clean row whose key was already loaded from another month is a duplicate, not a second fact."""
    keys = " AND ".join(
        f"r.{quote_ident(k)} = ({typed_value(contract.column(k), 'c.' + quote_ident(k))})" for k in contract.primary_key
    )
    con.execute(
        f"""UPDATE {classified} c SET _rule = 'duplicate_key', _reasons = 'duplicate_key'
        WHERE c._rule IS NULL AND EXISTS (
            SELECT 1 FROM raw.{quote_ident(contract.extract)} r WHERE r._partition <> $partition AND {keys}
        )""",
        {"partition": partition},
    )


def create_empty_raw_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """An empty, correctly typed ``raw.<extract>`` for a source that does not supply the extract."""
    cols = ", ".join(f"{quote_ident(c.name)} {c.duckdb_type}" for c in contract.columns)
    con.execute("CREATE SCHEMA IF NOT EXISTS raw")
    con.execute(f"CREATE OR REPLACE TABLE raw.{quote_ident(contract.extract)} ({cols})")
