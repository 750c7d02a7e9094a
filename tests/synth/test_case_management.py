"""The generator's case-management program: a known, switchable effect (``cm_effect``), selection on
recorded facts only or on latent ones too (``cm_selection``), the shared 7-day time-zero rule, and a
lottery at the capacity cut (``cm_lottery``) whose log loads as an optional extract."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from synth_checks import contract_violations, read_raw

from pipelines.defs.ingest.assets import ingest_assets
from pipelines.resources import RiskstratSettings, SqlEngine
from synth.case_management import CMOptions
from synth.common import _IdSpace, _Share, _Window
from synth import tables as T
from synth.generator import _chunk, _geography, _members, _roster, generate

SCALES = (0.0, 0.5, 1.0, 2.0)


def _digest(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _att(out: Path, outcome: str = "p_readmit_30d") -> float:
    e = pl.read_csv(out / "_oracle" / "cm_effect.csv").filter(pl.col("enrolled") == 1)
    return float((e[f"{outcome}_if_enrolled"] - e[f"{outcome}_if_not_enrolled"]).mean())


@pytest.fixture(scope="module")
def by_scale(tmp_path_factory) -> dict[float, Path]:
    """The same population (8,000 members, seed 21) with the program's effect scaled by S."""
    root = tmp_path_factory.mktemp("scales")
    return {s: generate(root / f"s{s}", members=8000, seed=21, cm_effect=s).out_dir for s in SCALES}


@pytest.fixture(scope="module")
def lottery_run(tmp_path_factory):
    """20,000 members, observed selection, effect on, half of complex care's slots randomised."""
    return generate(tmp_path_factory.mktemp("lottery"), members=20000, seed=7, cm_selection="observed", cm_lottery=0.5)


def _intake_debug(selection: str, members: int = 20000, seed: int = 11) -> dict[str, pl.DataFrame]:
    """Every candidate of every intake round and every care-transitions decision of one chunk, with
    the facts the programs saw and the member's latent frailty (never written anywhere)."""
    win, debug = _Window("2023-01", 36), {}
    ids = _IdSpace()
    ids.start_chunk(0)
    _chunk(seed, members, win, _geography(seed), _roster(seed, members), _Share(0, members, members), ids,
           CMOptions(selection=selection), debug)
    return {k: pl.concat(v) for k, v in debug.items()}


def _rule(out: Path) -> pl.DataFrame:
    """The shared treatment rule applied to the written cm_case, per oracle index stay."""
    cases = read_raw(out, "cm_case").with_columns(pl.col("referral_date", "open_date", "close_date").str.to_date())
    stays = pl.read_csv(out / "_oracle" / "cm_effect.csv", try_parse_dates=True)
    grace = pl.col("discharge_date") + pl.duration(days=7)
    hit = (stays.select("person_id", "discharge_date").join(cases, on="person_id")
           .filter(pl.col("open_date").is_not_null() & (pl.col("referral_date") <= grace) & (pl.col("open_date") <= grace)
                   & (pl.col("close_date").is_null() | (pl.col("close_date") > pl.col("discharge_date"))))
           .select("person_id", "discharge_date").unique().with_columns(pl.lit(1).alias("rule")))
    return stays.join(hit, on=["person_id", "discharge_date"], how="left").with_columns(pl.col("rule").fill_null(0))


def test_same_options_give_the_same_files_and_options_are_checked(tmp_path):
    opts = {"cm_effect": 0.5, "cm_selection": "observed", "cm_lottery": 0.5}
    a = generate(tmp_path / "a", members=1500, seed=3, **opts)
    b = generate(tmp_path / "b", members=1500, seed=3, **opts)
    c = generate(tmp_path / "c", members=1500, seed=3)
    assert _digest(a.out_dir) == _digest(b.out_dir)
    assert (a.out_dir / "cm_intake_assignment.csv").exists() and not (c.out_dir / "cm_intake_assignment.csv").exists()
    assert _digest(a.out_dir)["cm_case.csv"] != _digest(c.out_dir)["cm_case.csv"]
    # regenerating without the lottery into the same folder leaves no stale log behind
    generate(tmp_path / "a", members=1500, seed=3)
    assert not (tmp_path / "a" / "cm_intake_assignment.csv").exists()
    assert not (tmp_path / "a" / "_oracle" / "cm_lottery.csv").exists()
    for bad in ({"cm_effect": -1.0}, {"cm_selection": "oracle"}, {"cm_lottery": 1.5}):
        with pytest.raises(ValueError):
            generate(tmp_path / "bad", members=100, seed=1, **bad)


def test_effect_off_gives_equal_counterfactuals(by_scale):
    e = pl.read_csv(by_scale[0.0] / "_oracle" / "cm_effect.csv")
    assert e.height > 1000 and e["enrolled"].sum() > 100
    for outcome in ("p_readmit_30d", "p_readmit_180d", "admissions_12m"):
        diff = (e[f"{outcome}_if_enrolled"] - e[f"{outcome}_if_not_enrolled"]).abs()
        assert diff.max() <= 2e-6, outcome


def test_att_is_negative_and_grows_with_the_scale(by_scale):
    att = {s: _att(out) for s, out in by_scale.items()}
    assert att[0.0] == pytest.approx(0.0, abs=1e-6)
    assert att[0.5] > att[1.0] > att[2.0], att
    # a few points, as transitional-care trials find (fewer readmissions, never a large share)
    assert -0.04 < att[1.0] < -0.01, att
    assert _att(by_scale[1.0], "p_readmit_180d") < 0 and _att(by_scale[1.0], "admissions_12m") < 0


def test_oracle_columns_are_consistent_with_the_index_stay_oracle(by_scale):
    """The arm a stay was in is its discharge-time probability in index_stays.csv."""
    out = by_scale[1.0]
    e = pl.read_csv(out / "_oracle" / "cm_effect.csv")
    ix = pl.read_csv(out / "_oracle" / "index_stays.csv")
    assert e.select("person_id", "discharge_date").equals(ix.select("person_id", "discharge_date"))
    factual = pl.when(e["enrolled"] == 1).then(e["p_readmit_30d_if_enrolled"]).otherwise(e["p_readmit_30d_if_not_enrolled"])
    assert (e.select(factual).to_series() - ix["p_readmit_30d_at_discharge"]).abs().max() <= 2e-6
    # probabilities are probabilities; a longer horizon never lowers the chance of an admission
    for arm in ("if_enrolled", "if_not_enrolled"):
        assert e[f"p_readmit_30d_{arm}"].is_between(0, 1).all()
        assert (e[f"p_readmit_180d_{arm}"] >= e[f"p_readmit_30d_{arm}"] - 1e-6).all()
        assert (e[f"admissions_12m_{arm}"] >= 0).all()


def test_enrolled_follows_the_seven_day_rule(calibration_run, lottery_run):
    """The generator applies its effect to exactly the stays the pipeline's rule calls enrolled.
    The residue (under 0.2%) is a readmission within the grace days whose own care-transitions
    case opens before day 7: the rule sees it, the earlier stay's outcome was drawn before it existed."""
    for run in (calibration_run, lottery_run):
        r = _rule(run.out_dir)
        assert r.height > 5000
        agree = (r["rule"] == r["enrolled"]).mean()
        assert agree >= 0.995, agree
        assert 0.1 < r["enrolled"].mean() < 0.4


def test_observed_selection_does_not_ride_on_frailty():
    """Among the candidates of complex care's rounds (and the discharges care transitions could
    refer), a logistic fit of referral on the facts the observed score reads plus the latent
    frailty gives frailty ~0 under ``observed`` and clearly more under ``latent``."""
    coef = {}
    for selection in ("observed", "latent"):
        d = _intake_debug(selection)
        c = d["intake"].filter((pl.col("program") == "complex_care") & pl.col("eligible"))
        x = c.select((pl.col("discharges_30d") > 0), "lace_last_30d", pl.col("ed_30d").clip(0, 3),
                     pl.col("admissions_12m").clip(0, 4), pl.col("ed_12m").clip(0, 6), "charlson", "n_chronic",
                     pl.col("needs").clip(0, 3), "age65", "medicaid", "frailty").to_numpy().astype(float)
        fit = LogisticRegression(C=1e6, max_iter=20000).fit(x, c["referred"].to_numpy())
        ct = d["care_transitions"].filter(pl.col("eligible"))
        x2 = ct.select("lace", "admissions_180d", "needs", "n_chronic", "age65", "medicaid",
                       "frailty").to_numpy().astype(float)
        fit2 = LogisticRegression(C=1e6, max_iter=20000).fit(x2, ct["referred"].to_numpy())
        coef[selection] = (fit.coef_[0][-1], fit2.coef_[0][-1])
        assert c["referred"].sum() > 300 and ct["referred"].sum() > 500
    assert abs(coef["observed"][0]) < 0.2 and abs(coef["observed"][1]) < 0.1, coef
    # latent rides on frailty (0.19 and 0.14 on seed 11; the care-transitions coefficient varies with
    # the seed: 0.21 / 0.26 / 0.15 on seeds 11-13 before the no-usual-source trait, 0.14 / 0.30 / 0.19 after)
    assert coef["latent"][0] > max(0.15, 2 * coef["observed"][0]), coef
    assert coef["latent"][1] > max(0.1, 2 * abs(coef["observed"][1])), coef


def test_observed_selection_reads_only_the_conditions_coded_by_the_cutoff():
    """Under ``observed`` a round sees a member's chronic conditions only once a claim has coded
    them: never more than the claims hold by the data cut-off, and early in the window fewer than
    the member has (the pipeline's confounders can then hold everything the referral read)."""
    win, debug = _Window("2023-01", 36), {}
    ids = _IdSpace()
    ids.start_chunk(0)
    frames, _ = _chunk(5, 4000, win, _geography(5), _roster(5, 4000), _Share(0, 4000, 4000), ids,
                       CMOptions(selection="observed"), debug)
    code_condition = pl.DataFrame([(code, cond) for cond, (codes, _) in T.CONDITION_CODES.items() for code in codes]
                                  + [("E1122", "dm")], schema=["code", "condition"], orient="row")
    coded = (frames["medical_claim"].unpivot(index=["person_id", "claim_start_date"],
                                             on=["diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3"],
                                             value_name="code")
             .join(code_condition, on="code").group_by("person_id", "condition")
             .agg(pl.col("claim_start_date").min().alias("first_coded")))
    intake = pl.concat(debug["intake"]).select("person", "day", "n_chronic").unique().with_columns(
        pl.format("P{}", pl.col("person").cast(pl.String).str.zfill(8)).alias("person_id"),
        (pl.lit(win.start) + pl.duration(days=pl.col("day") - 8)).alias("cutoff"))
    in_claims = (intake.join(coded, on="person_id", how="left")
                 .group_by("person_id", "day", "n_chronic")
                 .agg((pl.col("first_coded") <= pl.col("cutoff")).sum().alias("coded_by_cutoff")))
    assert in_claims.height > 1000
    # a visit the cleaning later drops (inside a stay) may have coded a condition first: rare
    assert (in_claims["n_chronic"] <= in_claims["coded_by_cutoff"]).mean() > 0.995
    true_count = intake.with_columns(pl.Series("true", _members(5, 4000, win, _geography(5))["n_chronic"])
                                     .gather(intake["person"]))
    early = true_count.filter(pl.col("day") < 120)
    assert (early["n_chronic"] < early["true"]).mean() > 0.05


def test_referrals_follow_a_utilisation_spike_and_regress_to_the_mean(by_scale):
    """Community referrals come right after a recorded discharge or ED visit, so even a program
    that does nothing (S = 0) sees its members' admissions fall by a quarter or more after referral
    (by half under ``observed``, which ranks on the spike itself)."""
    out = by_scale[0.0]
    con = duckdb.connect()
    con.execute(f"CREATE VIEW mc AS SELECT * FROM read_csv('{out}/medical_claim/*.csv', header=true, all_varchar=true)")
    con.execute(f"CREATE VIEW cs AS SELECT * FROM read_csv('{out}/cm_case.csv', header=true, all_varchar=true)")
    con.execute("""CREATE VIEW ev AS SELECT person_id, bill_type_code AS bill, admit_type_code <> '3' AS unplanned,
                   CAST(claim_start_date AS DATE) AS start_date, CAST(discharge_date AS DATE) AS discharge_date
                   FROM mc WHERE claim_line_number = '1' AND bill_type_code IN ('0111', '0131')""")
    spiked = con.execute("""
        WITH c AS (SELECT case_id, person_id, date_trunc('month', CAST(referral_date AS DATE)) - INTERVAL 8 DAY AS cutoff
                   FROM cs WHERE program <> 'care_transitions')
        SELECT avg(s) FROM (SELECT c.case_id, max(CASE WHEN ev.bill = '0131' AND ev.start_date BETWEEN c.cutoff - INTERVAL 29 DAY AND c.cutoff
                                                   OR ev.unplanned AND ev.discharge_date BETWEEN c.cutoff - INTERVAL 29 DAY AND c.cutoff
                                              THEN 1 ELSE 0 END) AS s
                            FROM c LEFT JOIN ev USING (person_id) GROUP BY 1)""").fetchone()[0]
    assert spiked > 0.98, spiked
    con.execute(f"""CREATE VIEW el AS SELECT person_id, CAST(enrollment_start_date AS DATE) AS span_start,
                    CAST(enrollment_end_date AS DATE) AS span_end
                    FROM read_csv('{out}/eligibility.csv', header=true, all_varchar=true)""")
    # the pre/post design's members: enrolled through the 180 days before referral (a new
    # enrollee's pre-period is partly unobserved, which would hide the regression)
    pre, post = con.execute("""
        WITH c AS (SELECT case_id, person_id, CAST(referral_date AS DATE) AS r FROM cs
                   WHERE program = 'complex_care' AND CAST(referral_date AS DATE) BETWEEN DATE '2023-07-01' AND DATE '2025-06-30'
                     AND EXISTS (SELECT 1 FROM el WHERE el.person_id = cs.person_id
                                 AND el.span_start <= CAST(cs.referral_date AS DATE) - 180
                                 AND el.span_end >= CAST(cs.referral_date AS DATE)))
        SELECT count_if(ev.start_date >= c.r - 180 AND ev.start_date < c.r) / count(DISTINCT c.case_id),
               count_if(ev.start_date > c.r AND ev.start_date <= c.r + 180) / count(DISTINCT c.case_id)
        FROM c LEFT JOIN ev ON ev.person_id = c.person_id AND ev.bill = '0111' AND ev.unplanned""").fetchone()
    assert post < 0.8 * pre, (pre, post)


def test_lottery_band_is_randomised_and_balanced(lottery_run):
    out = lottery_run.out_dir
    assert contract_violations(out, lottery_run.window_end) == {}
    band = read_raw(out, "cm_intake_assignment").with_columns(
        pl.col("assignment_date").str.to_date(), pl.col("offered_flag", "lottery_band_flag", "lottery_seed").cast(pl.Int64))
    assert band.height == lottery_run.rows["cm_intake_assignment"] > 200
    assert (band["lottery_band_flag"] == 1).all() and set(band["program"]) == {"complex_care"}
    assert 0.45 <= band["offered_flag"].mean() <= 0.56
    # the logged seed replays each round's draw over the band sorted by member
    for (day,), rnd in band.sort("person_id").partition_by("assignment_date", as_dict=True).items():
        rng = np.random.default_rng(int(rnd["lottery_seed"][0]))
        offered = np.zeros(rnd.height, dtype=bool)
        offered[rng.permutation(rnd.height)[:int(rnd["offered_flag"].sum())]] = True
        assert (offered == (rnd["offered_flag"] == 1).to_numpy()).all(), day
    # offered members are referred to complex care in that round; the others are left alone for 180 days
    cc = read_raw(out, "cm_case").filter(pl.col("program") == "complex_care").select(
        "person_id", pl.col("referral_date").str.to_date())
    j = band.join(cc, on="person_id", how="left").with_columns(
        (pl.col("referral_date") - pl.col("assignment_date")).dt.total_days().alias("lag"))
    per = j.group_by("person_id", "assignment_date", "offered_flag").agg(
        pl.col("lag").is_between(0, 4).any().alias("referred_now"), pl.col("lag").is_between(0, 180).any().alias("within_180"))
    # (an offered member who died after the data cut-off is never reached: the offer stands, no case)
    died = read_raw(out, "eligibility").select("person_id", pl.col("death_date").str.to_date()).drop_nulls().unique()
    per = per.join(died, on="person_id", how="left").with_columns(
        (pl.col("death_date") <= pl.col("assignment_date") + pl.duration(days=4)).fill_null(False).alias("died_first"))
    assert (per["referred_now"] == ((per["offered_flag"] == 1) & ~per["died_first"])).all()
    assert per["died_first"].mean() < 0.02
    assert not per.filter(pl.col("offered_flag") == 0)["within_180"].any()
    # randomised: the arms have the same risk before the draw (standardised mean difference)
    oracle = pl.read_csv(out / "_oracle" / "cm_lottery.csv", try_parse_dates=True)
    assert oracle.select("person_id", "assignment_date", "offered_flag").sort("person_id", "assignment_date").equals(
        band.select("person_id", "assignment_date", "offered_flag").sort("person_id", "assignment_date"))
    mc = read_raw(out, "medical_claim").filter((pl.col("bill_type_code") == "0111") & (pl.col("claim_line_number") == "1")
                                               & (pl.col("admit_type_code") != "3"))
    prior = (band.join(mc.select("person_id", pl.col("admission_date").str.to_date()), on="person_id", how="left")
             .group_by("person_id", "assignment_date").agg(
                 pl.col("admission_date").is_between(pl.col("assignment_date") - pl.duration(days=365),
                                                     pl.col("assignment_date")).sum().alias("prior_admissions")))
    arms = oracle.join(prior, on=["person_id", "assignment_date"])
    for col in ("admissions_180d_if_not_offered", "prior_admissions"):
        a, b = (arms.filter(pl.col("offered_flag") == f)[col].cast(pl.Float64) for f in (1, 0))
        smd = (a.mean() - b.mean()) / np.sqrt((a.var() + b.var()) / 2)
        assert abs(smd) < 0.2, (col, smd)
    itt = (oracle["admissions_180d_if_offered"] - oracle["admissions_180d_if_not_offered"])
    assert (itt <= 1e-9).all() and itt.mean() < -0.01


def _materialise_lottery_ingest(landing: Path, home: Path) -> tuple[int, int]:
    asset = next(a for a in ingest_assets if dg.AssetKey(["raw", "cm_intake_assignment"]) in a.keys)
    settings = RiskstratSettings(home=str(home), landing=str(landing))
    assert dg.materialize([asset], resources={"settings": settings, "engine": SqlEngine()}).success
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        loaded = con.execute("SELECT count(*) FROM raw.cm_intake_assignment").fetchone()[0]
        quarantined = (con.execute("SELECT count(*) FROM quarantine.cm_intake_assignment").fetchone()[0]
                       if con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'quarantine' "
                                      "AND table_name = 'cm_intake_assignment'").fetchone()[0] else 0)
    return loaded, quarantined


def test_lottery_log_is_an_optional_extract(tmp_path, lottery_run):
    """A landing without cm_intake_assignment loads it as an empty table; the generated log loads whole."""
    empty = tmp_path / "landing"
    empty.mkdir()
    assert _materialise_lottery_ingest(empty, tmp_path / "home_empty") == (0, 0)
    assert _materialise_lottery_ingest(lottery_run.out_dir, tmp_path / "home") == (
        lottery_run.rows["cm_intake_assignment"], 0)


def test_synth_command_passes_the_case_management_options(tmp_path, capsys):
    from pipelines.cli import main

    out = tmp_path / "landing"
    assert main(["synth", "--members", "600", "--seed", "2", "--out", str(out), "--cm-effect", "0",
                 "--cm-selection", "observed", "--cm-lottery", "0.5"]) == 0
    assert "cm_intake_assignment" in capsys.readouterr().out
    e = pl.read_csv(out / "_oracle" / "cm_effect.csv")
    assert (e["p_readmit_30d_if_enrolled"] - e["p_readmit_30d_if_not_enrolled"]).abs().max() <= 2e-6
    assert (out / "_oracle" / "cm_lottery.csv").exists()
    with pytest.raises(SystemExit):
        main(["synth", "--members", "10", "--out", str(tmp_path / "bad"), "--cm-effect", "-1"])
