"""``generate(..., chunk_members=k)``: members built in chunks and appended to the same files."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from synth_checks import contract_violations, read_raw, realised_readmissions

from data_contracts.landing import extract_glob
from data_contracts.spec import EXTRACTS, load_contract
from synth.case_management import occupancy_target
from synth.generator import _roster, _Share, chunk_sizes, generate

MEMBERS, CHUNK = 6000, 2000  # three chunks
LOTTERY = 0.5  # the optional lottery extract is appended chunk by chunk like the others


def _digest(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _chunk_of(person_id: pl.Expr) -> pl.Expr:
    return person_id.str.slice(1).cast(pl.Int64) // CHUNK


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("chunked"), members=MEMBERS, seed=13, chunk_members=CHUNK, cm_lottery=LOTTERY)


def test_chunk_sizes():
    assert chunk_sizes(100_000, 100_000) == [100_000]
    assert chunk_sizes(6000, 2000) == [2000, 2000, 2000]
    assert chunk_sizes(1_000_001, 100_000) == [90_910] * 2 + [90_909] * 9
    assert sum(chunk_sizes(1_000_000, 100_000)) == 1_000_000


def test_shares_of_a_population_count_add_up():
    for total in (0, 1, 7, 1234):
        for sizes in ([6000], [2000, 2000, 2000], chunk_sizes(1_000_001, 100_000)):
            n, lo, parts = sum(sizes), 0, []
            for s in sizes:
                parts.append(_Share(lo, lo + s, n)(total))
                lo += s
            assert sum(parts) == total and min(parts) >= 0
    assert _Share(0, 6000, 6000)(1234) == 1234


def test_one_chunk_is_the_unchunked_generator(tmp_path):
    a = generate(tmp_path / "a", members=1500, seed=3)
    b = generate(tmp_path / "b", members=1500, seed=3, chunk_members=1500)
    c = generate(tmp_path / "c", members=1500, seed=3, chunk_members=10**6)
    assert a.chunks == b.chunks == c.chunks == 1
    assert _digest(a.out_dir) == _digest(b.out_dir) == _digest(c.out_dir)
    assert "_oracle/cm_benefit.csv" in _digest(a.out_dir)  # the benefit answer key is in the comparison


def test_chunked_run_is_deterministic(tmp_path, chunked):
    again = generate(tmp_path / "again", members=MEMBERS, seed=13, chunk_members=CHUNK, cm_lottery=LOTTERY)
    assert again.chunks == 3
    assert _digest(again.out_dir) == _digest(chunked.out_dir)


def test_rows_are_conserved_and_headers_written_once(chunked):
    out = chunked.out_dir
    assert chunked.chunks == 3
    assert set(chunked.rows) == set(EXTRACTS)
    for extract in EXTRACTS:
        c = load_contract(extract)
        paths = sorted((out / extract).glob("*.csv")) if c.partition_by else [out / f"{extract}.csv"]
        header = ",".join(c.column_names)
        n = 0
        for p in paths:
            lines = p.read_text().splitlines()
            assert lines[0] == header and header not in lines[1:], p
            n += len(lines) - 1
        assert n == chunked.rows[extract] > 0, extract
    assert not (out / "_chunks").exists()


def test_ids_are_unique_and_members_are_disjoint_ranges(chunked):
    out = chunked.out_dir
    # every primary key unique across the whole files, and every other contract rule holds
    assert contract_violations(out, chunked.window_end) == {}
    members = pl.read_csv(out / "_oracle" / "members.csv")
    ids = members["person_id"].to_list()
    assert ids == [f"P{i:08d}" for i in range(MEMBERS)]
    elig = read_raw(out, "eligibility")
    assert set(elig["person_id"]) <= set(ids)
    for extract in ("medical_claim", "pharmacy_claim", "encounter", "lab_result", "sdoh_screening", "cm_case"):
        people = read_raw(out, extract).select(_chunk_of(pl.col("person_id")).alias("chunk"))
        assert set(people["chunk"]) == {0, 1, 2}, extract
        assert set(read_raw(out, extract)["person_id"]) <= set(elig["person_id"]), extract
    # ids that are not primary keys on their own: one claim or case never spans two chunks' members
    for extract, key in (("medical_claim", "claim_id"), ("cm_contact", "case_id"), ("condition", "encounter_id")):
        per = read_raw(out, extract).group_by(key).agg(pl.col("person_id").n_unique())
        assert per["person_id"].max() == 1, extract


def test_shared_tables_once(chunked):
    out = chunked.out_dir
    roster = read_raw(out, "cm_roster")
    assert roster.height == _roster(13, MEMBERS).height == 4  # sized for the whole population
    assert roster["case_manager_id"].n_unique() == roster.height
    assert read_raw(out, "area_sdoh_county").height == 24
    assert read_raw(out, "area_sdoh_zip").height == 192
    # every chunk's cases go to the one roster's managers
    cases = read_raw(out, "cm_case")
    assert set(cases["case_manager_id"]) <= set(roster["case_manager_id"])


def test_caseload_fills_but_never_exceeds_occupancy(chunked):
    """Each community program's open cases, summed over the chunks, stay at or under 75% of the
    roster's active capacity at every monthly intake round, and the rounds keep that caseload
    filled once it has ramped up (a few months)."""
    out = chunked.out_dir
    roster = pl.read_csv(out / "cm_roster.csv")
    cases = read_raw(out, "cm_case").with_columns(pl.col("referral_date", "close_date").str.to_date())
    # just after each round's referrals (0-4 days after the first of the month)
    days = pl.date_range(date(2023, 1, 6), date(2025, 12, 6), "1mo", eager=True)
    for prog in ("complex_care", "brokerage", "intensive_case_management"):
        target = occupancy_target(roster, prog)
        mine = cases.filter(pl.col("program") == prog)
        open_at = [mine.filter((pl.col("referral_date") <= d) & (pl.col("close_date").is_null() | (pl.col("close_date") > d))).height
                   for d in days]
        assert 0 < max(open_at) <= target, (prog, open_at, target)
        assert min(open_at[6:]) >= 0.75 * target, (prog, open_at, target)


def test_oracle_rows_for_every_chunk(chunked):
    out = chunked.out_dir
    members = pl.read_csv(out / "_oracle" / "members.csv")
    assert members.select(_chunk_of(pl.col("person_id"))).to_series().value_counts()["count"].to_list() == [CHUNK] * 3
    stays = pl.read_csv(out / "_oracle" / "index_stays.csv")
    assert set(stays.select(_chunk_of(pl.col("person_id"))).to_series()) == {0, 1, 2}
    assert stays["claim_id"].n_unique() == stays.height
    assert (out / "_oracle" / "index_stays.csv").read_text().count("person_id,") == 1
    # the case-management answer keys are appended chunk by chunk too
    effect = pl.read_csv(out / "_oracle" / "cm_effect.csv")
    assert effect.select("person_id", "discharge_date").equals(stays.select("person_id", "discharge_date"))
    lottery = pl.read_csv(out / "_oracle" / "cm_lottery.csv")
    assert lottery.height == chunked.rows["cm_intake_assignment"] > 0
    assert set(lottery.select(_chunk_of(pl.col("person_id"))).to_series()) == {0, 1, 2}
    benefit = pl.read_csv(out / "_oracle" / "cm_benefit.csv")
    assert set(benefit.select(_chunk_of(pl.col("person_id"))).to_series()) == {0, 1, 2}
    assert benefit.select("person_id", "as_of_date", "outcome").is_duplicated().sum() == 0
    # the oracle's claim ids are the chunk's own claims: readmissions recomputed from claims agree
    rr = realised_readmissions(out)
    assert rr.height == stays.height
    assert (rr["oracle"] == rr["claims"]).all()


def test_chunked_parquet_has_one_file_per_extract_or_month(tmp_path, chunked):
    s = generate(tmp_path / "pq", members=MEMBERS, seed=13, chunk_members=CHUNK, file_format="parquet", cm_lottery=LOTTERY)
    assert not (s.out_dir / "_chunks").exists()
    for extract in EXTRACTS:
        c = load_contract(extract)
        if c.partition_by:
            csv_months = sorted(p.stem for p in (chunked.out_dir / extract).glob("*.csv"))
            assert sorted(p.stem for p in (s.out_dir / extract).glob("*.parquet")) == csv_months
        df = pl.read_parquet(extract_glob(s.out_dir, extract, ".parquet"))
        assert df.height == s.rows[extract] == chunked.rows[extract], extract
        assert df.columns == c.column_names
        key = c.primary_key
        assert df.select(key).is_duplicated().sum() == 0, extract
