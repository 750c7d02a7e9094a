"""Case management in the demo data: the case-manager roster, who is referred to which program,
what becomes of each referral (case paths), and the cm_case / cm_contact / cm_goal extracts.

The model and its calibration sources are written up in docs/generator.md ("Case management").
"""

from __future__ import annotations

import numpy as np
import polars as pl

from synth import tables as T
from synth.common import _choice, _ids, _IdSpace, _nullable, _rng, _row_choice, _Share, _Window

def _roster(seed: int, n_members: int):
    rng = _rng(seed, "roster")
    n = max(3, int(round(n_members / 1500)))
    counts = np.zeros(len(T.PROGRAMS), dtype=np.int64)
    counts[: min(n, len(T.PROGRAMS))] = 1
    rest = n - counts.sum()
    if rest > 0:
        extra = np.floor(T.PROGRAM_SHARE * rest).astype(np.int64)
        extra[0] += rest - extra.sum()
        counts += extra
    prog = np.repeat(np.array(T.PROGRAMS), counts)
    lo = np.array([T.PROGRAM_CAPACITY[p][0] for p in prog])
    hi = np.array([T.PROGRAM_CAPACITY[p][1] for p in prog])
    cap = rng.integers(lo, hi + 1)
    first = np.r_[True, prog[1:] != prog[:-1]]
    active = np.where(first, 1, (rng.random(n) >= 0.05).astype(np.int64))
    region = np.array([s[1] for s in T.STATES])[np.arange(n) % len(T.STATES)]
    team_no = np.concatenate([np.arange(c) // 8 + 1 for c in counts if c > 0])
    short = {"complex_care": "CC", "care_transitions": "CT", "brokerage": "BR",
             "intensive_case_management": "ICM", "assertive_community_treatment": "ACT"}
    team = np.array([f"{short[p]}-{t}" for p, t in zip(prog, team_no)])  # one string per CM, small
    return pl.DataFrame({
        "case_manager_id": _ids("CM", np.arange(n), 4), "team": team, "program": prog, "region": region,
        "setting": np.array([T.PROGRAM_SETTING.get(p, "community") for p in prog]),
        "capacity": cap.astype(np.int64), "active_flag": active.astype(np.int64),
    })


def _target_cases(roster: pl.DataFrame, program: str, days: int) -> int:
    r = roster.filter((pl.col("program") == program) & (pl.col("active_flag") == 1))
    occupancy = 0.75 * float(r["capacity"].sum())
    dur = T.PROGRAM_DURATION[program]
    eff = 0.78 * dur + 0.22 * 25
    window = days + (0 if program == "care_transitions" else dur)
    return int(round(occupancy * window / eff))


def _case_paths(rng, person, program, referral, source, D, dd, cov_end):
    """Turn referrals into case rows (dict of numpy arrays, offsets in days)."""
    n = len(person)
    ct = program == "care_transitions"
    u = rng.random(n)
    declined = u < np.where(ct, 0.10, 0.12)
    unreach = ~declined & (u < np.where(ct, 0.18, 0.22))
    engaged = ~declined & ~unreach
    first = referral + np.where(ct, rng.integers(1, 4, n), rng.integers(1, 11, n))
    open_ = first + rng.integers(0, 3, n)
    dur = np.zeros(n)
    for p_, d_ in T.PROGRAM_DURATION.items():
        dur[program == p_] = d_
    close = np.where(engaged, open_ + np.maximum(7, rng.gamma(2.0, dur / 2.0)).astype(np.int64),
                     np.where(declined, first + rng.integers(0, 4, n), referral + rng.integers(21, 46, n)))
    reason = np.where(engaged, _choice(rng, np.array(["goals_met", "declined", "moved", "transferred", "other"]),
                                       [0.7, 0.08, 0.05, 0.05, 0.12], n),
                      np.where(declined, "declined", "unable_to_reach"))
    died = dd[person] <= close
    close = np.where(died, np.maximum(dd[person], referral), close)
    reason = np.where(died, "deceased", reason)
    moved = ~died & (cov_end[person] < close)
    close = np.where(moved, np.maximum(cov_end[person], referral), close)
    reason = np.where(moved, "moved", reason)
    first_v = ~unreach & (first <= np.minimum(close, D - 1))
    open_v = engaged & (open_ <= np.minimum(close, D - 1))
    close_v = close <= D - 1
    # a declined/engaged case closed before first contact becomes unable_to_reach
    reason = np.where(close_v & ~first_v & (reason != "deceased") & (reason != "moved"), "unable_to_reach", reason)
    return {"person": person, "program": program, "source": source, "referral": referral,
            "open": np.where(open_v, open_, 10**6), "open_v": open_v,
            "first": np.where(first_v, first, 10**6), "first_v": first_v,
            "close": np.where(close_v, close, 10**6), "close_v": close_v, "reason": reason,
            "engaged": open_v}


def _community_cases(seed, m, roster, D, dd, cov_start, cov_end, share: _Share):
    rng = _rng(seed, "community_cases")
    ci = m["ci"]
    cond = m["cond"]
    ok = (m["optout"] == 0) & (cov_start <= D - 1)
    weights = {
        "complex_care": m["rate_ip"] * (1 + m["charlson"]) * (m["age"] >= 18),
        "intensive_case_management": (cond[:, ci["dep"]] | cond[:, ci["dementia"]] | cond[:, ci["smi"]])
        * (1.0 + m["n_chronic"]) * (1.0 + m["n_needs"]),
        "assertive_community_treatment": cond[:, ci["smi"]] * (1.0 + (m["payer"] == 1)) * (m["age"] >= 18),
        "brokerage": (m["n_needs"] > 0) * (m["n_needs"] ** 2.0),
    }
    sources = {
        "complex_care": ([ "risk_model", "provider", "self", "other"], [0.5, 0.3, 0.05, 0.15]),
        "intensive_case_management": (["provider", "risk_model", "hospital", "other"], [0.5, 0.2, 0.2, 0.1]),
        "assertive_community_treatment": (["provider", "hospital", "other"], [0.6, 0.2, 0.2]),
        "brokerage": (["self", "provider", "risk_model", "other"], [0.3, 0.3, 0.2, 0.2]),
    }
    parts = []
    for prog, w in weights.items():
        w = np.where(ok, w, 0.0)
        k = min(share(_target_cases(roster, prog, D)), int((w > 0).sum()))
        if k <= 0:
            continue
        key = np.where(w > 0, np.log(np.maximum(w, 1e-300)) + rng.gumbel(size=len(w)), -np.inf)
        who = np.sort(np.argpartition(-key, k - 1)[:k])
        dur = T.PROGRAM_DURATION[prog]
        lo = np.maximum(cov_start[who], -dur)
        hi = np.minimum(np.minimum(cov_end[who], dd[who]), D - 1)
        hi = np.maximum(hi, lo)
        referral = lo + (rng.random(k) * (hi - lo + 1)).astype(np.int64)
        src = _choice(rng, np.array(sources[prog][0]), sources[prog][1], k)
        parts.append(_case_paths(rng, who, np.full(k, prog, dtype="<U29"), referral, src, D, dd, cov_end))
    return parts


def _cases_frame(parts) -> pl.DataFrame:
    if not parts:
        return pl.DataFrame(schema={"person": pl.Int64, "open": pl.Int64, "close": pl.Int64, "engaged": pl.Boolean})
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return pl.DataFrame(cat)


def _cm_tables(seed, cases: pl.DataFrame, roster: pl.DataFrame, win: _Window, m, ids: _IdSpace):
    """cm_case, cm_contact and cm_goal frames from the case paths."""
    rng = _rng(seed, "cm_tables")
    D = win.days
    cases = cases.sort("referral", "person", "program")
    n = cases.height
    prog = cases["program"].to_numpy()
    # assign a case manager of the program (active ones), uniformly
    cm_id = np.full(n, "", dtype=object)
    cm_ids = roster["case_manager_id"].to_numpy()
    rprog = roster["program"].to_numpy()
    ractive = roster["active_flag"].to_numpy() == 1
    cm_idx = np.full(n, -1)
    for p_ in T.PROGRAMS:
        pool = np.flatnonzero((rprog == p_) & ractive)
        sel = prog == p_
        if pool.size and sel.any():
            cm_idx[sel] = pool[rng.integers(0, pool.size, sel.sum())]
    keep = cm_idx >= 0
    cases = cases.filter(pl.Series(keep))
    cm_idx, prog = cm_idx[keep], prog[keep]
    n = cases.height
    acuity = np.where(np.isin(prog, ["assertive_community_treatment", "intensive_case_management"]),
                      _choice(rng, np.array([2, 3]), [0.4, 0.6], n),
                      np.where(prog == "brokerage", _choice(rng, np.array([1, 2]), [0.7, 0.3], n),
                               _choice(rng, np.array([1, 2, 3]), [0.3, 0.45, 0.25], n)))
    c = {k: cases[k].to_numpy() for k in cases.columns}
    case_id = ids("CASE", np.arange(n), 7)
    person_id = ids("P", c["person"], 8)
    cm_case = pl.DataFrame({
        "case_id": case_id, "person_id": person_id,
        "case_manager_id": pl.Series(cm_ids[cm_idx].astype(str)), "program": prog.astype(str),
        "referral_source": c["source"].astype(str), "referral_date": win.dates(c["referral"]),
        "open_date": win.dates(c["open"], c["open_v"]), "first_contact_date": win.dates(c["first"], c["first_v"]),
        "close_date": win.dates(c["close"], c["close_v"]),
        "close_reason": _nullable(c["reason"].astype(str), c["close_v"]), "acuity_level": acuity.astype(np.int64),
    })
    cm_case = cm_case.with_columns(**_case_standard_fields(seed, c, win))
    end = np.where(c["close_v"], c["close"], D - 1)
    interval = np.zeros(n)
    for p_, iv in T.PROGRAM_CONTACT_INTERVAL.items():
        interval[prog == p_] = iv
    # attempts before first contact (or until closure when never reached)
    reach_day = np.where(c["first_v"], c["first"], end)
    pre_span = np.maximum(reach_day - c["referral"], 0)
    k0 = np.where(c["first_v"], rng.geometric(0.55, n) - 1, rng.integers(2, 7, n))
    k0 = np.where(pre_span > 0, k0, 0)
    r0 = np.repeat(np.arange(n), k0)
    d0 = c["referral"][r0] + (rng.random(r0.size) * pre_span[r0]).astype(np.int64)
    o0 = _choice(rng, np.array(["no_answer", "left_message"]), [0.55, 0.45], r0.size)
    # the first successful contact
    r1 = np.flatnonzero(c["first_v"])
    d1 = c["first"][r1]
    o1 = np.where(c["reason"][r1] == "declined", "refused", "reached")
    # follow-on contacts while the case is open
    post = np.where(c["open_v"], np.maximum(end - c["first"], 0), 0)
    k2 = rng.poisson(post / interval)
    r2 = np.repeat(np.arange(n), k2)
    d2 = c["first"][r2] + 1 + (rng.random(r2.size) * post[r2]).astype(np.int64)
    d2 = np.minimum(d2, end[r2])
    o2 = _choice(rng, np.array(["reached", "no_answer", "left_message", "refused"]), [0.7, 0.15, 0.12, 0.03], r2.size)
    rr = np.concatenate([r0, r1, r2])
    dd_ = np.concatenate([d0, d1, d2])
    oo = np.concatenate([o0, o1, o2])
    order = np.lexsort((np.concatenate([np.zeros(r0.size), np.ones(r1.size), np.full(r2.size, 2)]), dd_, rr))
    is_follow_on = np.concatenate([np.zeros(r0.size + r1.size, dtype=bool), np.ones(r2.size, dtype=bool)])[order]
    rr, dd_, oo = rr[order], dd_[order], oo[order]
    act = prog[rr] == "assertive_community_treatment"
    mode = np.where(act, _choice(rng, np.array(["in_person", "phone", "text"]), [0.65, 0.25, 0.10], rr.size),
                    _choice(rng, np.array(["phone", "in_person", "video", "text", "mail"]),
                            [0.65, 0.15, 0.08, 0.08, 0.04], rr.size))
    cm_contact = pl.DataFrame({
        "contact_id": ids("CT", np.arange(rr.size), 8), "case_id": case_id.gather(rr),
        "person_id": person_id.gather(rr), "contact_date": win.dates(dd_), "contact_mode": mode.astype(str),
        "outcome": oo.astype(str),
    })
    cm_contact = cm_contact.with_columns(**_contact_standard_fields(seed, rr, dd_, oo, is_follow_on, c, win))
    # goals for engaged cases
    eng = np.flatnonzero(c["open_v"] & c["first_v"])
    kg = np.minimum(1 + rng.poisson(1.2, eng.size), 4)
    g = np.repeat(eng, kg)
    gp = np.zeros((g.size, len(T.GOAL_DOMAINS)))
    for p_, pr in T.PROGRAM_GOAL_P.items():
        gp[prog[g] == p_] = pr
    dom = T.GOAL_DOMAINS[_row_choice(rng, gp)]
    set_d = np.minimum(np.maximum(c["first"][g], c["open"][g]) + rng.integers(0, 15, g.size), end[g])
    target = np.minimum(set_d + rng.integers(30, 121, g.size), D - 1)
    ach = set_d + rng.integers(7, 150, g.size)
    achieved = (rng.random(g.size) < 0.6) & (ach <= end[g])
    status = np.where(achieved, "achieved", np.where(c["close_v"][g], "abandoned", "open"))
    cm_goal = pl.DataFrame({
        "goal_id": ids("G", np.arange(g.size), 8), "case_id": case_id.gather(g), "domain": dom.astype(str),
        "set_date": win.dates(set_d), "target_date": win.dates(target), "achieved_date": win.dates(ach, achieved),
        "status": status.astype(str),
    })
    return cm_case, cm_contact, cm_goal


def _case_standard_fields(seed, c, win: _Window) -> dict[str, pl.Series]:
    """Fields case-management standards ask for (CMSA): assessment and care-plan dates, services
    referred and received, and a closing satisfaction survey. Drawn from their own random stream,
    so the older cm_case columns keep their values."""
    rng = _rng(seed, "cm_case_standards")
    D = win.days
    n = len(c["person"])
    engaged = c["open_v"] & c["first_v"]
    end = np.where(c["close_v"], c["close"], D - 1)
    start = np.maximum(c["first"], c["open"])
    assess = start + rng.integers(0, 8, n)
    assess_v = engaged & (rng.random(n) < 0.92) & (assess <= end)
    plan = assess + rng.integers(0, 15, n)
    plan_v = assess_v & (rng.random(n) < 0.88) & (plan <= end)
    referred = rng.poisson(1.6, n)
    received = rng.binomial(referred, np.where(c["close_v"], 0.75, 0.55))
    survey_v = engaged & c["close_v"] & (rng.random(n) < 0.35)
    score = _choice(rng, np.arange(1, 6), [0.04, 0.06, 0.15, 0.35, 0.40], n)
    return {
        "assessment_date": win.dates(assess, assess_v),
        "care_plan_date": win.dates(plan, plan_v),
        "services_referred_count": _nullable(referred.astype(np.int64), engaged),
        "services_received_count": _nullable(received.astype(np.int64), engaged),
        "satisfaction_score": _nullable(score.astype(np.int64), survey_v),
    }


def _contact_standard_fields(seed, rr, day, outcome, follow_on, c, win: _Window) -> dict[str, pl.Series]:
    """scheduled_date for follow-on contacts (about 78% on or before the date, the rest 1-14 days
    late) and note_flag (a contact note was written: 93% of reached contacts, 60% of attempts)."""
    rng = _rng(seed, "cm_contact_standards")
    k = len(rr)
    late = np.where(rng.random(k) < 0.78, -rng.integers(0, 3, k), rng.integers(1, 15, k))
    scheduled = np.maximum(day - late, c["first"][rr] + 1)
    scheduled = np.minimum(scheduled, win.days - 1)
    note = rng.random(k) < np.where(outcome == "reached", 0.93, 0.60)
    return {
        "scheduled_date": win.dates(scheduled, follow_on),
        "note_flag": pl.Series(note.astype(np.int64)),
    }


def _open_case_at(cases: pl.DataFrame, person: np.ndarray, day: np.ndarray) -> np.ndarray:
    if cases.height == 0 or len(person) == 0:
        return np.zeros(len(person), dtype=bool)
    q = pl.DataFrame({"i": np.arange(len(person)), "person": person, "day": day})
    hit = (q.join(cases.filter(pl.col("engaged")).select("person", "open", "close"), on="person")
           .filter((pl.col("open") <= pl.col("day")) & (pl.col("close") >= pl.col("day")))
           .select("i").unique())
    out = np.zeros(len(person), dtype=bool)
    out[hit["i"].to_numpy()] = True
    return out

