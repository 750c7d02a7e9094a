"""The heterogeneous case-management effect and its answer key ``_oracle/cm_benefit.csv``: each
list-eligible member's true risk with and without enrolment at each list date, so a ranking by
expected benefit can be scored against the best possible one."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from synth_checks import read_raw

from synth import case_management as cmm
from synth.common import _Window
from synth.generator import _geography, _latent_death, _members, _spans, generate

MEMBERS, SEED = 8000, 21
COLUMNS = ["person_id", "as_of_date", "outcome", "p_if_enrolled", "p_if_not_enrolled"]
DEFAULT_DATES = [date(2025, m, 1) for m in range(7, 13)] + [date(2026, 1, 1)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[float, Path]:
    """The same population with the program's effect on (S = 1) and off (S = 0)."""
    root = tmp_path_factory.mktemp("benefit")
    return {s: generate(root / f"s{s}", members=MEMBERS, seed=SEED, cm_effect=s).out_dir for s in (1.0, 0.0)}


def _benefit(out: Path) -> pl.DataFrame:
    return pl.read_csv(out / "_oracle" / "cm_benefit.csv", try_parse_dates=True)


def _latent_traits() -> dict[str, np.ndarray]:
    """The members' never-written traits (a one-chunk run rebuilds them from its seed)."""
    win = _Window("2023-01", 36)
    m = _members(SEED, MEMBERS, win, _geography(SEED))
    _, death_day = _spans(SEED, m, win)
    m["death_latent"] = _latent_death(SEED, m, death_day, win.days)
    return m


def _with_traits(b: pl.DataFrame, m) -> pl.DataFrame:
    win = _Window("2023-01", 36)
    p = b["person_id"].str.slice(1).cast(pl.Int64).to_numpy()
    as_of = b["as_of_date"].cast(pl.Int32).to_numpy() - win.epoch0
    return b.with_columns(
        pl.Series("no_usual_source", m["no_usual_source"][p]), pl.Series("needs", np.minimum(m["n_needs"][p], 3)),
        pl.Series("dies_180d", m["death_latent"][p] <= as_of + 150),
        ((pl.col("p_if_not_enrolled") - pl.col("p_if_enrolled")) / pl.col("p_if_not_enrolled")).alias("relative"))


def test_benefit_file_has_the_contract_columns_and_the_list_members(runs):
    out = runs[1.0]
    b = _benefit(out)
    assert b.columns == COLUMNS
    assert b.schema["as_of_date"] == pl.Date and b["person_id"].str.contains(r"^P\d{8}$").all()
    assert sorted(b["as_of_date"].unique()) == DEFAULT_DATES
    assert set(b["outcome"]) == {"readmit_30d", "admission_12m"}
    assert b.select("person_id", "as_of_date", "outcome").is_duplicated().sum() == 0
    for col in ("p_if_enrolled", "p_if_not_enrolled"):
        assert b[col].is_between(0, 1).all()
    # admission_12m: every member enrolled, alive and not opted out on the date, and no one else
    elig = read_raw(out, "eligibility").with_columns(
        pl.col("enrollment_start_date", "enrollment_end_date", "death_date").str.to_date())
    for as_of in (date(2025, 9, 1), date(2026, 1, 1)):
        listed = elig.filter((pl.col("enrollment_start_date") <= as_of) & (pl.col("enrollment_end_date") >= as_of)
                             & (pl.col("death_date").is_null() | (pl.col("death_date") >= as_of))
                             & (pl.col("outreach_opt_out_flag") == "0"))
        rows = b.filter((pl.col("as_of_date") == as_of) & (pl.col("outcome") == "admission_12m"))
        assert set(rows["person_id"]) == set(listed["person_id"]) and rows.height > 0.7 * MEMBERS
    # readmit_30d: listed members with an index-eligible discharge in the 30 days before the date
    stays = read_raw(out, "medical_claim").filter(
        (pl.col("bill_type_code") == "0111") & (pl.col("claim_line_number") == "1")
        & ~pl.col("discharge_disposition_code").is_in(["20", "07", "02"])).select(
        "person_id", pl.col("discharge_date").str.to_date())
    readmit = b.filter(pl.col("outcome") == "readmit_30d")
    assert readmit.height > 50
    window = (readmit.join(stays, on="person_id")
              .filter((pl.col("discharge_date") < pl.col("as_of_date"))
                      & (pl.col("discharge_date") >= pl.col("as_of_date") - pl.duration(days=30)))
              .select("person_id", "as_of_date").unique())
    assert window.height == readmit.height
    twelve = b.filter(pl.col("outcome") == "admission_12m").select("person_id", "as_of_date")
    assert readmit.join(twelve, on=["person_id", "as_of_date"], how="anti").height == 0


def test_enrolment_never_raises_risk_and_changes_nothing_without_the_effect(runs):
    on, off = _benefit(runs[1.0]), _benefit(runs[0.0])
    gain = on["p_if_not_enrolled"] - on["p_if_enrolled"]
    assert (gain >= 0).all()
    for outcome in ("readmit_30d", "admission_12m"):
        assert on.filter(pl.col("outcome") == outcome).select(
            (pl.col("p_if_not_enrolled") - pl.col("p_if_enrolled")).mean()).item() > 0.001, outcome
    assert (off["p_if_not_enrolled"] == off["p_if_enrolled"]).all()


def test_benefit_is_larger_without_a_usual_source_or_with_needs_and_near_zero_at_the_end_of_life(runs):
    m = _latent_traits()
    b = _with_traits(_benefit(runs[1.0]), m).filter(pl.col("p_if_not_enrolled") > 0)

    def rel(frame: pl.DataFrame) -> float:
        return float(frame["relative"].mean())

    for outcome in ("admission_12m", "readmit_30d"):
        o = b.filter(pl.col("outcome") == outcome)
        alive = o.filter(~pl.col("dies_180d"))
        assert rel(alive.filter(pl.col("no_usual_source"))) > 1.5 * rel(alive.filter(~pl.col("no_usual_source"))), outcome
        assert rel(alive.filter(pl.col("needs") >= 2)) > 1.3 * rel(alive.filter(pl.col("needs") == 0)), outcome
    # members dying within 180 days of the date gain about a tenth of what the others gain
    twelve = b.filter(pl.col("outcome") == "admission_12m")
    dying, rest = twelve.filter(pl.col("dies_180d")), twelve.filter(~pl.col("dies_180d"))
    assert dying.height > 30
    assert rel(dying) < 0.2 * rel(rest)


def test_responsiveness_averages_about_one_over_index_stays(runs):
    """The average effect stays where the literature puts it (docs/generator.md): the scaling is a
    fixed constant, not a chunk's mean, so it holds to a few points on any population."""
    m = _latent_traits()
    win = _Window("2023-01", 36)
    e = pl.read_csv(runs[1.0] / "_oracle" / "cm_effect.csv", try_parse_dates=True)
    h = cmm.responsiveness(m, e["person_id"].str.slice(1).cast(pl.Int64).to_numpy(),
                           e["discharge_date"].cast(pl.Int32).to_numpy() - win.epoch0)
    assert 0.9 < h.mean() < 1.1, h.mean()
    assert (h >= 0).all() and (h == cmm.END_OF_LIFE_H).mean() > 0.01


def test_no_usual_source_shows_in_the_extracts(runs):
    """The trait the effect rides on is partly visible: far fewer office visits, no PCP encounters."""
    m = _latent_traits()
    adults = np.flatnonzero(m["age"] >= 18)
    ids = pl.DataFrame({"person_id": [f"P{i:08d}" for i in adults], "nus": m["no_usual_source"][adults]})
    assert 0.15 < ids["nus"].mean() < 0.25
    enc = read_raw(runs[1.0], "encounter").join(ids, on="person_id")
    assert enc.filter(pl.col("nus"))["pcp_visit_flag"].cast(pl.Int64).sum() == 0
    office = (enc.filter(pl.col("encounter_type").is_in(["office", "telehealth"])).group_by("nus").len()
              .join(ids.group_by("nus").len().rename({"len": "members"}), on="nus"))
    per = dict(zip(office["nus"], office["len"] / office["members"]))
    assert per[True] < 0.5 * per[False], per


def test_benefit_dates_are_an_option_and_a_flag(tmp_path):
    from pipelines.cli import main

    out = tmp_path / "landing"
    assert main(["synth", "--members", "600", "--seed", "2", "--out", str(out), "--benefit-as-of", "2025-12-01"]) == 0
    assert _benefit(out)["as_of_date"].unique().to_list() == [date(2025, 12, 1)]
    # no dates: no file (and none left from an earlier run)
    assert main(["synth", "--members", "600", "--seed", "2", "--out", str(out), "--benefit-as-of", ""]) == 0
    assert not (out / "_oracle" / "cm_benefit.csv").exists()
    with pytest.raises(ValueError):
        generate(tmp_path / "bad", members=100, seed=1, benefit_as_of=["2026-01-02"])
    with pytest.raises(SystemExit):
        main(["synth", "--members", "10", "--out", str(tmp_path / "bad2"), "--benefit-as-of", "2026-13-01"])
