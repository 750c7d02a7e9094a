"""Load and run the named SQL files in ``features/sql/<schema>__<table>.sql``.

Only names that exist in that folder can be loaded, so a table name never comes from
user input; values are always bound as parameters (``$as_of``), never pasted in.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

SQL_DIR = Path(__file__).parent / "sql"
_NAME = re.compile(r"^[a-z_]+__[a-z0-9_]+$")


@cache
def load_sql(name: str) -> str:
    """Text of ``features/sql/<name>.sql``; ``name`` is ``<schema>__<table>``."""
    if not _NAME.match(name):
        raise ValueError(f"SQL file name {name!r} must look like <schema>__<table>")
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        known = sorted(p.stem for p in SQL_DIR.glob("*.sql"))
        raise FileNotFoundError(f"no SQL file {path}; known: {known}")
    return path.read_text(encoding="utf-8")


@contextmanager
def naming(name: str, part: str = "") -> Iterator[None]:
    """Add the SQL file (and part) to a DuckDB error raised inside, as a note the traceback and the
    benchmark print: an out-of-memory error does not say which statement it stopped."""
    try:
        yield
    except duckdb.Error as exc:
        exc.add_note(f"in features/sql/{name}.sql{f' ({part})' if part else ''}")
        raise


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Create the connection-local SQL macros in ``features/sql/macros__*.sql`` (subgroup bands, the
    KPI roll-up level and the case-open rule that several files share, so each is defined once)."""
    for path in sorted(SQL_DIR.glob("macros__*.sql")):
        con.execute(load_sql(path.stem))


def ensure_schema(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    if not re.fullmatch(r"[a-z_]+", schema):
        raise ValueError(f"bad schema name {schema!r}")
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")


def run_sql(con: duckdb.DuckDBPyConnection, name: str, params: dict[str, Any] | None = None) -> None:
    """Run one named SQL file (a single statement) with bound parameters."""
    ensure_schema(con, name.split("__", 1)[0])
    define_macros(con)
    with naming(name):
        con.execute(load_sql(name), params or {})


def sql_statements(name: str) -> list[str]:
    """The statements of a multi-statement file (a script), split after each code line ending in ';'."""
    statements, current = [], []
    for line in load_sql(name).splitlines(keepends=True):
        current.append(line)
        if not line.lstrip().startswith("--") and line.rstrip().endswith(";"):
            statements.append("".join(current))
            current = []
    if "".join(current).strip():
        statements.append("".join(current))
    return statements


def script_part(statement: str) -> str:
    """The temp table a script statement creates (``_mf_labs``), for error notes."""
    match = re.search(r"CREATE OR REPLACE TEMP TABLE (\w+)", statement)
    return match.group(1) if match else "statement"


def used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` that ``sql`` binds as ``$name`` (DuckDB rejects unused names)."""
    code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    names = set(re.findall(r"\$([a-z_][a-z0-9_]*)", code))
    return {k: v for k, v in params.items() if k in names}


def materialise_select(
    con: duckdb.DuckDBPyConnection, name: str, temp_table: str, params: dict[str, Any] | None = None
) -> None:
    """Run a SELECT-only SQL file into a connection-local temp table ``temp_table``.

    ``temp_table`` must be a plain identifier chosen by the calling module, never user input.
    """
    if not re.fullmatch(r"_?[a-z][a-z0-9_]*", temp_table):
        raise ValueError(f"bad temp table name {temp_table!r}")
    define_macros(con)  # as run_sql: a file may use the shared macros
    with naming(name):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {temp_table} AS\n{load_sql(name)}", params or {})


def table_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    if not re.fullmatch(r"[a-z_]+\.[a-z0-9_]+|_?[a-z][a-z0-9_]*", table):
        raise ValueError(f"bad table name {table!r}")
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
