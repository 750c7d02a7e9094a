"""The feature dictionary: one entry per model feature of ``features.readmission_stay``.

Each entry says what the feature means, over which window, from which source, in which
unit, and how to say it to a case manager (``template`` is formatted with ``value=``;
``template_zero`` is used when the value is 0, ``template_missing`` when it is null).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    definition: str
    window: str
    source: str
    unit: str
    template: str
    template_zero: str | None = None
    template_missing: str | None = None

    def reason(self, value: float | None) -> str:
        """Plain-language reason for one value of this feature."""
        if value is None or value != value:  # NaN
            return self.template_missing or f"no {self.name.replace('_', ' ')} on record"
        if value == 0 and self.template_zero is not None:
            return self.template_zero
        return self.template.format(value=value)


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
    FeatureSpec("days_since_prev_discharge", "Days from the previous acute discharge to this admission.",
                "any time before", "core.inpatient_stay", "days",
                "readmitted {value:.0f} days after the previous discharge",
                "readmitted the same day as the previous discharge", "no earlier hospital stay on record"),
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
                "discharge within 7 days; null when there was no previous stay.",
                "7 days after the previous discharge", "raw.medical_claim (professional), raw.encounter", "flag",
                "had a follow-up visit within 7 days of the last discharge",
                "no follow-up visit within 7 days of the last discharge", "no earlier hospital stay on record"),
    FeatureSpec("open_cm_case_flag", "1 when a case-management case was open on the discharge date.", "at discharge",
                "raw.cm_case", "flag", "already in case management at discharge", "not in case management at discharge"),
    FeatureSpec("svi_overall", "CDC/ATSDR Social Vulnerability Index percentile of the county of residence (0-1).",
                "latest release", "raw.area_sdoh_county", "percentile",
                "lives in a county at the {value:.0%} social-vulnerability percentile",
                template_missing="county social vulnerability unknown"),
)

FEATURE_DICTIONARY: dict[str, FeatureSpec] = {spec.name: spec for spec in _SPECS}
MODEL_FEATURES: tuple[str, ...] = tuple(FEATURE_DICTIONARY)


def dictionary_markdown() -> str:
    """The feature dictionary as a markdown table."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    header = "| feature | definition | window | source | unit | reason template |\n|---|---|---|---|---|---|"
    rows = [
        f"| `{s.name}` | {cell(s.definition)} | {cell(s.window)} | {cell(s.source)} | {cell(s.unit)} | {cell(s.template)} |"
        for s in _SPECS
    ]
    return "\n".join([header, *rows]) + "\n"
