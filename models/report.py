"""The model card for people: markdown with a calibration plot and a global importance plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: files only
import matplotlib.pyplot as plt  # noqa: E402

from models.metrics import logistic_comparison_text  # noqa: E402

CALIBRATION_PNG = "calibration.png"
IMPORTANCE_PNG = "importance.png"
CARD_MD = "model_card.md"


def calibration_plot(curve: list[dict], path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    xs = [b["mean_predicted"] for b in curve]
    ys = [b["observed"] for b in curve]
    top = max([*xs, *ys, 0.05]) * 1.1
    ax.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
    ax.plot(xs, ys, marker="o", label="model (deciles of predicted risk)")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("observed rate")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def importance_plot(importance: list[dict], path: Path, title: str, top: int = 15) -> Path:
    rows = importance[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(rows) + 1.2), dpi=100)
    ax.barh([r["feature"] for r in rows], [r["mean_abs_shap"] for r in rows])
    ax.set_xlabel("mean |SHAP| (log-odds)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _ci(m: dict, key: str) -> str:
    lo, hi = m.get(f"{key}_ci", [float("nan"), float("nan")])
    return f"{m[key]:.3f} ({lo:.3f}-{hi:.3f})"


def _diff(r: dict) -> str:
    d = r.get("vs_lightgbm")
    if not d:
        return ""
    lo, hi = d["auroc_difference_ci"]
    return f"{d['auroc_difference']:+.3f} ({lo:+.3f} to {hi:+.3f})"


def _with_ci(r: dict, key: str, ci_key: str, spec: str = ".2f") -> str:
    if r.get(key) is None:
        return ""
    ci = r.get(ci_key)
    return f"{r[key]:{spec}}" + (f" ({ci[0]:{spec}}-{ci[1]:{spec}})" if ci else "")


def calibration_lines(m: dict) -> list[str]:
    """The card's words on the regime, the calibration map and whether probabilities hold on the test rows."""
    lines = []
    sampling = m.get("sampling")
    if sampling:
        lines.append(f"- **Training rows**: {sampling['rule']}.")
    regime = m.get("regime")
    if regime:
        lines.append(f"- **Regime**: {regime['name']}: {regime['reason']}.")
    cal = m.get("calibration")
    if cal:
        losses = ", ".join(f"{k} {v:.4f}" for k, v in cal["out_of_time_log_loss"].items())
        lines.append(f"- **Calibration**: {cal['method']} map fitted on {cal['oof_rows']} out-of-fold scores "
                     f"({cal['oof_events']} events) over the training and calibration periods, chosen by log loss on "
                     f"the calibration slice ({losses}); calibration-in-the-large then shifted to that most recent "
                     f"labelled slice ({cal['recent_rows']} rows, {cal['recent_events']} events): logit {cal['offset']:+.3f}.")
    rec = m.get("recalibration")
    if rec:
        lines.append(f"- **Probabilities on the test rows**: {rec['note']}.")
    vs = m.get("vs_logistic")
    if vs:
        lines.append(f"- **Against logistic regression**: {logistic_comparison_text(vs)}.")
    return lines


def _fmt(v: object, spec: str = ".3f") -> str:
    return "" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def write_model_card(card: dict, folder: Path, importance: list[dict]) -> Path:
    """Write ``model_card.md`` and its two plots into the model folder; returns the markdown path."""
    folder = Path(folder)
    m = card["metrics"]
    test = m["test"]
    calibration_plot(test.get("calibration_curve", []), folder / CALIBRATION_PNG, f"{card['task_key']}: calibration on test rows")
    importance_plot(importance, folder / IMPORTANCE_PNG, f"{card['task_key']}: global importance (TreeSHAP sample)")
    lines = [
        f"# Model card: {card['task']}",
        "",
        f"- **Label**: {card['label_definition']}",
        f"- **Split**: {', '.join(f'{k}={v}' for k, v in card['split'].items())}",
        f"- **Model**: LightGBM, {card['params'].get('num_boost_round')} trees of {card['params'].get('num_leaves')} leaves "
        f"(chosen by the seeded search below), calibrated with {card['calibrator']['method']}",
        *calibration_lines(m),
        f"- **Features** ({len(card['features'])}, schema hash `{card['schema_hash'][:12]}`): "
        + ", ".join(f"`{f['name']}`" for f in card["features"]),
        f"- **Code** `{card['code_commit']}`; libraries: "
        + ", ".join(f"{k} {v}" for k, v in card["library_versions"].items()),
        "",
        "## Test rows: model and baselines",
        "",
        f"AUROC and AUPRC with 95% intervals ({test.get('ci_method', 'percentile bootstrap, 200 resamples of the test rows')}); "
        "the model ranks by its raw score.",
        "",
        "Calibration slope and intercept with 95% Wald intervals; O/E with the exact Poisson 95% interval of the observed count.",
        "",
        "| model | n | events | AUROC | LightGBM minus this (paired CI) | AUPRC | Brier | cal. slope | cal. intercept | O/E | PPV@k | sens@k | lift@k | PPV@5% | lift@5% |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in [("LightGBM", test), *m["baselines"].items()]:
        cap, top = r.get("capacity", {}), r.get("top_5pct", {})
        lines.append(
            f"| {name} | {r['n']} | {r['events']} | {_ci(r, 'auroc')} | {_diff(r)} | {_ci(r, 'auprc')} | {r.get('brier', float('nan')):.4f} "
            f"| {_with_ci(r, 'calibration_slope', 'calibration_slope_ci')} | {_with_ci(r, 'calibration_intercept', 'calibration_intercept_ci')} "
            f"| {_with_ci(r, 'observed_expected_ratio', 'oe_ci')} | {_fmt(cap.get('ppv'))} | {_fmt(cap.get('sensitivity'))} "
            f"| {_fmt(cap.get('lift'), '.2f')} | {_fmt(top.get('ppv'))} | {_fmt(top.get('lift'), '.2f')} |"
        )
    if "capacity" in test:
        lines += ["", f"Capacity k = {test['capacity']['k']} free case-manager slots per intake window "
                  f"({test['capacity']['windows']} window(s) in the test rows)."]
    oracle = m.get("oracle") or {}
    if "oracle_auroc" in oracle:
        lines += ["", f"Oracle (the demo generator's true probability, the ceiling) on {oracle['matched_rows']} of "
                  f"{oracle['test_rows']} test rows: AUROC {oracle['oracle_auroc']:.3f}; the model on the same rows "
                  f"{oracle['model_auroc_on_matched']:.3f}"
                  + (f"; at discharge (what is knowable then) {oracle['oracle_at_discharge_auroc']:.3f}"
                     if oracle.get("oracle_at_discharge_auroc") is not None else "")
                  + "." + (f" Note: {oracle['note']}." if oracle.get("note") else "")]
        same = oracle.get("on_oracle_definition")
        if same:
            lines += ["", f"On the oracle's own label ({same['label']}): oracle {same['oracle_auroc']:.3f}, "
                      f"this model (trained for its own label) {same['model_auroc_on_matched']:.3f}."]
    elif oracle.get("note"):
        lines += ["", f"Oracle: {oracle['note']}"]
    lines += ["", f"![calibration]({CALIBRATION_PNG})", "", "## Global importance", "", f"![importance]({IMPORTANCE_PNG})", "",
              "| feature | mean abs SHAP | share of rows where it raises risk |", "|---|---|---|"]
    lines += [f"| `{r['feature']}` | {r['mean_abs_shap']:.4f} | {r['share_raising']:.0%} |" for r in importance]
    fairness = m.get("fairness")
    if fairness:
        lines += ["", "## Fairness (test rows, list cut at capacity)", "",
                  f"Thresholds: {fairness['config']}. Groups below the minimum size are shown but not judged.", "",
                  "| subgroup | level | n | events | AUROC | O/E | selection rate | FNR | share of list | share of positives | flags |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for column, levels in fairness["groups"].items():
            for level, r in levels.items():
                lines.append(
                    f"| {column} | {level} | {r['n']} | {r['events']} | {_fmt(r['auroc'])} | {_fmt(r['observed_expected'], '.2f')} "
                    f"| {_fmt(r['selection_rate'])} | {_fmt(r['fnr'])} | {_fmt(r['share_selected'])} | {_fmt(r['share_positives'])} "
                    f"| {'; '.join(r['flags'])}{'' if r['judged'] else ' (too small to judge)'} |"
                )
        lines += ["", "**Flags**: " + ("; ".join(fairness["flags"]) if fairness["flags"] else "none")]
    lines += ["", "## Search", "", "| leaves | min rows/leaf | trees | calibration AUROC | chosen |", "|---|---|---|---|---|"]
    lines += [f"| {s['num_leaves']} | {s['min_data_in_leaf']} | {s['trees']} | {s['calibration_auroc']:.4f} | {'yes' if s['chosen'] else ''} |"
              for s in card.get("search", [])]
    path = folder / CARD_MD
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
