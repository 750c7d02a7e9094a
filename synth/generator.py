"""Synthetic claims / EHR / SDOH / case-management extracts for demos and tests.

``generate(out_dir, members, seed, ...)`` writes one file per data contract
(``data_contracts/contracts/*.yaml``) plus an answer key in ``out_dir/_oracle/`` and, with
``dirty_rate > 0``, realistic defects listed in ``out_dir/_manifest.json``.

Generative model (full write-up with sources in docs/generator.md; figures in ``synth.tables``)
---------------------------------------------------------------------------------------------
1. Members: payer mix (medicare 38% / medicaid 27% / commercial 35%), age by payer, gender,
   race/ethnicity (US Census 2020), 24 synthetic counties in 4 states with CDC-SVI-shaped
   percentile ranks, 8 ZIPs each with ACS-like median income, dual status for ~20% of
   Medicare (more in high-SVI areas), 3% outreach opt-out.  Enrolment: 78% enrolled before the
   window, 22% join during it, 12% leave (a third of those re-enrol after a gap), deaths from
   an age/comorbidity mortality hazard and in-hospital deaths (disposition 20).
2. Chronic conditions: liability-threshold (probit) model with a shared latent health factor
   (rho=0.35) so conditions cluster, hitting the CMS CCW 65+ prevalences exactly in
   expectation; real ICD-10-CM codes.  Social needs (7 AHC-HRSN domains): logistic in SVI,
   Medicaid and a shared latent; screenings observe them with 10% misclassification.
3. Utilisation: member-level Poisson rates with gamma frailty - office visits (2 + 0.8 per
   chronic condition /yr), ED visits (0.25/yr baseline, up with conditions, SVI, Medicaid),
   unplanned admissions (Medicare 65+ ~0.25/yr) and elective admissions (~8% of stays).
   Length of stay lognormal (mean ~5 days), disposition mix per HCUP/MedPAR, 75% emergency.
4. Each discharge (simulated in time order, readmissions spawned as they come, so they can
   themselves be index stays): discharge hemoglobin and sodium; a care-transitions referral for
   risky discharges; a 7-day follow-up visit with
   P = logistic(-0.3 + 1.4*S*h*[enrolled at time zero] - 0.8*SVI ...), h the member's responsiveness;
   disposition 02 spawns a transfer-in stay the same/next day; cancer patients get planned
   chemotherapy admissions (admit type 3); and a 30-day unplanned readmission with
   logit p = b0 + 0.11 L + 0.12 A + 0.15 C + 0.18 E + 0.45 [Hb<12] + 0.35 [Na<135]
           + 0.12 needs + 0.5 SVI - 0.55 followup + 0.75 frailty   (LACE/HOSPITAL factors),
   b0 tuned so 12-18% of index stays are readmitted and LACE alone scores AUROC ~0.67
   (van Walraven 2010: 0.684).  The unobserved frailty keeps any model far from perfect.
5. Costs per claim (inpatient ~$15k mean lognormal, ED ~$1.5k, office $110-160, pharmacy by
   class incl. specialty oncology), paid <= allowed; the top 5% of members carry ~50% of
   annual allowed spend (MEPS).
6. Case management (``synth.case_management``): roster of max(3, members/1500) case managers
   across 5 programs; community programs fill ~75% of their capacity in monthly intake rounds
   that pick members after a discharge or ED visit, on latent or recorded facts
   (``cm_selection``); care-transitions cases at risky discharges; contacts, goals, declines,
   unable-to-reach, closures.  The program's effect (``cm_effect`` = S) raises 7-day follow-up
   after enrolled discharges and thins admissions inside engaged community cases; its answer
   key is ``_oracle/cm_effect.csv``.  The effect is heterogeneous (h: larger without a usual source
   of care or with unmet needs, near zero in the last 180 days of life); ``_oracle/cm_benefit.csv``
   holds each list-eligible member's risk with and without enrolment at the list dates.  ``cm_lottery`` randomises a band at complex care's
   capacity cut (``cm_intake_assignment``, ``_oracle/cm_lottery.csv``).

Everything is vectorised with numpy/polars (loops only over member chunks, extracts, programs,
monthly rounds and the batches of discharges between them); the same seed, options (and chunk
size) give byte-identical files.

Populations larger than ``chunk_members`` (default 100,000) are built chunk by chunk and appended
to the same files, so peak memory is one chunk's (about 2.2 GB per 100k members) whatever the
total; geography and the case-manager roster are built once for the whole population, and each
chunk gets its members' share of the roster's case targets (docs/generator.md, "Member chunks").
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from scipy.special import expit, ndtr, ndtri

from data_contracts.spec import EXTRACTS, load_contract
from synth import tables as T
from synth.case_management import (  # noqa: F401  (_target_cases: the care-transitions budget, used by tests)
    END_OF_LIFE_H, ENROLLED_FOLLOWUP_LOG_ODDS, FOLLOWUP_LOG_ODDS, GRACE_DAYS, NEVER, CaseManagement, CMOptions,
    Recorded, TypicalChains, _roster, _target_cases, base_responsiveness, charlson_points, responsiveness,
)
from synth.common import (
    _choice, _count_before, _IdSpace, _ids, _money, _nullable, _rng, _row_choice, _Share, _Window,
)

OPEN_END = np.datetime64("2099-12-31")
HGB_LOW, NA_LOW = 12.0, 135.0


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    members: int
    seed: int
    window_start: str
    window_end: str
    file_format: str
    rows: dict[str, int] = field(default_factory=dict)
    defects: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    chunks: int = 1


# ----------------------------------------------------------------------------------------
# population
# ----------------------------------------------------------------------------------------
def _geography(seed: int):
    rng = _rng(seed, "geo")
    rows = []
    n_c = len(T.STATES) * T.COUNTIES_PER_STATE
    latent = rng.normal(size=n_c)
    themes = 0.75 * latent[:, None] + 0.66 * rng.normal(size=(n_c, 4))
    theme_rank = np.round(expit(1.7 * themes), 4)
    overall = np.round(expit(1.7 * themes.mean(axis=1) / 0.85), 4)
    ci = 0
    for state_fips, state, _zp in T.STATES:
        for k in range(T.COUNTIES_PER_STATE):
            rows.append((f"{state_fips}{2 * k + 1:03d}", state, f"{T.COUNTY_NAMES[ci]} County"))
            ci += 1
    county = pl.DataFrame({
        "county_fips": [r[0] for r in rows], "state": [r[1] for r in rows],
        "county_name": [r[2] for r in rows], "svi_year": [2022] * n_c,
        "svi_overall": overall, "svi_socioeconomic": theme_rank[:, 0], "svi_household": theme_rank[:, 1],
        "svi_minority": theme_rank[:, 2], "svi_housing_transport": theme_rank[:, 3],
    })
    zips, zcounty = [], []
    for si, (_sf, _st, zp) in enumerate(T.STATES):
        for k in range(T.COUNTIES_PER_STATE):
            for j in range(T.ZIPS_PER_COUNTY):
                zips.append(f"{zp}{k * T.ZIPS_PER_COUNTY + j:02d}")
                zcounty.append(si * T.COUNTIES_PER_STATE + k)
    zcounty = np.array(zcounty)
    income = np.round(78000 * np.exp(-1.1 * (overall[zcounty] - 0.5) + rng.normal(0, 0.18, len(zips))), -2)
    zipdf = pl.DataFrame({"zip_code": zips, "county_fips": county["county_fips"].to_numpy()[zcounty],
                          "median_household_income": income})
    county_weight = rng.dirichlet(np.full(n_c, 2.0))
    return county, zipdf, zcounty, overall, county_weight


def _members(seed: int, n: int, win: _Window, geo):
    rng = _rng(seed, "members")
    county, zipdf, zcounty, svi_c, cw = geo
    m: dict[str, np.ndarray] = {}
    payer = _choice(rng, np.arange(3), T.PAYER_P, n)
    u = rng.random(n)
    age = np.empty(n)
    mc, md, co = payer == 0, payer == 1, payer == 2
    # medicare: 88% aged (65 + exponential, mean 74), 12% disabled under 65
    age[mc] = np.where(u[mc] < 0.88, 65 + np.minimum(rng.exponential(9.0, mc.sum()), 34.9),
                       rng.uniform(25, 65, mc.sum()))
    age[md] = np.where(u[md] < 0.45, rng.uniform(0, 18, md.sum()),
                       np.where(u[md] < 0.85, rng.uniform(18, 45, md.sum()), rng.uniform(45, 65, md.sum())))
    age[co] = np.where(u[co] < 0.22, rng.uniform(0, 18, co.sum()),
                       np.where(u[co] < 0.67, rng.uniform(18, 45, co.sum()), rng.uniform(45, 65, co.sum())))
    m["payer"], m["age"] = payer, age
    m["band"] = np.searchsorted(T.AGE_BANDS, age, side="right") - 1
    m["gender"] = _choice(rng, T.GENDERS, T.GENDER_P, n)
    m["race"] = _choice(rng, T.RACES, T.RACE_P, n)
    m["ethnicity"] = _choice(rng, T.ETHNICITIES, T.ETHNICITY_P, n)
    # medicaid members live more in high-SVI counties
    w = np.vstack([cw, cw * np.exp(2.0 * (svi_c - 0.5)), cw])
    w = w / w.sum(axis=1, keepdims=True)
    cidx = _row_choice(rng, w[payer])
    zip_in = rng.integers(0, T.ZIPS_PER_COUNTY, n)
    m["county"] = cidx
    m["zip"] = cidx * T.ZIPS_PER_COUNTY + zip_in
    m["svi"] = svi_c[cidx]
    dual = mc & (rng.random(n) < expit(-1.9 + 2.5 * (m["svi"] - 0.5) + 1.2 * (age < 65)))
    m["dual"] = np.where(dual, _choice(rng, T.DUAL_CODES, T.DUAL_P, n), "00")
    m["optout"] = (rng.random(n) < 0.03).astype(np.int64)
    m["birth"] = -np.floor(age * 365.25).astype(np.int64) - 1
    # conditions: probit liability threshold with shared latent health factor
    shift = 0.25 * (md | (mc & (age < 65))) + 0.3 * (m["svi"] - 0.5)
    z = rng.normal(size=n) + shift
    rho = 0.35
    thr = ndtri(1 - np.clip(T.PREVALENCE[:, m["band"]].T, 1e-5, 0.999))  # (n, C)
    liab = np.sqrt(rho) * z[:, None] + np.sqrt(1 - rho) * rng.normal(size=(n, len(T.CONDITIONS)))
    cond = liab > thr
    m["cond"] = cond
    ci = {c: i for i, c in enumerate(T.CONDITIONS)}
    m["ci"] = ci
    codes = np.full((n, len(T.CONDITIONS)), "", dtype="<U7")
    for c, (cl, cwts) in T.CONDITION_CODES.items():
        codes[:, ci[c]] = _choice(rng, np.array(cl), cwts, n)
    codes[:, ci["dm"]] = np.where(cond[:, ci["ckd"]], "E1122", codes[:, ci["dm"]])
    codes[~cond] = ""
    m["codes"] = codes
    charl = charlson_points(cond, ci)
    m["charlson"] = charl
    m["lace_c"] = np.where(charl >= 4, 5, charl)
    m["n_chronic"] = cond.sum(axis=1)
    # unobserved frailty (drives admissions, mortality and readmission, never written anywhere)
    m["frailty"] = rng.normal(size=n)
    # social needs
    s_lat = rng.normal(size=n)
    base = np.log(T.SDOH_BASE / (1 - T.SDOH_BASE))
    logit = base[None, :] + (2.2 * (m["svi"] - 0.5) + 0.9 * md - 0.3 * co + 0.9 * s_lat
                             - 0.95)[:, None]
    m["needs"] = rng.random((n, len(base))) < expit(logit)
    m["n_needs"] = m["needs"].sum(axis=1)
    # annual rates (gamma frailty for over-dispersion)
    g = rng.gamma(2.5, 1 / 2.5, n)
    m["rate_office"] = (1.6 + 0.8 * m["n_chronic"] + 0.6 * (age >= 65)) * rng.gamma(2.5, 1 / 2.5, n)
    m["rate_ed"] = 0.22 * np.exp(0.22 * m["n_chronic"] + 1.2 * (m["svi"] - 0.5) + 0.35 * md
                                 + 0.12 * m["n_needs"] + 0.25 * m["frailty"]) * rng.gamma(1.0, 1.0, n)
    a = age
    lin = (-4.3 + 0.9 * (a >= 45) + 0.8 * (a >= 65) + 0.5 * (a >= 75) + 0.30 * m["charlson"]
           + 0.12 * m["n_chronic"] + 0.6 * (m["svi"] - 0.5) + 0.10 * m["n_needs"]
           + 0.45 * m["frailty"] + 0.5 * cond[:, ci["smi"]])
    m["rate_ip"] = np.exp(lin) * g
    m["rate_elective"] = 0.08 / 0.92 * m["rate_ip"] * (1 + 1.5 * (a >= 55)) / 2
    m["mort"] = (np.array([0.0003, 0.001, 0.004, 0.018, 0.06])[m["band"]]
                 * np.exp(0.25 * m["charlson"] + 0.3 * m["frailty"]))
    # no usual source of care, from a stream of its own (the draws above keep their values): about
    # 1 in 5 adults (1 in 4 aged 18-64, 1 in 10 aged 65+, 1 in 11 children), more with Medicaid and
    # in high-SVI areas, fewer with chronic conditions (NCHS Health, United States; NHIS), with far
    # fewer office visits (docs/generator.md, "Heterogeneous effect")
    nus = _rng(seed, "usual_source").random(n) < expit(
        -1.4 + 0.4 * md + 1.5 * (m["svi"] - 0.5) - 0.9 * (age >= 65) - 1.5 * (age < 18) - 0.08 * m["n_chronic"])
    m["no_usual_source"] = nus
    m["rate_office"] = m["rate_office"] * np.where(nus, NO_USUAL_SOURCE_OFFICE_RATE, 1.0)
    return m


NO_USUAL_SOURCE_OFFICE_RATE = 0.35  # office-visit rate of a member without a usual source of care


def _latent_death(seed, m, death_day: np.ndarray, days: int) -> np.ndarray:
    """The day each member dies of the mortality hazard: the recorded (out-of-hospital) death when
    it falls in the window, else a day after the window drawn from the same hazard (exponential,
    so memoryless: the member's remaining life from the window end).  Never written; the
    heterogeneous effect reads it (``synth.case_management.responsiveness``)."""
    rng = _rng(seed, "latent_death")
    beyond = days + (rng.exponential(1.0, len(death_day)) / m["mort"] * 365.25).astype(np.int64)
    return np.where(death_day <= days - 1, death_day, beyond)


JOINER_SHARE = 0.22


def _joiner_probability(m, days: int) -> np.ndarray:
    """Each member's chance of joining during the window rather than being enrolled before it,
    so the enrolled population's risk mix stays level: a class of members with death hazard h
    (out-of-hospital mortality plus in-hospital deaths) must gain, over a window of T years,
    joiners at the rate h + g it loses members (g = the plan's growth), i.e. joiner odds
    T * (h + g), with g set so that JOINER_SHARE of members join.  With joiners drawn regardless
    of risk, deaths thinned the frailest members and nobody replaced them: admissions per
    enrolled member fell 24% over 36 months and 30-day readmission from 15.1% to 12.2%, a drift
    no real plan shows (docs/generator.md, Enrolment)."""
    in_hospital = m["rate_ip"] * np.where(m["age"] >= 65, 0.025, 0.01) * 1.2  # disposition 20, chains
    hazard = m["mort"] + in_hospital
    years = days / 365.25
    lo, hi = -float(hazard.max()), 5.0
    for _ in range(60):  # bisection on g: the share of joiners rises with it
        g = (lo + hi) / 2
        odds = years * np.maximum(hazard + g, 0.0)
        if (odds / (1 + odds)).mean() > JOINER_SHARE:
            hi = g
        else:
            lo = g
    odds = years * np.maximum(hazard + lo, 0.0)
    return odds / (1 + odds)


def _spans(seed: int, m, win: _Window):
    """Enrolment spans (rows) and death dates.  Offsets are days from the window start."""
    rng = _rng(seed, "spans")
    n, D = len(m["age"]), win.days
    joiner = rng.random(n) < _joiner_probability(m, D)
    s1 = np.where(joiner, rng.integers(0, max(D - 30, 1), n), -rng.integers(0, 6 * 365, n))
    s1 = np.maximum(s1, m["birth"] + 1)
    leave = (rng.random(n) < 0.12) & (s1 + 90 < D - 30)
    e1 = np.where(leave, s1 + 60 + (rng.random(n) * np.maximum(D - 30 - s1 - 60, 1)).astype(np.int64), 10**6)
    back = leave & (rng.random(n) < 0.35)
    s2 = e1 + rng.integers(30, 181, n)
    back &= s2 < D - 30
    # death: exponential with the member's annual mortality, from coverage start in the window
    t0 = np.maximum(s1, 0)
    death = t0 + (rng.exponential(1.0, n) / m["mort"] * 365.25).astype(np.int64)
    person = np.concatenate([np.arange(n), np.flatnonzero(back)])
    start = np.concatenate([s1, s2[back]])
    end = np.concatenate([e1, np.full(back.sum(), 10**6)])
    order = np.lexsort((start, person))
    person, start, end = person[order], start[order], end[order]
    d = death[person]
    dead_in = (d >= np.maximum(start, 0)) & (d <= np.minimum(end, D - 1))
    death_day = np.full(n, 10**6)
    np.minimum.at(death_day, person[dead_in], d[dead_in])
    keep = start <= death_day[person]
    person, start, end = person[keep], start[keep], end[keep]
    end = np.minimum(end, death_day[person])
    return {"person": person, "start": start, "end": end}, death_day


def _events(rng, spans, rate_per_year, D):
    """Poisson events inside each enrolment span clipped to the window."""
    s = np.maximum(spans["start"], 0)
    e = np.minimum(spans["end"], D - 1)
    expo = np.maximum(e - s + 1, 0)
    k = rng.poisson(rate_per_year[spans["person"]] * expo / 365.25)
    row = np.repeat(np.arange(len(s)), k)
    day = s[row] + (rng.random(row.size) * expo[row]).astype(np.int64)
    person = spans["person"][row]
    order = np.lexsort((day, person))
    return person[order], day[order], row[order]


# ----------------------------------------------------------------------------------------
# hospital stays and readmissions
# ----------------------------------------------------------------------------------------
class _Stays:
    cols = ("person", "span", "adm", "los", "admit_type", "dx", "drg", "pcs", "kind", "disp",
            "hgb", "na", "p_chain", "p_chain_at_discharge", "ed6", "fu", "fu_day", "ct", "gen",
            "sid", "u_thin", "enr", "fu_lin", "lw")

    _dtypes = {"kind": "<U11", "disp": "<U2"}

    def __init__(self):
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, d):
        self.parts.append(d)

    def all(self):
        return {c: np.concatenate([p[c] for p in self.parts]) for c in self.cols}

    def key_columns(self) -> dict[str, np.ndarray]:
        """The columns ``_doomed`` reads, of every stay so far (concatenated once per new part)."""
        if len(self.parts) != getattr(self, "_n_keyed", -1):
            empty = {k: np.zeros(0, dtype=_Stays._dtypes.get(k, np.int64)) for k in _KEY}
            self._keyed = {k: np.concatenate([empty[k]] + [p[k] for p in self.parts]) for k in _KEY}
            self._n_keyed = len(self.parts)
        return self._keyed


def _stay_block(rng, m, person, span, adm, kind, dx=None, drg=None, pcs=None, admit_type=None):
    n = len(person)
    ci = m["ci"]
    los = np.maximum(1, np.round(np.exp(rng.normal(1.30, 0.68, n)))).astype(np.int64)
    los = np.minimum(los + (m["age"][person] >= 75) * rng.integers(0, 2, n), 60)
    if dx is None:
        cond = m["cond"][person]
        w = np.empty((n, len(T.ADMIT_DX)))
        for j, (_c, _m1, _m2, base, extra) in enumerate(T.ADMIT_DX):
            w[:, j] = base + sum(v * cond[:, ci[c]] for c, v in extra.items())
        j = _row_choice(rng, w)
        codes = np.array([a[0] for a in T.ADMIT_DX])
        mcc = rng.random(n) < expit(-1.2 + 0.35 * m["charlson"][person])
        drg_m = np.array([a[1] for a in T.ADMIT_DX])[j]
        drg_o = np.array([a[2] for a in T.ADMIT_DX])[j]
        dx, drg = codes[j], np.where(mcc, drg_m, drg_o)
        pcs = np.where((dx == "I214") & (rng.random(n) < 0.5), "02703DZ", "")
        admit_type = _choice(rng, np.array(["1", "2", "3", "9"]), [0.86, 0.11, 0.02, 0.01], n)
    if kind == "chemo":
        los = rng.integers(1, 4, n)
    a65 = m["age"][person] >= 65
    disp = np.where(a65, _choice(rng, T.DISPOSITIONS, T.DISPOSITION_P_65PLUS, n),
                    _choice(rng, T.DISPOSITIONS, T.DISPOSITION_P_UNDER65, n))
    if kind in ("elective", "chemo"):
        disp = np.where(np.isin(disp, ["02", "20", "07"]), "01", disp)
    cond = m["cond"][person]
    male = m["gender"][person] == "male"
    hgb = (13.2 + 1.2 * male - 1.1 * cond[:, ci["ckd"]] - 1.2 * cond[:, ci["cancer"]]
           - 0.04 * los - 0.35 * m["frailty"][person] - 0.6 + rng.normal(0, 1.5, n))
    na = 138.5 - 1.6 * cond[:, ci["hf"]] - 0.8 * cond[:, ci["ckd"]] + rng.normal(0, 3.2, n)
    z = np.zeros(n)
    return {"person": person, "span": span, "adm": adm, "los": los, "admit_type": admit_type,
            "dx": dx.astype("<U7"), "drg": np.asarray(drg).astype("<U3"), "pcs": np.asarray(pcs).astype("<U7"),
            "kind": np.full(n, kind, dtype="<U11"), "disp": disp, "hgb": np.round(np.clip(hgb, 5, 19), 1),
            "na": np.round(np.clip(na, 118, 155), 0), "p_chain": z.copy(), "p_chain_at_discharge": z.copy(), "ed6": z.astype(np.int64),
            "fu": z.astype(bool), "fu_day": z.astype(np.int64), "ct": z.astype(bool), "gen": z.astype(np.int64),
            "sid": z.astype(np.int64), "u_thin": z.copy(), "enr": z.astype(bool), "fu_lin": z.copy(), "lw": z.copy()}


def lace_l(los: np.ndarray) -> np.ndarray:
    """LACE length-of-stay points (van Walraven 2010)."""
    los = np.asarray(los)
    return np.select([los < 1, los <= 3, los <= 6, los <= 13], [0, los, 4, 5], 7)


def _lace(m, st) -> np.ndarray:
    """LACE of stays (L, A, C, E), all of it recorded in claims."""
    return (lace_l(st["los"]) + 3 * (st["admit_type"] == "1") + m["lace_c"][st["person"]]
            + np.minimum(st["ed6"], 4))


def _followup_logit(m, pe, disp) -> np.ndarray:
    """Log-odds of a 7-day follow-up visit without enrolment (enrolment adds 1.4·S)."""
    return (-0.3 - 0.8 * (m["svi"][pe] - 0.5) + 0.3 * (m["payer"][pe] == 0) + 0.2 * (disp == "06")
            - 0.4 * (disp == "03"))


def _readmission_logit(m, pe, los, admit_type, ed6, hgb, na, disp) -> np.ndarray:
    """Log-odds of the chain's 30-day readmission without a follow-up visit (LACE/HOSPITAL factors)."""
    return (-5.0 + 0.11 * lace_l(los) + 0.12 * 3 * (admit_type == "1") + 0.15 * m["lace_c"][pe]
            + 0.18 * np.minimum(ed6, 4) + 0.45 * (hgb < HGB_LOW) + 0.35 * (na < NA_LOW)
            + 0.12 * np.minimum(m["n_needs"][pe], 3) + 0.5 * (m["svi"][pe] - 0.5) + 0.75 * m["frailty"][pe]
            + 0.25 * (disp == "03") + 0.2 * (m["age"][pe] >= 75))


def _take(d: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in d.items()}


MAX_GENERATIONS = 8
_KEY = ("person", "adm", "los", "kind", "sid", "span", "disp")


def _doomed(cur, pool, done: _Stays, cm: CaseManagement, span_end) -> np.ndarray:
    """The stays of ``cur`` that ``_clean_stays`` will drop, as far as it is known now: not
    finished in their span or after a known death, or overlapping an earlier-admitted stay of the
    member (already simulated, in this batch, or waiting and not avoided)."""
    who = np.unique(cur["person"])
    done_ = done.key_columns()
    done_ = _take(done_, np.isin(done_["person"], who))
    waiting = _take({k: pool[k] for k in _KEY + ("u_thin",)}, np.isin(pool["person"], who))
    gone = (waiting["kind"] == "unplanned") & cm.avoided(waiting["person"], waiting["adm"], waiting.pop("u_thin"))
    waiting = _take(waiting, ~gone)
    u = {k: np.concatenate([done_[k], waiting[k], cur[k]]) for k in _KEY}
    n_cur = len(cur["person"])
    disc = u["adm"] + u["los"]
    ok = (disc <= span_end[u["span"]]) & (disc <= cm.dd[u["person"]])
    drop = ~ok
    drop[ok] = _overlapping(u["person"][ok], u["adm"][ok], u["los"][ok], u["kind"][ok], u["sid"][ok])
    drop = drop[-n_cur:]
    # in-hospital deaths (known ones and this batch's) end the member's history
    disc = cur["adm"] + cur["los"]
    died = (cur["disp"] == "20") & ~drop
    dd = cm.recorded.death_known.copy()
    np.minimum.at(dd, cur["person"][died], disc[died])
    return drop | (cur["adm"] > dd[cur["person"]]) | (~died & (disc > dd[cur["person"]]))


def _simulate_stays(seed, m, spans, win, ed_keys, K, cm: CaseManagement):
    """Every stay of the chunk, simulated in time order so the case-management program sees only
    the past: stays discharged before an intake round's grace window are simulated (readmissions,
    transfers and chemotherapy spawned as they come), then the round runs, and so on."""
    rng = _rng(seed, "stays")
    D = win.days
    stays = _Stays()
    p, d, r = _events(rng, spans, m["rate_ip"], D)
    cur = _stay_block(rng, m, p, r, d, "unplanned")
    p, d, r = _events(rng, spans, m["rate_elective"], D)
    j = rng.integers(0, len(T.ELECTIVE_DX), len(p))
    ed = np.array(T.ELECTIVE_DX)
    el = _stay_block(rng, m, p, r, d, "elective", dx=ed[j, 0], drg=ed[j, 1], pcs=ed[j, 2],
                     admit_type=np.full(len(p), "3"))
    pool = {k: np.concatenate([cur[k], el[k]]) for k in cur}
    pool["sid"] = np.arange(len(pool["person"]), dtype=np.int64)
    pool["u_thin"] = _rng(seed, "cm_thinning").random(len(pool["person"]))
    next_sid = len(pool["person"])
    span_end = np.minimum(spans["end"], D - 1)
    ci = m["ci"]
    # care transitions' referral rate is budgeted on the first-generation discharges
    pool["ed6"] = _count_before(ed_keys, pool["person"] * K + pool["adm"] - 182, pool["person"] * K + pool["adm"])
    alive0 = ~np.isin(pool["disp"], ["20", "07", "02"])
    cm.calibrate_care_transitions(pool["person"], pool["adm"], pool["adm"] + pool["los"], alive0, _lace(m, pool))
    S = cm.opts.effect
    for round_day in [*cm.round_days.tolist(), None]:
        # stays discharged before this round's grace window cannot be enrolled by its referrals
        limit = np.inf if round_day is None else round_day - GRACE_DAYS
        while True:
            now = pool["adm"] + pool["los"] < limit
            if not now.any():
                break
            cur, pool = _take(pool, now), _take(pool, ~now)
            # background admissions inside an engaged community case may be avoided
            avoided = (cur["kind"] == "unplanned") & cm.avoided(cur["person"], cur["adm"], cur["u_thin"])
            cur = _take(cur, ~avoided)
            # stays the cleaning will drop never happened: they refer no one and spawn nothing
            cur = _take(cur, ~_doomed(cur, pool, stays, cm, span_end))
            n = len(cur["person"])
            if n == 0:
                continue
            pe = cur["person"]
            disc = cur["adm"] + cur["los"]
            cur["ed6"] = _count_before(ed_keys, pe * K + cur["adm"] - 182, pe * K + cur["adm"])
            alive = ~np.isin(cur["disp"], ["20", "07", "02"])
            # what the claims will show of these stays (LACE's E from the recorded ED visits)
            cm.recorded.add_stays(pe, cur["adm"], disc)
            died = cur["disp"] == "20"
            cm.recorded.died(pe[died], disc[died])
            lace = _lace(m, {**cur, "ed6": cm.recorded.ed_before(pe, cur["adm"], 182)})
            unplanned = cur["admit_type"] != "3"
            cm.recorded.add_discharges(pe[unplanned], disc[unplanned], lace[unplanned])
            cur["ct"] = cm.refer_at_discharge(cur["sid"], pe, cur["adm"], disc, alive, lace)
            enrolled = cm.enrolled(pe, disc)
            fu_lin = _followup_logit(m, pe, cur["disp"])
            # the effect on the follow-up, at the member's responsiveness on the discharge day
            p_fu = expit(fu_lin + ENROLLED_FOLLOWUP_LOG_ODDS * S * responsiveness(m, pe, disc) * enrolled)
            fu = alive & (rng.random(n) < p_fu)
            fu_day = disc + rng.integers(1, 8, n)
            logit_without_followup = _readmission_logit(m, pe, cur["los"], cur["admit_type"], cur["ed6"],
                                                        cur["hgb"], cur["na"], cur["disp"])
            p_chain = np.where(alive, expit(logit_without_followup - FOLLOWUP_LOG_ODDS * fu), 0.0)
            # what is knowable at discharge: whether the 7-day follow-up happens is not, so the
            # ceiling for a discharge-time score averages over it
            p_at_discharge = (p_fu * expit(logit_without_followup - FOLLOWUP_LOG_ODDS)
                              + (1 - p_fu) * expit(logit_without_followup))
            cur["p_chain"], cur["fu"], cur["fu_day"] = p_chain, fu, fu_day
            cur["p_chain_at_discharge"] = np.where(alive, p_at_discharge, 0.0)
            cur["enr"], cur["fu_lin"], cur["lw"] = enrolled & alive, fu_lin, logit_without_followup
            # children: readmissions, transfers, planned chemotherapy
            readm = rng.random(n) < p_chain
            gap = np.clip(np.ceil(30 * rng.beta(0.9, 1.9, n)), 1, 30).astype(np.int64)
            # a follow-up visit scheduled after the readmission did not happen
            cur["fu"] &= ~(readm & (gap <= fu_day - disc))
            transfer = cur["disp"] == "02"
            chemo = (alive & m["cond"][pe, ci["cancer"]] & (rng.random(n) < 0.12))
            stays.add(cur)
            kids = []
            last = cur["gen"] >= MAX_GENERATIONS - 1
            for mask, delay, kind in ((readm, gap, "readmit"), (transfer, rng.integers(0, 2, n), "transfer_in"),
                                      (chemo, rng.integers(14, 29, n), "chemo")):
                idx = np.flatnonzero(mask & ~last)
                adm = disc[idx] + delay[idx]
                ok = adm <= span_end[cur["span"][idx]]
                idx, adm = idx[ok], adm[ok]
                if kind == "chemo":
                    k = _stay_block(rng, m, pe[idx], cur["span"][idx], adm, kind, dx=np.full(len(idx), T.CHEMO[0]),
                                    drg=np.full(len(idx), T.CHEMO[1]), pcs=np.full(len(idx), T.CHEMO[2]),
                                    admit_type=np.full(len(idx), "3"))
                else:
                    k = _stay_block(rng, m, pe[idx], cur["span"][idx], adm, kind)
                    if kind == "readmit":
                        same = rng.random(len(idx)) < 0.45
                        k["dx"] = np.where(same, cur["dx"][idx], k["dx"])
                        k["drg"] = np.where(same, cur["drg"][idx], k["drg"])
                        k["admit_type"] = np.where(rng.random(len(idx)) < 0.88, "1", "2")
                    else:
                        k["admit_type"] = np.full(len(idx), "2")
                        k["dx"], k["drg"] = cur["dx"][idx], cur["drg"][idx]
                k["gen"] = cur["gen"][idx] + 1
                kids.append(k)
            kids = {c: np.concatenate([k[c] for k in kids]) for c in kids[0]}
            kids["sid"] = next_sid + np.arange(len(kids["person"]), dtype=np.int64)
            next_sid += len(kids["person"])
            pool = {c: np.concatenate([pool[c], kids[c]]) for c in pool}
        if round_day is not None:
            cm.intake(round_day)
    return stays.all()


def _overlapping(person, adm, los, kind, sid) -> np.ndarray:
    """Stays the cleaning drops for overlap: in admission order per member (ties by length of stay,
    then stay id), an admission must not precede the previous kept stay's discharge (transfer-ins
    may start on the discharge day).  Iterated until stable (few passes)."""
    drop = np.zeros(len(person), dtype=bool)
    idx = np.lexsort((sid, los, adm, person))
    for _ in range(10):
        a = adm[idx]
        df = pl.DataFrame({"p": person[idx], "d": a + los[idx]})
        prev = df.select(pl.col("d").shift(1).cum_max().over("p")).to_series().fill_null(-10**9).to_numpy()
        bad = np.where(kind[idx] == "transfer_in", a < prev, a <= prev)
        if not bad.any():
            break
        drop[idx[bad]] = True
        idx = idx[~bad]
    return drop


def _clean_stays(st, spans, death_day, D):
    """Drop overlapping stays, stays after death/disenrolment and stays not finished in the window."""
    disc = st["adm"] + st["los"]
    span_end = np.minimum(spans["end"], D - 1)[st["span"]]
    keep = (disc <= span_end) & (disc <= death_day[st["person"]])
    st = {k: v[keep] for k, v in st.items()}
    keep = ~_overlapping(st["person"], st["adm"], st["los"], st["kind"], st["sid"])
    st = {k: v[keep] for k, v in st.items()}
    order = np.lexsort((st["sid"], st["los"], st["adm"], st["person"]))
    st = {k: v[order] for k, v in st.items()}
    # in-hospital deaths end the member's history
    disc = st["adm"] + st["los"]
    dd = death_day.copy()
    died = st["disp"] == "20"
    np.minimum.at(dd, st["person"][died], disc[died])
    keep = (st["adm"] <= dd[st["person"]]) & (died | (disc <= dd[st["person"]]))
    st = {k: v[keep] for k, v in st.items()}
    return st, dd


# ----------------------------------------------------------------------------------------
# the entry point
# ----------------------------------------------------------------------------------------
DEFAULT_CHUNK_MEMBERS = 100_000
# tables built once for the whole population, written by the first chunk only
SHARED_EXTRACTS = ("area_sdoh_county", "area_sdoh_zip", "cm_roster")
# extracts a landing may lack (absent = an empty table); written only when their option is on
OPTIONAL_EXTRACTS = ("cm_intake_assignment",)


def chunk_sizes(members: int, chunk_members: int) -> list[int]:
    """Members per chunk: as few chunks as ``chunk_members`` allows, sizes differing by at most one."""
    n = -(-members // chunk_members)
    return [members // n + (k < members % n) for k in range(n)]


def generate(out_dir: Path, members: int, seed: int, start: str = "2023-01", months: int = 36,
             dirty_rate: float = 0.0, file_format: str = "csv",
             chunk_members: int | None = None, cm_effect: float = 1.0, cm_selection: str = "latent",
             cm_lottery: float = 0.0, benefit_as_of: Sequence[str | date] | None = None) -> GenerationSummary:
    """Write every contract extract for ``members`` synthetic members into ``out_dir``.

    Case management (``synth.case_management``, docs/generator.md): ``cm_effect`` scales the
    program's effect (0 = it does nothing, 1 = the default); ``cm_selection`` is ``"latent"``
    (referrals also ride on the members' true rates, which no extract holds) or ``"observed"``
    (only on what the extracts record, plus chance); ``cm_lottery`` > 0 randomises that fraction
    of complex care's monthly slots around the capacity cut and writes ``cm_intake_assignment``
    (not written otherwise) and ``_oracle/cm_lottery.csv``.  ``benefit_as_of``: the list dates
    ``_oracle/cm_benefit.csv`` is written for (default ``default_benefit_as_of``: the first day of
    each of the window's last 6 months and the day after the window; empty = no file).

    Members are built in chunks of at most ``chunk_members`` (default 100,000), so memory stays
    that of one chunk whatever the population: chunk k holds the next range of member ids, its
    rows are appended to the same files, and its ids continue where chunk k-1's stopped.
    Geography and the case-manager roster are built once for the whole population; each chunk
    gets its members' share of the roster's case targets.  A run of one chunk is the unchunked
    generator; a chunked run draws chunk k >= 1 from streams of its own (deterministic too).
    """
    from synth.defects import LandingWriter, inject_defects, write_extract

    t0 = time.perf_counter()
    if file_format not in ("csv", "parquet"):
        raise ValueError(f"file_format must be 'csv' or 'parquet', not {file_format!r}")
    if members < 1 or months < 13:
        raise ValueError("need at least 1 member and 13 months")
    chunk_members = DEFAULT_CHUNK_MEMBERS if chunk_members is None else int(chunk_members)
    if chunk_members < 1:
        raise ValueError("chunk_members must be at least 1")
    cm_opts = CMOptions(effect=float(cm_effect), selection=cm_selection, lottery=float(cm_lottery))
    extracts = [e for e in EXTRACTS if e not in OPTIONAL_EXTRACTS or cm_opts.lottery > 0]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "_oracle").mkdir(exist_ok=True)
    for stale in [*(out_dir / f"cm_intake_assignment{s}" for s in (".csv", ".parquet")),
                  out_dir / "_oracle" / "cm_lottery.csv", out_dir / "_oracle" / "cm_benefit.csv"]:
        stale.unlink(missing_ok=True)  # a landing without the lottery must not keep an older run's log
    win = _Window(start, months)
    as_of_days = _benefit_days(win, default_benefit_as_of(win) if benefit_as_of is None else benefit_as_of)
    geo = _geography(seed)
    roster = _roster(seed, members)  # sized for the whole population
    sizes = chunk_sizes(members, chunk_members)
    writer = LandingWriter(out_dir, file_format, chunked=len(sizes) > 1)
    ids = _IdSpace()
    dirty = file_format == "csv" and dirty_rate > 0
    rows: dict[str, int] = {e: 0 for e in extracts}
    found: dict[str, list[dict]] = {e: [] for e in extracts}
    lo = 0
    for k, n in enumerate(sizes):
        cseed = seed if k == 0 else (seed, k)
        ids.start_chunk(lo)
        frames, oracle = _chunk(cseed, n, win, geo, roster, _Share(lo, lo + n, members), ids, cm_opts,
                                benefit_as_of=as_of_days)
        for name, frame in oracle.items():
            writer.oracle(name, frame)
        drop_rng = _rng(cseed, "defects")
        for extract in extracts:
            if k > 0 and extract in SHARED_EXTRACTS:
                continue
            contract = load_contract(extract)
            if dirty:
                written, defects = inject_defects(frames[extract], contract, out_dir, dirty_rate, drop_rng, win,
                                                  writer=writer, first=k == 0)
                found[extract].extend(defects)
            else:
                written = write_extract(frames[extract], contract, out_dir, file_format, writer=writer)
            rows[extract] += written
        del frames, oracle
        lo += n
    writer.finish()
    manifest = [d for e in extracts for d in sorted(found[e], key=lambda d: (d["file"], d["line"]))]
    counts: dict[str, int] = {}
    for d in manifest:
        counts[d["defect"]] = counts.get(d["defect"], 0) + 1
    if dirty:
        (out_dir / "_manifest.json").write_text(json.dumps(
            {"seed": seed, "dirty_rate": dirty_rate, "window_end": str(win.end), "counts": counts,
             "defects": manifest}, indent=1))
    return GenerationSummary(out_dir=out_dir, members=members, seed=seed, window_start=str(win.start),
                             window_end=str(win.end), file_format=file_format, rows=rows, defects=counts,
                             seconds=round(time.perf_counter() - t0, 2), chunks=len(sizes))


def default_benefit_as_of(win: _Window) -> list[date]:
    """The list dates of ``_oracle/cm_benefit.csv`` by default: the first day of each of the
    window's last 6 months and the day after the window (the as-of the pipeline derives by default
    on generated data)."""
    first = win.end.astype("datetime64[M]") - 5
    days = np.arange(first, first + 7).astype("datetime64[D]")
    return [d.astype(object) for d in days]


def _benefit_days(win: _Window, dates: Sequence[str | date]) -> tuple[int, ...]:
    """List dates as day offsets from the window start, each checked to lie in (start, end + 1]."""
    out = []
    for d in dates:
        day = int((np.datetime64(d, "D") - win.start).astype(int))
        if not 0 < day <= win.days:
            raise ValueError(f"benefit_as_of dates must fall after the window start and at most a day after "
                             f"its end ({win.start + 1} .. {win.end + 1}), not {d}")
        out.append(day)
    return tuple(sorted(set(out)))


def _chunk(seed, members: int, win: _Window, geo, roster: pl.DataFrame, share: _Share, ids: _IdSpace,
           cm_opts: CMOptions = CMOptions(), debug: dict | None = None, benefit_as_of: tuple[int, ...] = ()):
    """Every extract's rows for one member chunk (``{extract: frame}``) and its oracle frames."""
    D = win.days
    K = D + 1000
    m = _members(seed, members, win, geo)
    spans, death_day = _spans(seed, m, win)
    m["death_latent"] = _latent_death(seed, m, death_day, D)

    # ED and office visits (Poisson in coverage)
    rng = _rng(seed, "visits")
    ed_p, ed_d, _ = _events(rng, spans, m["rate_ed"], D)
    of_p, of_d, _ = _events(rng, spans, m["rate_office"], D)
    ed_keys = np.sort(ed_p * K + ed_d)
    # which chronic codes each office visit will carry, drawn now so the programs can read the
    # conditions coded so far (cm_selection="observed") and the claims later write the same codes
    of_pick, of_use = _office_codes(seed, m, of_p)

    cov_end = np.full(members, -10**6)
    np.maximum.at(cov_end, spans["person"], spans["end"])  # 10**6 = still enrolled
    # social-need screenings come first: the programs read the recorded needs
    sdoh = _sdoh_draws(seed, m, spans, win)
    recorded = Recorded(K, ed_p, ed_d, _needs_first(sdoh, members), death_day,
                        _conditions_first(members, len(T.CONDITIONS), of_p, of_d, of_pick, of_use))
    cm = CaseManagement(seed, m, roster, win, share, cm_opts, death_day, spans, cov_end, recorded, debug)
    raw = _simulate_stays(seed, m, spans, win, ed_keys, K, cm)
    st, dd = _clean_stays(raw, spans, death_day, D)
    spans["end"] = np.minimum(spans["end"], dd[spans["person"]])
    sk = np.maximum(spans["start"], 0) <= np.minimum(spans["end"], D - 1)
    sk |= spans["start"] < 0
    disc = st["adm"] + st["los"]
    # visits may not happen during a stay or after death
    stay_key = st["person"] * K + st["adm"]

    def outside_stays(p, d):
        i = np.searchsorted(stay_key, p * K + d, "right") - 1
        inside = (i >= 0) & (st["person"][np.maximum(i, 0)] == p) & (disc[np.maximum(i, 0)] >= d)
        return ~inside & (d <= dd[p])

    ok = outside_stays(ed_p, ed_d)
    ed_p, ed_d = ed_p[ok], ed_d[ok]
    ok = outside_stays(of_p, of_d)
    of_p, of_d, of_pick, of_use = of_p[ok], of_d[ok], of_pick[ok], of_use[ok]
    fu_idx = np.flatnonzero(st["fu"])
    span_end_st = np.minimum(spans["end"], D - 1)
    # the span index of a stay refers to the span arrays, which keep their order
    fu_ok = st["fu_day"][fu_idx] <= span_end_st[st["span"][fu_idx]]
    fu_idx = fu_idx[fu_ok]
    fu_p, fu_d = st["person"][fu_idx], st["fu_day"][fu_idx]
    ok = outside_stays(fu_p, fu_d)
    fu_p, fu_d = fu_p[ok], fu_d[ok]
    rng = _rng(seed, "claims")

    # ---------------- unified event table: one row per claim / encounter ----------------
    n_ip, n_ed, n_of, n_fu = len(st["person"]), len(ed_p), len(of_p), len(fu_p)
    ev_type = np.concatenate([np.zeros(n_ip, np.int8), np.ones(n_ed, np.int8), np.full(n_of, 2, np.int8),
                              np.full(n_fu, 3, np.int8)])  # 0 ip 1 ed 2 office 3 follow-up
    ev_p = np.concatenate([st["person"], ed_p, of_p, fu_p])
    ev_s = np.concatenate([st["adm"], ed_d, of_d, fu_d])
    ev_e = np.concatenate([disc, ed_d, of_d, fu_d])
    ev_stay = np.concatenate([np.arange(n_ip), np.full(n_ed + n_of + n_fu, -1)])
    ev_pick = np.concatenate([np.full((n_ip + n_ed, 3), -1), of_pick, np.full((n_fu, 3), -1)])
    ev_use = np.concatenate([np.zeros(n_ip + n_ed, bool), of_use, np.zeros(n_fu, bool)])
    order = np.lexsort((ev_type, ev_s, ev_p))
    ev_type, ev_p, ev_s, ev_e, ev_stay = ev_type[order], ev_p[order], ev_s[order], ev_e[order], ev_stay[order]
    ev_pick, ev_use = ev_pick[order], ev_use[order]
    ne = len(ev_p)
    tele = (ev_type >= 2) & (rng.random(ne) < np.where(ev_type == 3, 0.3, 0.15))
    # diagnoses: random order of the member's chronic codes
    codes = m["codes"][ev_p]
    rk = np.where(codes != "", rng.random(codes.shape), 2.0)
    srt = np.argsort(rk, axis=1)[:, :3]
    chron = np.take_along_axis(codes, srt, axis=1)
    si = np.maximum(ev_stay, 0)
    use_chronic = (ev_type >= 2) & (chron[:, 0] != "") & (rng.random(ne) < 0.7)
    # office visits carry the codes drawn before the stays were simulated (_office_codes)
    office = ev_type == 2
    picked = np.where(ev_pick >= 0, np.take_along_axis(codes, np.maximum(ev_pick, 0), axis=1), "")
    chron = np.where(office[:, None], picked, chron)
    use_chronic = np.where(office, ev_use, use_chronic)
    dx1 = np.where(ev_type == 0, st["dx"][si],
                   np.where(ev_type == 1, T.ED_DX[rng.integers(0, len(T.ED_DX), ne)],
                            np.where(use_chronic, chron[:, 0], T.OFFICE_DX[rng.integers(0, len(T.OFFICE_DX), ne)])))
    dx2 = np.where(use_chronic, chron[:, 1], chron[:, 0])
    dx3 = np.where(use_chronic, chron[:, 2], chron[:, 1])
    # costs
    los = ev_e - ev_s
    drg_mcc = np.isin(st["drg"][si], [a[1] for a in T.ADMIT_DX])
    ip_allowed = (3000 * np.maximum(los, 1) ** 0.8 * np.exp(rng.normal(0, 0.3, ne))
                  * np.where(drg_mcc, 1.5, 1.0) * np.where(st["kind"][si] == "chemo", 0.7, 1.0))
    ed_allowed = 1500 * np.exp(rng.normal(-0.1, 0.45, ne))
    e_m = np.where((rng.random(ne) < 0.45 + 0.05 * m["n_chronic"][ev_p]), "99214", "99213")
    of_allowed = np.where(e_m == "99214", 155.0, 105.0) * np.exp(rng.normal(0, 0.1, ne))
    allowed = _money(np.select([ev_type == 0, ev_type == 1], [ip_allowed, ed_allowed], of_allowed))
    ratio = np.array([0.82, 0.97, 0.78])[m["payer"][ev_p]]
    paid = _money(np.where(rng.random(ne) < 0.02, 0.0, np.minimum(allowed, allowed * ratio)))
    claim_ids = ids("MC", np.arange(ne), 9)
    ip_rows = np.flatnonzero(ev_type == 0)
    # medical_claim lines: inpatient 3 lines (room&board / pharmacy / lab), others 1 line
    nlines = np.where(ev_type == 0, 3, 1)
    li = np.repeat(np.arange(ne), nlines)
    line_no = (np.arange(li.size) - np.repeat(np.cumsum(nlines) - nlines, nlines)) + 1
    lt = ev_type[li]
    is_ip = lt == 0
    share = np.where(is_ip, np.choose(line_no - 1, [0.72, 0.14, 0.14]), 1.0) if li.size else np.ones(0)
    rev = np.where(is_ip, np.choose(line_no - 1, ["0120", "0250", "0300"]),
                   np.where(lt == 1, "0450", ""))
    hcpcs = np.where(is_ip, "", np.where(lt == 1, np.where(rng.random(li.size) < 0.2, "99285", "99284"), e_m[li]))
    pos = np.where(lt >= 2, np.where(tele[li], "02", "11"), "")
    bill = np.where(is_ip, "0111", np.where(lt == 1, "0131", ""))
    sil = si[li]
    line_allowed = _money(allowed[li] * share)
    line_paid = _money(np.minimum(paid[li] * share, line_allowed))
    medical_claim = pl.DataFrame({
        "claim_id": claim_ids.gather(li), "claim_line_number": line_no.astype(np.int64),
        "claim_type": np.where(lt <= 1, "institutional", "professional"),
        "person_id": ids("P", ev_p[li], 8), "claim_start_date": win.dates(ev_s[li]),
        "claim_end_date": win.dates(ev_e[li]), "admission_date": win.dates(ev_s[li], is_ip),
        "discharge_date": win.dates(ev_e[li], is_ip),
        "admit_type_code": _nullable(st["admit_type"][sil].astype(str), is_ip),
        "discharge_disposition_code": _nullable(st["disp"][sil].astype(str), is_ip),
        "place_of_service_code": pos, "bill_type_code": bill, "revenue_center_code": rev, "hcpcs_code": hcpcs,
        "drg_code": _nullable(st["drg"][sil].astype(str), is_ip),
        "diagnosis_code_type": np.full(li.size, "icd-10-cm"), "diagnosis_code_1": dx1[li],
        "diagnosis_code_2": dx2[li], "diagnosis_code_3": dx3[li],
        "procedure_code_1": np.where(is_ip & (line_no == 1), st["pcs"][sil], ""),
        "paid_amount": line_paid, "allowed_amount": line_allowed,
    }).with_columns(pl.col(pl.Utf8).replace("", None))
    stay_claim_id = np.empty(n_ip, dtype=object)
    stay_claim_id[ev_stay[ip_rows]] = claim_ids.gather(ip_rows).to_numpy()

    # ---------------- EHR: encounters, conditions, labs ----------------
    enc_type = np.select([ev_type == 0, ev_type == 1, tele], ["inpatient", "emergency", "telehealth"], "office")
    enc_ids = ids("E", np.arange(ne), 9)
    pcp = np.where(ev_type >= 2, (rng.random(ne) < np.where(ev_type == 3, 0.55, 0.7)).astype(np.int64), 0)
    pcp = np.where(m["no_usual_source"][ev_p], 0, pcp)  # no usual source: no PCP to see
    encounter = pl.DataFrame({
        "encounter_id": enc_ids, "person_id": ids("P", ev_p, 8), "encounter_type": enc_type,
        "encounter_start_date": win.dates(ev_s), "encounter_end_date": win.dates(ev_e),
        "primary_diagnosis_code": dx1, "diagnosis_code_type": np.full(ne, "icd-10-cm"),
        "discharge_disposition_code": _nullable(st["disp"][si].astype(str), ev_type == 0),
        "pcp_visit_flag": pcp,
    })
    cdx = np.stack([dx1, dx2, dx3], axis=1)
    ce, cj = np.nonzero(cdx != "")
    condition = pl.DataFrame({
        "condition_id": ids("DX", np.arange(ce.size), 10), "person_id": ids("P", ev_p[ce], 8),
        "encounter_id": enc_ids.gather(ce), "recorded_date": win.dates(ev_s[ce]),
        "diagnosis_code_type": np.full(ce.size, "icd-10-cm"), "diagnosis_code": cdx[ce, cj],
    })
    lab_result = _labs(rng, m, win, ev_type, ev_p, ev_s, ev_e, ev_stay, tele, enc_ids, st, ids)

    # ---------------- pharmacy and medications ----------------
    pharmacy_claim, medication = _pharmacy(seed, m, spans, dd, win, ids)

    # ---------------- SDOH ----------------
    sdoh_screening = _sdoh(sdoh, dd, win, ids)

    # ---------------- case management ----------------
    cm_frames = cm.tables(st["sid"], dd, roster, ids)

    # ---------------- eligibility ----------------
    live = spans["start"] <= spans["end"]
    sp, ss, se = spans["person"][live], spans["start"][live], spans["end"][live]
    end_date = np.where(se >= 10**6, -1, se)
    elig_end = win.dates(end_date)
    elig_end = pl.select(pl.when(pl.Series(se >= 10**6)).then(pl.lit(OPEN_END.astype(object)))
                         .otherwise(elig_end)).to_series()
    county, zipdf = geo[0], geo[1]
    zips = zipdf["zip_code"].to_numpy()
    cfips = county["county_fips"].to_numpy()
    cstate = county["state"].to_numpy()
    eligibility = pl.DataFrame({
        "person_id": ids("P", sp, 8), "birth_date": win.dates(m["birth"][sp]),
        "death_date": win.dates(dd[sp], dd[sp] <= D - 1), "gender": m["gender"][sp], "race": m["race"][sp],
        "ethnicity": m["ethnicity"][sp], "zip_code": zips[m["zip"][sp]], "county_fips": cfips[m["county"][sp]],
        "state": cstate[m["county"][sp]], "dual_status_code": m["dual"][sp],
        "payer_type": T.PAYERS[m["payer"][sp]], "enrollment_start_date": win.dates(ss),
        "enrollment_end_date": elig_end, "outreach_opt_out_flag": m["optout"][sp],
    })

    frames = {
        "eligibility": eligibility, "medical_claim": medical_claim, "pharmacy_claim": pharmacy_claim,
        "encounter": encounter, "condition": condition, "lab_result": lab_result, "medication": medication,
        "sdoh_screening": sdoh_screening, "area_sdoh_county": county, "area_sdoh_zip": zipdf,
        "cm_roster": roster, **cm_frames,
    }

    oracle = _oracle(m, st, dd, spans, win, K, stay_claim_id, ev_type, ev_p, ev_s, allowed, ids, cm, benefit_as_of)
    return frames, oracle


def _labs(rng, m, win, ev_type, ev_p, ev_s, ev_e, ev_stay, tele, enc_ids, st, ids: _IdSpace):
    ci = m["ci"]
    cond = m["cond"]
    parts = []  # (event rows, loinc, values, observation type)
    ip = np.flatnonzero(ev_type == 0)
    s = ev_stay[ip]
    parts.append((ip, "718-7", st["hgb"][s], "lab", ev_e[ip]))
    parts.append((ip, "2951-2", st["na"][s], "lab", ev_e[ip]))
    off = np.flatnonzero((ev_type >= 2) & ~tele)
    p = ev_p[off]
    n = off.size
    age = m["age"][p] + ev_s[off] / 365.25
    adult = age >= 18
    htn = cond[p, ci["htn"]]
    sbp = np.clip(np.where(adult, 116 + 0.35 * (age - 40).clip(0) + 12 * htn, 105) + rng.normal(0, 12, n), 75, 230)
    dbp = np.clip(0.55 * sbp + rng.normal(8, 7, n), 40, 130)
    parts.append((off, "8480-6", np.round(sbp), "vital", ev_s[off]))
    parts.append((off, "8462-4", np.round(dbp), "vital", ev_s[off]))
    sel = rng.random(n) < 0.5
    parts.append((off[sel], "8867-4", np.round(np.clip(74 + 5 * cond[p[sel], ci["hf"]] + rng.normal(0, 10, sel.sum()), 40, 160)),
                  "vital", ev_s[off][sel]))
    sel = rng.random(n) < 0.3
    bmi = np.where(adult[sel], 29 + rng.normal(0, 6, sel.sum()), 18 + rng.normal(0, 3, sel.sum()))
    parts.append((off[sel], "39156-5", np.round(np.clip(bmi, 13, 70), 1), "vital", ev_s[off][sel]))
    dm = cond[p, ci["dm"]]
    sel = dm & (rng.random(n) < 0.5)
    a1c = 7.4 + 0.8 * (m["svi"][p[sel]] - 0.5) + rng.normal(0, 1.3, sel.sum())
    parts.append((off[sel], "4548-4", np.round(np.clip(a1c, 4.5, 15), 1), "lab", ev_s[off][sel]))
    sel2 = adult & ~dm & (rng.random(n) < 0.08)
    parts.append((off[sel2], "4548-4", np.round(np.clip(5.4 + rng.normal(0, 0.4, sel2.sum()), 4.0, 6.4), 1), "lab",
                  ev_s[off][sel2]))
    ckd = cond[p, ci["ckd"]]
    sel = adult & (ckd | dm | htn) & (rng.random(n) < 0.35)
    egfr = np.where(ckd[sel], 42 + rng.normal(0, 11, sel.sum()), 95 - 0.6 * (age[sel] - 40).clip(0) + rng.normal(0, 12, sel.sum()))
    egfr = np.clip(egfr, 6, 130)
    egfr = np.where(ckd[sel], np.minimum(egfr, 59), np.maximum(egfr, 60))
    parts.append((off[sel], "33914-3", np.round(egfr), "lab", ev_s[off][sel]))
    parts.append((off[sel], "2160-0", np.round(np.clip((90 / egfr) ** 0.85, 0.3, 12), 2), "lab", ev_s[off][sel]))
    sel = adult & (rng.random(n) < 0.12)
    hgb = (13.4 + 1.2 * (m["gender"][p[sel]] == "male") - 1.0 * ckd[sel] - 1.0 * cond[p[sel], ci["cancer"]]
           + rng.normal(0, 1.2, sel.sum()))
    parts.append((off[sel], "718-7", np.round(np.clip(hgb, 6, 19), 1), "lab", ev_s[off][sel]))
    rows = np.concatenate([x[0] for x in parts])
    loinc = np.concatenate([np.full(x[0].size, x[1]) for x in parts])
    val = np.concatenate([np.asarray(x[2], dtype=float) for x in parts])
    otype = np.concatenate([np.full(x[0].size, x[3]) for x in parts])
    day = np.concatenate([x[4] for x in parts])
    code_rank = {c: i for i, c in enumerate(T.LOINC_UNITS)}
    rank = np.zeros(rows.size, dtype=np.int64)
    for c, i in code_rank.items():
        rank[loinc == c] = i
    order = np.lexsort((rank, rows))
    rows, loinc, val, otype, day = rows[order], loinc[order], val[order], otype[order], day[order]
    units = np.empty(rows.size, dtype="<U16")
    for c, u in T.LOINC_UNITS.items():
        units[loinc == c] = u
    return pl.DataFrame({
        "lab_result_id": ids("L", np.arange(rows.size), 10), "person_id": ids("P", ev_p[rows], 8),
        "encounter_id": enc_ids.gather(rows), "result_date": win.dates(day), "observation_type": otype,
        "loinc_code": loinc, "result_value": val, "result_units": units,
    })


def _pharmacy(seed, m, spans, dd, win, ids: _IdSpace):
    rng = _rng(seed, "pharmacy")
    D = win.days
    ci = m["ci"]
    n = len(m["age"])
    cls_index = {c: i for i, c in enumerate(T.DRUG_CLASSES)}
    pp, pc = [], []
    for cond, drugs in T.CONDITION_DRUGS.items():
        has = np.flatnonzero(m["cond"][:, ci[cond]])
        for cls, prob in drugs:
            w = has[rng.random(has.size) < prob]
            pp.append(w)
            pc.append(np.full(w.size, cls_index[cls]))
    adult = np.flatnonzero(m["age"] >= 18)
    for cls, prob in (("opioid", 0.05), ("other", 0.08)):
        w = adult[rng.random(adult.size) < prob]
        pp.append(w)
        pc.append(np.full(w.size, cls_index[cls]))
    canc = np.flatnonzero(m["cond"][:, ci["cancer"]])
    spec = canc[rng.random(canc.size) < 0.25]
    pp.append(spec)
    pc.append(np.full(spec.size, len(T.DRUG_CLASSES)))  # specialty oncology, written as 'other'
    key = np.unique(np.concatenate(pp) * 32 + np.concatenate(pc))
    person, cls = key // 32, key % 32
    specialty = cls == len(T.DRUG_CLASSES)
    cls = np.where(specialty, cls_index["other"], cls)
    # dedupe specialty vs plain 'other' for the same member
    k2 = np.r_[True, (person[1:] != person[:-1]) | (cls[1:] != cls[:-1])]
    person, cls, specialty = person[k2], cls[k2], specialty[k2]
    npair = person.size
    pair_id = np.arange(npair)
    # join pairs to enrolment spans (a member may have two spans)
    sp = pl.DataFrame({"person": spans["person"], "s": np.maximum(spans["start"], 0),
                       "e": np.minimum(np.minimum(spans["end"], D - 1), dd[spans["person"]])})
    pairs = pl.DataFrame({"person": person, "pair": pair_id}).join(sp, on="person", how="inner").sort("pair", "s")
    P = pairs["pair"].to_numpy()
    s, e = pairs["s"].to_numpy(), pairs["e"].to_numpy()
    pe = person[P]
    ds = np.where(rng.random(P.size) < np.where(m["payer"][pe] == 0, 0.55, 0.3), 90, 30)
    ds = np.where(specialty[P] | (cls[P] == cls_index["opioid"]), 30, ds)
    adher = rng.beta(6, 1.5, P.size)
    interval = ds / adher
    start = s + rng.integers(0, 45, P.size)
    stop = np.where(rng.random(P.size) < 0.15, start + (rng.random(P.size) * (e - start + 1)).astype(np.int64), 10**6)
    end = np.minimum(e, stop)
    nf = np.where(end >= start, np.floor((end - start) / interval).astype(np.int64) + 1, 0)
    r = np.repeat(np.arange(P.size), nf)
    k = np.arange(r.size) - np.repeat(np.cumsum(nf) - nf, nf)
    day = np.minimum(start[r] + np.floor(k * interval[r]).astype(np.int64) + rng.integers(0, 3, r.size), end[r])
    pr, cr = pe[r], cls[P][r]
    order = np.lexsort((cr, day, pr))
    r, day, pr, cr = r[order], day[order], pr[order], cr[order]
    nf_total = r.size
    ndc_tab = np.array([T.DRUGS[c][1] for c in T.DRUG_CLASSES])
    ndc = ndc_tab[cr, (P[r] % ndc_tab.shape[1])]
    cost30 = np.array([T.DRUGS[c][2] for c in T.DRUG_CLASSES])[cr]
    cost30 = np.where(specialty[P[r]], T.SPECIALTY_ONCOLOGY_30D, cost30)
    dsr = ds[r]
    allowed = _money(cost30 * dsr / 30 * np.exp(rng.normal(0, 0.1, nf_total)))
    copay = np.where(m["payer"][pr] == 1, 1.0, np.where(dsr == 90, 10.0, 5.0))
    paid = _money(np.clip(allowed * 0.92 - copay, 0, None))
    units = np.where(cr == cls_index["insulin"], 0.5, np.where(cr == cls_index["opioid"], 3.0, 1.0))
    qty = np.round(dsr * units * np.where(np.isin(cr, [cls_index["bronchodilator"], cls_index["inhaled_steroid"]]),
                                          1 / 30 * 8.5, 1.0), 1)
    cls_names = np.array(T.DRUG_CLASSES)
    pharmacy = pl.DataFrame({
        "claim_id": ids("RX", np.arange(nf_total), 10), "claim_line_number": np.ones(nf_total, dtype=np.int64),
        "person_id": ids("P", pr, 8), "dispensing_date": win.dates(day), "ndc_code": ndc,
        "drug_class": cls_names[cr], "days_supply": dsr.astype(np.int64), "quantity": qty,
        "paid_amount": paid, "allowed_amount": allowed,
    })
    # EHR medication list: one row per member x drug span with a fill, stopped ones get an end date
    first = np.full(P.size, 10**6)
    np.minimum.at(first, r, day)
    has = first < 10**6
    idx = np.flatnonzero(has)
    stopped = stop[idx] <= D - 1
    rx = np.array([T.DRUGS[c][0] for c in T.DRUG_CLASSES])
    medication = pl.DataFrame({
        "medication_id": ids("M", np.arange(idx.size), 9), "person_id": ids("P", pe[idx], 8),
        "start_date": win.dates(first[idx]),
        "end_date": win.dates(np.maximum(stop[idx], first[idx]), stopped),
        "rxnorm_code": rx[cls[P[idx]]], "drug_class": cls_names[cls[P[idx]]],
    })
    return pharmacy, medication


def _sdoh_draws(seed, m, spans, win) -> dict[str, np.ndarray]:
    """Social-need screenings (one row per screening x domain asked), drawn before the stays so
    the case-management programs can read the recorded needs."""
    rng = _rng(seed, "sdoh")
    rate = (0.10 + 0.25 * (m["payer"] == 1) + 0.2 * (m["svi"] > 0.6) + 0.08 * (m["n_chronic"] >= 3))
    p, d, _ = _events(rng, spans, rate, win.days)
    n = p.size
    inst = _choice(rng, np.array(["ahc_hrsn", "prapare", "other"]), [0.6, 0.3, 0.1], n)
    nd = len(T.SDOH_DOMAINS)
    mask = np.zeros((n, nd), dtype=bool)
    mask[:, :5] = (inst == "ahc_hrsn")[:, None]
    mask[:, 5:] = ((inst == "ahc_hrsn")[:, None] & (rng.random((n, 2)) < 0.5))
    mask |= (inst == "prapare")[:, None]
    mask[:, :3] |= (inst == "other")[:, None]
    si, dj = np.nonzero(mask)
    pos = m["needs"][p[si], dj] ^ (rng.random(si.size) < 0.03)
    return {"row": si, "person": p[si], "day": d[si], "instrument": inst[si], "domain": dj, "positive": pos}


def _office_codes(seed, m, person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per office visit: up to 3 of the member's chronic conditions in random order ((visits, 3)
    condition indices, -1 where the member has fewer) and whether the visit is about them (70%: the
    first is the primary diagnosis and all 3 are coded; otherwise an acute primary diagnosis and the
    first 2 as secondary)."""
    rng = _rng(seed, "office_codes")
    has = m["cond"][person]
    rank = np.where(has, rng.random(has.shape), 2.0)
    pick = np.argsort(rank, axis=1)[:, :3]
    pick = np.where(np.take_along_axis(has, pick, axis=1), pick, -1)
    use = (pick[:, 0] >= 0) & (rng.random(len(person)) < 0.7)
    return pick, use


def _conditions_first(members: int, conditions: int, person: np.ndarray, day: np.ndarray, pick: np.ndarray,
                      use: np.ndarray) -> np.ndarray:
    """(members, conditions): the first day an office visit codes each condition (NEVER if none).
    Visits later found inside a stay or after death are not billed; counting their codes here
    makes a program see a condition a few days early now and then, no more."""
    first = np.full((members, conditions), NEVER, dtype=np.int64)
    coded = pick.copy()
    coded[~use, 2] = -1  # a visit about something else codes 2 of the conditions
    row, col = np.nonzero(coded >= 0)
    np.minimum.at(first, (person[row], coded[row, col]), day[row])
    return first


def _needs_first(sdoh: dict[str, np.ndarray], members: int) -> np.ndarray:
    """(members, domains): the day each need was first screened positive (NEVER if not)."""
    first = np.full((members, len(T.SDOH_DOMAINS)), NEVER, dtype=np.int64)
    pos = sdoh["positive"]
    np.minimum.at(first, (sdoh["person"][pos], sdoh["domain"][pos]), sdoh["day"][pos])
    return first


def _sdoh(sdoh: dict[str, np.ndarray], dd: np.ndarray, win, ids: _IdSpace) -> pl.DataFrame:
    keep = sdoh["day"] <= dd[sdoh["person"]]  # screenings after an in-hospital death never happened
    s = {k: v[keep] for k, v in sdoh.items()}
    return pl.DataFrame({
        "screening_id": ids("S", s["row"], 9), "person_id": ids("P", s["person"], 8),
        "screening_date": win.dates(s["day"]), "instrument": s["instrument"],
        "domain": T.SDOH_DOMAINS[s["domain"]], "positive_flag": s["positive"].astype(np.int64),
    })


def _typical_chain(m, effect: float) -> TypicalChains:
    """Each member's 30-day readmission probability after a typical future stay, not enrolled and
    enrolled at its discharge (at the member's h, and at the end-of-life h): the chain's logit at the member's expected stay (length of stay,
    admit type, ED visits, labs and disposition at their means), marginalised over the follow-up
    visit.  A first-order figure for the oracle's expected admissions (docs/generator.md)."""
    z = ndtri((np.arange(400) + 0.5) / 400)
    los = np.minimum(np.maximum(1, np.round(np.exp(1.30 + 0.68 * z))), 60)
    old = m["age"] >= 75
    L = np.where(old, (lace_l(los).mean() + lace_l(np.minimum(los + 1, 60)).mean()) / 2, lace_l(los).mean())
    mean_los = los.mean() + 0.5 * old
    lam_ed = m["rate_ed"] * 182 / 365.25
    ed = sum(min(k, 4) * np.exp(-lam_ed) * lam_ed ** k / math.factorial(k) for k in range(4)) + 4 * (
        1 - sum(np.exp(-lam_ed) * lam_ed ** k / math.factorial(k) for k in range(4)))
    cond, ci = m["cond"], m["ci"]
    hgb = (13.2 + 1.2 * (m["gender"] == "male") - 1.1 * cond[:, ci["ckd"]] - 1.2 * cond[:, ci["cancer"]]
           - 0.04 * mean_los - 0.35 * m["frailty"] - 0.6)
    na = 138.5 - 1.6 * cond[:, ci["hf"]] - 0.8 * cond[:, ci["ckd"]]
    a65 = m["age"] >= 65
    snf, home_health = np.where(a65, 0.16, 0.04), np.where(a65, 0.19, 0.09)
    lw = (-5.0 + 0.11 * L + 0.12 * 3 * 0.86 + 0.15 * m["lace_c"] + 0.18 * ed + 0.45 * ndtr((HGB_LOW - 0.05 - hgb) / 1.5)
          + 0.35 * ndtr((NA_LOW - 0.5 - na) / 3.2) + 0.12 * np.minimum(m["n_needs"], 3) + 0.5 * (m["svi"] - 0.5)
          + 0.75 * m["frailty"] + 0.25 * snf + 0.2 * old)
    fu_lin = -0.3 - 0.8 * (m["svi"] - 0.5) + 0.3 * (m["payer"] == 0) + 0.2 * home_health - 0.4 * snf

    def chain(e) -> np.ndarray:
        p_fu = expit(fu_lin + ENROLLED_FOLLOWUP_LOG_ODDS * effect * e)
        return p_fu * expit(lw - FOLLOWUP_LOG_ODDS) + (1 - p_fu) * expit(lw)

    return TypicalChains(r0=chain(0.0), r1=chain(base_responsiveness(m, np.arange(len(m["age"])))),
                         r1_eol=chain(END_OF_LIFE_H))


def _oracle(m, st, dd, spans, win, K, stay_claim_id, ev_type, ev_p, ev_s, allowed, ids: _IdSpace,
            cm: CaseManagement, benefit_as_of: tuple[int, ...] = ()):
    """The answer key of one member chunk: ``{"index_stays", "members", "cm_effect"}`` frames,
    ``cm_lottery`` when the intake lottery runs and ``cm_benefit`` at the ``benefit_as_of`` days."""
    D = win.days
    disc = st["adm"] + st["los"]
    p = st["person"]
    # the stay's own enrolment span, truncated at death
    span_end = np.minimum(spans["end"], dd[spans["person"]])[st["span"]]
    index = (~np.isin(st["disp"], ["20", "07", "02"]) & (disc + 30 <= D - 1)
             & ((span_end >= disc + 30) | (dd[p] <= disc + 30)))
    unplanned = st["admit_type"] != "3"
    keys = np.sort(p[unplanned] * K + st["adm"][unplanned])
    realised = _count_before(keys, p * K + disc + 1, p * K + disc + 31) > 0
    i = np.flatnonzero(index)
    # background admissions inside an engaged community case are thinned by the program
    p_bg = np.zeros(len(p))
    p_bg[i] = 1 - np.exp(-m["rate_ip"][p[i]] / 365.25 * (30 - cm.community_thinned(p[i], disc[i] + 1, disc[i] + 31)))
    p_true = 1 - (1 - st["p_chain"]) * (1 - p_bg)
    p_at_discharge = 1 - (1 - st["p_chain_at_discharge"]) * (1 - p_bg)
    index_stays = pl.DataFrame({
        "person_id": ids("P", p[i], 8), "claim_id": pl.Series(stay_claim_id[i].astype(str)),
        "admission_date": win.dates(st["adm"][i]), "discharge_date": win.dates(disc[i]),
        "p_readmit_30d": np.round(p_true[i], 6),
        "p_readmit_30d_at_discharge": np.round(p_at_discharge[i], 6),
        "readmit_30d": realised[i].astype(np.int64),
    })
    # members: high need in the last 12 months of the window
    n = len(m["age"])
    T0 = win.last12
    s = np.maximum(spans["start"], T0)
    e = np.minimum(np.minimum(spans["end"], dd[spans["person"]]), D - 1)
    expo = np.zeros(n)
    np.add.at(expo, spans["person"], np.maximum(e - s + 1, 0))
    # days inside an engaged community case count for less (the program thins admissions)
    expo_ip = np.maximum(expo - cm.community_thinned(np.arange(n), np.full(n, T0), np.full(n, D)), 0)
    p_high = 1 - np.exp(-m["rate_ip"] * expo_ip / 365.25)
    # the pipeline's need label (2+ unplanned admissions or 4+ ED visits) from the member's true
    # yearly rates; readmission chains add admissions beyond the Poisson count, so this is a
    # slight underestimate for the frailest members, never information a model cannot earn
    lam_adm, lam_ed = m["rate_ip"] * expo_ip / 365.25, m["rate_ed"] * expo / 365.25
    at_most_one_adm = np.exp(-lam_adm) * (1 + lam_adm)
    at_most_three_ed = np.exp(-lam_ed) * (1 + lam_ed + lam_ed ** 2 / 2 + lam_ed ** 3 / 6)
    p_need = 1 - at_most_one_adm * at_most_three_ed
    adm12 = np.zeros(n, dtype=np.int64)
    sel = unplanned & (st["adm"] >= T0)
    np.add.at(adm12, p[sel], 1)
    ed12 = np.zeros(n, dtype=np.int64)
    sel = (ev_type == 1) & (ev_s >= T0)
    np.add.at(ed12, ev_p[sel], 1)
    # spend in the last 12 months: medical (claims starting in the period) + pharmacy added by caller
    spend = np.zeros(n)
    sel = ev_s >= T0
    np.add.at(spend, ev_p[sel], allowed[sel])
    members = pl.DataFrame({
        "person_id": ids("P", np.arange(n), 8),
        "as_of_date": win.dates(np.full(n, T0 - 1)),
        "exposure_days_last12": expo.astype(np.int64),
        "p_high_need": np.round(p_high, 6),
        "high_need": (adm12 > 0).astype(np.int64),
        "p_high_need_utilization": np.round(p_need, 6),
        "high_need_utilization": ((adm12 >= 2) | (ed12 >= 4)).astype(np.int64),
        "unplanned_admissions_last12": adm12, "ed_visits_last12": ed12,
        "medical_allowed_last12": np.round(spend, 2),
    })
    chains = _typical_chain(m, cm.opts.effect)
    out = {"index_stays": index_stays, "members": members,
           "cm_effect": cm.effect_oracle(p[i], disc[i], st["enr"][i], st["lw"][i], st["fu_lin"][i], chains, ids)}
    if cm.opts.lottery > 0:
        out["cm_lottery"] = cm.lottery_oracle(chains, ids)
    if benefit_as_of:
        out["cm_benefit"] = cm.benefit_oracle(list(benefit_as_of), chains, spans, dd, st, ids)
    return out
