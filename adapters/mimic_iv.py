"""MIMIC-IV ``hosp`` module (1.0: patients and admissions in ``core``) -> canonical landing extracts.

| source | canonical | how |
|---|---|---|
| patients (+ admissions) | eligibility | one span per patient: first admission to last discharge + 30 days (MIMIC has no enrolment); birth date 1 July of anchor_year - anchor_age; payer from the last admission's insurance |
| admissions | encounter | encounter_type 'inpatient'; disposition from discharge_location |
| admissions + diagnoses_icd + drgcodes + procedures_icd | medical_claim | one institutional inpatient claim per admission (bill type 0111) so the pipeline can build stays; diagnoses seq 1-3; paid/allowed 0.0 (MIMIC has no costs) |
| diagnoses_icd | condition | icd_version 9/10 -> icd-9-cm / icd-10-cm, recorded on the admission date |
| labevents | lab_result | the items in ``LAB_LOINC`` with a numeric value |
| prescriptions | medication | drug class from the drug name; no RxNorm in MIMIC |

Dates are MIMIC's shifted dates (2100-2200), kept as they are: the report recommends a
``data_through`` at the latest date and an ``as_of`` the day after the latest discharge.

Tables are found in the folder, its ``hosp/`` or its ``core/`` (MIMIC-IV 1.0); the columns each
needs are declared in ``adapters.columns.MIMIC_IV`` (1.0's admissions ``ethnicity`` is read as ``race``).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from adapters.columns import MIMIC_IV as SPEC
from adapters.common import (
    NO_DATE,
    NO_PERSON,
    Conversion,
    code_map,
    drug_class,
    iso_date,
    undotted,
)

FORMAT = "mimic-iv"
TABLES = tuple(SPEC)
SIGNATURE = ("patients", "admissions", "diagnoses_icd")

ENROLMENT_TAIL_DAYS = 30

DISPOSITION = {
    "HOME": "01",
    "ASSISTED LIVING": "01",
    "ACUTE HOSPITAL": "02",
    "SKILLED NURSING FACILITY": "03",
    "HOME HEALTH CARE": "06",
    "AGAINST ADVICE": "07",
    "DIED": "20",
    "HOSPICE": "50",
    "REHAB": "62",
    "CHRONIC/LONG TERM ACUTE CARE": "63",
    "PSYCH FACILITY": "65",
    "HEALTHCARE FACILITY": "70",
    "OTHER FACILITY": "70",
}
# UB-04 admission type: 1 emergency, 2 urgent, 3 elective, 9 not stated (observation admissions).
ADMIT_TYPE = {
    "EW EMER.": "1",
    "DIRECT EMER.": "1",
    "EU OBSERVATION": "1",
    "URGENT": "2",
    "ELECTIVE": "3",
    "SURGICAL SAME DAY ADMISSION": "3",
    "OBSERVATION ADMIT": "9",
    "DIRECT OBSERVATION": "9",
    "AMBULATORY OBSERVATION": "9",
}
PAYER = {"Medicare": "medicare", "Medicaid": "medicaid", "Other": "commercial"}
GENDER = {"F": "female", "M": "male"}
# MIMIC-IV d_labitems itemid -> LOINC in the lab_result contract's list
LAB_LOINC = {
    "51222": "718-7",   # Hemoglobin, blood (hematology)
    "50811": "718-7",   # Hemoglobin, blood gas
    "50983": "2951-2",  # Sodium, blood
    "50824": "2951-2",  # Sodium, whole blood
    "50912": "2160-0",  # Creatinine, blood
    "52024": "2160-0",  # Creatinine, whole blood
    "50852": "4548-4",  # % Hemoglobin A1c
    "50920": "33914-3", # Estimated GFR (MDRD) - reported as text in the demo, so rarely numeric
}


def _race(expr: pl.Expr) -> pl.Expr:
    return (
        pl.when(expr.str.starts_with("WHITE") | (expr == "PORTUGUESE")).then(pl.lit("white"))
        .when(expr.str.starts_with("BLACK")).then(pl.lit("black"))
        .when(expr.str.starts_with("ASIAN")).then(pl.lit("asian"))
        .when(expr.str.starts_with("AMERICAN INDIAN")).then(pl.lit("american_indian_alaska_native"))
        .when(expr.str.starts_with("NATIVE HAWAIIAN")).then(pl.lit("native_hawaiian_pacific_islander"))
        .when(expr.is_null() | expr.is_in(["UNKNOWN", "UNABLE TO OBTAIN", "PATIENT DECLINED TO ANSWER"])
              | expr.str.starts_with("HISPANIC")).then(pl.lit("unknown"))
        .otherwise(pl.lit("other"))
    )


def _ethnicity(expr: pl.Expr) -> pl.Expr:
    return (
        pl.when(expr.str.starts_with("HISPANIC")).then(pl.lit("hispanic"))
        .when(expr.is_null() | expr.is_in(["UNKNOWN", "UNABLE TO OBTAIN", "PATIENT DECLINED TO ANSWER"])).then(pl.lit("unknown"))
        .otherwise(pl.lit("not_hispanic"))
    )


def convert(source: Path, landing: Path) -> Conversion:
    run = Conversion(FORMAT, source, landing)
    patients = run.table(SPEC["patients"], required=True)
    admissions = run.table(SPEC["admissions"], required=True)
    diagnoses = run.table(SPEC["diagnoses_icd"], required=True)

    adm = admissions.with_columns(
        iso_date("admittime").alias("admission_date"),
        iso_date("dischtime").alias("discharge_date"),
        pl.col("hadm_id").str.strip_chars().alias("hadm_id"),
    )
    known = patients.select("subject_id").unique()
    adm = run.keep("admissions", adm.join(known.with_columns(pl.lit(True).alias("_known")), on="subject_id", how="left"), [
        (NO_PERSON, pl.col("_known").is_null()),
        (NO_DATE, pl.col("admission_date").is_null() | pl.col("discharge_date").is_null()),
        ("discharge before admission", pl.col("discharge_date") < pl.col("admission_date")),
    ], inpatient=pl.lit(True)).drop("_known")

    _eligibility(run, patients, adm)
    dx = _diagnoses(run, diagnoses, adm)
    _encounters_and_claims(run, adm, dx)
    _labs(run)
    _medications(run, adm)
    run.not_producing("pharmacy_claim", "MIMIC-IV holds inpatient orders, not dispensing claims")
    run.note("MIMIC-IV dates are shifted per patient into 2100-2200; data_through and as_of are set from the data, "
             "not from today")
    run.note("MIMIC-IV has no costs: paid_amount and allowed_amount are 0.0 on the synthesised inpatient claims")
    run.assume_enrolment(f"MIMIC-IV has no enrolment (each patient's span runs from the first admission to the last "
                         f"discharge + {ENROLMENT_TAIL_DAYS} days, so every discharge has a complete 30-day follow-up window)")
    run.note("MIMIC-IV has no geography: zip_code, county_fips and state are null, so no SDOH can be joined")
    return run


def _eligibility(run: Conversion, patients: pl.LazyFrame, adm: pl.DataFrame) -> None:
    spans = adm.lazy().sort("admission_date").group_by("subject_id").agg(
        pl.col("admission_date").min().alias("enrollment_start_date"),
        (pl.col("discharge_date").max() + pl.duration(days=ENROLMENT_TAIL_DAYS)).alias("enrollment_end_date"),
        pl.col("insurance").last().alias("insurance"),
        pl.col("race").last().alias("race_text"),
    )
    frame = patients.join(spans, on="subject_id", how="left").with_columns(
        pl.date(pl.col("anchor_year").cast(pl.Int32, strict=False) - pl.col("anchor_age").cast(pl.Int32, strict=False), 7, 1)
        .alias("birth_date"),
    )
    kept = run.keep("patients", frame, [
        ("no admission (no enrolment span can be derived)", pl.col("enrollment_start_date").is_null(),
         "nothing is lost: a patient without an admission has no stay to score"),
        ("anchor_year or anchor_age not a number (no birth date)", pl.col("birth_date").is_null()),
    ])
    run.add("eligibility", kept.select(
        pl.col("subject_id").alias("person_id"),
        pl.min_horizontal("birth_date", "enrollment_start_date").alias("birth_date"),
        iso_date("dod").alias("death_date"),
        code_map(pl.col("gender"), GENDER, "unknown").alias("gender"),
        _race(pl.col("race_text")).alias("race"),
        _ethnicity(pl.col("race_text")).alias("ethnicity"),
        pl.lit(None, dtype=pl.String).alias("zip_code"),
        pl.lit(None, dtype=pl.String).alias("county_fips"),
        pl.lit(None, dtype=pl.String).alias("state"),
        code_map(pl.col("insurance"), PAYER, "commercial").alias("payer_type"),
        "enrollment_start_date",
        "enrollment_end_date",
    ))


def _diagnoses(run: Conversion, diagnoses: pl.LazyFrame, adm: pl.DataFrame) -> pl.DataFrame:
    """diagnoses_icd -> condition; returns the typed rows for the claims."""
    frame = diagnoses.with_columns(
        undotted(pl.col("icd_code")).alias("diagnosis_code"),
        code_map(pl.col("icd_version").str.strip_chars(), {"9": "icd-9-cm", "10": "icd-10-cm"}).alias("diagnosis_code_type"),
        # seq_num absent or blank: the file's order within the admission
        pl.coalesce(pl.col("seq_num").cast(pl.Int32, strict=False), (pl.int_range(pl.len()).over("hadm_id") + 1).cast(pl.Int32))
        .alias("seq"),
        pl.col("hadm_id").str.strip_chars(),
    ).join(adm.lazy().select("hadm_id", "admission_date"), on="hadm_id", how="left")
    kept = run.keep("diagnoses_icd", frame, [
        ("admission not in admissions", pl.col("admission_date").is_null()),
        ("blank code", pl.col("diagnosis_code").is_null()),
        ("unknown icd_version", pl.col("diagnosis_code_type").is_null()),
    ])
    run.add("condition", kept.select(
        (pl.col("hadm_id") + "-" + pl.col("seq").cast(pl.String)).alias("condition_id"),
        pl.col("subject_id").alias("person_id"),
        pl.col("hadm_id").alias("encounter_id"),
        pl.col("admission_date").alias("recorded_date"),
        "diagnosis_code_type",
        "diagnosis_code",
    ))
    return kept


def _encounters_and_claims(run: Conversion, adm: pl.DataFrame, dx: pl.DataFrame) -> None:
    by_seq = dx.sort("hadm_id", "seq").group_by("hadm_id", maintain_order=True).agg(
        pl.col("diagnosis_code").first().alias("diagnosis_code_1"),
        pl.col("diagnosis_code_type").first().alias("diagnosis_code_type"),
        pl.col("diagnosis_code").get(1, null_on_oob=True).alias("diagnosis_code_2"),
        pl.col("diagnosis_code").get(2, null_on_oob=True).alias("diagnosis_code_3"),
    )
    stays = adm.join(by_seq, on="hadm_id", how="left").with_columns(
        code_map(pl.col("discharge_location"), DISPOSITION).alias("discharge_disposition_code"),
        code_map(pl.col("admission_type"), ADMIT_TYPE, "9").alias("admit_type_code"),
    )
    unknown = stays.filter(pl.col("discharge_location").is_not_null() & pl.col("discharge_disposition_code").is_null()).height
    if unknown:
        run.note(f"{unknown} admissions have a discharge_location with no UB-04 equivalent; disposition left null")
    blank = stays.filter(pl.col("discharge_location").is_null()).height
    run.note(f"{blank} admissions have no discharge_location (null disposition: kept as ordinary discharges)")
    run.add("encounter", stays.select(
        pl.col("hadm_id").alias("encounter_id"),
        pl.col("subject_id").alias("person_id"),
        pl.lit("inpatient").alias("encounter_type"),
        pl.col("admission_date").alias("encounter_start_date"),
        pl.col("discharge_date").alias("encounter_end_date"),
        pl.col("diagnosis_code_1").alias("primary_diagnosis_code"),
        "diagnosis_code_type",
        "discharge_disposition_code",
    ))

    drg = run.table(SPEC["drgcodes"])
    if drg is not None:
        # HCFA rows are CMS MS-DRGs; APR-DRGs are a different grouper and stay out
        ms = drg.filter(pl.col("drg_type") == "HCFA").group_by("hadm_id").agg(pl.col("drg_code").first().str.zfill(3))
        run.skip("drgcodes", "APR-DRG row (the claim carries the MS-DRG only)", drg.filter(pl.col("drg_type") != "HCFA").select(pl.len()).collect().item())
        stays = stays.join(ms.collect(), on="hadm_id", how="left")
    procs = run.table(SPEC["procedures_icd"])
    if procs is not None:
        principal = procs.filter((pl.col("seq_num") == "1") & (pl.col("icd_version") == "10")).group_by("hadm_id").agg(
            pl.col("icd_code").first().alias("procedure_code_1"))
        run.skip("procedures_icd", "not the principal ICD-10-PCS procedure (the claim carries procedure_code_1 only)",
                 procs.filter(~((pl.col("seq_num") == "1") & (pl.col("icd_version") == "10"))).select(pl.len()).collect().item())
        stays = stays.join(principal.collect(), on="hadm_id", how="left")
        run.note("ICD-9 procedure codes are not carried: the claim contract's procedure_code_1 is ICD-10-PCS")
    no_dx = stays.filter(pl.col("diagnosis_code_1").is_null()).height
    if no_dx:
        run.note(f"{no_dx} admissions have no diagnosis; their claims carry none and ingestion quarantines them")
    run.add("medical_claim", stays.select(
        pl.col("hadm_id").alias("claim_id"),
        pl.lit(1).alias("claim_line_number"),
        pl.lit("institutional").alias("claim_type"),
        pl.col("subject_id").alias("person_id"),
        pl.col("admission_date").alias("claim_start_date"),
        pl.col("discharge_date").alias("claim_end_date"),
        "admission_date",
        "discharge_date",
        "admit_type_code",
        "discharge_disposition_code",
        pl.lit("0111").alias("bill_type_code"),
        *([pl.col("drg_code")] if "drg_code" in stays.columns else []),
        "diagnosis_code_type",
        "diagnosis_code_1",
        "diagnosis_code_2",
        "diagnosis_code_3",
        *([pl.col("procedure_code_1")] if "procedure_code_1" in stays.columns else []),
        pl.lit(0.0).alias("paid_amount"),
        pl.lit(0.0).alias("allowed_amount"),
    ))


def _labs(run: Conversion) -> None:
    labs = run.table(SPEC["labevents"])
    if labs is None:
        run.not_producing("lab_result", "labevents is absent")
        return
    frame = labs.with_columns(
        code_map(pl.col("itemid").str.strip_chars(), LAB_LOINC).alias("loinc_code"),
        pl.col("valuenum").cast(pl.Float64, strict=False).alias("result_value"),
        iso_date("charttime").alias("result_date"),
    )
    kept = run.keep("labevents", frame, [
        ("lab item not in the contract's LOINC list", pl.col("loinc_code").is_null(),
         "nothing is lost: not a result the features use"),
        ("no numeric value", pl.col("result_value").is_null()),
        (NO_DATE, pl.col("result_date").is_null()),
        ("value outside the contract's 0-1000 range", (pl.col("result_value") < 0) | (pl.col("result_value") > 1000)),
    ])
    run.add("lab_result", kept.select(
        pl.col("labevent_id").alias("lab_result_id"),
        pl.col("subject_id").alias("person_id"),
        pl.col("hadm_id").alias("encounter_id"),
        "result_date",
        pl.lit("lab").alias("observation_type"),
        "loinc_code",
        "result_value",
        pl.col("valueuom").alias("result_units"),
    ))


def _medications(run: Conversion, adm: pl.DataFrame) -> None:
    rx = run.table(SPEC["prescriptions"])
    if rx is None:
        run.not_producing("medication", "prescriptions is absent")
        return
    frame = rx.with_columns(
        iso_date("starttime").alias("start_date"),
        iso_date("stoptime").alias("stop_date"),
        pl.col("pharmacy_id").cum_count().over("pharmacy_id").alias("_n"),
    )
    kept = run.keep("prescriptions", frame, [(NO_DATE, pl.col("start_date").is_null())])
    reversed_dates = kept.filter(pl.col("stop_date") < pl.col("start_date")).height
    if reversed_dates:
        run.note(f"{reversed_dates} prescriptions stop before they start; their end_date is left null")
    run.add("medication", kept.select(
        (pl.col("subject_id") + "-" + pl.col("pharmacy_id") + "-" + pl.col("_n").cast(pl.String)).alias("medication_id"),
        pl.col("subject_id").alias("person_id"),
        "start_date",
        pl.when(pl.col("stop_date") >= pl.col("start_date")).then(pl.col("stop_date")).alias("end_date"),
        drug_class(pl.col("drug")).alias("drug_class"),
    ))
    run.note("MIMIC-IV prescriptions carry NDC and GSN but no RxNorm: rxnorm_code is null, drug_class comes from the drug name")
