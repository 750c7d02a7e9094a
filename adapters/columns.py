"""The columns each adapter reads, per source table and format: one declarative spec per table.

A :class:`TableSpec` names the files a source table may come in, the columns without which
nothing can be built (``required``, each with what it is needed for), the columns used when
present and filled with nulls when absent (``optional``), and the other names a column has had
across releases of the format (``aliases``: canonical name -> older/newer names). Headers are
matched case- and whitespace-insensitively, so upper- and lower-case layouts need no alias.
Columns a file has beyond these are ignored (and listed in the report).

Every adapter reads its source tables through ``Conversion.table(spec)`` (adapters/common.py),
which applies the spec; ``describe_columns(fmt)`` returns the specs as plain data for docs and
for ``riskstrat check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableSpec:
    """One source table of one format: where it is found and which columns it must, may and can carry.

    ``files``: file-name stems (regular expressions, matched case-insensitively against the whole
    name without its ``.csv[.gz]``/``.txt``/``.tsv``/``.psv``/``.parquet`` suffix), in order of
    preference. ``folders``: subfolders searched after the folder itself. ``many``: every matching
    file is read and stacked (SynPUF years and parts). ``needed_for``: what the table feeds (said
    when it is missing). ``lost``: what is lost when one of its rows is not carried over (the
    consequence printed beside each count of rows not mapped).
    """

    table: str
    files: tuple[str, ...]
    required: dict[str, str]
    optional: tuple[str, ...] = ()
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    folders: tuple[str, ...] = ()
    many: bool = False
    needed_for: str = ""
    lost: str = ""

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)

    def expected_files(self) -> str:
        """The file names this table is looked for under, in the words used in messages."""
        names = " or ".join(f.replace("\\", "").replace(".*", "*").replace("[0-9]{4}", "YYYY").replace("[0-9]+", "N")
                            for f in self.files)
        where = f" (in the folder or its {'/ or '.join(self.folders)}/)" if self.folders else ""
        return f"{names}.csv[.gz] (or .txt, .tsv, .psv, .parquet){where}"

    def describe(self) -> dict:
        return {
            "files": self.expected_files(),
            "needed_for": self.needed_for,
            "required": dict(self.required),
            "optional": list(self.optional),
            "aliases": {k: list(v) for k, v in self.aliases.items()},
        }


# ---- Synthea (CSV, 2.x-3.x) ---------------------------------------------------------------------

SYNTHEA: dict[str, TableSpec] = {t.table: t for t in (
    TableSpec(
        "patients", ("patients",),
        required={"Id": "linking every other table to the patient", "BIRTHDATE": "age and the start of enrolment spans"},
        optional=("DEATHDATE", "GENDER", "RACE", "ETHNICITY", "STATE", "COUNTY", "FIPS", "ZIP"),
        needed_for="members, demographics and enrolment",
        lost="those patients get no eligibility row",
    ),
    TableSpec(
        "encounters", ("encounters",),
        required={"Id": "linking claims to their encounter", "START": "service dates", "STOP": "discharge dates",
                  "PATIENT": "linking the encounter to its patient", "ENCOUNTERCLASS": "inpatient stays and visit types"},
        optional=("REASONCODE", "TOTAL_CLAIM_COST", "PAYER_COVERAGE"),
        needed_for="encounters, inpatient stays and claims",
        lost="those visits are missing from utilisation",
    ),
    TableSpec(
        "conditions", ("conditions",),
        required={"PATIENT": "linking the diagnosis to its patient", "START": "the date it was recorded",
                  "CODE": "the SNOMED CT diagnosis code"},
        optional=("ENCOUNTER", "SYSTEM"),
        needed_for="the problem list (condition)",
        lost="those diagnoses are missing from the comorbidity features",
    ),
    TableSpec(
        "claims", ("claims",),
        required={"Id": "the claim identifier", "APPOINTMENTID": "linking the claim to its encounter"},
        optional=("DIAGNOSIS1", "DIAGNOSIS2", "DIAGNOSIS3"),
        needed_for="medical claims (without it one claim per encounter is synthesised)",
        lost="those services are missing from claims-based utilisation and cost",
    ),
    TableSpec(
        "observations", ("observations",),
        required={"PATIENT": "linking the result to its patient", "DATE": "the result date",
                  "CODE": "the LOINC code", "VALUE": "the result value"},
        optional=("ENCOUNTER", "CATEGORY", "UNITS"),
        needed_for="lab results and vital signs",
        lost="those results are missing from the lab and vital-sign features",
    ),
    TableSpec(
        "medications", ("medications",),
        required={"PATIENT": "linking the drug to its patient", "START": "the start date"},
        optional=("STOP", "ENCOUNTER", "CODE", "DESCRIPTION"),
        needed_for="medications",
        lost="those drugs are missing from the medication features",
    ),
    TableSpec(
        "payer_transitions", ("payer_transitions",),
        required={"PATIENT": "linking the span to its patient", "START_DATE": "the start of the enrolment span",
                  "END_DATE": "the end of the enrolment span", "PAYER": "the payer type"},
        # Synthea 2.x wrote years (START_YEAR/END_YEAR); 3.x writes timestamps under either name
        aliases={"START_DATE": ("START_YEAR",), "END_DATE": ("END_YEAR",)},
        needed_for="enrolment spans (without it one span per patient is assumed)",
        lost="enrolled days in those spans are missing, so stays then count as not enrolled",
    ),
    TableSpec(
        "payers", ("payers",),
        required={"Id": "linking spans to their payer", "NAME": "the payer type (Medicare, Medicaid, Dual Eligible, other)"},
        needed_for="payer types of the enrolment spans",
    ),
)}


# ---- MIMIC-IV (1.0: core/ + hosp/; 2.x-3.x: hosp/) ----------------------------------------------

_MIMIC_FOLDERS = ("hosp", "core")
MIMIC_IV: dict[str, TableSpec] = {t.table: t for t in (
    TableSpec(
        "patients", ("patients",), folders=_MIMIC_FOLDERS,
        required={"subject_id": "the person identifier", "anchor_age": "the birth year (anchor_year - anchor_age)",
                  "anchor_year": "the birth year (anchor_year - anchor_age)"},
        optional=("gender", "dod"),
        needed_for="members and demographics",
        lost="those patients get no eligibility row",
    ),
    TableSpec(
        "admissions", ("admissions",), folders=_MIMIC_FOLDERS,
        required={"subject_id": "linking the admission to its patient", "hadm_id": "the admission identifier",
                  "admittime": "admission dates", "dischtime": "discharge dates"},
        optional=("admission_type", "discharge_location", "insurance", "race"),
        # MIMIC-IV 1.0 called race 'ethnicity'
        aliases={"race": ("ethnicity",)},
        needed_for="inpatient stays, encounters and claims",
        lost="those stays are lost",
    ),
    TableSpec(
        "diagnoses_icd", ("diagnoses_icd",), folders=_MIMIC_FOLDERS,
        required={"subject_id": "linking the diagnosis to its patient", "hadm_id": "linking the diagnosis to its admission",
                  "icd_code": "the diagnosis code", "icd_version": "the code system (ICD-9-CM or ICD-10-CM)"},
        optional=("seq_num",),
        needed_for="diagnoses on claims and conditions",
        lost="those diagnoses are missing from the comorbidity features and the claim",
    ),
    TableSpec(
        "labevents", ("labevents",), folders=_MIMIC_FOLDERS,
        required={"labevent_id": "the result identifier", "subject_id": "linking the result to its patient",
                  "itemid": "the lab item (mapped to LOINC)", "charttime": "the result date", "valuenum": "the numeric value"},
        optional=("hadm_id", "valueuom"),
        needed_for="lab results",
        lost="those results are missing from the lab features",
    ),
    TableSpec(
        "prescriptions", ("prescriptions",), folders=_MIMIC_FOLDERS,
        required={"subject_id": "linking the order to its patient", "pharmacy_id": "the order identifier",
                  "starttime": "the start date", "drug": "the drug class"},
        optional=("stoptime",),
        needed_for="medications",
        lost="those drugs are missing from the medication features",
    ),
    TableSpec(
        "drgcodes", ("drgcodes",), folders=_MIMIC_FOLDERS,
        required={"hadm_id": "linking the DRG to its admission", "drg_type": "telling MS-DRG (HCFA) from APR-DRG",
                  "drg_code": "the DRG"},
        needed_for="the MS-DRG on inpatient claims",
        lost="nothing is lost: the claim carries the MS-DRG",
    ),
    TableSpec(
        "procedures_icd", ("procedures_icd",), folders=_MIMIC_FOLDERS,
        required={"hadm_id": "linking the procedure to its admission", "seq_num": "finding the principal procedure",
                  "icd_code": "the procedure code", "icd_version": "telling ICD-10-PCS from ICD-9"},
        needed_for="the principal procedure (planned readmissions)",
        lost="the planned-readmission rule uses the principal ICD-10-PCS procedure only",
    ),
)}


# ---- Tuva Project input layer --------------------------------------------------------------------

# Older Tuva releases called the person 'patient_id'; Tuva advises member_id when no person key exists.
_PERSON = {"person_id": ("patient_id", "member_id")}
_CLINICAL_PERSON = {"person_id": ("patient_id",)}
TUVA: dict[str, TableSpec] = {t.table: t for t in (
    TableSpec(
        "eligibility", ("eligibility", "eligibility_seed"),
        required={"person_id": "linking claims to members", "birth_date": "age and for enrolment spans",
                  "enrollment_start_date": "enrolment spans", "enrollment_end_date": "enrolment spans"},
        optional=("gender", "race", "ethnicity", "death_date", "payer_type", "dual_status_code", "state", "zip_code"),
        aliases=_PERSON,
        needed_for="members, demographics and enrolment spans",
        lost="those members have no enrolment span, so their stays count as not enrolled",
    ),
    TableSpec(
        "medical_claim", ("medical_claim", "medical_claim_seed"),
        required={"claim_id": "the claim identifier", "person_id": "linking the claim to its member",
                  "claim_start_date": "service dates"},
        optional=("claim_line_number", "claim_type", "claim_end_date", "admission_date", "discharge_date",
                  "admit_type_code", "discharge_disposition_code", "place_of_service_code", "bill_type_code",
                  "revenue_center_code", "hcpcs_code", "drg_code_type", "drg_code", "diagnosis_code_type",
                  "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3", "paid_amount", "allowed_amount"),
        aliases=_PERSON,
        needed_for="inpatient stays, utilisation and cost",
        lost="those services are missing from utilisation and cost",
    ),
    TableSpec(
        "pharmacy_claim", ("pharmacy_claim", "pharmacy_claim_seed"),
        required={"claim_id": "the claim identifier", "person_id": "linking the claim to its member",
                  "dispensing_date": "the fill date", "ndc_code": "the drug (NDC)"},
        optional=("claim_line_number", "days_supply", "quantity", "paid_amount", "allowed_amount"),
        aliases=_PERSON,
        needed_for="pharmacy claims",
        lost="those fills are missing from the pharmacy features",
    ),
    TableSpec(
        "lab_result", ("lab_result", "lab_result_seed"),
        required={"lab_result_id": "the result identifier", "person_id": "linking the result to its member",
                  "result": "the result value"},
        optional=("encounter_id", "normalized_component_code", "source_component_code", "normalized_order_code",
                  "source_order_code", "result_datetime", "collection_datetime", "normalized_units", "source_units"),
        # before the order/component split Tuva had one source_code/normalized_code and *_date columns
        aliases={**_CLINICAL_PERSON, "normalized_component_code": ("normalized_code",),
                 "source_component_code": ("source_code",), "result_datetime": ("result_date",),
                 "collection_datetime": ("collection_date",)},
        needed_for="lab results",
        lost="those results are missing from the lab features",
    ),
    TableSpec(
        "observation", ("observation", "observation_seed"),
        required={"observation_id": "the result identifier", "person_id": "linking the result to its member",
                  "result": "the result value"},
        optional=("encounter_id", "normalized_code", "source_code", "observation_date", "normalized_units", "source_units"),
        aliases=_CLINICAL_PERSON,
        needed_for="vital signs",
        lost="those results are missing from the lab and vital-sign features",
    ),
)}


# ---- CMS DE-SynPUF (2008-2010) -------------------------------------------------------------------

_DX = tuple(f"ICD9_DGNS_CD_{i}" for i in (1, 2, 3))
CARRIER_LINES = 13
SYNPUF: dict[str, TableSpec] = {t.table: t for t in (
    TableSpec(
        "beneficiary_summary", (r"DE1_0_[0-9]{4}_Beneficiary_Summary_File.*", r".*Beneficiary_Summary.*"), many=True,
        required={"DESYNPUF_ID": "the person identifier", "BENE_BIRTH_DT": "age",
                  "BENE_HI_CVRAGE_TOT_MONS": "enrolment spans (Part A months)"},
        optional=("BENE_DEATH_DT", "BENE_SEX_IDENT_CD", "BENE_RACE_CD", "SP_STATE_CODE"),
        needed_for="members and enrolment spans",
        lost="that beneficiary-year has no enrolment span",
    ),
    TableSpec(
        "inpatient_claims", (r".*Inpatient_Claims.*",), many=True,
        required={"DESYNPUF_ID": "linking the claim to its beneficiary", "CLM_ID": "the claim identifier",
                  "CLM_FROM_DT": "service dates", "CLM_THRU_DT": "service dates"},
        optional=("SEGMENT", "CLM_ADMSN_DT", "NCH_BENE_DSCHRG_DT", "CLM_DRG_CD", *_DX, "CLM_PMT_AMT",
                  "NCH_PRMRY_PYR_CLM_PD_AMT", "NCH_BENE_IP_DDCTBL_AMT", "NCH_BENE_PTA_COINSRNC_LBLTY_AM",
                  "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM"),
        needed_for="inpatient stays",
        lost="those stays are lost",
    ),
    TableSpec(
        "outpatient_claims", (r".*Outpatient_Claims.*",), many=True,
        required={"DESYNPUF_ID": "linking the claim to its beneficiary", "CLM_ID": "the claim identifier",
                  "CLM_FROM_DT": "service dates", "CLM_THRU_DT": "service dates"},
        optional=("SEGMENT", "HCPCS_CD_1", *_DX, "CLM_PMT_AMT", "NCH_PRMRY_PYR_CLM_PD_AMT", "NCH_BENE_PTB_DDCTBL_AMT",
                  "NCH_BENE_PTB_COINSRNC_AMT"),
        needed_for="outpatient and emergency visits",
        lost="those visits are missing from utilisation and cost",
    ),
    TableSpec(
        "carrier_claims", (r".*Carrier_Claims.*",), many=True,
        required={"DESYNPUF_ID": "linking the claim to its beneficiary", "CLM_ID": "the claim identifier",
                  "CLM_FROM_DT": "service dates", "CLM_THRU_DT": "service dates"},
        optional=(*_DX, *[f"{c}_{i}" for i in range(1, CARRIER_LINES + 1)
                          for c in ("HCPCS_CD", "LINE_NCH_PMT_AMT", "LINE_ALOWD_CHRG_AMT")]),
        needed_for="professional claims",
        lost="those services are missing from utilisation and cost",
    ),
    TableSpec(
        "prescription_drug_events", (r".*Prescription_Drug_Events.*",), many=True,
        required={"DESYNPUF_ID": "linking the fill to its beneficiary", "PDE_ID": "the claim identifier",
                  "SRVC_DT": "the fill date", "PROD_SRVC_ID": "the drug (NDC)"},
        optional=("DAYS_SUPLY_NUM", "QTY_DSPNSD_NUM", "PTNT_PAY_AMT", "TOT_RX_CST_AMT"),
        needed_for="pharmacy claims",
        lost="those fills are missing from the pharmacy features",
    ),
)}

SPECS: dict[str, dict[str, TableSpec]] = {"synthea": SYNTHEA, "mimic-iv": MIMIC_IV, "tuva": TUVA, "synpuf": SYNPUF}


def describe_columns(fmt: str) -> dict[str, dict]:
    """Each source table of ``fmt``: its files, what it feeds, required columns with their purpose,
    optional columns (nulls when absent) and aliases (canonical name -> other names across releases)."""
    if fmt not in SPECS:
        from adapters import UnknownSourceFormat

        raise UnknownSourceFormat(f"unknown format {fmt!r}; choose one of {', '.join(SPECS)}")
    return {name: spec.describe() for name, spec in SPECS[fmt].items()}
