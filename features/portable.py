"""The feature SQL files made portable: DuckDB text in, Spark SQL out, one statement at a time.

The files in ``features/sql`` are written for DuckDB and stay the single source. Before another
engine runs one, this module

1. parses it with sqlglot (``FeatureSQL``: DuckDB, with ``len()`` read as list length),
2. expands the macros: the scalar macros of ``macros__*.sql`` are inlined, the table macros a
   script defines at its top (``CREATE MACRO f(a) AS TABLE ...``) become subqueries,
3. applies ``REWRITES``, the one table of DuckDB-only constructs and what they become,
4. expands, with a ``columns`` callback that asks the target engine for a query's column names,
   the constructs that need a schema: ``SELECT * RENAME (...)``, ``f(COLUMNS(* EXCLUDE (...)))``
   and ``UNION ALL BY NAME``,
5. writes Spark SQL; ``$name`` parameters become ``:name`` markers the engine binds (never pasted).

Nothing here imports pyspark, so the rewrites are testable without Java.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB

from features.sqlfiles import SQL_DIR, load_sql, sql_statements

Columns = Callable[[exp.Query], list[str]]
"""Returns the output column names of a query (the engine analyses it; nothing is computed)."""


class FeatureSQL(DuckDB):
    """DuckDB as the feature SQL uses it. ``len(x)`` is read as the length of a list (the files use
    ``length()`` for strings); plain DuckDB parses both to one string-length node."""

    class Parser(DuckDB.Parser):
        FUNCTIONS = {**DuckDB.Parser.FUNCTIONS, "LEN": lambda args: exp.ArraySize(this=args[0])}


@dataclass(frozen=True)
class Macro:
    name: str
    params: tuple[str, ...]
    body: exp.Expression
    table: bool


@dataclass(frozen=True)
class Statement:
    """One statement of a file: ``kind`` 'table' (CREATE TABLE schema.t AS), 'temp' (CREATE TEMP
    TABLE t AS) or 'select' (a bare query: the caller names its target); ``query`` is portable
    DuckDB AST (macros expanded, REWRITES applied)."""

    kind: Literal["table", "temp", "select"]
    target: str | None
    query: exp.Query


# ---------------------------------------------------------------------------------------------
# REWRITES: every DuckDB-only construct the feature SQL uses that sqlglot does not carry over to
# Spark with the same meaning. Each entry: (what DuckDB says, what Spark gets, why).


def _arg_extreme(node: exp.Expression) -> exp.Expression:
    # DuckDB arg_min(a, b) skips rows whose a is NULL ("the first record that HAS one"); Spark's
    # min_by keeps them. Giving those rows a NULL ordering makes min_by skip them too. A row tuple
    # ordering (a, b) becomes a struct, which Spark orders field by field as DuckDB does.
    if not isinstance(node, (exp.ArgMin, exp.ArgMax)):
        return node
    value, order = node.this, node.expression
    if isinstance(order, exp.Tuple):
        order = exp.Struct(expressions=list(order.expressions))
    guarded = exp.Case(ifs=[exp.If(this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())),
                                   true=order)])
    return type(node)(this=value, expression=guarded)


def _date_sub_years(node: exp.Expression) -> exp.Expression:
    # DuckDB date_sub('year', a, b): complete years from a to b (an age), a date on the last day of
    # its month counting as a full month (born 29 Feb: one year old on 28 Feb). Spark has no
    # 3-argument date_sub; months_between treats two month-ends alike, so whole years are its
    # months / 12 truncated toward zero (tests/features/test_portable_spark.py checks a date grid).
    if not (isinstance(node, exp.Anonymous) and node.name.lower() == "date_sub" and len(node.expressions) == 3):
        return node
    part, start, end = node.expressions
    if not (isinstance(part, exp.Literal) and part.is_string and part.this.lower() in ("year", "years")):
        raise ValueError(f"date_sub({part.sql()}, ...): only 'year' has a Spark rewrite")
    months = exp.func("months_between", end, start)
    return exp.cast(exp.Div(this=months, expression=exp.Literal.number(12)), "BIGINT")


def _double_division(node: exp.Expression) -> exp.Expression:
    # DuckDB's a / b is DOUBLE for any numbers (decimals included: 1.0 / 3, 2 * 1000.0 / 3); Spark
    # keeps a DECIMAL quotient, rounded to its scale (ed_visits * 1000.0 / member_months to 6 places)
    if not isinstance(node, exp.Div) or (isinstance(node.this, exp.Cast) and node.this.is_type("double")):
        return node
    # the operands are rewritten here: transform() does not descend into the node it gets back
    return exp.Div(this=exp.cast(node.this.transform(_double_division), "DOUBLE"),
                   expression=node.expression.transform(_double_division))


def _double_avg(node: exp.Expression) -> exp.Expression:
    # DuckDB's avg() is DOUBLE for every input; Spark's avg of a DECIMAL is a DECIMAL with 4 more
    # places (avg(CASE ... THEN 1.0 ELSE 0.0 END) = 0.66667, not 0.666...)
    if not isinstance(node, exp.Avg) or (isinstance(node.this, exp.Cast) and node.this.is_type("double")):
        return node
    return exp.Avg(this=exp.cast(node.this.transform(_double_avg), "DOUBLE"))


def _ordered_list(node: exp.Expression) -> exp.Expression:
    # sqlglot writes list(x ORDER BY x) as collect_list(x) and drops the ORDER BY (Spark's
    # collect_list has no order). Sorted by the value itself, ascending, it is array_sort of the list;
    # any other order has no portable form and stops here rather than lose the order.
    if not (isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order)):
        return node
    order = node.this
    value = order.this.expressions[0] if isinstance(order.this, exp.Distinct) else order.this
    keys = order.expressions
    if len(keys) != 1 or keys[0].args.get("desc") or keys[0].this != value:
        raise ValueError(f"{node.sql(dialect='duckdb')}: only list(x ORDER BY x) has a Spark rewrite")
    return exp.ArraySort(this=exp.ArrayAgg(this=order.this.copy()))


def _series_table(node: exp.Expression) -> exp.Expression:
    # DuckDB's FROM generate_series(a, b, step) AS t(m) (b included, no rows when a > b); sqlglot
    # writes an EXPLODE table call Spark cannot resolve. A generator in a one-row SELECT does it; the
    # CASE gives no rows where Spark's sequence() would raise (a > b). m is a DATE on Spark, a
    # TIMESTAMP on DuckDB: the files cast it to DATE before use.
    if not (isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries)):
        return node
    alias = node.args.get("alias")
    if alias is None or len(alias.columns) != 1:
        raise ValueError("generate_series in FROM needs an alias naming its column: AS t(m)")
    series = node.this
    start, end, step = series.args["start"], series.args["end"], series.args.get("step")
    if series.args.get("is_end_exclusive"):
        raise ValueError("range() (end excluded) has no Spark rewrite; use generate_series")
    sequence = exp.func("sequence", start.copy(), end.copy(), *([step.copy()] if step is not None else []))
    values = exp.Case(ifs=[exp.If(this=exp.LTE(this=start.copy(), expression=end.copy()), true=sequence)])
    select = exp.select(exp.alias_(exp.func("explode", values), alias.columns[0].name))
    return exp.Subquery(this=select, alias=exp.TableAlias(this=exp.to_identifier(alias.name)))


def _quantile_cont(node: exp.Expression) -> exp.Expression:
    # DuckDB quantile_cont(x, q): the interpolated quantile; Spark's percentile(x, q) is the same
    # (exact, linear interpolation); sqlglot writes percentile_cont(x, q), which Spark rejects
    if not isinstance(node, exp.PercentileCont) or node.expression is None:
        return node
    return exp.Anonymous(this="percentile", expressions=[node.this.transform(_quantile_cont), node.expression.copy()])


REWRITES: tuple[tuple[str, str, Callable[[exp.Expression], exp.Expression]], ...] = (
    ("arg_min(a, b) / arg_max(a, b)", "min_by(a, CASE WHEN a IS NOT NULL THEN b END)", _arg_extreme),
    ("date_sub('year', a, b)", "CAST(months_between(b, a) / 12 AS BIGINT)", _date_sub_years),
    ("a / b", "CAST(a AS DOUBLE) / b", _double_division),
    ("avg(x)", "avg(CAST(x AS DOUBLE))", _double_avg),
    ("list([DISTINCT] x ORDER BY x)", "array_sort(collect_list([DISTINCT] x))", _ordered_list),
    ("quantile_cont(x, q)", "percentile(x, q)", _quantile_cont),
    ("FROM generate_series(a, b, s) AS t(m)",
     "FROM (SELECT explode(CASE WHEN a <= b THEN sequence(a, b, s) END) AS m) AS t", _series_table),
)
"""(DuckDB, Spark, rewrite). Also, outside this table: ``len(x)`` -> ``size(x)`` (the parser,
``FeatureSQL``), ``CREATE MACRO`` (``expand_macros``), ``* RENAME``, ``COLUMNS(* EXCLUDE)`` and
``UNION ALL BY NAME`` (``expand_by_schema``, they need column names)."""


# ---------------------------------------------------------------------------------------------
# Macros


def _macro(create: exp.Create) -> Macro:
    udf = create.this
    table = isinstance(create.expression, exp.Query)
    return Macro(udf.this.name.lower(), tuple(p.name.lower() for p in udf.expressions), create.expression, table)


def shared_macros() -> dict[str, Macro]:
    """The scalar macros of ``features/sql/macros__*.sql`` by name."""
    out: dict[str, Macro] = {}
    for path in sorted(SQL_DIR.glob("macros__*.sql")):
        tree = sqlglot.parse_one(load_sql(path.stem), dialect=FeatureSQL)
        macro = _macro(tree)
        out[macro.name] = macro
    return out


def _substitute(macro: Macro, args: list[exp.Expression]) -> exp.Expression:
    if len(args) != len(macro.params):
        raise ValueError(f"macro {macro.name} takes {len(macro.params)} arguments, got {len(args)}")
    bound = dict(zip(macro.params, args, strict=True))

    def swap(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in bound:
            return exp.paren(bound[node.name.lower()].copy(), copy=False)
        return node

    return macro.body.copy().transform(swap)


def expand_macros(tree: exp.Expression, macros: dict[str, Macro]) -> exp.Expression:
    """Inline scalar macro calls ``f(x, y)`` and replace table macro calls ``FROM f(x, y)`` by the
    macro's query as a subquery (aliased with the call's alias, else the macro's name)."""

    def expand(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and (m := macros.get(node.name.lower())) and not m.table:
            return exp.paren(_substitute(m, list(node.expressions)), copy=False)
        if isinstance(node, exp.Table) and isinstance(node.this, exp.Anonymous):
            call = node.this
            if (m := macros.get(call.name.lower())) and m.table:
                alias = node.alias or m.name
                return exp.Subquery(this=_substitute(m, list(call.expressions)), alias=exp.TableAlias(this=exp.to_identifier(alias)))
        return node

    return tree.transform(expand)


# ---------------------------------------------------------------------------------------------
# Statements


def make_portable(tree: exp.Expression, macros: dict[str, Macro] | None = None) -> exp.Expression:
    """``tree`` with its macros expanded (default: the shared ones) and every ``REWRITES`` entry applied."""
    tree = expand_macros(tree, shared_macros() if macros is None else macros)
    for _, _, rewrite in REWRITES:
        tree = tree.transform(rewrite)
    return tree


def portable_statements(name: str) -> list[Statement]:
    """The statements of ``features/sql/<name>.sql``, macros expanded and ``REWRITES`` applied;
    macro definitions are consumed, not returned."""
    macros = shared_macros()
    out: list[Statement] = []
    for text in sql_statements(name):
        tree = sqlglot.parse_one(text, dialect=FeatureSQL)
        if isinstance(tree, exp.Create) and (tree.args.get("kind") or "").upper() == "MACRO":
            macro = _macro(tree)
            macros[macro.name] = macro
            continue
        tree = make_portable(tree, macros)
        if isinstance(tree, exp.Create) and (tree.args.get("kind") or "").upper() == "TABLE":
            temp = any(isinstance(p, exp.TemporaryProperty) for p in (tree.args.get("properties") or exp.Properties()).expressions)
            target = tree.this.sql(dialect=FeatureSQL)
            out.append(Statement("temp" if temp else "table", target, tree.expression))
        elif isinstance(tree, exp.Query):
            out.append(Statement("select", None, tree))
        else:
            raise ValueError(f"features/sql/{name}.sql: no portable form for {tree.key} statements")
    return out


# ---------------------------------------------------------------------------------------------
# Schema-dependent expansion


def _with_needed_ctes(fragment: exp.Query, root: exp.Query) -> exp.Query:
    """``fragment`` with the root's CTEs it reads (transitively, in their order) attached."""
    ctes = {c.alias_or_name: c for c in (root.args.get("with_") or exp.With()).expressions}
    needed: set[str] = set()
    stack = [fragment]
    while stack:
        for table in stack.pop().find_all(exp.Table):
            if not table.db and table.name in ctes and table.name not in needed:
                needed.add(table.name)
                stack.append(ctes[table.name].this)
    query = fragment.copy()
    keep = [ctes[n].copy() for n in ctes if n in needed]
    if keep:
        query.set("with_", exp.With(expressions=keep))
    return query


def _source_columns(select: exp.Select, root: exp.Query, columns: Columns) -> list[str]:
    if select.args.get("joins"):
        raise ValueError("a star with modifiers over a join has no portable expansion; name the columns")
    source = exp.select("*").from_(select.args["from_"].this.copy())
    return columns(_with_needed_ctes(source, root))


def _by_name_branches(union: exp.Union) -> list[exp.Query]:
    left = union.this
    branches = _by_name_branches(left) if isinstance(left, exp.Union) and left.args.get("by_name") else [left]
    return [*branches, union.expression]


def _expand_union_by_name(union: exp.Union, root: exp.Query, columns: Columns) -> exp.Query:
    branches = _by_name_branches(union)
    names = [columns(_with_needed_ctes(b, root)) for b in branches]
    order: list[str] = []
    for cols in names:
        order += [c for c in cols if c not in order]
    rebuilt: exp.Query | None = None
    for i, (branch, cols) in enumerate(zip(branches, names, strict=True)):
        projection = [exp.column(c) if c in cols else exp.alias_(exp.Null(), c) for c in order]
        part = exp.select(*projection).from_(exp.Subquery(this=branch.copy(), alias=exp.TableAlias(this=exp.to_identifier(f"_by_name_{i}"))))
        rebuilt = part if rebuilt is None else exp.union(rebuilt, part, distinct=bool(union.args.get("distinct")))
    assert rebuilt is not None
    return rebuilt


def _expand_star_rename(select: exp.Select, root: exp.Query, columns: Columns) -> None:
    projection: list[exp.Expression] = []
    for item in select.expressions:
        if isinstance(item, exp.Star) and item.args.get("rename"):
            renames = {a.this.name: a.alias for a in item.args["rename"]}
            excluded = {c.name for c in item.args.get("except_") or []}
            for c in _source_columns(select, root, columns):
                if c not in excluded:
                    projection.append(exp.alias_(exp.column(c), renames[c]) if c in renames else exp.column(c))
        else:
            projection.append(item)
    select.set("expressions", projection)


def _expand_columns(select: exp.Select, root: exp.Query, columns: Columns) -> None:
    projection: list[exp.Expression] = []
    for item in select.expressions:
        found = item.find(exp.Columns)
        if found is None:
            projection.append(item)
            continue
        star = found.this
        if not isinstance(star, exp.Star):
            raise ValueError("COLUMNS() with a pattern has no portable expansion; use COLUMNS(* EXCLUDE (...))")
        excluded = {c.name for c in star.args.get("except_") or []}
        for c in _source_columns(select, root, columns):
            if c not in excluded:
                one = item.copy()
                one.find(exp.Columns).replace(exp.column(c))
                projection.append(exp.alias_(one.unalias() if isinstance(one, exp.Alias) else one, c))
    select.set("expressions", projection)


def expand_by_schema(query: exp.Query, columns: Columns) -> exp.Query:
    """Expand ``UNION [ALL] BY NAME``, ``SELECT * RENAME (...)`` and ``f(COLUMNS(* EXCLUDE (...)))``
    into explicit column lists (innermost first), asking ``columns`` for the names they cover."""
    root = query.copy()
    while True:
        targets = [n for n in root.walk() if _needs_schema(n)]
        if not targets:
            return root
        node = max(targets, key=lambda n: n.depth)
        if isinstance(node, exp.Union):
            replacement = _expand_union_by_name(node, root, columns)
            if node is root:
                root = replacement
            else:
                node.replace(replacement)
        elif any(isinstance(i, exp.Star) and i.args.get("rename") for i in node.expressions):
            _expand_star_rename(node, root, columns)
        else:
            _expand_columns(node, root, columns)


def _needs_schema(node: exp.Expression) -> bool:
    if isinstance(node, exp.Union) and node.args.get("by_name"):
        return True
    if isinstance(node, exp.Select):
        return any((isinstance(i, exp.Star) and i.args.get("rename")) or i.find(exp.Columns) is not None
                   for i in node.expressions)
    return False


def to_spark(query: exp.Query, columns: Columns) -> str:
    """Spark SQL text of a portable query (``$name`` parameters as ``:name`` markers)."""
    return expand_by_schema(query, columns).sql(dialect="spark")


def spark_fragment(query: exp.Query) -> str:
    """Spark SQL of a query that holds no schema-dependent construct (for the ``columns`` callback)."""
    return query.sql(dialect="spark")
