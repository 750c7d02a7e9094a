"""Calibration tables for the demo data generator (see ``synth.generator`` and docs/generator.md).

Every figure here is a published population figure (sources in the comments), never a model output.
Codes are real ICD-10-CM (undotted), UB-04, CPT, MS-DRG, LOINC and RxNorm codes; NDCs are
format-valid 11-digit codes chosen for illustration.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------------------------
# Population mix.  Payer mix roughly a regional plan with Medicare Advantage, Medicaid managed
# care and commercial lines.  Race/ethnicity: US Census 2020 (white 60%, black 12-13%, asian 6%,
# AIAN 1%, NHPI 0.2%, other/multiple ~8%; hispanic 18-19%).
# --------------------------------------------------------------------------------------------
PAYERS = np.array(["medicare", "medicaid", "commercial"])
PAYER_P = np.array([0.38, 0.27, 0.35])
GENDERS = np.array(["female", "male", "unknown"])
GENDER_P = np.array([0.52, 0.479, 0.001])
RACES = np.array(["white", "black", "asian", "american_indian_alaska_native",
                  "native_hawaiian_pacific_islander", "other", "unknown"])
RACE_P = np.array([0.60, 0.13, 0.06, 0.01, 0.002, 0.08, 0.118])
ETHNICITIES = np.array(["hispanic", "not_hispanic", "unknown"])
ETHNICITY_P = np.array([0.18, 0.74, 0.08])
# Medicare dual status codes (CMS MMA file): 02 QMB+full, 08 other full dual, 01/03/04/06 partial.
DUAL_CODES = np.array(["01", "02", "03", "04", "06", "08"])
DUAL_P = np.array([0.12, 0.45, 0.08, 0.06, 0.04, 0.25])

# synthetic geography: (state FIPS, postal code, 3-digit ZIP prefix)
STATES = [("25", "MA", "021"), ("36", "NY", "120"), ("13", "GA", "303"), ("39", "OH", "432")]
COUNTIES_PER_STATE = 6
ZIPS_PER_COUNTY = 8
COUNTY_NAMES = ["Ashford", "Briarwood", "Cedar", "Dover", "Elmfield", "Fairview",
                "Glenmore", "Harbor", "Ironwood", "Juniper", "Kingsley", "Lakeside",
                "Maple", "Northgate", "Oakridge", "Pinecrest", "Quarry", "Riverton",
                "Stonebrook", "Timber", "Union", "Valley", "Westbrook", "Yardley"]

# age bands used by the prevalence table
AGE_BANDS = np.array([0, 18, 45, 65, 75])  # lower bounds: <18, 18-44, 45-64, 65-74, 75+

# --------------------------------------------------------------------------------------------
# Chronic conditions.  65+ columns reproduce the CMS Chronic Conditions Data Warehouse /
# "Chronic Conditions among Medicare beneficiaries" prevalences (65+: hypertension ~58%,
# hyperlipidaemia ~47%, diabetes ~27%, CKD ~24%, heart failure ~14%, COPD ~11%,
# depression ~18%, cancer ~8%, Alzheimer's/dementia ~11%, prior AMI ~8%), split into 65-74/75+
# so the 65+ average (67/33 age split) matches.  Under-65 from CDC NHIS / MEPS adult
# prevalences by age.  SMI (schizophrenia/bipolar) ~1% of adults (NIMH).
# --------------------------------------------------------------------------------------------
CONDITIONS = ["htn", "hld", "dm", "ckd", "hf", "copd", "dep", "cancer", "dementia", "mi", "smi"]
#                       <18     18-44   45-64  65-74  75+
PREVALENCE = np.array([
    [0.010, 0.100, 0.350, 0.520, 0.700],  # hypertension
    [0.010, 0.080, 0.300, 0.460, 0.490],  # hyperlipidaemia
    [0.003, 0.040, 0.150, 0.260, 0.290],  # diabetes
    [0.002, 0.020, 0.080, 0.180, 0.360],  # CKD
    [0.001, 0.005, 0.030, 0.090, 0.240],  # heart failure
    [0.001, 0.010, 0.050, 0.100, 0.130],  # COPD
    [0.040, 0.100, 0.140, 0.170, 0.200],  # depression
    [0.002, 0.010, 0.040, 0.070, 0.100],  # cancer
    [0.0001, 0.0005, 0.005, 0.050, 0.230],  # dementia
    [0.0001, 0.002, 0.020, 0.060, 0.120],  # prior myocardial infarction
    [0.002, 0.012, 0.010, 0.006, 0.004],  # serious mental illness
])
# ICD-10-CM codes (undotted) and their weights, per condition
CONDITION_CODES = {
    "htn": (["I10"], [1.0]),
    "hld": (["E785", "E782"], [0.7, 0.3]),
    "dm": (["E119", "E1165"], [0.75, 0.25]),  # E1122 used instead when the member also has CKD
    "ckd": (["N1831", "N184", "N185", "N189"], [0.5, 0.3, 0.1, 0.1]),
    "hf": (["I5022", "I509", "I5032"], [0.35, 0.35, 0.30]),
    "copd": (["J449"], [1.0]),
    "dep": (["F329", "F331"], [0.7, 0.3]),
    "cancer": (["C349", "C509", "C61", "C189"], [0.3, 0.35, 0.2, 0.15]),
    "dementia": (["F0390", "G309"], [0.6, 0.4]),
    "mi": (["I252"], [1.0]),
    "smi": (["F209", "F319"], [0.4, 0.6]),
}
# Charlson (1987) weights, as used by LACE (van Walraven 2010): MI 1, CHF 1, COPD 1,
# diabetes 1 (2 with end-organ damage), moderate/severe renal disease 2, malignancy 2, dementia 1.
CHARLSON_WEIGHT = {"mi": 1, "hf": 1, "copd": 1, "dm": 1, "ckd": 2, "cancer": 2, "dementia": 1}
# codes (prefixes) the tests and docs use to score Charlson from claims
CHARLSON_PREFIXES = {
    "mi": ["I21", "I22", "I252"],
    "hf": ["I50", "I110", "I130", "I132"],
    "copd": ["J44", "J43", "J45"],
    "dm_compl": ["E1122", "E112", "E113", "E114", "E115"],
    "dm": ["E10", "E11"],
    "ckd": ["N18", "N19"],
    "cancer": ["C"],
    "dementia": ["F01", "F02", "F03", "G30"],
}

# --------------------------------------------------------------------------------------------
# Acute admission diagnoses: code, DRG with MCC, DRG without, base weight, condition multipliers.
# --------------------------------------------------------------------------------------------
ADMIT_DX = [
    # code,     drg_mcc, drg_other, base, {condition: extra weight}
    ("A419", "871", "872", 1.0, {"dm": 0.3, "ckd": 0.4, "dementia": 0.5}),      # sepsis
    ("J189", "193", "195", 1.0, {"copd": 1.0, "hf": 0.3}),                      # pneumonia
    ("N390", "689", "690", 0.6, {"dementia": 0.8, "dm": 0.2}),                  # UTI
    ("K922", "377", "379", 0.5, {"ckd": 0.2}),                                  # GI bleed
    ("S72001A", "480", "482", 0.25, {"dementia": 0.6}),                         # hip fracture
    ("I214", "280", "282", 0.25, {"mi": 0.8, "dm": 0.3, "htn": 0.2}),           # NSTEMI
    ("I5023", "291", "293", 0.0, {"hf": 3.0}),                                  # HF exacerbation
    ("I110", "291", "293", 0.0, {"hf": 1.0, "htn": 0.3}),                       # hypertensive HF
    ("J441", "190", "192", 0.0, {"copd": 2.5}),                                 # COPD exacerbation
    ("E1110", "637", "639", 0.0, {"dm": 0.5}),                                  # DKA
    ("N179", "682", "684", 0.2, {"ckd": 1.0}),                                  # acute kidney injury
    ("F332", "885", "885", 0.05, {"dep": 0.4, "smi": 2.0}),                     # psychiatric
    ("I639", "064", "066", 0.3, {"htn": 0.2}),                                  # stroke
    ("R55", "312", "312", 0.3, {}),                                             # syncope
]
ELECTIVE_DX = [  # code, drg, pcs
    ("M1711", "470", "0SRC0J9"),  # knee replacement
    ("I2510", "247", "02703DZ"),  # elective PCI
]
CHEMO = ("Z5111", "847", "3E04305")
ED_DX = np.array(["R0789", "R109", "J069", "S0990XA", "N390", "R42", "M5450", "R0602", "L03115"])
OFFICE_DX = np.array(["Z0000", "J069", "M25561", "R5383"])

# UB-04 discharge status mix for acute stays (HCUP NIS / CMS MedPAR): home 01 ~65%,
# home health 06 ~15%, SNF 03 ~12%, expired 20 ~2%, AMA 07 ~1%, transfer 02 ~2%, rehab 62, hospice 50.
DISPOSITIONS = np.array(["01", "06", "03", "20", "07", "02", "62", "50"])
DISPOSITION_P_UNDER65 = np.array([0.80, 0.09, 0.04, 0.01, 0.025, 0.02, 0.01, 0.005])
DISPOSITION_P_65PLUS = np.array([0.56, 0.19, 0.16, 0.025, 0.005, 0.02, 0.025, 0.015])

# --------------------------------------------------------------------------------------------
# Pharmacy: drug classes, RxNorm ingredient RXCUIs, illustrative NDC-11, 30-day allowed cost.
# --------------------------------------------------------------------------------------------
DRUGS = {
    # class: (rxnorm, [ndc11...], allowed per 30 days USD)
    "statin": ("83367", ["00093505698", "60505257809"], 12.0),           # atorvastatin
    "ace_arb": ("29046", ["68180051301", "00093111301"], 9.0),           # lisinopril
    "beta_blocker": ("6918", ["00378001801", "62037083101"], 11.0),      # metoprolol
    "diuretic": ("4603", ["00054429731", "00172290880"], 7.0),           # furosemide
    "insulin": ("274783", ["00088222033", "00088250205"], 310.0),        # insulin glargine
    "metformin": ("6809", ["00093104801", "65862000899"], 8.0),
    "sglt2": ("1545653", ["00597015230", "00597015290"], 560.0),         # empagliflozin
    "anticoagulant": ("1364430", ["00003089321", "00003089431"], 520.0),  # apixaban
    "antiplatelet": ("32968", ["60505025303", "16714004002"], 10.0),     # clopidogrel
    "bronchodilator": ("435", ["00173068220", "49502030317"], 55.0),     # albuterol
    "inhaled_steroid": ("41126", ["00173071920", "00173069600"], 260.0),  # fluticasone
    "antidepressant": ("36437", ["16729000101", "00093717101"], 10.0),   # sertraline
    "antipsychotic": ("51272", ["00310027510", "47335090288"], 45.0),    # quetiapine
    "opioid": ("7804", ["00406055262", "10702001801"], 25.0),            # oxycodone
    "other": ("135447", ["00093732056", "62332010930"], 15.0),           # donepezil / other
}
DRUG_CLASSES = list(DRUGS)
SPECIALTY_ONCOLOGY_30D = 4500.0  # oral oncolytic, 'other' class

# condition -> [(drug class, probability of being on it)]
CONDITION_DRUGS = {
    "htn": [("ace_arb", 0.65), ("diuretic", 0.25), ("beta_blocker", 0.2)],
    "hld": [("statin", 0.7)],
    "dm": [("metformin", 0.65), ("insulin", 0.25), ("sglt2", 0.2)],
    "hf": [("beta_blocker", 0.7), ("diuretic", 0.75), ("sglt2", 0.25), ("anticoagulant", 0.3)],
    "copd": [("bronchodilator", 0.8), ("inhaled_steroid", 0.5)],
    "dep": [("antidepressant", 0.6)],
    "dementia": [("other", 0.4)],
    "mi": [("antiplatelet", 0.6), ("statin", 0.8)],
    "smi": [("antipsychotic", 0.8)],
}

# --------------------------------------------------------------------------------------------
# SDOH.  AHC HRSN screening positive rates (CMS AHC model evaluation 2023; Medicaid/Medicare
# beneficiaries): food ~20-25%, housing ~15%, transportation ~12-15%, utilities ~10-12%,
# interpersonal safety ~5%; PRAPARE-style financial strain ~25%, social isolation ~15-20%.
# --------------------------------------------------------------------------------------------
SDOH_DOMAINS = np.array(["food_insecurity", "housing_instability", "transportation", "utilities",
                         "interpersonal_safety", "financial_strain", "social_isolation"])
SDOH_BASE = np.array([0.15, 0.10, 0.11, 0.08, 0.04, 0.18, 0.13])

# LOINC and units
LOINC_UNITS = {
    "718-7": "g/dL", "2951-2": "mmol/L", "4548-4": "%", "33914-3": "mL/min/{1.73_m2}",
    "2160-0": "mg/dL", "8480-6": "mm[Hg]", "8462-4": "mm[Hg]", "39156-5": "kg/m2", "8867-4": "/min",
}

# --------------------------------------------------------------------------------------------
# Case management programs: share of case managers, capacity range, setting, mean case length
# (days), contact interval (days).  Caseload figures: ACT 1:10 (SAMHSA ACT fidelity, DACTS),
# intensive case management 20-50, care transitions 15-25 (acute), complex care 30-40,
# brokerage 60-80 (CMSA / state Medicaid care-coordination ratios).
# --------------------------------------------------------------------------------------------
PROGRAMS = ["complex_care", "care_transitions", "brokerage", "intensive_case_management",
            "assertive_community_treatment"]
PROGRAM_SHARE = np.array([0.30, 0.25, 0.20, 0.17, 0.08])
PROGRAM_CAPACITY = {"complex_care": (30, 40), "care_transitions": (15, 25), "brokerage": (60, 80),
                    "intensive_case_management": (20, 50), "assertive_community_treatment": (10, 10)}
PROGRAM_SETTING = {"care_transitions": "acute"}
PROGRAM_DURATION = {"complex_care": 180, "care_transitions": 35, "brokerage": 90,
                    "intensive_case_management": 240, "assertive_community_treatment": 400}
PROGRAM_CONTACT_INTERVAL = {"complex_care": 14, "care_transitions": 5, "brokerage": 21,
                            "intensive_case_management": 10, "assertive_community_treatment": 5}
GOAL_DOMAINS = np.array(["medication", "follow_up_care", "self_management", "housing", "food",
                         "transportation", "behavioral_health", "other"])
PROGRAM_GOAL_P = {
    "care_transitions": [0.4, 0.45, 0.1, 0.0, 0.0, 0.05, 0.0, 0.0],
    "complex_care": [0.3, 0.25, 0.25, 0.03, 0.03, 0.05, 0.07, 0.02],
    "brokerage": [0.05, 0.05, 0.05, 0.3, 0.25, 0.2, 0.0, 0.1],
    "intensive_case_management": [0.2, 0.1, 0.1, 0.2, 0.1, 0.05, 0.2, 0.05],
    "assertive_community_treatment": [0.25, 0.05, 0.05, 0.2, 0.05, 0.05, 0.35, 0.0],
}
