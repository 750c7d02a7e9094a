"""Case management in the demo data: the case-manager roster, who is referred to which program and
when, what becomes of each referral (case paths), what an engaged case does to the member's care
(the program's effect), the answer key of that effect, and the cm_* extracts.

The model and its calibration sources are written up in docs/generator.md ("Case management").
In short:

* **Community programs** (complex care, intensive case management, ACT, brokerage) take members in
  monthly intake rounds. Round r (the first day of each month) ranks the members who had an
  unplanned discharge or an ED visit in the 30 days before the data cut-off (8 days before the
  round) by a program score plus chance (Gumbel top-k), and refers the top ones into the
  program's open slots (75% of its active capacity, minus the cases still open). Members are thus
  picked right after a utilisation spike, and regression to the mean is there as in real programs.
* **Care transitions** refers at risky discharges (logistic in a risk score, budgeted to the
  program's capacity).
* **Selection** ``latent`` (default) scores on the member's true admission rate and needs, which no
  extract holds; ``observed`` scores only on what the extracts record (recent discharges and their
  LACE parts, prior admissions and ED visits, chronic conditions, Charlson, positive social-need
  screenings, age, payer) plus chance.
* **Effect** (scaled by ``CMOptions.effect`` = S; 0 = the program does nothing): a stay whose member
  is *enrolled at time zero* (an engaged case open at discharge or opened within 7 days, the rule
  of ``enrolled_at_time_zero``) gets +1.4·S on the log-odds of a 7-day follow-up visit, which lowers
  readmission log-odds by 0.55; and unplanned (background) admissions that fall inside an engaged
  community case are thinned with probability 1 - exp(-0.105·S) (rate ratio 0.90 at S = 1).
* **Heterogeneous effect**: S is scaled per member and day by the responsiveness h
  (``responsiveness``): x2 without a usual source of care, x(1 + 0.35·min(needs, 3)) with unmet
  social needs, normalised by ``H_SCALE`` so h averages about 1 over index stays, and 0.1 when the
  member dies (of the mortality hazard, ``m["death_latent"]``) within 180 days of the day the effect
  applies (the discharge for the follow-up, the admission day for the thinning).
  ``benefit_oracle`` writes each list-eligible member's risk with and without enrolment at a set of
  as-of dates (``_oracle/cm_benefit.csv``).
* **Lottery at the margin** (``CMOptions.lottery`` = F > 0): in complex care's rounds the
  round(F·slots) members closest to the capacity cut (half above it, half below) are randomised:
  a seeded random half of the band is offered, the other half is not (and neither half is
  re-entered into complex-care intake for 180 days). Logged in ``cm_intake_assignment``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.special import expit
from scipy.stats import gamma as gamma_dist

from synth import tables as T
from synth.common import _choice, _count_before, _ids, _IdSpace, _nullable, _rng, _row_choice, _Share, _Window

SELECTIONS = ("latent", "observed")
COMMUNITY_PROGRAMS = ("complex_care", "intensive_case_management", "assertive_community_treatment", "brokerage")
CARE_TRANSITIONS = "care_transitions"
LOTTERY_PROGRAM = "complex_care"
GRACE_DAYS = 7  # enrolled at time zero: engaged case open at discharge or opened within this many days
DATA_LAG_DAYS = 8  # an intake round ranks on data through this many days before the round
LOOKBACK_DAYS = 30  # the utilisation spike that makes a member a candidate: within this many days
OCCUPANCY = 0.75  # community programs fill their active capacity up to this share
FOLLOWUP_LOG_ODDS = 0.55  # a 7-day follow-up visit lowers readmission odds by exp(-0.55) = 0.58x
ENROLLED_FOLLOWUP_LOG_ODDS = 1.4  # enrolment at time zero raises 7-day follow-up log-odds by 1.4·S
ADMISSION_LOG_RATE_RATIO = 0.105  # an engaged community case lowers the admission rate by exp(-0.105·S)
# the heterogeneous effect (docs/generator.md, "Heterogeneous effect"): h scales S in both mechanisms
NO_USUAL_SOURCE_H = 2.0  # no usual source of care: the program supplies the missing coordination
NEEDS_H_STEP = 0.35  # x(1 + 0.35·min(unmet social needs, 3))
END_OF_LIFE_DAYS = 180  # dying (of the mortality hazard) within this many days of the day the effect applies
END_OF_LIFE_H = 0.1  # ... leaves the program next to nothing to change
H_SCALE = 0.72  # h averages ~1 over index stays (measured on 20k members, seed 3; a fixed constant, never a chunk mean)
BENEFIT_HORIZON = 365  # admission_12m in _oracle/cm_benefit.csv: the 365 days after the as-of date
LOTTERY_WASHOUT_DAYS = 180  # band members are not re-entered into the lottery program's intake
NEVER = 10**6
_CASE_KEYS = ("person", "kind", "sid", "referral", "open", "open_v", "end")
COMMUNITY, CT_KIND = 0, 1


@dataclass(frozen=True)
class CMOptions:
    """The switches of the case-management model (``riskstrat synth --cm-effect/--cm-selection/--cm-lottery``)."""

    effect: float = 1.0
    selection: str = "latent"
    lottery: float = 0.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.effect) and self.effect >= 0):
            raise ValueError(f"cm_effect must be a number >= 0, not {self.effect!r}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"cm_selection must be one of {SELECTIONS}, not {self.selection!r}")
        if not 0.0 <= self.lottery <= 1.0:
            raise ValueError(f"cm_lottery must lie in [0, 1], not {self.lottery!r}")

    @property
    def thinning(self) -> float:
        """Probability that an unplanned admission inside an engaged community case is avoided, at h = 1."""
        return float(1.0 - np.exp(-self.effect * ADMISSION_LOG_RATE_RATIO))

    def thinning_at(self, h):
        """The same at responsiveness ``h`` (scalar or array): 1 - exp(-0.105·S·h)."""
        return 1.0 - np.exp(-self.effect * ADMISSION_LOG_RATE_RATIO * np.asarray(h, dtype=float))


def base_responsiveness(m, person: np.ndarray) -> np.ndarray:
    """The member's responsiveness h away from the end of life: H_SCALE x (2 without a usual source
    of care) x (1 + 0.35·min(unmet social needs, 3)) (the true needs, screened or not)."""
    return (H_SCALE * np.where(m["no_usual_source"][person], NO_USUAL_SOURCE_H, 1.0)
            * (1.0 + NEEDS_H_STEP * np.minimum(m["n_needs"][person], 3)))


def end_of_life_from(m, person: np.ndarray) -> np.ndarray:
    """The first day on which the member's h is END_OF_LIFE_H: 180 days before the mortality-hazard
    death (recorded in the window or latent after it; an in-hospital death is an outcome of the
    admissions the program acts on and does not switch the modifier)."""
    return m["death_latent"][person] - END_OF_LIFE_DAYS


def responsiveness(m, person: np.ndarray, day) -> np.ndarray:
    """h of ``person`` on ``day`` (offsets from the window start): the factor on S in both
    mechanisms.  0.1 from 180 days before the member's death, else ``base_responsiveness``."""
    person = np.asarray(person)
    return np.where(np.asarray(day) >= end_of_life_from(m, person), END_OF_LIFE_H, base_responsiveness(m, person))


def enrolled_at_time_zero(cases: pl.DataFrame, person: np.ndarray, discharge: np.ndarray) -> np.ndarray:
    """The shared treatment rule, per (person, discharge day): the member has a case with an open
    day (``open_v``), referral <= discharge + 7, open <= discharge + 7 and an end after discharge
    (``end`` = close day, or later than the window for a case still open).  ``cases`` holds
    ``person, referral, open, open_v, end``; day offsets from the window start."""
    n = len(person)
    if n == 0 or cases.height == 0:
        return np.zeros(n, dtype=bool)
    q = pl.DataFrame({"i": np.arange(n), "person": np.asarray(person), "d": np.asarray(discharge)})
    hit = (q.join(cases.filter(pl.col("open_v")).select("person", "referral", "open", "end"), on="person")
           .filter(_time_zero(pl.col("d"))).select("i").unique())
    out = np.zeros(n, dtype=bool)
    out[hit["i"].to_numpy()] = True
    return out


def _time_zero(d: pl.Expr) -> pl.Expr:
    return ((pl.col("referral") <= d + GRACE_DAYS) & (pl.col("open") <= d + GRACE_DAYS) & (pl.col("end") > d))


def covered_days(q: pl.DataFrame, cases: pl.DataFrame, drop_time_zero: bool = False) -> np.ndarray:
    """Days in [lo, hi) on which any of the member's engaged cases is open ([open, end)), per row of
    ``q`` (``i`` = 0..n-1, ``person``, ``d``, ``lo``, ``hi``).  With ``drop_time_zero`` the cases
    that make the stay discharged on ``d`` enrolled at time zero are left out."""
    out = np.zeros(q.height)
    if q.height == 0 or cases.height == 0:
        return out
    j = q.join(cases.filter(pl.col("open_v")).select("person", "referral", "open", "end"), on="person")
    if drop_time_zero:
        j = j.filter(~_time_zero(pl.col("d")))
    j = (j.with_columns(pl.max_horizontal("open", "lo").alias("s"), pl.min_horizontal("end", "hi").alias("e"))
         .filter(pl.col("e") > pl.col("s")).sort("i", "s", "e")
         .with_columns(pl.col("e").cum_max().shift(1).over("i").alias("prev")))
    j = j.with_columns((pl.col("e") - pl.max_horizontal("s", pl.col("prev").fill_null(pl.col("s"))))
                       .clip(lower_bound=0).alias("days"))
    agg = j.group_by("i").agg(pl.col("days").sum())
    out[agg["i"].to_numpy()] = agg["days"].to_numpy()
    return out


def expected_open_curve(program: str, horizon: int) -> np.ndarray:
    """``expected_open_days(program, t)`` for every t = 0..horizon (E(t): the expected engaged days of
    an offer within the t days after its round)."""
    p_engaged = 1.0 - 0.22
    offset = np.convolve(np.convolve(np.full(5, 0.2), np.r_[0.0, np.full(10, 0.1)]), np.full(3, 1 / 3))
    k = np.arange(1, horizon + 1)
    survive = np.where(k <= 7, 1.0, gamma_dist.sf(k, 2.0, scale=T.PROGRAM_DURATION[program] / 2.0))
    cum = np.r_[0.0, np.cumsum(survive)]
    t = np.arange(horizon + 1)[:, None]
    inside = np.clip(t + 1 - np.arange(offset.size)[None, :], 0, t)
    return p_engaged * (offset[None, :] * cum[inside]).sum(axis=1)


def expected_open_days(program: str, horizon: int) -> float:
    """Expected days an offered community referral is open and engaged within the ``horizon`` days
    after its intake round: P(engaged) x E|[open, close) ∩ [1, horizon]|, from the case-path
    distribution of ``_case_paths`` (referral 0-4 days after the round, first contact 1-10 days
    later, opening 0-2 days after that, length max(7, Gamma(2, duration/2))); death and
    disenrolment are left out."""
    p_engaged = 1.0 - 0.22
    offset = np.convolve(np.convolve(np.full(5, 0.2), np.r_[0.0, np.full(10, 0.1)]), np.full(3, 1 / 3))
    k = np.arange(1, horizon + 1)
    survive = np.where(k <= 7, 1.0, gamma_dist.sf(k, 2.0, scale=T.PROGRAM_DURATION[program] / 2.0))
    cum = np.r_[0.0, np.cumsum(survive)]  # cum[c] = E[min(length, c)]
    o = np.arange(offset.size)
    inside = np.clip(horizon + 1 - o, 0, horizon)
    return float(p_engaged * np.sum(offset * cum[inside]))


# ----------------------------------------------------------------------------------------
# roster, capacity and case paths
# ----------------------------------------------------------------------------------------
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


def _active_capacity(roster: pl.DataFrame, program: str) -> float:
    r = roster.filter((pl.col("program") == program) & (pl.col("active_flag") == 1))
    return float(r["capacity"].sum())


def _mean_case_days(program: str) -> float:
    """Mean days a referral occupies a slot: engaged cases last about the program's duration,
    declined and unreached ones about 25 days."""
    return 0.78 * T.PROGRAM_DURATION[program] + 0.22 * 25


def _target_cases(roster: pl.DataFrame, program: str, days: int) -> int:
    """Referrals that keep a program at ~75% occupancy over ``days`` (care transitions' budget)."""
    occupancy = OCCUPANCY * _active_capacity(roster, program)
    dur = T.PROGRAM_DURATION[program]
    window = days + (0 if program == CARE_TRANSITIONS else dur)
    return int(round(occupancy * window / _mean_case_days(program)))


def occupancy_target(roster: pl.DataFrame, program: str) -> int:
    """Open cases a community program holds at most in a whole (unchunked) population."""
    return int(round(OCCUPANCY * _active_capacity(roster, program)))


def _case_paths(rng, person, program, referral, source, D, dd, cov_end):
    """Turn referrals into case rows (dict of numpy arrays, offsets in days).  ``end`` is the close
    day before the window cut (``close`` is NEVER for a case still open at the window end)."""
    n = len(person)
    ct = program == CARE_TRANSITIONS
    u = rng.random(n)
    declined = u < np.where(ct, 0.10, 0.12)
    unreach = ~declined & (u < np.where(ct, 0.18, 0.22))
    engaged = ~declined & ~unreach
    # care transitions calls within 1-3 days; 15% of members take 4-14 days to reach
    ct_first = np.where(rng.random(n) < 0.85, rng.integers(1, 4, n), rng.integers(4, 15, n))
    first = referral + np.where(ct, ct_first, rng.integers(1, 11, n))
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
            "open": np.where(open_v, open_, NEVER), "open_v": open_v,
            "first": np.where(first_v, first, NEVER), "first_v": first_v,
            "close": np.where(close_v, close, NEVER), "close_v": close_v, "reason": reason,
            "engaged": open_v, "end": close}


def _cases_frame(parts) -> pl.DataFrame:
    if not parts:
        return pl.DataFrame(schema={"person": pl.Int64, "kind": pl.Int64, "sid": pl.Int64, "referral": pl.Int64,
                                    "open": pl.Int64, "open_v": pl.Boolean, "end": pl.Int64})
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return pl.DataFrame(cat)


# ----------------------------------------------------------------------------------------
# what the extracts record, and the program scores
# ----------------------------------------------------------------------------------------
class Recorded:
    """What the extracts record about members up to a day: unplanned discharges (with the stay's
    LACE score), ED visits, positive social-need screenings and deaths.  Discharges are added as
    the stays are simulated, so a query at day c sees exactly the stays discharged by then; ED
    visits the claims will not hold (during a stay, after death) are taken out as those are known."""

    def __init__(self, K: int, ed_person: np.ndarray, ed_day: np.ndarray, needs_first: np.ndarray,
                 death_day: np.ndarray, conditions_first: np.ndarray | None = None):
        self.K = K
        # (members, conditions): the day each chronic condition was first coded on an office visit
        # (NEVER if not); None = every condition counts as recorded from the start
        self.conditions_first = conditions_first
        keep = ed_day <= death_day[ed_person]
        order = np.lexsort((ed_day[keep], ed_person[keep]))
        self._ed_person, self._ed_day = ed_person[keep][order], ed_day[keep][order]
        self._ed_all_keys = self._ed_person * K + self._ed_day
        self._ed_ok = np.ones(self._ed_day.size, dtype=bool)
        self._ed_dirty = True
        self.needs_first = needs_first  # (members, domains): first positive screening day, NEVER if none
        self.death_known = death_day.copy()  # lowered by in-hospital deaths as stays are simulated
        self._parts: list[tuple[np.ndarray, np.ndarray]] = []
        self._keys = np.zeros(0, dtype=np.int64)
        self._lace = np.zeros(0)
        self._sorted = True

    def add_discharges(self, person: np.ndarray, day: np.ndarray, lace: np.ndarray) -> None:
        if len(person):
            self._parts.append((person * self.K + day, np.asarray(lace, dtype=float)))
            self._sorted = False

    def died(self, person: np.ndarray, day: np.ndarray) -> None:
        np.minimum.at(self.death_known, person, day)
        self._drop_ed(person, day + 1, np.full(len(person), NEVER))

    def add_stays(self, person: np.ndarray, adm: np.ndarray, disc: np.ndarray) -> None:
        """ED visits on a day of a stay (admission to discharge) never reach the claims."""
        self._drop_ed(person, adm, disc)

    def _drop_ed(self, person, lo, hi) -> None:
        if len(person) == 0:
            return
        a = np.searchsorted(self._ed_all_keys, person * self.K + lo, "left")
        b = np.searchsorted(self._ed_all_keys, person * self.K + np.minimum(hi, self.K - 1), "right")
        n = np.maximum(b - a, 0)
        if n.sum():
            self._ed_ok[np.repeat(a, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)] = False
            self._ed_dirty = True

    def _ed(self) -> None:
        if self._ed_dirty:
            ok = self._ed_ok
            self.ed_person, self.ed_day, self.ed_keys = self._ed_person[ok], self._ed_day[ok], self._ed_all_keys[ok]
            self._ed_dirty = False

    def ed_before(self, person: np.ndarray, day: np.ndarray, days: int) -> np.ndarray:
        """ED visits in the ``days`` days before ``day`` (LACE's E)."""
        self._ed()
        base = person * self.K
        return _count_before(self.ed_keys, base + np.maximum(day - days, 0), base + day)

    def discharges(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._sorted:
            keys = np.concatenate([self._keys] + [p[0] for p in self._parts])
            lace = np.concatenate([self._lace] + [p[1] for p in self._parts])
            order = np.argsort(keys, kind="stable")
            self._keys, self._lace, self._parts, self._sorted = keys[order], lace[order], [], True
        return self._keys, self._lace

    def spiked(self, lo: int, hi: int) -> np.ndarray:
        """Members with an unplanned discharge or an ED visit on a day in [lo, hi]."""
        keys, _ = self.discharges()
        self._ed()
        day = keys % self.K
        sel = (day >= lo) & (day <= hi)
        ed = (self.ed_day >= lo) & (self.ed_day <= hi)
        return np.unique(np.concatenate([keys[sel] // self.K, self.ed_person[ed]]))

    def conditions(self, person: np.ndarray, day, m) -> np.ndarray:
        """(len(person), conditions) bool: the member's chronic conditions coded on or before ``day``."""
        if self.conditions_first is None:
            return m["cond"][person]
        return (self.conditions_first[person] <= np.asarray(day)[..., None]) & m["cond"][person]

    def needs(self, person: np.ndarray, day) -> np.ndarray:
        """Social-need domains screened positive on or before ``day``."""
        return (self.needs_first[person] <= np.asarray(day)[..., None]).sum(axis=1) if len(person) else np.zeros(0, int)

    def at(self, person: np.ndarray, c) -> dict[str, np.ndarray]:
        """Recorded utilisation of ``person`` on data through day ``c`` (inclusive)."""
        keys, lace = self.discharges()
        self._ed()
        K, c = self.K, np.asarray(c)
        base = person * K
        lo30, lo365, hi = base + np.maximum(c - LOOKBACK_DAYS + 1, 0), base + np.maximum(c - 364, 0), base + c + 1
        last = np.searchsorted(keys, base + c, "right") - 1
        recent = (last >= 0) & (keys[np.maximum(last, 0)] >= lo30) if keys.size else np.zeros(len(person), bool)
        return {
            "discharges_30d": _count_before(keys, lo30, hi),
            "lace_last_30d": np.where(recent, lace[np.maximum(last, 0)] if keys.size else 0.0, 0.0),
            "ed_30d": _count_before(self.ed_keys, lo30, hi),
            "admissions_12m": _count_before(keys, lo365, hi),
            "ed_12m": _count_before(self.ed_keys, lo365, hi),
            "needs": self.needs(person, c),
        }

    def admissions_before(self, person: np.ndarray, day: np.ndarray, days: int) -> np.ndarray:
        """Unplanned discharges in the ``days`` days before ``day`` (day itself excluded)."""
        keys, _ = self.discharges()
        base = person * self.K
        return _count_before(keys, base + np.maximum(day - days, 0), base + day)


def charlson_points(cond: np.ndarray, ci: dict[str, int]) -> np.ndarray:
    """Charlson points of (n, conditions) bool rows (weights ``tables.CHARLSON_WEIGHT``; diabetes with
    kidney disease counts once more, as complicated diabetes)."""
    points = np.zeros(len(cond))
    for c, weight in T.CHARLSON_WEIGHT.items():
        points += weight * cond[:, ci[c]]
    return points + (cond[:, ci["dm"]] & cond[:, ci["ckd"]])


def _static(m, person: np.ndarray, day, recorded: Recorded) -> dict[str, np.ndarray]:
    """Recorded member facts: the chronic conditions coded by ``day`` (their count, Charlson points
    and the condition matrix ``cond``), age, payer."""
    cond = recorded.conditions(person, day, m)
    return {
        "cond": cond, "n_chronic": cond.sum(axis=1).astype(float), "charlson": charlson_points(cond, m["ci"]),
        "age65": (m["age"][person] + np.asarray(day) / 365.25 >= 65).astype(float),
        "medicaid": (m["payer"][person] == 1).astype(float), "medicare": (m["payer"][person] == 0).astype(float),
    }


def community_score(program: str, selection: str, m, person: np.ndarray, f: dict[str, np.ndarray]):
    """(eligible, log-weight) of candidates for a community program.  ``observed`` uses only the
    recorded facts in ``f`` (``Recorded.at`` + ``_static``); ``latent`` (as before this model had
    rounds) ranks on the member's true admission rate and true social needs as well."""
    # which conditions a program can see: the true ones (latent) or those coded by the cut-off (observed)
    cond, ci = (m["cond"][person] if selection == "latent" else f["cond"]), m["ci"]
    adult = m["age"][person] >= 18
    needs = np.minimum(f["needs"], 3)
    adm, ed = np.minimum(f["admissions_12m"], 4), np.minimum(f["ed_12m"], 6)
    if program == "complex_care":
        if selection == "latent":
            return adult, np.log(m["rate_ip"][person]) + np.log1p(m["charlson"][person])
        return adult, (0.9 * (f["discharges_30d"] > 0) + 0.10 * f["lace_last_30d"] + 0.3 * np.minimum(f["ed_30d"], 3)
                       + 0.35 * adm + 0.10 * ed + 0.25 * f["charlson"] + 0.10 * f["n_chronic"] + 0.15 * needs
                       + 0.4 * f["age65"] + 0.2 * f["medicaid"])
    if program == "intensive_case_management":
        ok = cond[:, ci["dep"]] | cond[:, ci["dementia"]] | cond[:, ci["smi"]]
        if selection == "latent":
            return ok, np.log1p(m["n_chronic"][person]) + np.log1p(m["n_needs"][person])
        return ok, (np.log1p(f["n_chronic"]) + 0.35 * needs + 0.15 * ed + 0.2 * adm + 0.5 * (f["discharges_30d"] > 0))
    if program == "assertive_community_treatment":
        ok = cond[:, ci["smi"]] & adult
        if selection == "latent":
            return ok, np.log1p(f["medicaid"])
        return ok, np.log1p(f["medicaid"]) + 0.3 * adm
    if program == "brokerage":
        n = m["n_needs"][person] if selection == "latent" else f["needs"]
        return n > 0, 2.0 * np.log(np.maximum(n, 1)) + (0.0 if selection == "latent" else 0.1 * ed)
    raise ValueError(f"no community intake for {program!r}")


def care_transitions_score(selection: str, m, person: np.ndarray, lace: np.ndarray, prior_180d: np.ndarray,
                           needs: np.ndarray, day: np.ndarray, recorded: Recorded) -> np.ndarray:
    """Log-odds (before the budget intercept) of a care-transitions referral at a discharge."""
    if selection == "latent":
        return np.log(m["rate_ip"][person]) + np.log1p(m["lace_c"][person])
    s = _static(m, person, day, recorded)
    return (0.15 * lace + 0.35 * np.minimum(prior_180d, 3) + 0.10 * s["n_chronic"] + 0.12 * np.minimum(needs, 3)
            + 0.3 * s["age65"] + 0.2 * s["medicaid"])


SOURCES = {
    "complex_care": (["risk_model", "provider", "self", "other"], [0.5, 0.3, 0.05, 0.15]),
    "intensive_case_management": (["provider", "risk_model", "hospital", "other"], [0.5, 0.2, 0.2, 0.1]),
    "assertive_community_treatment": (["provider", "hospital", "other"], [0.6, 0.2, 0.2]),
    "brokerage": (["self", "provider", "risk_model", "other"], [0.3, 0.3, 0.2, 0.2]),
}


# ----------------------------------------------------------------------------------------
# the program over time: intake rounds, care-transitions referrals, the effect's hooks
# ----------------------------------------------------------------------------------------
class CaseManagement:
    """The case-management side of one member chunk while its stays are simulated in time order.

    The stay simulation calls, in time order: ``calibrate_care_transitions`` once, then for each
    batch of discharges ``refer_at_discharge`` and ``enrolled`` (the effect applies to enrolled
    stays), ``avoided`` for background admissions, and ``intake`` at each round day once every
    stay discharged by the round's data cut-off has been simulated."""

    def __init__(self, seed, m, roster: pl.DataFrame, win: _Window, share: _Share, opts: CMOptions,
                 death_day: np.ndarray, spans: dict, cov_end: np.ndarray, recorded: Recorded,
                 debug: dict | None = None):
        self.seed, self.m, self.win, self.opts, self.recorded = seed, m, win, opts, recorded
        self.D = win.days
        self.n = len(m["age"])
        self.dd, self.cov_end = death_day, cov_end
        self.span_person, self.span_start, self.span_end = spans["person"], spans["start"], spans["end"]
        self.rng = _rng(seed, "community_cases")
        self.ct_rng = _rng(seed, "ct_cases")
        m0, m1 = win.start.astype("datetime64[M]"), win.end.astype("datetime64[M]")
        self.round_days = (np.arange(m0, m1 + 1).astype("datetime64[D]") - win.start).astype(np.int64)
        self.targets: dict[str, tuple[int, int]] = {}
        for prog in COMMUNITY_PROGRAMS:
            occ = share(occupancy_target(roster, prog))
            per_round = int(np.ceil(2.0 * occ * 30.4 / _mean_case_days(prog))) if occ else 0
            self.targets[prog] = (occ, per_round)
        self.ct_budget = share(_target_cases(roster, CARE_TRANSITIONS, self.D))
        self.ct_intercept = -np.inf
        self.parts: list[dict[str, np.ndarray]] = []
        self._frame: pl.DataFrame | None = None
        self.lottery_rows: list[dict[str, np.ndarray]] = []
        self.washout = np.full(self.n, -NEVER)
        self.debug = debug
        if debug is not None:
            debug.setdefault("intake", [])
            debug.setdefault("care_transitions", [])

    # ---- cases so far ----
    def _add(self, paths: dict[str, np.ndarray], kind: int, sid: np.ndarray) -> None:
        paths["kind"] = np.full(len(paths["person"]), kind, dtype=np.int64)
        paths["sid"] = np.asarray(sid, dtype=np.int64)
        self.parts.append(paths)
        self._frame = None

    def cases(self) -> pl.DataFrame:
        """Every case so far (community and care transitions): ``person, kind, sid, referral, open,
        open_v, end``."""
        if self._frame is None:
            self._frame = _cases_frame([{k: p[k] for k in _CASE_KEYS} for p in self.parts])
        return self._frame

    def _members_with_case(self, program: str, day: int) -> np.ndarray:
        """Members holding a case of ``program`` (any status) on ``day``."""
        out = np.zeros(self.n, dtype=bool)
        for p in self.parts:
            sel = (p["program"] == program) & (p["referral"] <= day) & (p["end"] > day)
            out[p["person"][sel]] = True
        return out

    # ---- the effect's hooks ----
    def enrolled(self, person: np.ndarray, discharge: np.ndarray) -> np.ndarray:
        """The shared rule (``enrolled_at_time_zero``) against every case known so far."""
        return enrolled_at_time_zero(self.cases(), person, discharge)

    def avoided(self, person: np.ndarray, day: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Background admissions thinned away: inside an engaged community case ([open, end)) and
        ``u`` < 1 - exp(-0.105·S·h), h the member's responsiveness on the admission day."""
        n = len(person)
        cases = self.cases().filter((pl.col("kind") == COMMUNITY) & pl.col("open_v"))
        if n == 0 or self.opts.effect <= 0 or cases.height == 0:
            return np.zeros(n, dtype=bool)
        cand = np.flatnonzero(u < self.opts.thinning_at(responsiveness(self.m, person, day)))
        q = pl.DataFrame({"i": cand, "person": person[cand], "day": day[cand]})
        hit = (q.join(cases.select("person", "open", "end"), on="person")
               .filter((pl.col("open") <= pl.col("day")) & (pl.col("day") < pl.col("end"))).select("i").unique())
        out = np.zeros(n, dtype=bool)
        out[hit["i"].to_numpy()] = True
        return out

    # ---- care transitions ----
    def _ct_score(self, person, adm, disc, lace) -> np.ndarray:
        prior = self.recorded.admissions_before(person, adm, 180)
        needs = self.recorded.needs(person, disc)
        return (care_transitions_score(self.opts.selection, self.m, person, lace, prior, needs, disc, self.recorded),
                prior, needs)

    def calibrate_care_transitions(self, person, adm, disc, alive, lace) -> None:
        """Intercept so the first-generation discharges are referred at the budgeted rate (the
        budget holds ~75% occupancy; readmissions add about a quarter more referrals)."""
        if self.ct_budget <= 0 or not alive.any():
            return
        rate = min(0.65, self.ct_budget / max(1.0, 1.25 * alive.sum()))
        score = self._ct_score(person[alive], adm[alive], disc[alive], lace[alive])[0]
        lo, hi = -30.0, 30.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if expit(mid + score).mean() < rate else (lo, mid)
        self.ct_intercept = (lo + hi) / 2

    def refer_at_discharge(self, sid, person, adm, disc, alive, lace) -> np.ndarray:
        """Care-transitions referrals at these discharges (cases added); returns the referred mask."""
        n = len(person)
        u = self.ct_rng.random(n)
        if n == 0 or not np.isfinite(self.ct_intercept):
            return np.zeros(n, dtype=bool)
        score, prior, needs = self._ct_score(person, adm, disc, lace)
        # a member whose care-transitions case is still running is not referred again
        has_case = np.zeros(n, dtype=bool)
        ct = self.cases().filter(pl.col("kind") == CT_KIND)
        if ct.height:
            q = pl.DataFrame({"i": np.arange(n), "person": person, "d": disc})
            hit = (q.join(ct.select("person", "referral", "end"), on="person")
                   .filter((pl.col("referral") <= pl.col("d")) & (pl.col("end") > pl.col("d"))).select("i").unique())
            has_case[hit["i"].to_numpy()] = True
        eligible = alive & (self.m["optout"][person] == 0) & ~has_case & (disc <= self.D - 1)
        referred = eligible & (u < expit(self.ct_intercept + score))
        if self.debug is not None:
            self.debug["care_transitions"].append(pl.DataFrame({
                "person": person, "discharge": disc, "lace": lace, "admissions_180d": prior, "needs": needs,
                **{k: v for k, v in _static(self.m, person, disc, self.recorded).items() if k != "cond"},
                "frailty": self.m["frailty"][person], "eligible": eligible, "referred": referred}))
        idx = np.flatnonzero(referred)
        if idx.size:
            src = np.where(self.ct_rng.random(idx.size) < 0.9, "hospital", "provider")
            paths = _case_paths(self.ct_rng, person[idx], np.full(idx.size, CARE_TRANSITIONS, dtype="<U29"),
                                disc[idx], src, self.D, self.dd, self.cov_end)
            self._add(paths, CT_KIND, np.asarray(sid)[idx])
        return referred

    # ---- community intake rounds ----
    def _lottery_seed(self, day: int) -> int:
        base, chunk = (self.seed if isinstance(self.seed, tuple) else (self.seed, 0))
        state = np.random.SeedSequence([int(base), zlib.crc32(b"cm_lottery"), int(chunk), int(day)])
        return int(state.generate_state(1, np.uint32)[0])

    def intake(self, day: int) -> None:
        """One monthly intake round on ``day``: every community program fills its open slots."""
        cutoff = day - DATA_LAG_DAYS
        if cutoff < 0:
            return
        rec = self.recorded
        cand = rec.spiked(cutoff - LOOKBACK_DAYS + 1, cutoff)
        # enrolled and alive on the data cut-off: a later death or disenrolment is not known yet
        covered = np.zeros(self.n, dtype=bool)
        on = (self.span_start <= cutoff) & (self.span_end >= cutoff)
        covered[self.span_person[on]] = True
        cand = cand[covered[cand] & (self.m["optout"][cand] == 0) & (rec.death_known[cand] > cutoff)]
        if cand.size == 0:
            return
        # conditions coded by the data cut-off; age on the round day
        f = {**rec.at(cand, cutoff), **_static(self.m, cand, cutoff, rec)}
        f["age65"] = (self.m["age"][cand] + day / 365.25 >= 65).astype(float)
        for prog in COMMUNITY_PROGRAMS:
            occ, per_round = self.targets[prog]
            if occ <= 0:
                continue
            slots = max(0, min(per_round, occ - int(self._members_with_case(prog, day).sum())))
            ok, score = community_score(prog, self.opts.selection, self.m, cand, f)
            ok = ok & ~self._members_with_case(prog, day)[cand]
            if prog == LOTTERY_PROGRAM:
                ok &= self.washout[cand] <= day
            pos = np.flatnonzero(ok)
            key = score[pos] + self.rng.gumbel(size=pos.size)
            order = pos[np.argsort(-key, kind="stable")]
            k = min(slots, order.size)
            chosen = order[:k]
            band = np.zeros(0, dtype=np.int64)
            offered_band = np.zeros(0, dtype=bool)
            if self.opts.lottery > 0 and prog == LOTTERY_PROGRAM and 0 < k < order.size:
                b = int(round(self.opts.lottery * k))
                above, below = min(b - b // 2, k), min(b // 2, order.size - k)
                if above > 0 and below > 0:
                    band = order[k - above:k + below]
                    band = band[np.argsort(cand[band], kind="stable")]  # by member: the seed alone replays the draw
                    seed = self._lottery_seed(day)
                    offered_band = np.zeros(band.size, dtype=bool)
                    offered_band[np.random.default_rng(seed).permutation(band.size)[:above]] = True
                    chosen = np.concatenate([order[:k - above], band[offered_band]])
                    self.washout[cand[band]] = day + LOTTERY_WASHOUT_DAYS
                    self.lottery_rows.append({
                        "person": cand[band], "day": np.full(band.size, day, dtype=np.int64),
                        "program": np.full(band.size, prog), "offered": offered_band,
                        "seed": np.full(band.size, seed, dtype=np.int64)})
            if self.debug is not None:
                referred = np.zeros(cand.size, dtype=bool)
                referred[chosen] = True
                in_band = np.zeros(cand.size, dtype=bool)
                in_band[band] = True
                self.debug["intake"].append(pl.DataFrame({
                    "day": np.full(cand.size, day), "program": np.full(cand.size, prog), "person": cand,
                    **{k: v for k, v in f.items() if k != "cond"}, "frailty": self.m["frailty"][cand], "eligible": ok, "referred": referred,
                    "band": in_band, "slots": np.full(cand.size, k)}))
            if chosen.size == 0:
                continue
            who = np.sort(cand[chosen])
            referral = day + self.rng.integers(0, 5, who.size)
            src = _choice(self.rng, np.array(SOURCES[prog][0]), SOURCES[prog][1], who.size)
            paths = _case_paths(self.rng, who, np.full(who.size, prog, dtype="<U29"), referral, src,
                                self.D, self.dd, self.cov_end)
            self._add(paths, COMMUNITY, np.full(who.size, -1))

    # ---- extracts ----
    def tables(self, kept_sids: np.ndarray, dd: np.ndarray, roster: pl.DataFrame, ids: _IdSpace) -> dict[str, pl.DataFrame]:
        """cm_case, cm_contact, cm_goal (and cm_intake_assignment when the lottery runs) of the
        chunk.  ``kept_sids`` are the stays that survived the stay cleaning (a care-transitions
        case of a dropped stay goes with it); ``dd`` is the final death day (in-hospital deaths in)."""
        D = self.D
        all_cases = _cases_frame(self.parts)
        if all_cases.height:
            all_cases = (all_cases.with_columns(pl.int_range(pl.len()).alias("order"))
                         .filter((pl.col("kind") == COMMUNITY) | pl.col("sid").is_in(pl.Series(kept_sids))))
            # cases were drawn against the mortality-only death date; re-apply in-hospital deaths
            ddp = pl.Series(dd[all_cases["person"].to_numpy()])
            all_cases = all_cases.with_columns(ddp.alias("dd")).filter(pl.col("referral") <= pl.col("dd"))
            fix = (pl.col("dd") < pl.col("close"))
            all_cases = all_cases.with_columns(
                pl.when(fix).then(pl.lit("deceased")).otherwise(pl.col("reason")).alias("reason"),
                pl.when(fix).then(pl.col("dd") <= D - 1).otherwise(pl.col("close_v")).alias("close_v"),
                pl.when(fix).then(pl.col("dd")).otherwise(pl.col("close")).alias("close"),
            ).with_columns(
                (pl.col("first_v") & (pl.col("first") <= pl.col("close"))).alias("first_v"),
                (pl.col("open_v") & (pl.col("open") <= pl.col("close"))).alias("open_v"),
            ).drop("dd")
        cm_case, cm_contact, cm_goal = _cm_tables(self.seed, all_cases, roster, self.win, self.m, ids)
        frames = {"cm_case": cm_case, "cm_contact": cm_contact, "cm_goal": cm_goal}
        if self.opts.lottery > 0:
            frames["cm_intake_assignment"] = self.intake_assignment(ids)
        return frames

    def _lottery(self) -> dict[str, np.ndarray]:
        if not self.lottery_rows:
            return {"person": np.zeros(0, np.int64), "day": np.zeros(0, np.int64), "program": np.zeros(0, "<U29"),
                    "offered": np.zeros(0, bool), "seed": np.zeros(0, np.int64)}
        return {k: np.concatenate([r[k] for r in self.lottery_rows]) for k in self.lottery_rows[0]}

    def intake_assignment(self, ids: _IdSpace) -> pl.DataFrame:
        """The lottery log: one row per band member per round (``cm_intake_assignment``)."""
        r = self._lottery()
        return pl.DataFrame({
            "assignment_date": self.win.dates(r["day"]), "person_id": ids("P", r["person"], 8),
            "program": r["program"].astype(str), "lottery_band_flag": np.ones(r["day"].size, dtype=np.int64),
            "offered_flag": r["offered"].astype(np.int64), "lottery_seed": r["seed"].astype(np.int64),
        })

    # ---- the answer key ----
    def _covered_split(self, q: pl.DataFrame, frame: pl.DataFrame, drop_time_zero: bool = False):
        """``covered_days`` of each row's [lo, hi), split at the member's end-of-life day: (days
        before it, days from it on)."""
        b = pl.Series("b", end_of_life_from(self.m, q["person"].to_numpy()))
        qb = q.with_columns(b)
        before = covered_days(qb.with_columns(pl.min_horizontal("hi", "b").alias("hi")), frame, drop_time_zero)
        after = covered_days(qb.with_columns(pl.max_horizontal("lo", "b").alias("lo")), frame, drop_time_zero)
        return before, after

    def thinned_days(self, q: pl.DataFrame, frame: pl.DataFrame, drop_time_zero: bool = False) -> np.ndarray:
        """Sum over the days of each row's [lo, hi) inside one of ``frame``'s engaged cases of the
        thinning probability that day (1 - exp(-0.105·S·h)): the background admission days the
        program takes away."""
        before, after = self._covered_split(q, frame, drop_time_zero)
        h = base_responsiveness(self.m, q["person"].to_numpy())
        return self.opts.thinning_at(h) * before + self.opts.thinning_at(END_OF_LIFE_H) * after

    def community_thinned(self, person: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """``thinned_days`` of [lo, hi) over the member's engaged community cases."""
        q = pl.DataFrame({"i": np.arange(len(person)), "person": person, "d": lo, "lo": lo, "hi": hi})
        return self.thinned_days(q, self.cases().filter(pl.col("kind") == COMMUNITY))

    def effect_oracle(self, person, disc, enrolled, lw, fu_lin, chains: "TypicalChains", ids: _IdSpace) -> pl.DataFrame:
        """``_oracle/cm_effect.csv`` rows for index stays: outcome probabilities and expected
        admissions with and without enrolment at time zero (docs/generator.md, "Case management")."""
        S, m = self.opts.effect, self.m
        lam = m["rate_ip"][person] / 365.25
        h = responsiveness(m, person, disc)
        cases = self.cases()
        comm = cases.filter(pl.col("kind") == COMMUNITY)
        r0, r1, r1_eol = chains.r0[person], chains.r1[person], chains.r1_eol[person]
        tau, tau_eol = self.opts.thinning_at(base_responsiveness(m, person)), self.opts.thinning_at(END_OF_LIFE_H)

        def chain(e: float) -> np.ndarray:
            p_fu = expit(fu_lin + ENROLLED_FOLLOWUP_LOG_ODDS * S * h * e)
            return p_fu * expit(lw - FOLLOWUP_LOG_ODDS) + (1 - p_fu) * expit(lw)

        def query(horizon: int) -> pl.DataFrame:
            return pl.DataFrame({"i": np.arange(len(person)), "person": person, "d": disc, "lo": disc + 1,
                                 "hi": disc + horizon + 1})

        def split(frame: pl.DataFrame, horizon: int):
            """{arm: (days before the end-of-life day, days from it)} inside ``frame``'s cases."""
            q = query(horizon)
            with_case = self._covered_split(q, frame)
            # not enrolled: the cases that enrolled the stay at time zero never happened
            without = self._covered_split(q, frame, drop_time_zero=True)
            return {"if_enrolled": with_case,
                    "if_not_enrolled": tuple(np.where(enrolled, w, c) for w, c in zip(without, with_case))}

        out = {"person_id": ids("P", person, 8), "discharge_date": self.win.dates(disc),
               "enrolled": enrolled.astype(np.int64)}
        pc = {"if_enrolled": chain(1.0), "if_not_enrolled": chain(0.0)}
        for H in (30, 180):
            comm_days = split(comm, H)
            for arm in pc:
                before, after = comm_days[arm]
                bg = lam * (H - tau * before - tau_eol * after)
                out[f"p_readmit_{H}d_{arm}"] = 1 - (1 - pc[arm]) * np.exp(-bg)
        comm_days, any_days = split(comm, 365), split(cases, 365)
        for arm in pc:
            (c_f, c_l), (a_f, a_l) = comm_days[arm], any_days[arm]
            out[f"admissions_12m_{arm}"] = pc[arm] + lam * ((365 - a_f - a_l) * (1 + r0) + (a_f - tau * c_f) * (1 + r1)
                                                            + (a_l - tau_eol * c_l) * (1 + r1_eol))
        cols = ["person_id", "discharge_date", "enrolled"] + [f"{k}_{arm}" for k in ("p_readmit_30d", "p_readmit_180d",
                                                                                     "admissions_12m") for arm in pc]
        return pl.DataFrame({k: (np.round(v, 6) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
                             for k, v in out.items()}).select(cols)

    def _offer_days(self, person: np.ndarray, day: np.ndarray, horizon: int, prefix: np.ndarray | None = None):
        """Expected engaged days of a complex-care offer made on ``day`` within the ``horizon`` days
        after it (``expected_open_curve``), split at the member's end-of-life day: (before, from).
        ``prefix``: the first days already covered by a running case (the offer adds none there)."""
        E = expected_open_curve(LOTTERY_PROGRAM, BENEFIT_HORIZON)  # horizons are at most a year
        hz = np.broadcast_to(np.asarray(horizon), person.shape)
        b = np.clip(end_of_life_from(self.m, person) - day - 1, 0, hz)  # days 1..b come before it
        p = np.zeros(person.shape, dtype=np.int64) if prefix is None else prefix
        before = np.maximum(E[b] - E[np.minimum(p, b)], 0.0)
        after = np.maximum(E[hz] - E[np.maximum(b, np.minimum(p, hz))], 0.0)
        return before, after, b

    def lottery_oracle(self, chains: "TypicalChains", ids: _IdSpace, horizon: int = 180) -> pl.DataFrame:
        """``_oracle/cm_lottery.csv``: expected unplanned admissions in the 180 days after the round,
        offered (declines and members never reached included) or not, per band member."""
        r = self._lottery()
        p = r["person"]
        lam = self.m["rate_ip"][p] / 365.25
        r0, r1, r1_eol = chains.r0[p], chains.r1[p], chains.r1_eol[p]
        tau, tau_eol = self.opts.thinning_at(base_responsiveness(self.m, p)), self.opts.thinning_at(END_OF_LIFE_H)
        e_f, e_l, _ = self._offer_days(p, r["day"], horizon)
        offered = lam * ((horizon - e_f - e_l) * (1 + r0) + e_f * (1 - tau) * (1 + r1) + e_l * (1 - tau_eol) * (1 + r1_eol))
        return pl.DataFrame({
            "person_id": ids("P", p, 8), "assignment_date": self.win.dates(r["day"]),
            "offered_flag": r["offered"].astype(np.int64),
            f"admissions_{horizon}d_if_offered": np.round(offered, 6),
            f"admissions_{horizon}d_if_not_offered": np.round(lam * horizon * (1 + r0), 6),
        })

    def benefit_oracle(self, as_of: list[int], chains: "TypicalChains", spans: dict, dd: np.ndarray,
                       stays: dict[str, np.ndarray], ids: _IdSpace) -> pl.DataFrame:
        """``_oracle/cm_benefit.csv``: per as-of day (offsets) and list-eligible member (enrolled on
        the day, alive, not opted out), the true probability of the outcome with and without
        enrolment (docs/generator.md, "Oracle"):

        * ``admission_12m``: at least one unplanned admission in the 365 days after the day, a
          complex-care referral made on the day vs none, the member's other cases as they are;
        * ``readmit_30d``: members whose latest index-eligible discharge falls in the 30 days before
          the day: a 30-day unplanned readmission, enrolled at that discharge (time zero) vs not.

        ``dd`` is the final death day (in-hospital deaths in), ``spans`` the enrolment spans
        truncated at it, ``stays`` the cleaned stays (person, adm, los, disp, lw, fu_lin)."""
        S, m = self.opts.effect, self.m
        cases = self.cases().filter(pl.col("open_v"))
        comm = cases.filter(pl.col("kind") == COMMUNITY)
        tau_eol = self.opts.thinning_at(END_OF_LIFE_H)
        life = np.where(dd <= self.D - 1, dd, m["death_latent"])  # the day the member's exposure ends
        disc = stays["adm"] + stays["los"]
        index_ok = ~np.isin(stays["disp"], ["20", "07", "02"])
        frames = []
        for a in as_of:
            on = (spans["start"] <= a) & (spans["end"] >= a)
            person, span_end = spans["person"][on], spans["end"][on]
            keep = (dd[person] >= a) & (m["optout"][person] == 0)
            person, span_end = person[keep], span_end[keep]
            order = np.argsort(person, kind="stable")
            person, span_end = person[order], span_end[order]
            n = person.size
            day = np.full(n, a, dtype=np.int64)
            H = np.clip(np.minimum(np.minimum(span_end, life[person]) - a, BENEFIT_HORIZON), 0, BENEFIT_HORIZON)
            lam = m["rate_ip"][person] / 365.25
            r0, r1, r1_eol = chains.r0[person], chains.r1[person], chains.r1_eol[person]
            tau = self.opts.thinning_at(base_responsiveness(m, person))
            # the first days after the as-of day a running engaged community case already covers
            q = pl.DataFrame({"i": np.arange(n), "person": person, "d": day, "lo": day + 1, "hi": day + 1 + H})
            run = (q.join(comm.select("person", "open", "end"), on="person")
                   .filter((pl.col("open") <= pl.col("lo")) & (pl.col("end") > pl.col("lo")))
                   .group_by("i").agg((pl.min_horizontal("end", "hi") - pl.col("lo")).max().alias("p")))
            prefix = np.zeros(n, dtype=np.int64)
            prefix[run["i"].to_numpy()] = run["p"].to_numpy()
            new_f, new_l, b = self._offer_days(person, day, H, prefix)
            split = q.with_columns(pl.Series("b", day + 1 + b))
            parts = {"f": split.with_columns(pl.col("b").alias("hi")), "l": split.with_columns(pl.col("b").alias("lo"))}
            length = {"f": b, "l": H - b}
            new = {"f": new_f, "l": new_l}
            arm = {"tau": {"f": tau, "l": tau_eol}, "r1": {"f": r1, "l": r1_eol}}
            mu0, gain = np.zeros(n), np.zeros(n)
            for s_, qs in parts.items():
                A, C = covered_days(qs, cases), covered_days(qs, comm)
                t, r = arm["tau"][s_], arm["r1"][s_]
                mu0 = mu0 + lam * ((length[s_] - A) * (1 + r0) + (A - t * C) * (1 + r))
                # the offer's engaged days fall on days no engaged case covers (as many as there are)
                gain = gain + lam * np.minimum(new[s_], length[s_] - A) * ((1 + r0) - (1 - t) * (1 + r))
            frames.append(pl.DataFrame({"person": person, "as_of": day, "outcome": "admission_12m",
                                        "p_if_enrolled": 1 - np.exp(-(mu0 - gain)), "p_if_not_enrolled": 1 - np.exp(-mu0)}))
            # readmit_30d: the latest index-eligible discharge in the 30 days before the as-of day
            eligible = np.zeros(self.n, dtype=bool)
            eligible[person] = True
            w = np.flatnonzero(index_ok & (disc >= a - 30) & (disc <= a - 1) & eligible[stays["person"]])
            if w.size:
                w = w[np.lexsort((disc[w], stays["person"][w]))]
                last = np.r_[stays["person"][w][1:] != stays["person"][w][:-1], True]
                w = w[last]
                pw, dw = stays["person"][w], disc[w]
                hw = responsiveness(m, pw, dw)
                lw, fu_lin = stays["lw"][w], stays["fu_lin"][w]
                qw = pl.DataFrame({"i": np.arange(w.size), "person": pw, "d": dw, "lo": dw + 1, "hi": dw + 31})
                bg = m["rate_ip"][pw] / 365.25 * (30 - self.thinned_days(qw, comm))
                p_arm = {}
                for e in (1.0, 0.0):
                    p_fu = expit(fu_lin + ENROLLED_FOLLOWUP_LOG_ODDS * S * hw * e)
                    chain = p_fu * expit(lw - FOLLOWUP_LOG_ODDS) + (1 - p_fu) * expit(lw)
                    p_arm[e] = 1 - (1 - chain) * np.exp(-bg)
                frames.append(pl.DataFrame({"person": pw, "as_of": np.full(w.size, a, dtype=np.int64),
                                            "outcome": "readmit_30d", "p_if_enrolled": p_arm[1.0],
                                            "p_if_not_enrolled": p_arm[0.0]}))
        if not frames:
            return pl.DataFrame(schema={"person_id": pl.String, "as_of_date": pl.Date, "outcome": pl.String,
                                        "p_if_enrolled": pl.Float64, "p_if_not_enrolled": pl.Float64})
        f = pl.concat(frames)
        return pl.DataFrame({
            "person_id": ids("P", f["person"].to_numpy(), 8), "as_of_date": self.win.dates(f["as_of"].to_numpy()),
            "outcome": f["outcome"], "p_if_enrolled": np.round(f["p_if_enrolled"].to_numpy(), 6),
            "p_if_not_enrolled": np.round(f["p_if_not_enrolled"].to_numpy(), 6)})


@dataclass(frozen=True)
class TypicalChains:
    """Each member's 30-day readmission probability after a typical future stay (``_typical_chain``):
    ``r0`` not enrolled, ``r1`` enrolled at the member's h away from the end of life, ``r1_eol``
    enrolled at h = 0.1 (all indexed by member)."""

    r0: np.ndarray
    r1: np.ndarray
    r1_eol: np.ndarray


# ----------------------------------------------------------------------------------------
# the extracts
# ----------------------------------------------------------------------------------------
def _cm_tables(seed, cases: pl.DataFrame, roster: pl.DataFrame, win: _Window, m, ids: _IdSpace):
    """cm_case, cm_contact and cm_goal frames from the case paths."""
    rng = _rng(seed, "cm_tables")
    D = win.days
    cases = cases.sort("referral", "person", "program", *(["order"] if "order" in cases.columns else []))
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
