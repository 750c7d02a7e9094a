"""``riskstrat``: generate demo data, run the pipeline, open the Dagster UI, print the contracts.

Exit status: 0 done; 1 the run failed in a step for a reason other than the data (the step
is marked ✗); 2 a problem with the data or the folders given (the message says which file or
table, which column and what to do), or the home folder is busy; 3 an internal error, a bug in
riskstrat. No traceback is printed for any of them unless ``--debug`` is given.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from data_contracts.errors import RiskstratDataError, exception_summary
from pipelines.locking import HomeBusyError

if TYPE_CHECKING:
    import dagster as dg

DEFAULT_HOME = "riskstrat-home"
DEFAULT_DEMO_MEMBERS = 10_000
REPO_ROOT = Path(__file__).resolve().parent.parent

EXIT_RUN_FAILED = 1
EXIT_DATA_ERROR = 2
EXIT_INTERNAL_ERROR = 3


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _year_month(text: str) -> str:
    try:
        date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM, got {text!r}") from None
    return text


def _at_least(minimum: int, why: str = ""):
    """An argparse type: an integer no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}{why}, got {value}")
        return value

    return parse


# adapters.FORMATS, spelled out so building the parser does not import the adapters (and polars)
FORMAT_ARGUMENT = {
    "choices": ["auto", "canonical", "synthea", "mimic-iv", "tuva", "synpuf"], "default": "auto",
    "help": "source format of the landing folder (default: detected from the files present)",
}
SDOH_ARGUMENT = {"default": "", "help": "folder of public SDOH files (CDC SVI, ZIP-county crosswalk, ACS income)"}

MEMBERS = _at_least(1)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return value

MONTHS = _at_least(13, " (features and labels need a year of history)")


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value >= 0.0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {value}")
    return value


def _iso_dates(value: str) -> list[date]:
    """``2025-12-01,2026-01-01`` -> dates; an empty string -> no dates."""
    try:
        return [date.fromisoformat(v.strip()) for v in value.split(",") if v.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated YYYY-MM-DD dates, got {value!r}") from err


def cmd_synth(args: argparse.Namespace) -> int:
    from synth.generator import generate

    started = time.monotonic()
    summary = generate(
        out_dir=Path(args.out),
        members=args.members,
        seed=args.seed,
        start=args.start,
        months=args.months,
        dirty_rate=args.dirty_rate,
        file_format=args.file_format,
        cm_effect=getattr(args, "cm_effect", 1.0),
        cm_selection=getattr(args, "cm_selection", "latent"),
        cm_lottery=getattr(args, "cm_lottery", 0.0),
        benefit_as_of=getattr(args, "benefit_as_of", None),
    )
    total = sum(summary.rows.values())
    print(f"wrote {total:,} rows in {len(summary.rows)} extracts to {args.out} in {time.monotonic() - started:.1f} s")
    for extract, rows in summary.rows.items():
        print(f"  {extract:<20} {rows:>12,}")
    return 0


def execute_pipeline(
    home: Path,
    landing: Path,
    as_of: str = "",
    data_through: str = "",
    breach_threshold: float = -1.0,
    wait: bool = False,
    intake_score: str = "readmission",
    evaluation_lottery: float = 0.0,
    intake_rank: str = "risk",
    engine: str = "duckdb",
    spark_master: str = "",
) -> dg.ExecuteInProcessResult:
    """Materialise every asset in-process, over every landing month; the run's result and events.
    ``engine`` runs the feature, label and KPI SQL on DuckDB (default) or Spark (``spark_master``,
    default ``local[2]``; ``pipelines.resources.SqlEngine``).

    Raises ``HomeBusyError`` when another run holds the home folder (unless ``wait``) and
    ``LandingLayoutError`` when the landing folder has no monthly files.
    """
    from data_contracts.landing import LandingLayoutError, landing_months
    from pipelines.definitions import ALL_ASSETS_JOB, build_definitions
    from pipelines.locking import exclusive_home
    from pipelines.partitions import execute_over_months
    from pipelines.resources import RiskstratSettings, SqlEngine

    months = landing_months(landing)
    if not months:
        raise LandingLayoutError(
            f"{landing}: no monthly files found (claims and EHR extracts land as <extract>/YYYY-MM.csv)",
            source=str(landing),
        )
    settings = RiskstratSettings(
        home=str(home), landing=str(landing), as_of=as_of, data_through=data_through, breach_threshold=breach_threshold,
        intake_score=intake_score, evaluation_lottery=evaluation_lottery, intake_rank=intake_rank,
    )
    sql_engine = SqlEngine(name=engine, **({"spark_master": spark_master} if spark_master else {}))
    job = build_definitions(settings, sql_engine).resolve_job_def(ALL_ASSETS_JOB)
    with exclusive_home(home, wait=wait):
        return execute_over_months(
            job, months, months[0], months[-1], run_config={"loggers": {"progress": {}}}, raise_on_error=False
        )


def run_pipeline(
    home: Path,
    landing: Path,
    as_of: str = "",
    data_through: str = "",
    breach_threshold: float = -1.0,
    wait: bool = False,
    intake_score: str = "readmission",
    evaluation_lottery: float = 0.0,
    intake_rank: str = "risk",
    engine: str = "duckdb",
) -> bool:
    """``execute_pipeline``, True when the run succeeded."""
    return execute_pipeline(
        home, landing, as_of, data_through, breach_threshold, wait, intake_score, evaluation_lottery, intake_rank,
        engine=engine).success


def backfill_months(
    home: Path, landing: Path, first: str, last: str, data_through: str = ""
) -> dg.ExecuteInProcessResult:
    """Reload the monthly extracts for months ``first``..``last`` (inclusive) in one run."""
    from data_contracts.landing import LandingLayoutError, landing_months
    from pipelines.automation import ingest_monthly_job
    from pipelines.definitions import build_definitions
    from pipelines.locking import exclusive_home
    from pipelines.partitions import execute_over_months
    from pipelines.resources import RiskstratSettings

    months = [m for m in landing_months(landing) if first <= m <= last]
    if not months:
        raise LandingLayoutError(
            f"{landing}: no landing files for months {first}..{last}; pass a range the folder holds", source=str(landing)
        )
    settings = RiskstratSettings(home=str(home), landing=str(landing), data_through=data_through)
    job = build_definitions(settings).resolve_job_def(ingest_monthly_job.name)
    with exclusive_home(home):
        return execute_over_months(
            job, landing_months(landing), months[0], months[-1],
            run_config={"loggers": {"progress": {}}}, raise_on_error=False,
        )


def report_failed_run(result: dg.ExecuteInProcessResult, elapsed: float, debug: bool = False) -> int:
    """Say why a run failed; the exit status: 2 when a step failed on the data, else 1.

    A step whose failure carries the data-error metadata is printed as ``step: sentence``
    (steps failing with the same sentence share one line);
    ``debug`` adds each failed step's stack trace (the whole chain Dagster kept).
    """
    from pipelines.failures import run_failure_traceback, run_step_failures
    from pipelines.progress import step_label

    failures = run_step_failures(result)
    if debug:
        for failure in failures:
            print(f"Traceback of step {failure.step}:\n{failure.traceback}", file=sys.stderr)
        if not failures:
            print(run_failure_traceback(result), file=sys.stderr)
    # one line per distinct sentence: several steps often trip over the same gap in the data
    steps_by_sentence: dict[str, list[str]] = {}
    for failure in failures:
        if failure.data_error:
            steps_by_sentence.setdefault(failure.message, []).append(step_label(failure.step))
    for sentence, steps in steps_by_sentence.items():
        print(f"riskstrat: {', '.join(steps)}: {sentence}", file=sys.stderr)
    if steps_by_sentence:
        return EXIT_DATA_ERROR
    if failures:
        hint = "" if debug else "; rerun with --debug for the traceback"
        print(f"riskstrat: the run failed after {elapsed:.0f} s; see the step marked ✗ above{hint}", file=sys.stderr)
    else:
        print(
            f"riskstrat: the run failed after {elapsed:.0f} s outside any step; rerun with --debug for the reason",
            file=sys.stderr,
        )
    return EXIT_RUN_FAILED


def cmd_backfill(args: argparse.Namespace) -> int:
    started = time.monotonic()
    result = backfill_months(Path(args.home).resolve(), Path(args.landing).resolve(), args.first, args.last, args.data_through or "")
    return 0 if result.success else report_failed_run(result, time.monotonic() - started, args.debug)


def prepare_landing(source: Path, home: Path, fmt: str, sdoh: str = "") -> tuple[Path, str, str]:
    """The canonical landing folder to run on, its source format and the adapter's data-through date.

    A canonical folder is used as it is; any other format (named, or detected from the files)
    is converted by its adapter into HOME/landing-<format>, and the adapter's report is
    written to HOME/outputs/adapter_report.json.
    """
    import dataclasses
    import json

    from adapters import convert, detect_format

    chosen = detect_format(source) if fmt == "auto" else fmt
    if chosen == "canonical":
        return source, chosen, ""
    landing = home / f"landing-{chosen}"
    if landing.exists():
        shutil.rmtree(landing)
    report = convert(chosen, source, landing, Path(sdoh).resolve() if sdoh else None)
    outputs = home / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / "adapter_report.json").write_text(json.dumps(dataclasses.asdict(report), indent=2, default=str))
    print(report.summary(), file=sys.stderr)
    # no as-of from the adapter: its latest discharge may lie in a month still running out, or past
    # the last enrolment month; the run takes the default from month coverage (features.coverage)
    return landing, chosen, report.data_through.isoformat() if report.data_through else ""


def cmd_run(args: argparse.Namespace) -> int:
    home, landing = Path(args.home).resolve(), Path(args.landing).resolve()
    intake_rank = getattr(args, "intake_rank", "risk")  # demo builds its own arguments without it
    if intake_rank != "risk" and args.intake_score != "readmission":
        print(f"riskstrat: cannot run: --intake-rank {intake_rank} ranks discharges by their expected benefit; "
              "use it with --intake-score readmission, or rank the high-need list by risk", file=sys.stderr)
        return EXIT_DATA_ERROR
    if not landing.is_dir():
        print(f"riskstrat: landing folder {landing} does not exist", file=sys.stderr)
        return EXIT_DATA_ERROR
    engine = getattr(args, "engine", "duckdb")
    if engine == "spark":
        from features.spark_landing import spark_unavailable_reason

        reason = spark_unavailable_reason()
        if reason:
            print(f"riskstrat: cannot run on Spark: {reason}; or run with --engine duckdb", file=sys.stderr)
            return EXIT_DATA_ERROR
    from pipelines.readiness import check_landing

    landing, fmt, through = prepare_landing(landing, home, args.format, args.sdoh)
    args.data_through = args.data_through or through
    readiness = check_landing(landing, fmt, as_of=date.fromisoformat(args.as_of) if args.as_of else None)
    print(readiness.summary(), file=sys.stderr)
    if readiness.blockers:
        print(f"riskstrat: cannot run: {readiness.blockers[0]}", file=sys.stderr)
        return EXIT_DATA_ERROR

    print(f"running the pipeline on {landing} into {home}", file=sys.stderr)
    started = time.monotonic()
    result = execute_pipeline(
        home, landing, args.as_of or "", args.data_through or "", args.breach_threshold, args.wait, args.intake_score,
        getattr(args, "evaluation_lottery", 0.0), intake_rank, engine=engine,
        spark_master=getattr(args, "spark_master", "") or "",
    )
    elapsed = time.monotonic() - started
    if not result.success:
        return report_failed_run(result, elapsed, args.debug)
    if getattr(args, "evaluation_lottery", 0.0) > 0:
        print(f"evaluation lottery: {lottery_outcome(result)}", file=sys.stderr)
    print(f"done in {elapsed:.0f} s: warehouse {home / 'warehouse.duckdb'}, outputs in {home / 'outputs'}", file=sys.stderr)
    return 0


def lottery_outcome(result: dg.ExecuteInProcessResult) -> str:
    """What the intake step said of the evaluation lottery (counts only): its band, or why none ran."""
    for materialization in result.asset_materializations_for_node("marts__intake_list"):
        meta = materialization.metadata
        if "evaluation_lottery" in meta:
            offered = f", {meta['lottery_offered'].value} offered, seed {meta['lottery_seed'].value}" \
                if "lottery_offered" in meta else ""
            return f"{meta['evaluation_lottery'].value}{offered}"
    return "not recorded by the intake step"


def cmd_check(args: argparse.Namespace) -> int:
    """The dry run: what a run on this folder would find, use and leave out, and the verdict."""
    from pipelines.readiness import check_source

    landing = Path(args.landing).resolve()
    if not landing.is_dir():
        raise RiskstratDataError(f"landing folder {landing} does not exist; pass the folder holding the extracts")
    started = time.monotonic()
    result = check_source(landing, args.format, Path(args.sdoh).resolve() if args.sdoh else None,
                          date.fromisoformat(args.as_of) if args.as_of else None)
    print(result.summary())
    print(f"checked in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return result.exit_status


def cmd_demo(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    landing = home / "landing"
    if landing.exists():
        shutil.rmtree(landing)
    synth_args = argparse.Namespace(
        out=str(landing), members=args.members, seed=args.seed, start=args.start, months=args.months,
        dirty_rate=args.dirty_rate, file_format="csv",
    )
    if cmd_synth(synth_args):
        return 1
    run_args = argparse.Namespace(
        home=str(home), landing=str(landing), as_of="", data_through="", breach_threshold=-1.0, wait=False,
        format="canonical", sdoh="", intake_score="readmission", debug=args.debug,
    )
    return cmd_run(run_args)


def cmd_ui(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "RISKSTRAT_HOME": str(home)}
    if args.landing:
        env["RISKSTRAT_LANDING"] = str(Path(args.landing).resolve())
    command = [sys.executable, "-m", "dagster", "dev", "-m", "pipelines.definitions", "-h", args.host, "-p", str(args.port)]
    print(f"Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={dagster_home}); Ctrl-C stops it", file=sys.stderr)
    process = subprocess.Popen(command, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        return process.wait()


def cmd_contracts(args: argparse.Namespace) -> int:
    from data_contracts.dictionary import render_data_dictionary

    text = render_data_dictionary()
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskstrat", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    debug_help = "on failure, print the traceback (and each failed step's stack trace)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    # accepted after the subcommand too; SUPPRESS keeps a flag given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", parents=[common], help="write generated landing extracts (demo data)")
    synth.add_argument("--members", type=MEMBERS, required=True)
    synth.add_argument("--seed", type=int, default=7)
    synth.add_argument("--out", required=True)
    synth.add_argument("--start", type=_year_month, default="2023-01", help="first month, YYYY-MM")
    synth.add_argument("--months", type=MONTHS, default=36)
    synth.add_argument("--dirty-rate", type=float, default=0.0, help="share of rows given a recorded defect")
    synth.add_argument("--file-format", choices=["csv", "parquet"], default="csv")
    synth.add_argument("--cm-effect", type=_non_negative, default=1.0, metavar="S",
                       help="scale of the case-management program's true effect (0 = none, 1 = default)")
    synth.add_argument("--cm-selection", choices=["latent", "observed"], default="latent",
                       help="refer on what the extracts record only (observed) or also on the members' true rates (latent)")
    synth.add_argument("--cm-lottery", type=_fraction, default=0.0, metavar="FRACTION",
                       help="randomise this fraction of complex care's monthly slots at the capacity cut (0 = no lottery)")
    synth.add_argument("--benefit-as-of", type=_iso_dates, default=None, metavar="DATES",
                       help="comma-separated ISO list dates for _oracle/cm_benefit.csv (default: the first day of "
                            "each of the window's last 6 months and the day after it; '' = no file)")
    synth.set_defaults(func=cmd_synth)

    run = sub.add_parser("run", parents=[common], help="run the whole pipeline on a landing folder")
    run.add_argument("--landing", required=True)
    run.add_argument("--home", default=DEFAULT_HOME)
    run.add_argument("--as-of", type=_iso_date,
                     help="scoring date (default: the day after the last month both claims and eligibility cover completely)")
    run.add_argument("--data-through", type=_iso_date, help="latest date data may carry (default: today)")
    run.add_argument("--breach-threshold", type=float, default=-1.0, help="override every contract's quarantine threshold (0-1)")
    run.add_argument("--wait", action="store_true", help="wait for another run on the same home instead of failing")
    run.add_argument("--format", **FORMAT_ARGUMENT)
    run.add_argument(
        "--intake-score", choices=["readmission", "high_need"], default="readmission",
        help="the score that ranks the intake list: recent discharges by readmission risk, or all members by high need",
    )
    run.add_argument(
        "--evaluation-lottery", type=_fraction, default=0.0, metavar="FRACTION",
        help="randomise the band of round(FRACTION x open slots) members closest to the intake list's capacity cut: "
             "a seeded half gets the band's slots, every band member is logged in marts.intake_assignment (default 0: off)",
    )
    run.add_argument(
        "--intake-rank", choices=["risk", "benefit", "blend"], default="risk",
        help="how the readmission list is ordered: by risk (default), by the estimated benefit of enrolling now, or by "
             "expected readmissions averted (risk x estimated relative reduction); docs/evaluation.md compares them",
    )
    run.add_argument(
        "--engine", choices=["duckdb", "spark"], default="duckdb",
        help="where the feature, label and KPI SQL runs: the embedded DuckDB warehouse (default), or Spark over a "
             "Parquet lake the ingest steps write under HOME/lake (needs the spark extra and Java; docs/scaling.md)",
    )
    run.add_argument("--spark-master", default="",
                     help="Spark master URL for --engine spark (default local[2]; spark://host:7077 or yarn on a cluster)")
    run.add_argument("--sdoh", **SDOH_ARGUMENT)
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", parents=[common], help="dry run: what a run would find, use and leave out, and the verdict")
    check.add_argument("--landing", required=True)
    check.add_argument("--format", **FORMAT_ARGUMENT)
    check.add_argument("--sdoh", **SDOH_ARGUMENT)
    check.add_argument("--as-of", type=_iso_date, help="check against this scoring date instead of the default")
    check.set_defaults(func=cmd_check)

    backfill = sub.add_parser("backfill", parents=[common], help="reload the claims and EHR extracts for a range of months")
    backfill.add_argument("--landing", required=True)
    backfill.add_argument("--home", default=DEFAULT_HOME)
    backfill.add_argument("--from", dest="first", type=_year_month, required=True, help="first month, YYYY-MM")
    backfill.add_argument("--to", dest="last", type=_year_month, required=True, help="last month, YYYY-MM")
    backfill.add_argument("--data-through", type=_iso_date)
    backfill.set_defaults(func=cmd_backfill)

    demo = sub.add_parser("demo", parents=[common], help="generate demo data and run the pipeline on it")
    demo.add_argument("--members", type=MEMBERS, default=DEFAULT_DEMO_MEMBERS)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--home", default=DEFAULT_HOME)
    demo.add_argument("--start", type=_year_month, default="2023-01")
    demo.add_argument("--months", type=MONTHS, default=36)
    demo.add_argument("--dirty-rate", type=float, default=0.002)
    demo.set_defaults(func=cmd_demo)

    ui = sub.add_parser("ui", parents=[common], help="serve the Dagster UI for a home folder (binds 127.0.0.1)")
    ui.add_argument("--home", default=DEFAULT_HOME)
    ui.add_argument("--landing", default="")
    ui.add_argument("--host", default="127.0.0.1")
    ui.add_argument("--port", type=int, default=3000)
    ui.set_defaults(func=cmd_ui)

    contracts = sub.add_parser("contracts", parents=[common], help="print the data dictionary rendered from the contracts")
    contracts.add_argument("--out", default="")
    contracts.set_defaults(func=cmd_contracts)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; print a failure as one line (a traceback only with ``--debug``).

    A data error prints its sentence (exit 2). Anything else escaping a command is a bug: it is
    named by type, with its first line only when that line cannot quote member data (see
    ``pipelines.failures.error_summary``), and exits 3.
    """
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RiskstratDataError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"riskstrat: {exc}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except HomeBusyError as exc:
        print(f"riskstrat: {exc}", file=sys.stderr)
        return EXIT_DATA_ERROR
    except KeyboardInterrupt:
        print("riskstrat: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the CLI is the boundary: a bug is reported in one line, not a traceback
        if args.debug:
            traceback.print_exc()
        hint = "the traceback is above" if args.debug else "rerun with --debug for the traceback"
        print(f"riskstrat: internal error ({exception_summary(exc)}) in {args.command}; {hint}", file=sys.stderr)
        return EXIT_INTERNAL_ERROR


if __name__ == "__main__":
    sys.exit(main())
