"""What each scoring path (readmission, high need) produced in the latest run: ``audit.score_path``.

The two paths degrade separately: one can stop (no member snapshot at the as-of, say) while the
other still scores and lists. Each score step records here whether it scored, with how many rows
and by which model, or why it stopped (the same one sentence the run printed), so the intake list
can tell whether a score table belongs to this run's as-of and the program report can say what is
missing and why.

Grain: one row per path (``readmission`` / ``high_need``), replaced by each scoring attempt.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from features.sqlfiles import ensure_schema

PATH_TABLE = "audit.score_path"
PATHS: tuple[str, ...] = ("readmission", "high_need")
_DDL = (f"CREATE TABLE IF NOT EXISTS {PATH_TABLE} (path VARCHAR, as_of_date DATE, status VARCHAR, "
        "score_rows BIGINT, scored_by VARCHAR, detail VARCHAR, recorded_at TIMESTAMP)")


def record_path(con: duckdb.DuckDBPyConnection, path: str, as_of: dt.date, status: str, rows: int = 0,
                scored_by: str = "", detail: str = "") -> None:
    """Replace ``path``'s row: ``status`` is ``scored`` or ``failed`` (``detail``: the sentence)."""
    if path not in PATHS or status not in ("scored", "failed"):
        raise ValueError(f"unknown path {path!r} or status {status!r}")
    ensure_schema(con, "audit")
    con.execute(_DDL)
    con.execute(f"DELETE FROM {PATH_TABLE} WHERE path = $path", {"path": path})
    con.execute(f"INSERT INTO {PATH_TABLE} VALUES ($path, $as_of, $status, $rows, $by, $detail, now())",
                {"path": path, "as_of": as_of, "status": status, "rows": rows, "by": scored_by, "detail": detail})


def path_status(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every path's latest row (empty frame with the columns when nothing was recorded)."""
    exists = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'audit' "
                         "AND table_name = 'score_path'").fetchone()[0]
    if not exists:
        return pl.DataFrame(schema={"path": pl.String, "as_of_date": pl.Date, "status": pl.String,
                                    "score_rows": pl.Int64, "scored_by": pl.String, "detail": pl.String})
    return con.execute(f"SELECT path, as_of_date, status, score_rows, scored_by, detail FROM {PATH_TABLE} "
                       "ORDER BY path").pl()


def scored_for(con: duckdb.DuckDBPyConnection, path: str, as_of: dt.date) -> bool:
    """True when ``path`` scored successfully for ``as_of`` in its latest attempt."""
    status = path_status(con).filter((pl.col("path") == path) & (pl.col("as_of_date") == as_of)
                                     & (pl.col("status") == "scored"))
    return status.height > 0
