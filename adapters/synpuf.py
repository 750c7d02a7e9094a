"""CMS DE-SynPUF (Medicare claims synthetic public-use files, 2008-2010) -> canonical landing extracts.

| source | canonical | how |
|---|---|---|
| Beneficiary Summary 2008, 2009, 2010 | eligibility | one span per beneficiary and year with Part A months: 1 January to the end of the last covered month (cut at death); SSA state code -> state; payer_type 'medicare' |
| Inpatient claims | medical_claim | institutional, bill type 0111, admission/discharge dates, MS-DRG, ICD-9-CM diagnoses 1-3 ('icd-9-cm'); paid CLM_PMT_AMT, allowed = paid + primary payer + deductible + coinsurance |
| Outpatient claims | medical_claim | institutional, bill type 0131, first HCPCS code |
| Carrier claims (A, B) | medical_claim | professional, one line per filled HCPCS_CD_n slot with its line payment and allowed charge |
| Prescription Drug Events | pharmacy_claim | NDC, days supply, quantity; allowed = total cost, paid = total cost - patient pay |

SynPUF has no discharge disposition and no admission type, and its county codes are SSA codes
(not FIPS), so county_fips stays null. Files are found by kind whatever the sample number, part
(Carrier 1A/1B) or case of the name; the columns each kind needs are declared in
``adapters.columns.SYNPUF``.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from adapters.columns import CARRIER_LINES
from adapters.columns import SYNPUF as SPEC
from adapters.common import (
    BEFORE_1990,
    EARLIEST_SERVICE_DATE,
    NO_DATE,
    Conversion,
    code_map,
    compact_date,
    locate,
    undotted,
)

FORMAT = "synpuf"
GENDER = {"1": "male", "2": "female"}
RACE = {"1": "white", "2": "black", "3": "other", "5": "unknown"}
# SSA state codes used by SynPUF's SP_STATE_CODE
SSA_STATE = {
    "01": "AL", "02": "AK", "03": "AZ", "04": "AR", "05": "CA", "06": "CO", "07": "CT", "08": "DE", "09": "DC",
    "10": "FL", "11": "GA", "12": "HI", "13": "ID", "14": "IL", "15": "IN", "16": "IA", "17": "KS", "18": "KY",
    "19": "LA", "20": "ME", "21": "MD", "22": "MA", "23": "MI", "24": "MN", "25": "MS", "26": "MO", "27": "MT",
    "28": "NE", "29": "NV", "30": "NH", "31": "NJ", "32": "NM", "33": "NY", "34": "NC", "35": "ND", "36": "OH",
    "37": "OK", "38": "OR", "39": "PA", "40": "PR", "41": "RI", "42": "SC", "43": "SD", "44": "TN", "45": "TX",
    "46": "UT", "47": "VT", "49": "VA", "50": "WA", "51": "WV", "52": "WI", "53": "WY",
}
KIND = {
    "Beneficiary_Summary_File": "beneficiary_summary",
    "Inpatient_Claims": "inpatient_claims",
    "Outpatient_Claims": "outpatient_claims",
    "Carrier_Claims": "carrier_claims",
    "Prescription_Drug_Events": "prescription_drug_events",
}


def find(source: Path, kind: str) -> list[Path]:
    """Every SynPUF file of one kind (e.g. 'Inpatient_Claims', 'Carrier_Claims'), in name order."""
    return locate(source, SPEC[KIND[kind]])


def beneficiary_files(source: Path) -> list[Path]:
    return find(source, "Beneficiary_Summary_File")


def _read_all(run: Conversion, kind: str, table: str, required: bool = False) -> pl.LazyFrame | None:
    return run.table(SPEC[table], required=required)


def _segment() -> pl.Expr:
    return pl.col("SEGMENT").cast(pl.Int64, strict=False).fill_null(1).alias("claim_line_number")


def _dx_type() -> pl.Expr:
    return pl.when(pl.col("diagnosis_code_1").is_not_null()).then(pl.lit("icd-9-cm")).alias("diagnosis_code_type")


def _claim_rules(inpatient: bool = False) -> list[tuple]:
    """Rules for SynPUF claims: an inpatient claim is kept without a diagnosis (the stay needs its dates)."""
    rules: list[tuple] = [
        (NO_DATE, pl.col("claim_start_date").is_null() | pl.col("claim_end_date").is_null()),
        (BEFORE_1990, pl.col("claim_start_date") < pl.lit(EARLIEST_SERVICE_DATE)),
    ]
    if not inpatient:
        rules.append(("no principal diagnosis", pl.col("diagnosis_code_1").is_null()))
    return rules


def _amount(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Float64, strict=False).fill_null(0.0)


def _dx(i: int) -> pl.Expr:
    return undotted(pl.col(f"ICD9_DGNS_CD_{i}")).alias(f"diagnosis_code_{i}")


def convert(source: Path, landing: Path) -> Conversion:
    run = Conversion(FORMAT, source, landing)
    _eligibility(run)
    claim_rules = _claim_rules()
    ip = _read_all(run, "Inpatient_Claims", "inpatient_claims")
    if ip is not None:
        frame = ip.with_columns(
            compact_date("CLM_FROM_DT").alias("claim_start_date"), compact_date("CLM_THRU_DT").alias("claim_end_date"),
            *[_dx(i) for i in (1, 2, 3)],
        )
        kept = run.keep("inpatient_claims", frame, _claim_rules(inpatient=True), inpatient=pl.lit(True))
        allowed = sum(_amount(c) for c in ("CLM_PMT_AMT", "NCH_PRMRY_PYR_CLM_PD_AMT", "NCH_BENE_IP_DDCTBL_AMT",
                                           "NCH_BENE_PTA_COINSRNC_LBLTY_AM", "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM"))
        run.add("medical_claim", kept.select(
            pl.col("CLM_ID").alias("claim_id"), _segment(),
            pl.lit("institutional").alias("claim_type"), pl.col("DESYNPUF_ID").alias("person_id"),
            "claim_start_date", "claim_end_date",
            pl.coalesce(compact_date("CLM_ADMSN_DT"), pl.col("claim_start_date")).alias("admission_date"),
            pl.coalesce(compact_date("NCH_BENE_DSCHRG_DT"), pl.col("claim_end_date")).alias("discharge_date"),
            pl.lit("0111").alias("bill_type_code"),
            pl.when(pl.col("CLM_DRG_CD").str.contains(r"^[0-9]{3}$")).then(pl.col("CLM_DRG_CD")).alias("drg_code"),
            _dx_type(), "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3",
            _amount("CLM_PMT_AMT").clip(lower_bound=0).alias("paid_amount"), allowed.clip(lower_bound=0).alias("allowed_amount"),
        ))
    op = _read_all(run, "Outpatient_Claims", "outpatient_claims")
    if op is not None:
        frame = op.with_columns(
            compact_date("CLM_FROM_DT").alias("claim_start_date"), compact_date("CLM_THRU_DT").alias("claim_end_date"),
            *[_dx(i) for i in (1, 2, 3)],
        )
        kept = run.keep("outpatient_claims", frame, claim_rules)
        allowed = sum(_amount(c) for c in ("CLM_PMT_AMT", "NCH_PRMRY_PYR_CLM_PD_AMT", "NCH_BENE_PTB_DDCTBL_AMT", "NCH_BENE_PTB_COINSRNC_AMT"))
        run.add("medical_claim", kept.select(
            pl.col("CLM_ID").alias("claim_id"), _segment(),
            pl.lit("institutional").alias("claim_type"), pl.col("DESYNPUF_ID").alias("person_id"),
            "claim_start_date", "claim_end_date", pl.lit("0131").alias("bill_type_code"),
            pl.when(pl.col("HCPCS_CD_1").str.contains(r"^[A-Z0-9][0-9]{3}[A-Z0-9]$")).then(pl.col("HCPCS_CD_1")).alias("hcpcs_code"),
            pl.lit("icd-9-cm").alias("diagnosis_code_type"), "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3",
            _amount("CLM_PMT_AMT").clip(lower_bound=0).alias("paid_amount"), allowed.clip(lower_bound=0).alias("allowed_amount"),
        ))
    _carrier(run, claim_rules)
    _pde(run)
    run.note("SynPUF has no discharge disposition or admission type: inpatient claims leave both null, so no stay "
             "is excluded as died/AMA/transfer by disposition (death is known from BENE_DEATH_DT only)")
    run.note("SynPUF county codes are SSA codes, not FIPS: county_fips is null; SDOH joins by state + county name fail too")
    return run


def _eligibility(run: Conversion) -> None:
    bene = _read_all(run, "Beneficiary_Summary_File", "beneficiary_summary", required=True)
    year = pl.col("_file").str.extract(r"(20[0-9]{2})").cast(pl.Int32, strict=False)
    months = pl.col("BENE_HI_CVRAGE_TOT_MONS").cast(pl.Int32, strict=False).fill_null(0)
    start = pl.date(year, 1, 1)
    end = pl.date(year, 1, 1).dt.offset_by(pl.format("{}mo", months)) - pl.duration(days=1)
    frame = bene.with_columns(
        compact_date("BENE_BIRTH_DT").alias("birth_date"), compact_date("BENE_DEATH_DT").alias("death_date"),
        start.alias("enrollment_start_date"), months.alias("_months"),
    ).with_columns(pl.min_horizontal(end, pl.col("death_date")).alias("enrollment_end_date"))
    kept = run.keep("beneficiary_summary", frame, [
        ("no year in the file name (DE1_0_YYYY_Beneficiary_Summary_File...)", pl.col("enrollment_start_date").is_null()),
        (NO_DATE, pl.col("birth_date").is_null()),
        ("no Part A coverage months that year", pl.col("_months") <= 0,
         "nothing is lost: that beneficiary was not enrolled that year"),
        ("died before the year began", pl.col("enrollment_end_date") < pl.col("enrollment_start_date"),
         "nothing is lost: no enrolment after death"),
    ])
    run.add("eligibility", kept.select(
        pl.col("DESYNPUF_ID").alias("person_id"), "birth_date", "death_date",
        code_map(pl.col("BENE_SEX_IDENT_CD"), GENDER, "unknown").alias("gender"),
        code_map(pl.col("BENE_RACE_CD"), RACE, "unknown").alias("race"),
        pl.when(pl.col("BENE_RACE_CD") == "5").then(pl.lit("hispanic")).otherwise(pl.lit("not_hispanic")).alias("ethnicity"),
        code_map(pl.col("SP_STATE_CODE").str.zfill(2), SSA_STATE).alias("state"),
        pl.lit("medicare").alias("payer_type"), "enrollment_start_date", "enrollment_end_date",
    ))
    run.note("SynPUF enrolment: one span per beneficiary-year from 1 January over BENE_HI_CVRAGE_TOT_MONS Part A months")


def _carrier(run: Conversion, claim_rules) -> None:
    car = _read_all(run, "Carrier_Claims", "carrier_claims")
    if car is None:
        return
    base = car.with_columns(
        compact_date("CLM_FROM_DT").alias("claim_start_date"), compact_date("CLM_THRU_DT").alias("claim_end_date"),
        *[_dx(i) for i in (1, 2, 3)],
    )
    kept = run.keep("carrier_claims", base, claim_rules)
    lines = pl.concat([
        kept.select(
            pl.col("CLM_ID").alias("claim_id"), pl.lit(i, dtype=pl.Int64).alias("claim_line_number"),
            pl.col("DESYNPUF_ID").alias("person_id"), "claim_start_date", "claim_end_date",
            "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3",
            pl.col(f"HCPCS_CD_{i}").alias("hcpcs_code"),
            _amount(f"LINE_NCH_PMT_AMT_{i}").alias("paid_amount"), _amount(f"LINE_ALOWD_CHRG_AMT_{i}").alias("allowed_amount"),
        )
        for i in range(1, CARRIER_LINES + 1)
    ])
    filled = lines.filter(pl.col("hcpcs_code").is_not_null() | (pl.col("paid_amount") > 0) | (pl.col("allowed_amount") > 0))
    no_lines = kept.height - filled["claim_id"].n_unique()
    run.skip("carrier_claims", "no filled line (HCPCS or payment) on the claim", no_lines)
    run.add("medical_claim", filled.with_columns(
        pl.lit("professional").alias("claim_type"), pl.lit("icd-9-cm").alias("diagnosis_code_type"),
        pl.when(pl.col("hcpcs_code").str.contains(r"^[A-Z0-9][0-9]{3}[A-Z0-9]$")).then(pl.col("hcpcs_code")).alias("hcpcs_code"),
    ))
    run.note("carrier claims: one professional line per filled HCPCS_CD_n slot (of 13)")


def _pde(run: Conversion) -> None:
    pde = _read_all(run, "Prescription_Drug_Events", "prescription_drug_events")
    if pde is None:
        run.not_producing("pharmacy_claim", "no Prescription Drug Events file")
        return
    frame = pde.with_columns(
        compact_date("SRVC_DT").alias("dispensing_date"),
        pl.col("PROD_SRVC_ID").str.zfill(11).alias("ndc_code"),
        pl.col("DAYS_SUPLY_NUM").cast(pl.Int64, strict=False).alias("days_supply"),
    )
    kept = run.keep("prescription_drug_events", frame, [
        (NO_DATE, pl.col("dispensing_date").is_null()),
        ("NDC not 11 digits", ~pl.col("ndc_code").str.contains(r"^[0-9]{11}$")),
        ("days supply outside 1-365", ~pl.col("days_supply").is_between(1, 365)),
    ])
    total = _amount("TOT_RX_CST_AMT")
    run.add("pharmacy_claim", kept.select(
        pl.col("PDE_ID").alias("claim_id"), pl.lit(1).alias("claim_line_number"), pl.col("DESYNPUF_ID").alias("person_id"),
        "dispensing_date", "ndc_code", "days_supply", pl.col("QTY_DSPNSD_NUM").cast(pl.Float64, strict=False).alias("quantity"),
        (total - _amount("PTNT_PAY_AMT")).clip(lower_bound=0).alias("paid_amount"), total.alias("allowed_amount"),
    ))
