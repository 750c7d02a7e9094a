"""Bring your own extract: each format's declared columns, the one reader, and the report's column
and consequence accounting, on extracts built in tmp_path from the real files in ../shared/data
(older layouts, minimal columns, other file types, broken files)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from adapters import convert, describe_columns, detect_format
from adapters.columns import SPECS
from data_contracts.errors import RiskstratDataError

from own_extracts import read_text, write_text
from own_extracts import synthea_2x as build_synthea_2x

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason=f"shared extracts not found at {SHARED} (../shared is absent)")

SYNTHEA = SHARED / "synthea" / "ma105"
TUVA = SHARED / "tuva-input-layer"
MIMIC = SHARED / "mimic-iv-demo"
SYNPUF = SHARED / "cms-synpuf"


_text, _write = read_text, write_text


def _read(landing: Path, extract: str) -> pl.DataFrame:
    single = landing / f"{extract}.csv"
    return pl.read_csv(single if single.exists() else landing / extract / "*.csv", infer_schema=False)


def _accounted(report, table: str) -> int:
    return sum(report.not_mapped_by_table().get(table, {}).values())


# ---- Synthea 2.x: payer spans in years, no claims.csv, inpatient encounters without a reason -------

@pytest.fixture(scope="module")
def synthea_2x(tmp_path_factory) -> Path:
    return build_synthea_2x(tmp_path_factory.mktemp("synthea2x"))


def test_synthea_2x_every_inpatient_encounter_since_1990_becomes_an_inpatient_claim(synthea_2x: Path, tmp_path: Path) -> None:
    enc = _text(synthea_2x / "encounters.csv.gz")
    inpatient = enc.filter((pl.col("ENCOUNTERCLASS") == "inpatient") & (pl.col("START").str.slice(0, 10) >= "1990-01-01"))
    assert inpatient["REASONCODE"].null_count() > 0  # the fixture has inpatient stays without a diagnosis
    report = convert("synthea", synthea_2x, tmp_path)
    claims = _read(tmp_path, "medical_claim")
    stays = claims.filter(pl.col("bill_type_code") == "0111")
    assert set(stays["claim_id"]) == set(inpatient["Id"])
    no_dx = stays.filter(pl.col("diagnosis_code_1").is_null())
    assert no_dx.height == inpatient["REASONCODE"].null_count() and no_dx["diagnosis_code_type"].null_count() == no_dx.height
    # the other claims without a diagnosis are counted, with what they cost
    skipped = [i for i in report.not_mapped if i.source_table.startswith("claims") and "no diagnosis" in i.reason]
    assert skipped and all(i.inpatient_admissions == 0 and i.consequence for i in skipped)
    assert "claims" in report.absent_tables


def test_synthea_2x_year_spans_become_enrolment_from_1_january_to_31_december(synthea_2x: Path, tmp_path: Path) -> None:
    report = convert("synthea", synthea_2x, tmp_path)
    assert not report.enrolment_assumed
    assert "no parseable date" not in report.not_mapped_by_table().get("payer_transitions", {})
    elig = _read(tmp_path, "eligibility")
    assert elig.height > 100
    assert report.columns["payer_transitions"]["renamed"] == {"START_DATE": "START_YEAR", "END_DATE": "END_YEAR"}
    # a span that was not cut by the next one ends on 31 December
    assert (elig["enrollment_end_date"].str.slice(5) == "12-31").sum() > 0
    assert elig["enrollment_start_date"].str.slice(5).is_in(["01-01"]).mean() > 0.5


def test_synthea_without_usable_enrolment_says_so_first_and_assumes_one_span(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("patients", "encounters", "conditions", "payers"):
        shutil.copy(SYNTHEA / f"{name}.csv.gz", source / f"{name}.csv.gz")
    spans = _text(SYNTHEA / "payer_transitions.csv.gz")
    _write(spans.with_columns(pl.lit("unknown").alias("START_DATE")), source / "payer_transitions.csv.gz")
    report = convert("synthea", source, tmp_path / "landing")
    assert report.enrolment_assumed
    assert report.notes[0].startswith("no payer span") and "cannot be made" in report.notes[0]
    assert report.summary().splitlines()[1].startswith("  ENROLMENT ASSUMED")
    patients = _text(SYNTHEA / "patients.csv.gz")
    assert _read(tmp_path / "landing", "eligibility")["person_id"].n_unique() == patients.height
    assert report.not_mapped_by_table()["payer_transitions"]["no parseable date"] == spans.height


# ---- Tuva: only the required columns ----------------------------------------------------------------

def _minimal_tuva(folder: Path, person: str = "person_id") -> Path:
    """The Tuva seeds cut to the columns riskstrat declares required (Tuva's own data dictionary insists
    only on the keys: person_id, claim_id, claim_line_number), with an older release's person column name."""
    for table, spec in SPECS["tuva"].items():
        frame = _text(TUVA / f"{table}_seed.csv.gz").select(list(spec.required))
        _write(frame.rename({"person_id": person}), folder / f"{table}.csv")
    return folder


def test_tuva_with_only_the_required_columns_converts_and_lists_what_is_absent(tmp_path: Path) -> None:
    source = _minimal_tuva(tmp_path / "src", person="patient_id")
    assert detect_format(source) == "tuva"
    report = convert("tuva", source, tmp_path / "landing")
    assert report.rows_written["eligibility"] == 31
    # without diagnosis_code_1 and bill_type_code no claim can be placed: each line is counted, none lost silently
    assert report.not_mapped_by_table()["medical_claim"] == {
        "no principal diagnosis (not an inpatient claim)": report.rows_in["medical_claim"]}
    cols = report.columns
    assert {"ethnicity", "gender", "payer_type"} <= set(cols["eligibility"]["absent_filled_with_nulls"])
    assert {"quantity", "days_supply"} <= set(cols["pharmacy_claim"]["absent_filled_with_nulls"])
    assert cols["eligibility"]["renamed"] == {"person_id": "patient_id"}
    summary = report.summary()
    assert "columns eligibility (eligibility.csv): absent, filled with nulls: gender, race, ethnicity" in summary
    elig = _read(tmp_path / "landing", "eligibility")
    assert set(elig["ethnicity"]) == {"unknown"} and set(elig["payer_type"]) == {"commercial"}
    files = list((tmp_path / "landing" / "medical_claim").glob("*.csv"))
    assert len(files) == 1 and _text(files[0]).height == 0  # raw.medical_claim exists, empty, as the report says
    # with a diagnosis and a bill type the lines are numbered in file order and typed from the bill type
    for table in ("medical_claim",):
        cols = [*SPECS["tuva"][table].required, "diagnosis_code_1", "bill_type_code"]
        _write(_text(TUVA / f"{table}_seed.csv.gz").select(cols), tmp_path / "src" / f"{table}.csv")
    convert("tuva", tmp_path / "src", tmp_path / "landing2")
    claims = _read(tmp_path / "landing2", "medical_claim")
    assert claims.height > 0 and claims["claim_line_number"].null_count() == 0
    assert set(claims["claim_type"]) == {"institutional", "professional"}
    assert (claims["claim_type"] == "institutional").eq(claims["bill_type_code"].is_not_null()).all()
    # serialisable as the CLI writes it
    assert json.loads(json.dumps(dataclasses.asdict(report), default=str))["columns"]["eligibility"]["file"] == "eligibility.csv"


def test_tuva_missing_required_column_names_format_file_column_and_purpose(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copy(TUVA / "medical_claim_seed.csv.gz", source / "medical_claim_seed.csv.gz") if source.mkdir() is None else None
    _write(_text(TUVA / "eligibility_seed.csv.gz").drop("birth_date"), source / "eligibility_seed.csv")
    with pytest.raises(RiskstratDataError) as err:
        convert("tuva", source, tmp_path / "landing")
    assert str(err.value) == ("tuva: eligibility_seed.csv has no column birth_date (needed for age and for enrolment "
                              "spans); add it, or check the header row")
    assert err.value.column == "birth_date" and err.value.source == "eligibility_seed.csv"


# ---- one reader: file types, header spelling, broken files -----------------------------------------

def _tuva_variant(folder: Path, write) -> Path:
    folder.mkdir(parents=True)
    for name in ("medical_claim", "pharmacy_claim"):
        shutil.copy(TUVA / f"{name}_seed.csv.gz", folder / f"{name}_seed.csv.gz")
    write(_text(TUVA / "eligibility_seed.csv.gz"), folder)
    return folder


@pytest.mark.parametrize("variant", ["psv.gz", "tsv", "txt-tab", "parquet", "crlf-bom-upper"])
def test_every_file_type_and_header_spelling_reads_the_same(tmp_path: Path, variant: str) -> None:
    def write(frame: pl.DataFrame, folder: Path) -> None:
        if variant == "psv.gz":
            _write(frame, folder / "eligibility.psv.gz", separator="|")
        elif variant == "tsv":
            _write(frame, folder / "ELIGIBILITY.TSV", separator="\t")
        elif variant == "txt-tab":
            _write(frame, folder / "eligibility.txt", separator="\t")
        elif variant == "parquet":
            frame.with_columns(pl.col("birth_date").str.to_date()).write_parquet(folder / "eligibility.parquet")
        else:
            upper = frame.rename({c: f" {c.upper()} " for c in frame.columns})
            body = upper.write_csv().replace("\n", "\r\n")
            (folder / "eligibility.csv").write_bytes(b"\xef\xbb\xbf" + body.encode())

    source = _tuva_variant(tmp_path / "src", write)
    baseline = convert("tuva", TUVA, tmp_path / "base")
    report = convert("tuva", source, tmp_path / "landing")
    assert report.rows_in["eligibility"] == 31
    assert _read(tmp_path / "landing", "eligibility").equals(_read(tmp_path / "base", "eligibility"))
    assert report.columns["eligibility"]["used"] == baseline.columns["eligibility"]["used"]


def test_truncated_last_line_is_counted_not_read(tmp_path: Path) -> None:
    def write(frame: pl.DataFrame, folder: Path) -> None:
        text = frame.write_csv()
        (folder / "eligibility.csv").write_text(text[: len(text) - 40])  # cut inside the last row, no line end

    source = _tuva_variant(tmp_path / "src", write)
    report = convert("tuva", source, tmp_path / "landing")
    assert report.rows_in["eligibility"] == 31
    assert report.rows_written["eligibility"] == 30
    assert report.not_mapped_by_table()["eligibility"] == {"truncated last line (the file ends in the middle of a row)": 1}


def test_corrupt_gzip_raises_a_data_error_naming_the_file(tmp_path: Path) -> None:
    def write(frame: pl.DataFrame, folder: Path) -> None:
        data = gzip.compress(frame.write_csv().encode())
        (folder / "eligibility.csv.gz").write_bytes(data[: len(data) // 2])

    source = _tuva_variant(tmp_path / "src", write)
    with pytest.raises(RiskstratDataError, match=r"^tuva: eligibility\.csv\.gz could not be read or decompressed"):
        convert("tuva", source, tmp_path / "landing")


def test_ragged_rows_and_bad_values_raise_data_errors_not_polars_errors(tmp_path: Path) -> None:
    def write(frame: pl.DataFrame, folder: Path) -> None:
        (folder / "eligibility.csv").write_text(frame.write_csv() + "a,b,c," * 60 + "\n")

    source = _tuva_variant(tmp_path / "src", write)
    with pytest.raises(RiskstratDataError, match=r"eligibility\.csv could not be parsed as comma-delimited text"):
        convert("tuva", source, tmp_path / "landing")
    # MIMIC-IV anchor_year that is not a number: the patient is counted, no polars error escapes
    mimic = tmp_path / "mimic"
    mimic.mkdir()
    for name in ("admissions", "diagnoses_icd"):
        shutil.copy(MIMIC / f"{name}.csv.gz", mimic / f"{name}.csv.gz")
    patients = _text(MIMIC / "patients.csv.gz").with_row_index("_i")
    _write(patients.with_columns(pl.when(pl.col("_i") == 0).then(pl.lit("n/a")).otherwise(pl.col("anchor_year"))
                                 .alias("anchor_year")).drop("_i"), mimic / "patients.csv.gz")
    report = convert("mimic-iv", mimic, tmp_path / "mimic-landing")
    assert report.rows_written["eligibility"] == patients.height - 1


# ---- older and renamed layouts of MIMIC-IV and SynPUF ------------------------------------------------

def test_mimic_iv_1_0_layout_core_and_hosp_with_ethnicity(tmp_path: Path) -> None:
    source = tmp_path / "mimic-iv-1.0"
    shutil.copy(MIMIC / "patients.csv.gz", (source / "core").mkdir(parents=True) or source / "core" / "patients.csv.gz")
    _write(_text(MIMIC / "admissions.csv.gz").rename({"race": "ethnicity"}), source / "core" / "admissions.csv.gz")
    (source / "hosp").mkdir()
    for name in ("diagnoses_icd", "drgcodes", "procedures_icd"):
        shutil.copy(MIMIC / f"{name}.csv.gz", source / "hosp" / f"{name}.csv.gz")
    assert detect_format(source) == "mimic-iv"
    report = convert("mimic-iv", source, tmp_path / "landing")
    assert report.rows_written["encounter"] == 275 and report.rows_written["medical_claim"] == 275
    assert report.columns["admissions"]["renamed"] == {"race": "ethnicity"}
    assert set(_read(tmp_path / "landing", "eligibility")["race"]) - {"unknown"}  # race carried from ethnicity
    assert {"labevents", "prescriptions"} <= set(report.absent_tables)


def test_synpuf_file_name_variants_are_found(tmp_path: Path) -> None:
    source = tmp_path / "synpuf"
    source.mkdir()
    for path in SYNPUF.glob("*.csv.gz"):
        # another sample number, and the names lower-cased as some mirrors ship them
        shutil.copy(path, source / path.name.replace("Sample_0", "Sample_7").lower())
    assert detect_format(source) == "synpuf"
    report = convert("synpuf", source, tmp_path / "landing")
    baseline = convert("synpuf", SYNPUF, tmp_path / "base")
    assert report.rows_in == baseline.rows_in and report.rows_written == baseline.rows_written
    assert report.rows_in["carrier_claims"] == 2  # parts 7a and 7b stacked


# ---- the declared specs ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["synthea", "mimic-iv", "tuva", "synpuf"])
def test_describe_columns_states_required_with_purpose_optional_and_aliases(fmt: str) -> None:
    tables = describe_columns(fmt)
    assert set(tables) == set(SPECS[fmt])
    for table in tables.values():
        assert table["required"] and all(purpose for purpose in table["required"].values())
        assert not set(table["required"]) & set(table["optional"])
        assert set(table["aliases"]) <= set(table["required"]) | set(table["optional"])
    json.dumps(tables)


def test_tuva_requires_no_more_than_a_readmission_model_needs() -> None:
    tuva = describe_columns("tuva")
    assert set(tuva["eligibility"]["required"]) == {"person_id", "birth_date", "enrollment_start_date", "enrollment_end_date"}
    assert "ethnicity" in tuva["eligibility"]["optional"] and "quantity" in tuva["pharmacy_claim"]["optional"]
    assert tuva["medical_claim"]["aliases"]["person_id"][0] == "patient_id"


def test_every_row_not_mapped_carries_a_consequence(tmp_path: Path) -> None:
    for fmt, folder in (("synthea", SHARED / "synthea" / "ma27_complete"), ("mimic-iv", MIMIC), ("tuva", TUVA)):
        report = convert(fmt, folder, tmp_path / fmt)
        assert report.not_mapped and all(item.consequence for item in report.not_mapped), fmt
        encounters = [i for i in report.not_mapped if i.source_table in ("encounters", "admissions", "medical_claim")]
        assert all(i.inpatient_admissions is not None for i in encounters)
