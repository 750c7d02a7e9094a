"""Row-level contract rules, compiled from a contract into one set-based DuckDB query.

Every rule is a SQL predicate that is TRUE when a row breaks it. A row that breaks any
rule goes to quarantine with the first rule it broke (``_rule``) and every rule it broke
(``_reasons``); the rest are cast to their contract types and loaded. Predicates are
written so that NULL never means "passes by accident": each one is wrapped in
``coalesce(..., false)`` only after its own null handling, and the conservation check
(rows read = loaded + quarantined) guards the split.

Identifiers come from the contract (a fixed, reviewed list); every value (bounds, code
lists, patterns, the data-through date) is bound as a named parameter.

Ingestion evaluates everything in one pass over the staged text (``classify_sql``): each typed
column is parsed once into ``_t_<column>`` (``typed_name``), every predicate reads those, each
predicate is evaluated once (the first broken rule is the head of the list of broken rules),
and the loaded rows are the typed columns as they stand (``typed_select_list``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from data_contracts.spec import ColumnSpec, Contract

# Strict lexical forms: DuckDB's casts are lenient (e.g. '1.5' casts to BIGINT 2).
INTEGER_FORM = r"^-?[0-9]{1,18}$"
DATE_FORM = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


@dataclass(frozen=True)
class Rule:
    rule_id: str
    column: str | None
    reason: str
    predicate: str  # TRUE when the row breaks the rule


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


TYPED_PREFIX = "_t_"


def typed_name(col: ColumnSpec) -> str:
    """The column holding ``col`` parsed to its contract type in a classified table (the text column itself
    for strings, which need no parsing)."""
    return quote_ident(col.name if col.type == "string" else TYPED_PREFIX + col.name)


def typed_value(col: ColumnSpec, text_expr: str | None = None) -> str:
    """SQL expression giving the column as its contract type, NULL when it does not parse."""
    ref = text_expr or quote_ident(col.name)
    if col.type == "string":
        return ref
    if col.type == "integer":
        return f"CASE WHEN regexp_full_match({ref}, '{INTEGER_FORM}') THEN TRY_CAST({ref} AS BIGINT) END"
    if col.type == "double":
        return f"CASE WHEN isfinite(TRY_CAST({ref} AS DOUBLE)) THEN TRY_CAST({ref} AS DOUBLE) END"
    if col.type == "date":
        return f"CASE WHEN regexp_full_match({ref}, '{DATE_FORM}') THEN TRY_CAST({ref} AS DATE) END"
    raise ValueError(f"unknown column type {col.type!r}")


class _Params:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def bind(self, value: object) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def compile_rules(contract: Contract, data_through: date, staged: bool = False) -> tuple[list[Rule], dict[str, object]]:
    """Rules for one contract, in the order they are reported, with their bound values.

    With ``staged`` the predicates read each column's parsed value from ``typed_name`` (as inside
    ``classify_sql``) instead of parsing the text again in every rule that needs it."""
    params = _Params()
    through: str | None = None
    rules: list[Rule] = []

    def typed_of(col: ColumnSpec) -> str:
        return typed_name(col) if staged else typed_value(col)

    for col in contract.columns:
        ident = quote_ident(col.name)
        typed = typed_of(col)
        if col.required and col.blank_allowed_when:
            # blank is accepted only on rows where every condition column matches its pattern
            exempt = " AND ".join(
                f"coalesce(regexp_full_match({quote_ident(other)}, {params.bind(pattern)}), false)"
                for other, pattern in col.blank_allowed_when
            )
            rules.append(Rule(
                f"not_null:{col.name}", col.name,
                f"{col.name} is required but blank (blank allowed only when "
                + " and ".join(f"{other} matches {pattern}" for other, pattern in col.blank_allowed_when) + ")",
                f"({ident} IS NULL AND NOT ({exempt}))",
            ))
        elif col.required:
            rules.append(Rule(f"not_null:{col.name}", col.name, f"{col.name} is required but blank", f"{ident} IS NULL"))
        if col.required_with:
            present = " OR ".join(f"{quote_ident(other)} IS NOT NULL" for other in col.required_with)
            rules.append(Rule(
                f"required_with:{col.name}", col.name,
                f"{col.name} is blank but {', '.join(col.required_with)} holds a value that needs it",
                f"({ident} IS NULL AND ({present}))",
            ))
        if col.type != "string":
            rules.append(
                Rule(
                    f"type:{col.name}",
                    col.name,
                    f"{col.name} is not a valid {col.type}",
                    f"({ident} IS NOT NULL AND ({typed}) IS NULL)",
                )
            )
        if col.allowed is not None:
            if col.type == "integer":
                allowed = params.bind([int(v) for v in col.allowed])
                pred = f"coalesce(NOT list_contains({allowed}::BIGINT[], ({typed})), false)"
            else:
                allowed = params.bind([str(v) for v in col.allowed])
                pred = f"coalesce(NOT list_contains({allowed}::VARCHAR[], {ident}), false)"
            rules.append(Rule(f"allowed_values:{col.name}", col.name, f"{col.name} holds a code outside the allowed set", pred))
        if col.pattern is not None:
            pattern = params.bind(col.pattern)
            rules.append(
                Rule(
                    f"pattern:{col.name}",
                    col.name,
                    f"{col.name} does not match the expected code format",
                    f"coalesce(NOT regexp_full_match({ident}, {pattern}), false)",
                )
            )
        if col.min is not None:
            low = params.bind(col.min_value())
            rules.append(
                Rule(f"range_min:{col.name}", col.name, f"{col.name} is below its minimum {col.min}", f"coalesce(({typed}) < {low}, false)")
            )
        if col.max is not None:
            high = params.bind(col.max_value())
            rules.append(
                Rule(f"range_max:{col.name}", col.name, f"{col.name} is above its maximum {col.max}", f"coalesce(({typed}) > {high}, false)")
            )
        if col.not_in_future:
            through = through or params.bind(data_through)
            rules.append(
                Rule(
                    f"future_date:{col.name}",
                    col.name,
                    f"{col.name} is after the data-through date",
                    f"coalesce(({typed}) > {through}, false)",
                )
            )
    for earlier, later in contract.date_order:
        a, b = contract.column(earlier), contract.column(later)
        rules.append(
            Rule(
                f"date_order:{earlier}<={later}",
                later,
                f"{later} is before {earlier}",
                f"coalesce(({typed_of(a)}) > ({typed_of(b)}), false)",
            )
        )
    return rules, params.values


def partition_rule(contract: Contract, staged: bool = False) -> Rule:
    """The rule a monthly file adds: every row's partition date falls in the month of the file it
    arrived in (the row's ``_partition`` column, set from the file, so one read can hold many months)."""
    column = contract.column(contract.partition_by)
    typed = typed_name(column) if staged else typed_value(column)
    return Rule(
        f"partition_month:{column.name}",
        column.name,
        f"{column.name} falls outside the month of the file it arrived in",
        f"coalesce(strftime(({typed}), '%Y-%m') <> _partition, false)",
    )


def rule_ids(contract: Contract) -> list[str]:
    """All rule identifiers a contract can report, including the file-level ones."""
    rules, _ = compile_rules(contract, date.today())
    return ["malformed_row", *[r.rule_id for r in rules], "duplicate_key"]


def classify_sql(contract: Contract, rules: list[Rule], source: str) -> str:
    """SELECT over ``source`` (text columns and ``_row``, the order rows arrived in) adding the parsed
    ``_t_<column>`` of every typed column, ``_rule`` (first broken rule, NULL when clean) and
    ``_reasons`` (every broken rule, in rule order). ``rules`` must be compiled with ``staged=True``.

    One projection, no sort and no window: rows leave in the order they came in. Duplicate keys
    are marked afterwards by ``duplicate_key_sql`` on the classified table.
    """
    parsed = "".join(f", {typed_value(c)} AS {typed_name(c)}" for c in contract.columns if c.type != "string")
    # each predicate once; the first broken rule is the head of the list of broken ones
    broken = "concat_ws('; ', " + ", ".join(f"CASE WHEN {r.predicate} THEN '{r.rule_id}' END" for r in rules) + ")" if rules else "''"
    return f"""
SELECT * EXCLUDE (_row_reasons),
    nullif(split_part(_row_reasons, '; ', 1), '') AS _rule,
    nullif(_row_reasons, '') AS _reasons
FROM (SELECT *, {broken} AS _row_reasons FROM (SELECT *{parsed} FROM {source}))
"""


def duplicate_key_sql(contract: Contract, classified: str) -> str:
    """UPDATE marking every clean row of ``classified`` whose typed key an earlier clean row (lower
    ``_row``) already has. Only rows that pass every other rule are judged, so a broken first copy
    does not push a good second copy into quarantine; the first clean copy in arrival order is kept.
    The keys that repeat are found by one aggregate (few groups survive ``HAVING``), and only those
    rows are touched."""
    keys = [typed_name(contract.column(k)) for k in contract.primary_key]
    match = " AND ".join(f"c.{k} IS NOT DISTINCT FROM d.{k}" for k in keys)
    return f"""
UPDATE {classified} AS c SET _rule = 'duplicate_key', _reasons = 'duplicate_key'
FROM (
    SELECT {", ".join(keys)}, min(_row) AS _first_row FROM {classified}
    WHERE _rule IS NULL GROUP BY ALL HAVING count(*) > 1
) AS d
WHERE c._rule IS NULL AND {match} AND c._row > d._first_row
"""


def typed_select_list(contract: Contract) -> str:
    """The contract's columns with their types, taken from the values ``classify_sql`` parsed."""
    return ",\n    ".join(f"{typed_name(c)} AS {quote_ident(c.name)}" for c in contract.columns)


def reason_text(contract: Contract, rule_id: str, data_through: date) -> str:
    if rule_id == "malformed_row":
        return "the line could not be parsed into the contract's columns"
    if rule_id == "duplicate_key":
        return f"another row already has this primary key ({', '.join(contract.primary_key)})"
    rules, _ = compile_rules(contract, data_through)
    for rule in rules:
        if rule.rule_id == rule_id:
            return rule.reason
    raise KeyError(rule_id)
