"""Row builders for small raw.* fixtures (typed by the data contracts)."""

from __future__ import annotations

import datetime as dt

D = dt.date


def ip_claim(
    claim_id: str,
    person_id: str,
    admission: dt.date,
    discharge: dt.date,
    disposition: str = "01",
    admit_type: str = "1",
    line: int = 1,
    allowed: float = 1000.0,
    dx: str = "I509",
    drg: str | None = "291",
    procedure: str | None = None,
    dx_type: str = "icd-10-cm",
) -> dict:
    return {
        "claim_id": claim_id, "claim_line_number": line, "claim_type": "institutional",
        "person_id": person_id, "claim_start_date": admission, "claim_end_date": discharge,
        "admission_date": admission, "discharge_date": discharge, "admit_type_code": admit_type,
        "discharge_disposition_code": disposition, "bill_type_code": "0111", "drg_code": drg,
        "diagnosis_code_type": dx_type, "diagnosis_code_1": dx, "procedure_code_1": procedure,
        "paid_amount": allowed * 0.8, "allowed_amount": allowed,
    }


def ed_claim(claim_id: str, person_id: str, day: dt.date, allowed: float = 500.0) -> dict:
    return {
        "claim_id": claim_id, "claim_line_number": 1, "claim_type": "institutional", "person_id": person_id,
        "claim_start_date": day, "claim_end_date": day, "bill_type_code": "0131", "revenue_center_code": "0450",
        "diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": "R079", "paid_amount": allowed, "allowed_amount": allowed,
    }


def office_claim(claim_id: str, person_id: str, day: dt.date, dx: str = "I10", allowed: float = 100.0) -> dict:
    return {
        "claim_id": claim_id, "claim_line_number": 1, "claim_type": "professional", "person_id": person_id,
        "claim_start_date": day, "claim_end_date": day, "place_of_service_code": "11", "hcpcs_code": "99213",
        "diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": dx, "paid_amount": allowed, "allowed_amount": allowed,
    }


def member(person_id: str, birth: dt.date = D(1950, 6, 1), gender: str = "female", dual: str = "00",
           county: str = "01001", start: dt.date = D(2020, 1, 1), end: dt.date = D(2030, 12, 31),
           death: dt.date | None = None, opt_out: int = 0, race: str | None = "black",
           ethnicity: str | None = None, payer: str = "medicare", zip_code: str | None = None) -> dict:
    return {
        "person_id": person_id, "birth_date": birth, "death_date": death, "gender": gender,
        "race": race, "ethnicity": ethnicity, "zip_code": zip_code,
        "county_fips": county, "dual_status_code": dual, "payer_type": payer,
        "enrollment_start_date": start, "enrollment_end_date": end, "outreach_opt_out_flag": opt_out,
    }


