"""``python -m adapters --format F --source DIR --out DIR [--sdoh DIR]``: convert and print the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from adapters import FORMATS, convert, detect_format
from data_contracts.errors import RiskstratDataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters", description=__doc__)
    parser.add_argument("--format", choices=FORMATS, default=None, help="source format (default: detect)")
    parser.add_argument("--source", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="canonical landing folder to write")
    parser.add_argument("--sdoh", type=Path, default=None, help="folder of public SDOH reference files")
    args = parser.parse_args(argv)
    try:
        fmt = args.format or detect_format(args.source)
        report = convert(fmt, args.source, args.out, sdoh=args.sdoh)
    except RiskstratDataError as exc:
        print(f"adapters: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
