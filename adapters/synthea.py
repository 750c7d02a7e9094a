"""Synthea CSV export -> canonical landing extracts (Synthea 2.x-3.x column layouts).

| source | canonical | how |
|---|---|---|
| patients + payer_transitions + payers | eligibility | one row per insured payer span (NO_INSURANCE spans are not enrolment); spans clipped to start at 1990-01-01 and at birth; without payer_transitions, one span from birth (or 1990) to death or the last encounter |
| encounters | encounter | ENCOUNTERCLASS -> encounter_type; reason code (SNOMED CT) as primary diagnosis; inpatient disposition '20' when the patient died during the stay |
| claims (+ encounters) | medical_claim | one line per claim. Synthea claims carry no admission dates, bill type or disposition, so the first claim of each inpatient encounter becomes the institutional inpatient claim (bill type 0111, admission/discharge from the encounter); the first claim of an emergency encounter an institutional ER claim (0131, revenue 0450); every other claim is professional. The encounter's TOTAL_CLAIM_COST / PAYER_COVERAGE go on its first claim (allowed / paid), 0.0 on the others |
| conditions | condition | SNOMED CT codes, 'snomed-ct' |
| observations | lab_result | LOINC codes in the contract's list with a numeric value |
| medications | medication | RxNorm code, drug class from the description |

Column layouts differ between Synthea versions (e.g. FIPS only in 3.x patients, START_YEAR/END_YEAR
with years in 2.x payer_transitions, SYSTEM only in newer conditions, CATEGORY only in newer
observations): the columns each table needs, may have and has had under other names are declared in
``adapters.columns.SYNTHEA``; missing optional columns become nulls. Synthea diagnoses are SNOMED CT
everywhere, claims included. Every inpatient encounter becomes an institutional inpatient claim,
with or without a diagnosis.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from data_contracts.spec import load_contract

from adapters.columns import SYNTHEA as SPEC
from adapters.common import (
    BEFORE_1990,
    EARLIEST_SERVICE_DATE,
    NO_DATE,
    NO_PERSON,
    Conversion,
    code_map,
    drug_class,
    fips5,
    iso_date,
    state_code,
    undotted,
    zip5,
)

FORMAT = "synthea"
SIGNATURE = ("patients", "encounters", "conditions")
TABLES = tuple(SPEC)

ENCOUNTER_TYPE = {
    "inpatient": "inpatient",
    "emergency": "emergency",
    "ambulatory": "office",
    "outpatient": "office",
    "wellness": "office",
    "urgentcare": "office",
    "virtual": "telehealth",
    "home": "home_health",
    "snf": "skilled_nursing",
}
PLACE_OF_SERVICE = {
    "inpatient": "21", "emergency": "23", "ambulatory": "11", "outpatient": "22", "wellness": "11",
    "urgentcare": "20", "virtual": "02", "home": "12", "snf": "31", "hospice": "34",
}
RACE = {
    "white": "white", "black": "black", "asian": "asian", "native": "american_indian_alaska_native",
    "hawaiian": "native_hawaiian_pacific_islander", "other": "other",
}
ETHNICITY = {"hispanic": "hispanic", "nonhispanic": "not_hispanic"}
GENDER = {"F": "female", "M": "male"}
PAYER_TYPE = {"Medicare": "medicare", "Medicaid": "medicaid", "Dual Eligible": "medicare"}
LAB_LOINC = ("718-7", "2951-2", "4548-4", "33914-3", "62238-1", "2160-0", "8480-6", "8462-4", "39156-5", "8867-4")
VITAL_LOINC = ("8480-6", "8462-4", "39156-5", "8867-4")
INPATIENT = pl.col("ENCOUNTERCLASS").str.to_lowercase() == "inpatient"


def _hash_id(prefix: str, *cols: str) -> pl.Expr:
    """A stable identifier from the source columns and the row's position in its file."""
    return pl.lit(prefix) + pl.concat_str([pl.col(c).fill_null("") for c in cols] + [pl.col("_row").cast(pl.String)], separator="|").hash(seed=7).cast(pl.String)


def convert(source: Path, landing: Path) -> Conversion:
    run = Conversion(FORMAT, source, landing)
    patients = run.table(SPEC["patients"], required=True)
    encounters = run.table(SPEC["encounters"], required=True).with_columns(pl.col("ENCOUNTERCLASS").str.to_lowercase())

    people = patients.with_columns(
        iso_date("BIRTHDATE").alias("birth_date"), iso_date("DEATHDATE").alias("death_date")
    ).collect()
    enc = _encounters(run, encounters, people)
    _eligibility(run, people, enc)
    _claims(run, enc)
    _conditions(run, people)
    _observations(run)
    _medications(run)
    run.not_producing("pharmacy_claim", "Synthea medications carry RxNorm codes, not the 11-digit NDC a dispensing claim needs")
    run.note("Synthea diagnoses are SNOMED CT only (claims included): diagnosis_code_type 'snomed-ct' throughout; "
             "the ICD-10-CM mapping happens in core.diagnosis")
    return run


def _encounters(run: Conversion, encounters: pl.LazyFrame, people: pl.DataFrame) -> pl.DataFrame:
    frame = encounters.with_columns(
        iso_date("START").alias("start_date"),
        iso_date("STOP").alias("end_date"),
        code_map(pl.col("ENCOUNTERCLASS"), ENCOUNTER_TYPE).alias("encounter_type"),
    ).join(people.lazy().select(pl.col("Id").alias("PATIENT"), "death_date", pl.lit(True).alias("_known")),
           on="PATIENT", how="left")
    kept = run.keep("encounters", frame, [
        (NO_PERSON, pl.col("_known").is_null()),
        (NO_DATE, pl.col("start_date").is_null() | pl.col("end_date").is_null()),
        (BEFORE_1990, pl.col("start_date") < pl.lit(EARLIEST_SERVICE_DATE),
         "the contracts accept no service before 1990, so these are outside any history the features read"),
        ("encounter class with no canonical encounter_type (hospice)", pl.col("encounter_type").is_null()),
    ], inpatient=INPATIENT)
    died = (pl.col("encounter_type") == "inpatient") & pl.col("death_date").is_between("start_date", "end_date")
    kept = kept.with_columns(
        pl.when(died).then(pl.lit("20")).alias("discharge_disposition_code"),
        undotted(pl.col("REASONCODE")).alias("reason_code"),
    )
    run.note(f"{kept.filter(pl.col('discharge_disposition_code') == '20').height} inpatient encounters end in the "
             "patient's death (disposition '20'); Synthea records no other discharge disposition, so the rest are null")
    run.add("encounter", kept.select(
        pl.col("Id").alias("encounter_id"),
        pl.col("PATIENT").alias("person_id"),
        "encounter_type",
        pl.col("start_date").alias("encounter_start_date"),
        pl.col("end_date").alias("encounter_end_date"),
        pl.col("reason_code").alias("primary_diagnosis_code"),
        pl.when(pl.col("reason_code").is_not_null()).then(pl.lit("snomed-ct")).alias("diagnosis_code_type"),
        "discharge_disposition_code",
    ))
    return kept


def _span_date(name: str, end: bool) -> pl.Expr:
    """A span bound: a date/timestamp as it is, a bare year (Synthea 2.x START_YEAR/END_YEAR) as 1 January
    (start) or 31 December (end) of that year."""
    text = pl.col(name).str.strip_chars()
    year = text.cast(pl.Int32, strict=False)
    return pl.when(text.str.contains(r"^[0-9]{4}$")).then(pl.date(year, 12 if end else 1, 31 if end else 1)).otherwise(iso_date(name))


def _assumed_spans(run: Conversion, demo: pl.DataFrame, enc: pl.DataFrame, why: str) -> None:
    """One commercial span per patient from birth (or 1990) to death or the last encounter."""
    last = enc.group_by(pl.col("PATIENT").alias("person_id")).agg(pl.col("end_date").max().alias("last_seen"))
    spans = demo.join(last, on="person_id", how="left").with_columns(
        pl.max_horizontal("birth_date", pl.lit(EARLIEST_SERVICE_DATE)).alias("enrollment_start_date"),
        pl.coalesce("death_date", "last_seen", "birth_date").alias("enrollment_end_date"),
        pl.lit("commercial").alias("payer_type"),
    )
    run.assume_enrolment(f"{why}; payer_type 'commercial' assumed")
    run.add("eligibility", spans.drop("last_seen"))


def _eligibility(run: Conversion, people: pl.DataFrame, enc: pl.DataFrame) -> None:
    demo = people.select(
        pl.col("Id").alias("person_id"),
        "birth_date",
        "death_date",
        code_map(pl.col("GENDER"), GENDER, "unknown").alias("gender"),
        code_map(pl.col("RACE"), RACE, "unknown").alias("race"),
        code_map(pl.col("ETHNICITY"), ETHNICITY, "unknown").alias("ethnicity"),
        zip5(pl.col("ZIP")).alias("zip_code"),
        fips5(pl.col("FIPS")).alias("county_fips"),
        state_code(pl.col("STATE")).alias("state"),
    )
    if "COUNTY" not in run.columns["patients"]["absent_filled_with_nulls"]:
        run.county_names = people.select(pl.col("Id").alias("person_id"), pl.col("COUNTY").alias("county_name"))
    blank_zip = people.filter(zip5(pl.col("ZIP")).is_null()).height
    run.note(f"{blank_zip} of {people.height} patients have a blank or 00000 ZIP (zip_code null)")
    if "FIPS" not in run.columns["patients"]["absent_filled_with_nulls"]:
        run.note(f"{demo['county_fips'].null_count()} of {people.height} patients have a blank county FIPS (county_fips null)")
    else:
        run.note("this Synthea version has no FIPS column: county_fips is null (SDOH joins by ZIP or county name)")

    transitions = run.table(SPEC["payer_transitions"])
    payers = run.table(SPEC["payers"])
    if transitions is None or payers is None:
        _assumed_spans(run, demo, enc, "no payer_transitions/payers table, so the source has no enrolment")
        return
    years = transitions.filter(pl.col("START_DATE").str.strip_chars().str.contains(r"^[0-9]{4}$")).select(pl.len()).collect().item()
    if years:
        run.note(f"{years} payer spans give years, not dates (Synthea 2.x START_YEAR/END_YEAR): each runs from "
                 "1 January of its start year to 31 December of its end year")
    frame = (
        transitions.with_columns(_span_date("START_DATE", end=False).alias("span_start"),
                                 _span_date("END_DATE", end=True).alias("span_end"))
        .join(payers.select(pl.col("Id").alias("PAYER"), pl.col("NAME")), on="PAYER", how="left")
        .join(demo.lazy(), left_on="PATIENT", right_on="person_id", how="left")
        .with_columns(
            pl.max_horizontal("span_start", "birth_date", pl.lit(EARLIEST_SERVICE_DATE)).alias("enrollment_start_date"),
            pl.col("span_end").alias("enrollment_end_date"),
            code_map(pl.col("NAME"), PAYER_TYPE, "commercial").alias("payer_type"),
            pl.when(pl.col("NAME") == "Dual Eligible").then(pl.lit("02")).otherwise(pl.lit("00")).alias("dual_status_code"),
        )
        # of spans starting the same day, an insured one (then the longest) is kept
        .with_columns((pl.int_range(pl.len()).over(
            "PATIENT", "enrollment_start_date",
            order_by=[pl.col("NAME") == "NO_INSURANCE", -pl.col("span_end").cast(pl.Int64), pl.col("PAYER")]) + 1).alias("_dup"))
    )
    # the eligibility contract's payer types: NO_INSURANCE is enrolment only if it allows 'uninsured'
    uninsured_type = "uninsured" if "uninsured" in load_contract("eligibility").column("payer_type").allowed else None
    if uninsured_type:
        frame = frame.with_columns(pl.when(pl.col("NAME") == "NO_INSURANCE").then(pl.lit(uninsured_type))
                                   .otherwise(pl.col("payer_type")).alias("payer_type"))
    kept = run.keep("payer_transitions", frame, [
        (NO_PERSON, pl.col("birth_date").is_null()),
        ("uninsured period (the eligibility contract has no uninsured payer_type)",
         (pl.col("NAME") == "NO_INSURANCE") & pl.lit(uninsured_type is None)),
        ("payer not in payers", pl.col("NAME").is_null()),
        (NO_DATE, pl.col("span_start").is_null() | pl.col("span_end").is_null()),
        ("span ended before 1990-01-01", pl.col("span_end") < pl.lit(EARLIEST_SERVICE_DATE),
         "the contracts accept no enrolment before 1990; nothing the features read is lost"),
        ("span ends before it starts", pl.col("enrollment_end_date") < pl.col("enrollment_start_date")),
        ("second span with the same start date", pl.col("_dup") > 1,
         "nothing is lost: an insured (then the longest) span with that start is kept"),
    ])
    # Synthea's payer spans overlap (a new plan starts before the old one ends): each span is cut to end
    # the day before the person's next span starts, so enrolled days are never counted twice
    next_start = pl.col("enrollment_start_date").shift(-1).over("PATIENT", order_by="enrollment_start_date")
    cut = kept.with_columns(
        pl.min_horizontal("enrollment_end_date", next_start - pl.duration(days=1)).alias("_end"),
    )
    run.note(f"{cut.filter(pl.col('_end') < pl.col('enrollment_end_date')).height} overlapping payer spans were cut to "
             "end the day before the next span starts")
    kept = run.keep("payer_transitions", cut.lazy(), [
        ("span lies inside the next span (same start after cutting overlaps)", pl.col("_end") < pl.col("enrollment_start_date"),
         "nothing is lost: the next span covers those days"),
    ]).with_columns(pl.col("_end").alias("enrollment_end_date"))
    if kept.height == 0:
        _assumed_spans(run, demo, enc, "no payer span in payer_transitions could be used (see the rows not mapped)")
        return
    uninsured = set(demo["person_id"]) - set(kept["PATIENT"])
    if uninsured:
        run.skip("patients", "no insured span, so no eligibility row (claims and encounters are kept)", len(uninsured),
                 "their stays count as 'no enrolment record' in the label")
        run.note(f"{len(uninsured)} patients have no insured span: no eligibility row (their stays count as "
                 "'no enrolment record' in the label)")
    run.add("eligibility", kept.select(pl.col("PATIENT").alias("person_id"), *[c for c in demo.columns if c != "person_id"],
                                       "dual_status_code", "payer_type", "enrollment_start_date", "enrollment_end_date"))


def _claims(run: Conversion, enc: pl.DataFrame) -> None:
    claims = run.table(SPEC["claims"])
    if claims is None:
        run.note("claims.csv absent: one claim per encounter is synthesised from encounters (costs from "
                 "TOTAL_CLAIM_COST / PAYER_COVERAGE)")
        claims = pl.LazyFrame(enc.select(pl.col("Id").alias("APPOINTMENTID"), pl.col("Id"),
                                         pl.col("REASONCODE").alias("DIAGNOSIS1"),
                                         *[pl.lit(None, dtype=pl.String).alias(f"DIAGNOSIS{i}") for i in (2, 3)]))
        run.count_in("claims (synthesised from encounters)", enc.height)
        table = "claims (synthesised from encounters)"
    else:
        table = "claims"
    frame = (
        claims.select("Id", "APPOINTMENTID", *[pl.col(f"DIAGNOSIS{i}") for i in (1, 2, 3)])
        .join(enc.lazy(), left_on="APPOINTMENTID", right_on="Id", how="left")
        .with_columns(pl.col("Id").rank("ordinal").over("APPOINTMENTID").alias("_nth"))
        .with_columns(*[undotted(pl.col(f"DIAGNOSIS{i}")).alias(f"diagnosis_code_{i}") for i in (1, 2, 3)])
    )
    first = pl.col("_nth") == 1
    inpatient = first & INPATIENT
    # an inpatient admission becomes its institutional claim with or without a diagnosis (the stay
    # needs its dates, not its code); other claims without a diagnosis are left out and counted
    kept = run.keep(table, frame, [
        ("encounter not mapped (see encounters)", pl.col("start_date").is_null(),
         "counted under encounters; the claim follows its encounter"),
        ("no diagnosis code (not an inpatient admission)", pl.col("diagnosis_code_1").is_null() & ~inpatient,
         "those visits are missing from claims-based utilisation and cost (the encounter is kept)"),
    ], inpatient=inpatient)
    no_dx = kept.filter(inpatient & pl.col("diagnosis_code_1").is_null()).height
    if no_dx:
        run.note(f"{no_dx} inpatient admissions have no diagnosis (no REASONCODE/DIAGNOSIS1): their institutional "
                 "claims are written with diagnosis_code_1 and diagnosis_code_type null")
    er = first & (pl.col("ENCOUNTERCLASS") == "emergency")
    institutional = inpatient | er
    money = lambda c: pl.when(first).then(pl.col(c).cast(pl.Float64, strict=False).fill_null(0.0)).otherwise(0.0)  # noqa: E731
    run.add("medical_claim", kept.select(
        pl.col("Id").alias("claim_id"),
        pl.lit(1).alias("claim_line_number"),
        pl.when(institutional).then(pl.lit("institutional")).otherwise(pl.lit("professional")).alias("claim_type"),
        pl.col("PATIENT").alias("person_id"),
        pl.col("start_date").alias("claim_start_date"),
        pl.col("end_date").alias("claim_end_date"),
        pl.when(inpatient).then(pl.col("start_date")).alias("admission_date"),
        pl.when(inpatient).then(pl.col("end_date")).alias("discharge_date"),
        pl.when(inpatient).then(pl.col("discharge_disposition_code")).alias("discharge_disposition_code"),
        pl.when(~institutional).then(code_map(pl.col("ENCOUNTERCLASS"), PLACE_OF_SERVICE)).alias("place_of_service_code"),
        pl.when(inpatient).then(pl.lit("0111")).when(er).then(pl.lit("0131")).alias("bill_type_code"),
        pl.when(er).then(pl.lit("0450")).alias("revenue_center_code"),
        pl.when(pl.col("diagnosis_code_1").is_not_null()).then(pl.lit("snomed-ct")).alias("diagnosis_code_type"),
        "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3",
        money("PAYER_COVERAGE").alias("paid_amount"),
        money("TOTAL_CLAIM_COST").alias("allowed_amount"),
    ))
    run.note("Synthea claims carry no admission dates, bill type or disposition: the first claim of each inpatient "
             "encounter is written as its institutional inpatient claim (bill type 0111), the others as professional "
             "claims; encounter costs sit on the first claim, 0.0 on the others")


def _conditions(run: Conversion, people: pl.DataFrame) -> None:
    conditions = run.table(SPEC["conditions"])
    if conditions is None:
        run.not_producing("condition", "conditions.csv is absent")
        return
    system = pl.col("SYSTEM")
    frame = conditions.with_row_index("_row").with_columns(
        iso_date("START").alias("recorded_date"),
        undotted(pl.col("CODE")).alias("diagnosis_code"),
        system.alias("_system"),
    ).join(people.lazy().select(pl.col("Id").alias("PATIENT"), pl.lit(True).alias("_known")), on="PATIENT", how="left")
    kept = run.keep("conditions", frame, [
        (NO_PERSON, pl.col("_known").is_null()),
        ("code system other than SNOMED CT", pl.col("_system").is_not_null() & ~pl.col("_system").str.contains("snomed")),
        (NO_DATE, pl.col("recorded_date").is_null()),
        (BEFORE_1990, pl.col("recorded_date") < pl.lit(EARLIEST_SERVICE_DATE),
         "before the contracts' history window; a condition that is still active is recorded again later"),
        ("blank code", pl.col("diagnosis_code").is_null()),
    ])
    run.add("condition", kept.select(
        _hash_id("cond-", "PATIENT", "ENCOUNTER", "CODE", "START").alias("condition_id"),
        pl.col("PATIENT").alias("person_id"),
        pl.col("ENCOUNTER").alias("encounter_id"),
        "recorded_date",
        pl.lit("snomed-ct").alias("diagnosis_code_type"),
        "diagnosis_code",
    ))


def _observations(run: Conversion) -> None:
    obs = run.table(SPEC["observations"])
    if obs is None:
        run.not_producing("lab_result", "observations.csv is absent: lab and vital-sign features are null")
        return
    frame = obs.with_row_index("_row").with_columns(
        iso_date("DATE").alias("result_date"),
        pl.col("VALUE").cast(pl.Float64, strict=False).alias("result_value"),
    )
    kept = run.keep("observations", frame, [
        ("LOINC code not in the contract's list", ~pl.col("CODE").is_in(LAB_LOINC),
         "nothing is lost: not a result the features use"),
        ("no numeric value", pl.col("result_value").is_null()),
        (NO_DATE, pl.col("result_date").is_null()),
        (BEFORE_1990, pl.col("result_date") < pl.lit(EARLIEST_SERVICE_DATE)),
        ("value outside the contract's 0-1000 range", (pl.col("result_value") < 0) | (pl.col("result_value") > 1000)),
    ])
    run.add("lab_result", kept.select(
        _hash_id("obs-", "PATIENT", "ENCOUNTER", "CODE", "DATE").alias("lab_result_id"),
        pl.col("PATIENT").alias("person_id"),
        pl.col("ENCOUNTER").alias("encounter_id"),
        "result_date",
        # CATEGORY is absent before Synthea 3.0: the vital-sign LOINC codes then decide
        pl.when(pl.coalesce(pl.col("CATEGORY") == "vital-signs", pl.col("CODE").is_in(VITAL_LOINC)))
        .then(pl.lit("vital")).otherwise(pl.lit("lab")).alias("observation_type"),
        pl.col("CODE").alias("loinc_code"),
        "result_value",
        pl.col("UNITS").alias("result_units"),
    ))


def _medications(run: Conversion) -> None:
    meds = run.table(SPEC["medications"])
    if meds is None:
        run.not_producing("medication", "medications.csv is absent")
        return
    frame = meds.with_row_index("_row").with_columns(iso_date("START").alias("start_date"), iso_date("STOP").alias("end_date"))
    kept = run.keep("medications", frame, [
        (NO_DATE, pl.col("start_date").is_null()),
        (BEFORE_1990, pl.col("start_date") < pl.lit(EARLIEST_SERVICE_DATE)),
    ])
    run.add("medication", kept.select(
        _hash_id("med-", "PATIENT", "ENCOUNTER", "CODE", "START").alias("medication_id"),
        pl.col("PATIENT").alias("person_id"),
        "start_date",
        pl.when(pl.col("end_date") >= pl.col("start_date")).then(pl.col("end_date")).alias("end_date"),
        pl.when(pl.col("CODE").str.contains(r"^[0-9]{1,9}$")).then(pl.col("CODE")).alias("rxnorm_code"),
        drug_class(pl.col("DESCRIPTION")).alias("drug_class"),
    ))
