"""Small helpers the generator's modules share: named random streams, categorical draws, ids that
stay unique across member chunks, a chunk's share of a population count and the data window."""

from __future__ import annotations

import zlib

import numpy as np
import polars as pl


def _rng(seed: int | tuple[int, int], name: str) -> np.random.Generator:
    """The named random stream of a run (``seed``) or of member chunk k >= 1 of it (``(seed, k)``).
    Chunk 0 draws the run's own streams, so a one-chunk run is the unchunked generator."""
    if isinstance(seed, tuple):
        base, chunk = seed
        if chunk:
            return np.random.default_rng([base, zlib.crc32(name.encode()), chunk])
        seed = base
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _choice(rng, values: np.ndarray, p, size: int) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    idx = np.searchsorted(np.cumsum(p / p.sum()), rng.random(size), side="right")
    return np.asarray(values)[np.minimum(idx, len(p) - 1)]


def _row_choice(rng, weights: np.ndarray) -> np.ndarray:
    """One categorical draw per row of a (n, k) weight matrix."""
    cw = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cw[:, -1]
    return np.minimum((cw < u[:, None]).sum(axis=1), weights.shape[1] - 1)


def _ids(prefix: str, idx: np.ndarray, width: int) -> pl.Series:
    s = pl.Series(np.asarray(idx, dtype=np.int64)).cast(pl.Utf8).str.zfill(width)
    return pl.select(pl.lit(prefix) + s).to_series()


class _IdSpace:
    """Row ids that stay unique across member chunks: chunk k numbers each id family after every
    id of that family in chunks 0..k-1, and its members after theirs (P ids are member ranges)."""

    def __init__(self):
        self.base: dict[str, int] = {}
        self.used: dict[str, int] = {}

    def start_chunk(self, first_member: int) -> None:
        for prefix, used in self.used.items():
            self.base[prefix] = self.base.get(prefix, 0) + used
        self.used = {}
        self.base["P"] = first_member

    def __call__(self, prefix: str, idx: np.ndarray, width: int) -> pl.Series:
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size and prefix != "P":
            self.used[prefix] = max(self.used.get(prefix, 0), int(idx.max()) + 1)
        base = self.base.get(prefix, 0)
        return _ids(prefix, idx + base if base else idx, width)


class _Share:
    """A member chunk's part of a whole-population count: members [lo, hi) of n get
    round(total * hi / n) - round(total * lo / n), so the chunks' parts add up to the total
    exactly (one chunk gets all of it)."""

    def __init__(self, lo: int, hi: int, n: int):
        self.lo, self.hi, self.n = lo, hi, n

    def __call__(self, total: int) -> int:
        return int(round(total * self.hi / self.n)) - int(round(total * self.lo / self.n))


class _Window:
    def __init__(self, start: str, months: int):
        m0 = np.datetime64(start, "M")
        self.start = m0.astype("datetime64[D]")
        self.end = (m0 + months).astype("datetime64[D]") - 1
        self.days = int((self.end - self.start).astype(int)) + 1
        self.epoch0 = int((self.start - np.datetime64("1970-01-01")).astype(int))
        self.last12 = int(((m0 + months - 12).astype("datetime64[D]") - self.start).astype(int))

    def dates(self, offsets, valid=None) -> pl.Series:
        s = pl.Series((np.asarray(offsets, dtype=np.int64) + self.epoch0).astype(np.int32)).cast(pl.Date)
        if valid is not None:
            s = pl.select(pl.when(pl.Series(np.asarray(valid, dtype=bool))).then(s)).to_series()
        return s


def _nullable(values, valid) -> pl.Series:
    s = pl.Series(values)
    return pl.select(pl.when(pl.Series(np.asarray(valid, dtype=bool))).then(s)).to_series()


def _money(x) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float), 2)


def _count_before(keys_sorted: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number of sorted keys k with lo <= k < hi."""
    return np.searchsorted(keys_sorted, hi, "left") - np.searchsorted(keys_sorted, lo, "left")
