"""One pipeline run per home folder at a time.

DuckDB lets one process write a database file; two CLI runs on the same home would take
turns per asset and interleave their work. A run therefore holds an exclusive lock on
``HOME/.run.lock`` from start to end; a second run fails at once with a clear message, or
waits for the first when asked to.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_NAME = ".run.lock"


class HomeBusyError(RuntimeError):
    """Another run holds the home folder."""


@contextmanager
def exclusive_home(home: Path, wait: bool = False) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK_NAME
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise HomeBusyError(
                f"another riskstrat run (pid {holder}) is using {home}; wait for it to finish or pass --wait"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
