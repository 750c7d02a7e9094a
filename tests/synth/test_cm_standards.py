"""The case-management fields the program KPIs need (assessment and care-plan dates, services
referred and received, satisfaction, scheduled contacts and contact notes) are consistent."""

from __future__ import annotations

import polars as pl
from synth_checks import read_raw


def _cases(out):
    return read_raw(out, "cm_case").with_columns(
        pl.col("referral_date", "open_date", "first_contact_date", "close_date", "assessment_date",
               "care_plan_date").str.to_date(),
        pl.col("services_referred_count", "services_received_count", "satisfaction_score").cast(pl.Int64),
    )


def test_case_standard_fields_follow_the_case_path(clean_small):
    cases = _cases(clean_small.out_dir)
    engaged = cases.filter(pl.col("open_date").is_not_null() & pl.col("first_contact_date").is_not_null())
    not_engaged = cases.filter(pl.col("open_date").is_null() | pl.col("first_contact_date").is_null())
    assert engaged.height > 100
    # assessments and plans only in engaged cases, after first contact and opening, plans after assessments
    assert not_engaged.select(pl.col("assessment_date", "care_plan_date", "satisfaction_score").null_count()).row(0) \
        == (not_engaged.height,) * 3
    a = engaged.filter(pl.col("assessment_date").is_not_null())
    assert 0.8 < a.height / engaged.height < 0.98
    assert a.select((pl.col("assessment_date") >= pl.max_horizontal("open_date", "first_contact_date")).all()).item()
    p = a.filter(pl.col("care_plan_date").is_not_null())
    assert (p["care_plan_date"] >= p["assessment_date"]).all()
    closed = a.filter(pl.col("close_date").is_not_null())
    assert (closed["assessment_date"] <= closed["close_date"]).all()
    # services received never exceed services referred; both present together
    s = engaged.filter(pl.col("services_referred_count").is_not_null())
    assert (s["services_received_count"] <= s["services_referred_count"]).all()
    assert s["services_received_count"].null_count() == 0
    # satisfaction: only closed cases, 1-5, about a third respond, mostly satisfied
    sat = cases.filter(pl.col("satisfaction_score").is_not_null())
    assert sat["close_date"].null_count() == 0 and sat["satisfaction_score"].is_between(1, 5).all()
    assert 0.2 < sat.height / engaged.filter(pl.col("close_date").is_not_null()).height < 0.5
    assert sat["satisfaction_score"].mean() > 3.5


def test_scheduled_contacts_and_notes(clean_small):
    contacts = read_raw(clean_small.out_dir, "cm_contact").with_columns(
        pl.col("contact_date", "scheduled_date").str.to_date(), pl.col("note_flag").cast(pl.Int64))
    cases = _cases(clean_small.out_dir).select("case_id", "first_contact_date")
    scheduled = contacts.filter(pl.col("scheduled_date").is_not_null()).join(cases, on="case_id")
    assert scheduled.height > 100
    assert (scheduled["scheduled_date"] > scheduled["first_contact_date"]).all()
    on_time = (scheduled["contact_date"] <= scheduled["scheduled_date"]).mean()
    assert 0.65 < on_time < 0.9
    assert contacts["note_flag"].is_in([0, 1]).all() and 0.7 < contacts["note_flag"].mean() < 0.97
