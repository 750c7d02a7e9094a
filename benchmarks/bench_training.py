"""Training stage on an existing home, per task and per phase, without Dagster.

    python benchmarks/bench_training.py --home DIR/home --landing DIR/landing [--tasks high_need readmission]
        [--profile 25] [--models-dir /tmp/x]

Reads ``features.member_features`` / ``features.readmission_stay`` as the model assets do, then
times ``train_*_model`` and ``finish_model`` (capacity, fairness, SHAP cost, card) for each task.
``--profile N`` prints the N functions with the most cumulative time (cProfile). ``--replicate K``
stacks K copies of both frames, ids suffixed per copy (``_r1``...), to time a K-times larger
population without generating one (the copies add rows, not information: read the seconds and
memory, not the metrics). Prints figures;
asserts nothing (not a CI test). The machine's load average is printed beside the timings.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import resource
import tempfile
import time
from pathlib import Path


def load(home: Path, landing: Path) -> dict:
    from features.readmission import READMISSION_TABLE
    from models.high_need import HIGH_NEED_TABLE
    from models.timesplit import high_need_snapshots
    from pipelines.defs.modeling.assets import _history_start, _program_capacity
    from pipelines.resources import RiskstratSettings

    settings = RiskstratSettings(home=str(home), landing=str(landing))
    with settings.connect(read_only=True) as con:
        as_of = settings.resolve_as_of(con)
        start = _history_start(con)
        plan = high_need_snapshots(as_of, start)
        return {
            "as_of": as_of, "history_start": start, "plan": plan, "capacity": _program_capacity(con, as_of),
            "readmission": con.execute(f"SELECT * FROM {READMISSION_TABLE}").pl(),
            "high_need": con.execute(f"SELECT * FROM {HIGH_NEED_TABLE} WHERE as_of_date IN (SELECT unnest($dates))",
                                     {"dates": [*plan.train, plan.calibration, plan.test]}).pl(),
        }


def _copy_ids(ids: list[str], copy: int, share: float) -> dict[str, str]:
    """A new id per member for copy ``copy`` that lands on the same side of the calibration-member
    hash as the original (``models.timesplit.calibration_members``), so no copy of a training
    member is in the calibration slice (which would leak into early stopping)."""
    from models.timesplit import calibration_members

    held = calibration_members(ids, share)
    out: dict[str, str] = {}
    todo, attempt = list(ids), 0
    while todo:
        candidates = {p: f"{p}_r{copy}.{attempt}" for p in todo}
        held_new = calibration_members(list(candidates.values()), share)
        for p, c in candidates.items():
            if (c in held_new) == (p in held):
                out[p] = c
        todo, attempt = [p for p in todo if p not in out], attempt + 1
    return out


def replicate(data: dict, copies: int) -> dict:
    """``copies`` stacked copies of both frames, member and stay ids made distinct per copy; a
    member's copies stay on its side of the high-need calibration split (``_copy_ids``). Copies of
    one member can fall in different out-of-fold folds and training samples: the metrics of a
    replicated run are not meaningful, its seconds and memory are."""
    import polars as pl

    if copies <= 1:
        return data
    out = dict(data)
    people = sorted(set(data["high_need"]["person_id"].to_list()) | set(data["readmission"]["person_id"].to_list()))
    share = data["plan"].calibration_share
    for task in ("high_need", "readmission"):
        frame = data[task]
        parts = [frame]
        for k in range(1, copies):
            mapping = pl.DataFrame(list(_copy_ids(people, k, share).items()), schema=["person_id", "_new"], orient="row")
            copy = frame.join(mapping, on="person_id", how="left", maintain_order="left")
            copy = copy.with_columns(pl.col("_new").alias("person_id")).drop("_new")
            if "stay_id" in copy.columns:
                copy = copy.with_columns(pl.col("stay_id") + f"_r{k}")
            parts.append(copy)
        out[task] = pl.concat(parts)
    return out


def run_task(task: str, data: dict, models_dir: Path, caps: dict | None = None):
    import polars as pl

    from models.high_need import member_dictionary, train_high_need_model
    from models.readmission import train_readmission_model
    from models.workflow import finish_model

    frame = data[task]
    t0 = time.perf_counter()
    if task == "high_need":
        model = train_high_need_model(frame, data["plan"], seed=7, **(caps or {}))
        test_frame = frame.filter(pl.col("as_of_date") == data["plan"].test)
        window, dictionary = None, member_dictionary()
    else:
        model = train_readmission_model(frame, data["as_of"], seed=7, history_start=data["history_start"], **(caps or {}))
        test_frame = frame.filter(pl.col("stay_id").is_in(model.test_predictions["stay_id"].implode()))
        window, dictionary = "discharge_date", None
    t1 = time.perf_counter()
    finish_model(model, test_frame, models_dir / task, data["capacity"], window, None, dictionary=dictionary)
    t2 = time.perf_counter()
    return model, t1 - t0, t2 - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--tasks", nargs="+", default=["high_need", "readmission"])
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--models-dir", type=Path, default=None)
    parser.add_argument("--replicate", type=int, default=1)
    parser.add_argument("--no-caps", action="store_true",
                        help="max_train_rows and max_bootstrap_rows unbounded: the code path below both caps")
    parser.add_argument("--dump", type=Path, default=None, help="write each task's metrics here as JSON")
    args = parser.parse_args()
    started = time.perf_counter()
    data = replicate(load(args.home, args.landing), args.replicate)
    print(f"load {time.perf_counter() - started:.1f} s; rows: high_need {data['high_need'].height}, "
          f"readmission {data['readmission'].height}", flush=True)
    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="bench_training_"))
    dumped = {}
    for task in args.tasks:
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        cpu = time.process_time()
        caps = {"max_train_rows": 10**12, "max_bootstrap_rows": 10**12} if args.no_caps else None
        model, train_s, finish_s = run_task(task, data, models_dir, caps)
        cpu = time.process_time() - cpu
        if profiler:
            profiler.disable()
        dumped[task] = {"metrics": model.metrics, "split": model.split, "params": model.params,
                        "train_s": train_s, "finish_s": finish_s, "cpu_s": cpu}
        split, m = model.split, model.metrics
        print(f"{task}: train {train_s:.1f} s, finish {finish_s:.1f} s (CPU {cpu:.1f} s); rows train/cal/test "
              f"{split['n_train']}/{split['n_calibration']}/{split['n_test']}; test AUROC {m['test']['auroc']:.4f} "
              f"slope {m['test']['calibration_slope']:.3f} O/E {m['test']['oe']:.3f}; "
              f"{model.params['num_boost_round']} trees x {model.params['num_leaves']} leaves; "
              f"sampling {m.get('sampling', {}).get('engaged')}; load {Path('/proc/loadavg').read_text().split()[:3]}",
              flush=True)
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.profile)
            print(out.getvalue(), flush=True)
    if args.dump:
        args.dump.write_text(json.dumps(dumped, indent=1, default=str))
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
