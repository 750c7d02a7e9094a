"""The size rules that keep training affordable at a million members: a member-level, stratified,
deterministic training sample above a row cap, analytic intervals above a test-row cap, and the
record of both in the metrics and the card. The caps are lowered through parameters, so small
synthetic frames exercise them; below a cap nothing is sampled and nothing changes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from synthetic import AS_OF

from models.readmission import train_readmission_model
from models.store import model_card
from models.training import sample_training_rows


def snapshots(members: int = 2000, per_member: int = 3, seed: int = 4) -> pl.DataFrame:
    """Rows of (member, snapshot) with a member-level risk, so a member's rows share their outcome."""
    rng = np.random.default_rng(seed)
    risk = rng.beta(1, 12, members)
    ids = np.repeat([f"m{i:05d}" for i in range(members)], per_member)
    y = (rng.random(members * per_member) < np.repeat(risk, per_member)).astype(int)
    return pl.DataFrame({"person_id": ids, "snapshot": np.tile(np.arange(per_member), members), "label": y})


def _kept_members(frame: pl.DataFrame, keep: np.ndarray) -> set[str]:
    return set(frame.filter(pl.Series(keep))["person_id"].to_list())


def test_below_the_cap_every_row_is_fitted_and_the_record_says_so():
    frame = snapshots()
    keep, record = sample_training_rows(frame, "label", max_rows=frame.height)
    assert keep.all() and keep.shape == (frame.height,)
    assert record["engaged"] is False
    assert record["sampled_rows"] == record["rows"] == frame.height
    assert record["sampled_events"] == record["events"] == int(frame["label"].sum())


@pytest.mark.parametrize("members, max_rows", [(2000, 1500), (30_000, 80_000)])
def test_above_the_cap_the_sample_takes_whole_members_in_each_stratum(members, max_rows):
    """The larger case: a stratum's rows times the cap pass 2**32 (a quota computed in 32 bits wraps)."""
    frame = snapshots(members)
    keep, record = sample_training_rows(frame, "label", max_rows=max_rows, seed=7)
    kept = frame.filter(pl.Series(keep))
    assert record["engaged"] is True
    # each of the two strata falls short of its share by less than one member's rows
    assert max_rows - 2 * 3 <= kept.height <= max_rows == record["max_rows"]
    assert record["sampled_rows"] == kept.height and record["sampled_events"] == int(kept["label"].sum())
    # a member's rows are all in or all out
    per_member = kept.group_by("person_id").len()["len"]
    assert (per_member == 3).all()
    # each stratum (members with / without an event) keeps its share: the event rate holds
    members = frame.group_by("person_id").agg(pl.col("label").max().alias("event"))
    sampled = members.filter(pl.col("person_id").is_in(kept["person_id"].unique().implode()))
    assert sampled["event"].mean() == pytest.approx(members["event"].mean(), abs=0.01)
    assert kept["label"].mean() == pytest.approx(frame["label"].mean(), rel=0.15)
    assert record["sampled_members_with_event"] == int(sampled["event"].sum())
    assert "member-level sample" in record["rule"] and "calibration and test rows are not sampled" in record["rule"]


def test_the_sample_is_deterministic_whatever_the_row_order_and_moves_with_the_seed():
    frame = snapshots()
    keep, _ = sample_training_rows(frame, "label", max_rows=1500, seed=7)
    again, _ = sample_training_rows(frame, "label", max_rows=1500, seed=7)
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=1)
    keep_shuffled, _ = sample_training_rows(shuffled, "label", max_rows=1500, seed=7)
    other, _ = sample_training_rows(frame, "label", max_rows=1500, seed=8)
    assert np.array_equal(keep, again)
    assert _kept_members(frame, keep) == _kept_members(shuffled, keep_shuffled)
    assert _kept_members(frame, keep) != _kept_members(frame, other)


def test_a_model_above_the_cap_is_fitted_on_the_sample_and_says_so(synthetic_frame, trained):
    """Readmission stays (two per member): the lowered cap samples training stays by member; the
    calibration and test slices, and so the reported test rows, are those of the full model."""
    model = train_readmission_model(synthetic_frame, AS_OF, seed=7, max_train_rows=1000)
    sampling = model.metrics["sampling"]
    assert sampling["engaged"] is True and sampling["rows"] == int(trained.split["n_train"]) > 1000
    assert int(model.split["n_train_fitted"]) == sampling["sampled_rows"] <= 1000
    assert model.metrics["regime"]["events"] == sampling["sampled_events"]  # the regime judges the rows fitted
    for name in ("n_train", "n_calibration", "n_test"):
        assert model.split[name] == trained.split[name]
    assert model.metrics["test"]["n"] == trained.metrics["test"]["n"]
    assert model.test_predictions["stay_id"].equals(trained.test_predictions["stay_id"])
    assert model_card(model)["metrics"]["sampling"]["sampled_rows"] == sampling["sampled_rows"]
    # the full model: nothing sampled, and the record says so
    assert trained.metrics["sampling"]["engaged"] is False and "n_train_fitted" not in trained.split


def test_the_card_states_the_sample_and_the_interval_method(synthetic_frame, tmp_path):
    from models.workflow import finish_model, metrics_entry

    model = train_readmission_model(synthetic_frame, AS_OF, seed=7, max_train_rows=1000, max_bootstrap_rows=100)
    test_rows = synthetic_frame.filter(pl.col("stay_id").is_in(model.test_predictions["stay_id"].implode()))
    folder = finish_model(model, test_rows, tmp_path, capacity=20, window_column="discharge_date", oracle=None)
    card = (folder / "model_card.md").read_text()
    assert "**Training rows**" in card and "member-level sample" in card
    assert "DeLong for AUROC" in card
    entry = metrics_entry(model, folder, "synthetic")
    assert entry["sampling"]["engaged"] is True
    assert entry["test"]["ci_method"].startswith("analytic")
    assert "DeLong" in entry["vs_logistic"]["interval"]


def test_a_sample_the_caller_drew_is_fitted_and_recorded_as_drawn(synthetic_frame):
    """models.spark_score draws the sample on the cluster and hands only its rows to fit_task: the
    card must still say it was a sample of how many rows, and the fit must be the same model."""
    from models.readmission import readmission_spec, split_stays
    from models.training import fit_task

    parts, split = split_stays(synthetic_frame, AS_OF)
    keep, record = sample_training_rows(parts["train"], "readmit_30d", max_rows=1000, seed=7)
    drawn = dict(parts) | {"train": parts["train"].filter(pl.Series(keep))}
    model = fit_task(readmission_spec(), drawn, split, seed=7, sampled_by_caller=record,
                     score_baselines={"lace": "lace_score"})
    assert model.metrics["sampling"] == record and record["engaged"] is True
    assert model.split["n_train"] == str(parts["train"].height) and model.split["n_train_fitted"] == str(int(keep.sum()))
    same = fit_task(readmission_spec(), parts, split, seed=7, max_train_rows=1000, score_baselines={"lace": "lace_score"})
    assert model.metrics["test"]["auroc"] == same.metrics["test"]["auroc"]
    assert model.metrics["sampling"] == same.metrics["sampling"]
