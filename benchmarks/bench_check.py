"""Time and peak memory of ``riskstrat check`` (the dry run) on a landing folder.

    python benchmarks/bench_check.py --members 100000 [--workdir DIR]      # generate, then check
    python benchmarks/bench_check.py --landing DIR                          # an existing folder

The check runs in a child process (its peak RSS read from ``os.wait4``). The ratio is measured
in the same run against the floor for any dry run that looks at every file: reading every
landing file's bytes once (a line count of each). Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(argv: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a child process."""
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) not in (0, 2):
        sys.exit(f"bench_check: {' '.join(argv[:4])} failed: {process.stderr.read().decode()[-500:]}")
    return elapsed, usage.ru_maxrss / 1024


def _read_every_file(landing: Path) -> tuple[int, int]:
    """Bytes and lines of every landing file: the I/O floor the check is compared with."""
    size = lines = 0
    for path in landing.rglob("*"):
        if path.is_file() and not path.parent.name.startswith("_") and path.suffix in (".csv", ".gz"):
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 22), b""):
                    size += len(chunk)
                    lines += chunk.count(b"\n")
    return size, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--landing", default="")
    parser.add_argument("--workdir", default="")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-check-"))
    landing = Path(args.landing) if args.landing else workdir / "landing"
    if not args.landing:
        seconds, peak = _child([sys.executable, "-m", "pipelines.cli", "synth", "--members", str(args.members),
                                "--out", str(landing)])
        print(f"generate   {args.members:>9,} members  {seconds:7.1f} s  peak {peak:7.0f} MB")
    started = time.monotonic()
    size, lines = _read_every_file(landing)
    floor = time.monotonic() - started
    print(f"read floor {size / 1e9:9.2f} GB, {lines:,} lines  {floor:7.1f} s")
    seconds, peak = _child([sys.executable, "-m", "pipelines.cli", "check", "--landing", str(landing)])
    print(f"check      {seconds:7.1f} s  peak {peak:7.0f} MB  {lines / seconds:,.0f} lines/s  "
          f"check / read floor {seconds / floor:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
