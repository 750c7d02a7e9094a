"""The one error type for problems in the data a user brings.

A ``RiskstratDataError`` says, in one sentence, what is wrong, in which file or table and
column, and what to do about it. Libraries (adapters, contracts, features, models, reports)
raise it; the Dagster assets turn it into a step failure carrying the same sentence as
metadata; the CLI prints the sentence and exits 2 without a traceback (``--debug`` shows one).
Anything else that escapes is a bug in riskstrat, not in the data.

Messages name files, tables, columns, rules and counts; never row contents (member data is PHI).
"""

from __future__ import annotations


class RiskstratDataError(Exception):
    """A data problem the user can fix: the message names the file/table, the column and what to do.

    ``source`` (file or table) and ``column`` are kept as attributes for run metadata.
    """

    def __init__(self, message: str, *, source: str | None = None, column: str | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.column = column

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""
