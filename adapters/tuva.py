"""Tuva Project input layer -> canonical landing extracts (mostly renames: our contracts use its vocabulary).

| source | canonical | how |
|---|---|---|
| eligibility | eligibility | state names -> two-letter codes; race/ethnicity to the contract's codes; dual status '2.0' -> '02' |
| medical_claim | medical_claim | renames; codes undotted; a diagnosis_code_type that is not a diagnosis system (the seeds carry 'icd-10-pcs' on professional claims) is inferred from the code's shape; blank line-level paid/allowed -> 0.0 (header amounts kept) |
| pharmacy_claim | pharmacy_claim | renames; rows without days_supply are not mapped (the contract requires it) |
| lab_result | lab_result | LOINC (normalized, else source; component, else order) in the contract's list, numeric result |
| observation | lab_result | vital signs with a LOINC code in the contract's list |

Files may be named ``<table>.csv[.gz]`` or ``<table>_seed.csv[.gz]`` (the Tuva seed names). The
columns each table needs are declared in ``adapters.columns.TUVA``: no more than a readmission model
truly needs (Tuva's data dictionary itself insists only on the keys); older releases' ``patient_id``
is read as ``person_id``. An absent ``claim_line_number`` is numbered in file order, an absent
``claim_type`` is inferred from ``bill_type_code`` (institutional when present), an absent
``claim_end_date`` is the start date, an absent ``payer_type`` is 'commercial' (said in the notes).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from adapters.columns import TUVA as SPEC
from adapters.common import (
    BEFORE_1990,
    EARLIEST_SERVICE_DATE,
    ID_PATTERN,
    NO_DATE,
    Conversion,
    code_map,
    iso_date,
    locate,
    state_code,
    undotted,
    zip5,
)

FORMAT = "tuva"
TABLES = tuple(SPEC)
LAB_LOINC = ("718-7", "2951-2", "4548-4", "33914-3", "62238-1", "2160-0", "8480-6", "8462-4", "39156-5", "8867-4")
VITAL_LOINC = ("8480-6", "8462-4", "39156-5", "8867-4")
DUAL = {f"{i}.0": f"{i:02d}" for i in range(11)} | {str(i): f"{i:02d}" for i in range(11)} | {f"{i:02d}": f"{i:02d}" for i in range(11)}
DIAGNOSIS_SYSTEMS = ("icd-10-cm", "icd-9-cm")


def find(source: Path, table: str) -> Path | None:
    found = locate(source, SPEC[table])
    return found[0] if found else None


def _absent(run: Conversion, table: str, column: str) -> bool:
    return column in run.columns[table]["absent_filled_with_nulls"]


def _line_number(run: Conversion, table: str) -> pl.Expr:
    """claim_line_number, or the line's position within its claim (file order) when the column is absent."""
    if _absent(run, table, "claim_line_number"):
        return (pl.int_range(pl.len()).over("claim_id") + 1).cast(pl.Int64).alias("claim_line_number")
    return pl.col("claim_line_number").cast(pl.Int64, strict=False)


def _race(expr: pl.Expr) -> pl.Expr:
    e = expr.str.to_lowercase()
    return (
        pl.when(e.str.contains("white")).then(pl.lit("white"))
        .when(e.str.contains("black")).then(pl.lit("black"))
        .when(e.str.contains("asian")).then(pl.lit("asian"))
        .when(e.str.contains("american indian|alaska")).then(pl.lit("american_indian_alaska_native"))
        .when(e.str.contains("hawaiian|pacific")).then(pl.lit("native_hawaiian_pacific_islander"))
        .when(e.is_null() | e.str.contains("unknown")).then(pl.lit("unknown"))
        .otherwise(pl.lit("other"))
    )


def _ethnicity(expr: pl.Expr) -> pl.Expr:
    e = expr.str.to_lowercase()
    return (
        pl.when(e.str.contains("not hispanic|non-hispanic|non hispanic")).then(pl.lit("not_hispanic"))
        .when(e.str.contains("hispanic")).then(pl.lit("hispanic"))
        .otherwise(pl.lit("unknown"))
    )


def _money(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False).fill_null(0.0)


def convert(source: Path, landing: Path) -> Conversion:
    run = Conversion(FORMAT, source, landing)
    _eligibility(run)
    _medical_claims(run)
    _pharmacy_claims(run)
    _labs(run)
    run.not_producing("encounter", "the Tuva claims input layer has no encounter table (appointments are not encounters)")
    run.not_producing("condition", "the Tuva input layer has no problem list; diagnoses come from claims")
    return run


def _eligibility(run: Conversion) -> None:
    elig = run.table(SPEC["eligibility"], required=True)
    if _absent(run, "eligibility", "payer_type"):
        elig = elig.with_columns(pl.lit("commercial").alias("payer_type"))
        run.note("Tuva eligibility has no payer_type column: every span is written as 'commercial'")
    frame = elig.with_columns(
        iso_date("birth_date"), iso_date("death_date"), iso_date("enrollment_start_date"), iso_date("enrollment_end_date"),
        pl.col("payer_type").str.to_lowercase().replace({"medicare advantage": "medicare"}).alias("payer_type"),
    )
    kept = run.keep("eligibility", frame, [
        ("person_id outside [A-Za-z0-9_.-]{1,64}", ~pl.col("person_id").str.contains(ID_PATTERN)),
        (NO_DATE, pl.col("birth_date").is_null() | pl.col("enrollment_start_date").is_null()),
        ("payer_type outside medicare/medicaid/commercial", ~pl.col("payer_type").is_in(["medicare", "medicaid", "commercial"])),
    ])
    run.add("eligibility", kept.select(
        "person_id", "birth_date", "death_date",
        code_map(pl.col("gender").str.to_lowercase(), {"female": "female", "male": "male"}, "unknown").alias("gender"),
        _race(pl.col("race")).alias("race"),
        _ethnicity(pl.col("ethnicity")).alias("ethnicity"),
        zip5(pl.col("zip_code")).alias("zip_code"),
        state_code(pl.col("state")).alias("state"),
        code_map(pl.col("dual_status_code").str.strip_chars(), DUAL).alias("dual_status_code"),
        "payer_type", "enrollment_start_date", "enrollment_end_date",
    ))
    run.note("Tuva eligibility has no county FIPS: SDOH joins by ZIP (blank in the seeds) or state + county name")


def _medical_claims(run: Conversion) -> None:
    claims = run.table(SPEC["medical_claim"], required=True)
    if _absent(run, "medical_claim", "claim_end_date"):
        claims = claims.with_columns(pl.col("claim_start_date").alias("claim_end_date"))
        run.note("Tuva medical_claim has no claim_end_date column: each claim ends on its start date")
    if _absent(run, "medical_claim", "claim_type"):
        claims = claims.with_columns(pl.when(pl.col("bill_type_code").is_not_null()).then(pl.lit("institutional"))
                                     .otherwise(pl.lit("professional")).alias("claim_type"))
        run.note("Tuva medical_claim has no claim_type column: claims with a bill_type_code are institutional, "
                 "the others professional")
    # header fields repeat on every line; a line left blank takes the claim's codes from its other lines
    claims = claims.with_columns(
        *[undotted(pl.col(f"diagnosis_code_{i}")).drop_nulls().first().over("claim_id").alias(f"diagnosis_code_{i}") for i in (1, 2, 3)],
        pl.col("diagnosis_code_type").drop_nulls().first().over("claim_id"),
    )
    code1 = pl.col("diagnosis_code_1")
    # the code system is read off the first code present: an inpatient claim may carry a secondary
    # diagnosis without a principal one, and its type is then required all the same
    any_code = pl.coalesce("diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3")
    declared = pl.col("diagnosis_code_type").str.to_lowercase()
    inferred = (pl.when(any_code.str.contains(r"^[A-TV-Z]")).then(pl.lit("icd-10-cm"))
                .when(any_code.str.contains(r"^[0-9VE]")).then(pl.lit("icd-9-cm")))
    frame = claims.with_columns(
        *[iso_date(c) for c in ("claim_start_date", "claim_end_date", "admission_date", "discharge_date")],
        pl.when(declared.is_in(DIAGNOSIS_SYSTEMS)).then(declared).otherwise(inferred).alias("code_type"),
        pl.col("bill_type_code").str.zfill(4).alias("bill_type_code"),
    )
    relabelled = frame.filter(~declared.is_in(DIAGNOSIS_SYSTEMS) & pl.col("code_type").is_not_null()).select(pl.len()).collect().item()
    if relabelled:
        run.note(f"{relabelled} Tuva claim lines declare diagnosis_code_type other than ICD-9/10-CM (the seeds say "
                 "'icd-10-pcs' on professional claims); the type was inferred from the code's shape")
    # an inpatient claim (bill type 011x) is kept without a diagnosis: the stay needs its dates, not its code
    inpatient = pl.col("bill_type_code").str.starts_with("011")
    kept = run.keep("medical_claim", frame, [
        (NO_DATE, pl.col("claim_start_date").is_null() | pl.col("claim_end_date").is_null()),
        (BEFORE_1990, pl.col("claim_start_date") < pl.lit(EARLIEST_SERVICE_DATE),
         "the contracts accept no service before 1990, so these are outside any history the features read"),
        ("no principal diagnosis (not an inpatient claim)", code1.is_null() & ~inpatient.fill_null(False)),
    ], inpatient=inpatient)
    blank_paid = kept.filter(pl.col("paid_amount").is_null() | pl.col("allowed_amount").is_null()).height
    if blank_paid:
        run.note(f"{blank_paid} Tuva claim lines have blank paid/allowed amounts (amounts reported on other lines "
                 "of the claim); written as 0.0 so claim totals are unchanged")
    run.add("medical_claim", kept.select(
        "claim_id", _line_number(run, "medical_claim"), "claim_type", "person_id",
        "claim_start_date", "claim_end_date", "admission_date", "discharge_date",
        pl.col("admit_type_code").str.strip_chars(), pl.col("discharge_disposition_code").str.zfill(2),
        pl.col("place_of_service_code").str.zfill(2), pl.col("bill_type_code"),
        pl.col("revenue_center_code").str.zfill(4), "hcpcs_code",
        pl.when(pl.col("drg_code_type").str.to_lowercase() == "ms-drg").then(pl.col("drg_code").str.zfill(3)).alias("drg_code"),
        pl.when(any_code.is_not_null()).then(pl.col("code_type")).alias("diagnosis_code_type"),
        *[undotted(pl.col(f"diagnosis_code_{i}")).alias(f"diagnosis_code_{i}") for i in (1, 2, 3)],
        _money("paid_amount").alias("paid_amount"), _money("allowed_amount").alias("allowed_amount"),
    ))


def _pharmacy_claims(run: Conversion) -> None:
    rx = run.table(SPEC["pharmacy_claim"])
    if rx is None:
        run.not_producing("pharmacy_claim", "pharmacy_claim is absent")
        return
    frame = rx.with_columns(iso_date("dispensing_date"), pl.col("days_supply").cast(pl.Int64, strict=False))
    kept = run.keep("pharmacy_claim", frame, [
        (NO_DATE, pl.col("dispensing_date").is_null()),
        ("no days_supply (required by the contract)", pl.col("days_supply").is_null()),
    ])
    if kept.height == 0:
        run.not_producing("pharmacy_claim", "no Tuva pharmacy claim carries days_supply, which the contract requires")
        return
    run.add("pharmacy_claim", kept.select(
        "claim_id", _line_number(run, "pharmacy_claim"), "person_id", "dispensing_date",
        "ndc_code", "days_supply", pl.col("quantity").cast(pl.Float64, strict=False),
        _money("paid_amount").alias("paid_amount"), _money("allowed_amount").alias("allowed_amount"),
    ))


def _labs(run: Conversion) -> None:
    labs = run.table(SPEC["lab_result"])
    obs = run.table(SPEC["observation"])
    if labs is None and obs is None:
        run.not_producing("lab_result", "neither lab_result nor observation is present")
        return
    if labs is not None:
        loinc = pl.coalesce("normalized_component_code", "source_component_code", "normalized_order_code", "source_order_code")
        frame = labs.with_columns(
            loinc.alias("loinc_code"),
            pl.col("result").cast(pl.Float64, strict=False).alias("result_value"),
            pl.coalesce(iso_date("result_datetime"), iso_date("collection_datetime")).alias("result_date"),
            pl.coalesce("normalized_units", "source_units").alias("result_units"),
        )
        kept = run.keep("lab_result", frame, _lab_rules())
        run.add("lab_result", kept.select("lab_result_id", "person_id", "encounter_id", "result_date",
                                          pl.lit("lab").alias("observation_type"), "loinc_code", "result_value", "result_units"))
    if obs is not None:
        frame = obs.with_columns(
            pl.coalesce("normalized_code", "source_code").alias("loinc_code"),
            pl.col("result").cast(pl.Float64, strict=False).alias("result_value"),
            iso_date("observation_date").alias("result_date"),
            pl.coalesce("normalized_units", "source_units").alias("result_units"),
        )
        kept = run.keep("observation", frame, _lab_rules())
        run.add("lab_result", kept.select(
            pl.col("observation_id").alias("lab_result_id"), "person_id", "encounter_id", "result_date",
            pl.when(pl.col("loinc_code").is_in(VITAL_LOINC)).then(pl.lit("vital")).otherwise(pl.lit("lab")).alias("observation_type"),
            "loinc_code", "result_value", "result_units"))


def _lab_rules() -> list[tuple[str, pl.Expr]]:
    return [
        ("LOINC code not in the contract's list", ~pl.col("loinc_code").is_in(LAB_LOINC) | pl.col("loinc_code").is_null(),
         "nothing is lost: not a result the features use"),
        ("no numeric value", pl.col("result_value").is_null()),
        (NO_DATE, pl.col("result_date").is_null()),
        (BEFORE_1990, pl.col("result_date") < pl.lit(EARLIEST_SERVICE_DATE)),
        ("value outside the contract's 0-1000 range", (pl.col("result_value") < 0) | (pl.col("result_value") > 1000)),
    ]
