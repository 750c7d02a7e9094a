"""Learning curve of both tasks: test metrics against the number of training rows fitted.

    python benchmarks/bench_learning_curve.py --home DIR/home --landing DIR/landing \
        [--high-need-rows 8000 16000 32000 64000 100000] [--readmission-rows 2500 5000 10000 15000] [--seeds 7 8]

Each size fits the task through ``fit_task`` with ``max_train_rows`` set to it (the member-level
stratified sample of ``models.training.sample_training_rows``; the largest row is every training
row), so calibration and test rows are the task's full slices. Prints one line per (task, size,
seed): rows and events fitted, regime, model size, test AUROC, AUPRC, log loss, calibration slope,
O/E, LightGBM minus logistic, logistic AUROC, CPU seconds. Rows go to ``--out`` as JSON lines.
Prints figures; asserts nothing (not a CI test).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


from benchmarks.bench_training import load


def fit(task: str, data: dict, rows: int, seed: int):
    from models.high_need import train_high_need_model
    from models.readmission import train_readmission_model

    if task == "high_need":
        return train_high_need_model(data[task], data["plan"], seed=seed, max_train_rows=rows)
    return train_readmission_model(data[task], data["as_of"], seed=seed, history_start=data["history_start"],
                                   max_train_rows=rows)


def row(task: str, rows: int, seed: int, model, cpu: float) -> dict:
    from models.calibration import log_loss

    m, preds = model.metrics, model.test_predictions
    return {
        "task": task, "max_rows": rows, "seed": seed, "fitted_rows": m["sampling"]["sampled_rows"],
        "fitted_events": m["sampling"]["sampled_events"], "regime": m["regime"]["name"],
        "trees": model.params["num_boost_round"], "leaves": model.params["num_leaves"],
        "auroc": m["test"]["auroc"], "auprc": m["test"]["auprc"],
        "log_loss": log_loss(preds[model.label].to_numpy(), preds["score"].to_numpy()),
        "slope": m["test"]["calibration_slope"], "oe": m["test"]["oe"],
        "vs_logistic": m["vs_logistic"]["auroc_difference"], "logistic_auroc": m["baselines"]["logistic"]["auroc"],
        "cpu_s": round(cpu, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--high-need-rows", type=int, nargs="*", default=[8_000, 16_000, 32_000, 64_000, 100_000])
    parser.add_argument("--readmission-rows", type=int, nargs="*", default=[2_500, 5_000, 10_000, 15_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8])
    parser.add_argument("--skip-full", action="store_true", help="do not fit on every training row")
    parser.add_argument("--out", type=Path, default=Path("learning_curve.jsonl"))
    args = parser.parse_args()
    data = load(args.home, args.landing)
    sizes = {"high_need": args.high_need_rows, "readmission": args.readmission_rows}
    print("task | max rows | seed | fitted rows / events | regime | trees x leaves | AUROC | AUPRC | log loss | "
          "slope | O/E | minus logistic | logistic AUROC | CPU s | load", flush=True)
    for task, task_sizes in sizes.items():
        for rows in [*task_sizes, *([] if args.skip_full else [10**9])]:  # 10**9: every training row
            for seed in args.seeds:
                cpu = time.process_time()
                model = fit(task, data, rows, seed)
                r = row(task, rows, seed, model, time.process_time() - cpu)
                with args.out.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                load_avg = Path("/proc/loadavg").read_text().split()[0]
                print(f"{task} | {'all' if rows == 10**9 else rows} | {seed} | {r['fitted_rows']} / {r['fitted_events']} | "
                      f"{r['regime']} | {r['trees']} x {r['leaves']} | {r['auroc']:.4f} | {r['auprc']:.4f} | "
                      f"{r['log_loss']:.5f} | {r['slope']:.3f} | {r['oe']:.3f} | {r['vs_logistic']:+.4f} | "
                      f"{r['logistic_auroc']:.4f} | {r['cpu_s']} | {load_avg}", flush=True)


if __name__ == "__main__":
    main()
