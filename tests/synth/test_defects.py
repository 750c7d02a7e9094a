"""``dirty_rate``: every class is injected and every manifest line really carries its defect."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date

from data_contracts.spec import EXTRACTS, load_contract
import pytest

from synth.defects import DEFECT_CLASSES

# one run written at once, and one written in three member chunks (lines continue across chunks)
DIRTY_RUNS = pytest.mark.parametrize("run", ["dirty_small", "dirty_chunked"])


def _parse(value: str, ctype: str):
    if ctype == "integer":
        return int(value)
    if ctype == "double":
        return float(value)
    if ctype == "date":
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        return date.fromisoformat(value)
    return value


def _is_wrong_type(value: str, ctype: str) -> bool:
    try:
        _parse(value, ctype)
        return False
    except ValueError:
        return True


def _single_file_view(out, extract, defects):
    """An extract's lines as if written to one file (monthly files concatenated in month order,
    later headers dropped), with each defect's (file, line) translated to that view."""
    files = sorted((out / extract).glob("*.csv")) if (out / extract).is_dir() else [out / f"{extract}.csv"]
    lines: list[str] = []
    offset: dict[str, int] = {}
    for path in files:
        text = path.read_text().split("\n")
        assert text[-1] == ""
        rel = path.relative_to(out).as_posix()
        offset[rel] = len(lines) - 1 if lines else 0
        lines.extend(text[:-1] if not lines else text[1:-1])
    moved = []
    for d in defects:
        if d["defect"] == "missing_column":
            moved.append(d)
        else:
            moved.append({**d, "line": d["line"] + offset[d["file"]]})
    return lines, moved


@DIRTY_RUNS
def test_manifest_counts_and_lines(run, request):
    dirty_small = request.getfixturevalue(run)
    out = dirty_small.out_dir
    man = json.loads((out / "_manifest.json").read_text())
    defects = man["defects"]
    counts = Counter(d["defect"] for d in defects)
    assert set(counts) == set(DEFECT_CLASSES)
    assert all(v > 0 for v in counts.values())
    assert counts == dirty_small.defects
    assert sum(counts[c] for c in ("missing_column",)) == 1
    end = date.fromisoformat(dirty_small.window_end)
    by_extract: dict[str, list[dict]] = {}
    for d in defects:
        by_extract.setdefault(d["extract"], []).append(d)
    for extract in dirty_small.rows:
        c = load_contract(extract)
        lines, by_extract[extract] = _single_file_view(out, extract, by_extract.get(extract, []))
        assert len(lines) - 1 == dirty_small.rows[extract]
        header = lines[0].split(",")
        pos = {n: i for i, n in enumerate(header)}
        listed = {d["line"] for d in by_extract.get(extract, [])}
        # roughly rate * rows defects (small tables may get none)
        n_rows = len(lines) - 1
        assert len(listed) <= max(3, 0.04 * n_rows)
        if n_rows > 2000:
            assert len(listed) >= 0.01 * n_rows
        seen_keys = Counter()
        keys_at = {}
        for i, line in enumerate(lines[1:], start=2):
            f = line.split(",")
            if len(f) == len(header):
                k = tuple(f[pos[k]] for k in c.primary_key)
                seen_keys[k] += 1
                keys_at.setdefault(k, i)
            elif i not in listed:
                raise AssertionError(f"{extract} line {i} malformed but not in the manifest")
        for d in by_extract.get(extract, []):
            kind, col = d["defect"], d["column"]
            if kind == "missing_column":
                assert d["line"] == 1 and col not in header and not load_contract(extract).column(col).required
                continue
            f = lines[d["line"] - 1].split(",")
            if kind == "malformed_row":
                assert len(f) != len(header)
                continue
            assert len(f) == len(header), d
            assert {k: f[pos[k]] for k in c.primary_key} == d["key"]
            if kind == "duplicate_key":
                k = tuple(d["key"][k] for k in c.primary_key)
                assert seen_keys[k] >= 2 and keys_at[k] < d["line"]
                continue
            spec = c.column(col)
            v = f[pos[col]]
            if kind == "wrong_type":
                assert _is_wrong_type(v, spec.type), d
            elif kind == "impossible_date":
                dv = _parse(v, "date")
                broken = spec.min is not None and dv < spec.min_value()
                for a, b in c.date_order:
                    if col in (a, b) and f[pos[a]] and f[pos[b]]:
                        broken |= _parse(f[pos[a]], "date") > _parse(f[pos[b]], "date")
                assert broken, d
            elif kind == "future_date":
                assert _parse(v, "date") > end, d
            elif kind == "unknown_code":
                allowed = None if spec.allowed is None else {str(a) for a in spec.allowed}
                bad = (allowed is not None and v not in allowed) or (
                    spec.pattern is not None and not re.fullmatch(spec.pattern.strip("^$"), v))
                assert bad, d
            elif kind == "negative_amount":
                assert float(v) < 0, d
            else:
                raise AssertionError(kind)


@DIRTY_RUNS
def test_one_defect_per_line(run, request):
    dirty_small = request.getfixturevalue(run)
    man = json.loads((dirty_small.out_dir / "_manifest.json").read_text())
    lines = Counter((d["file"], d["line"]) for d in man["defects"])
    assert max(lines.values()) == 1
