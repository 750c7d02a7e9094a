"""``riskstrat check``: a dry run over a landing folder, without loading the warehouse.

It answers what an analyst asks before the first run on a new extract: which tables and columns
were found (used, absent and filled with nulls, ignored), which dates they span, which code systems
the diagnoses use and how many map to ICD-10-CM, how many members link to area SDOH, which as-of
the run would use and which months are still running out, which features will be empty, and
whether each model has enough labelled rows to train (otherwise what the run ranks by). The
verdict is ``ready``, ``ready with gaps`` or ``cannot run``.

A source in another format is converted by its adapter into a scratch folder first (the
conversion is the same code the run uses); a canonical folder is read in place by DuckDB with
only the columns each figure needs. Row counts of the large EHR extracts are counted as lines
(quoted line breaks would count twice); their date ranges come from the month file names.
Nothing here reads or prints row contents; figures are counts and dates.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from data_contracts.errors import RiskstratDataError
from data_contracts.ingest import csv_header, data_line_count, parquet_columns
from data_contracts.landing import find_extract_file, month_files
from data_contracts.spec import all_contracts, load_contract

READY, GAPS, CANNOT = "ready", "ready with gaps", "cannot run"

# Extracts the pipeline cannot run without (the claims path builds stays and member snapshots).
ESSENTIAL = ("eligibility", "medical_claim")
# Extracts whose rows are parsed for coverage and labels; the rest are counted as lines.
PARSED = ("eligibility", "medical_claim", "encounter")
# Diagnosis columns read for code-system coverage, per extract, from the latest months only.
DIAGNOSIS_COLUMNS = {
    "medical_claim": ("diagnosis_code_type", "diagnosis_code_1"),
    "condition": ("diagnosis_code_type", "diagnosis_code"),
    "encounter": ("diagnosis_code_type", "primary_diagnosis_code"),
}
CODE_SAMPLE_MONTHS = 3
# models.training.check_slices: at least 50 rows in each slice
MIN_SLICE_MEMBERS = 50

# What each optional extract feeds, in a program lead's words.
EXTRACT_USE = {
    "pharmacy_claim": "pharmacy features (fills, adherence, polypharmacy)",
    "lab_result": "lab and vital-sign features",
    "medication": "EHR medication features",
    "condition": "EHR problem-list diagnoses (claims diagnoses still count)",
    "encounter": "EHR encounter features (ED and office visits outside claims)",
    "sdoh_screening": "social-needs screening features",
    "area_sdoh_county": "area SDOH features by county (SVI)",
    "area_sdoh_zip": "area income by ZIP",
    "cm_roster": "case-manager capacity: the intake list stays empty without a roster",
    "cm_case": "case-management KPIs and enrolment history",
    "cm_contact": "contact KPIs (time to first contact, engagement)",
    "cm_goal": "goal KPIs",
}

ELIGIBILITY_SPANS_SQL = """
SELECT count(*) AS spans, count(DISTINCT person_id) AS members,
       min(enrollment_start_date) AS first_start, max(enrollment_end_date) AS last_end,
       count(*) FILTER (WHERE enrollment_start_date <= $as_of AND enrollment_end_date >= $as_of
                        AND (death_date IS NULL OR death_date >= $as_of)) AS enrolled_at_as_of
FROM chk_eligibility
"""

# Index stays approximated by institutional inpatient claims (transfers are not chained here);
# a readmission is the person's next admission within 30 days of discharge.
READMISSION_LABELS_SQL = """
WITH adm AS (
    SELECT DISTINCT person_id, admission_date, coalesce(discharge_date, claim_end_date) AS discharge_date
    FROM chk_medical_claim
    WHERE claim_type = 'institutional' AND bill_type_code LIKE '011%' AND admission_date IS NOT NULL
    UNION
    SELECT DISTINCT person_id, encounter_start_date, encounter_end_date
    FROM chk_encounter
    WHERE encounter_type = 'inpatient' AND NOT $claims_have_stays
),
ordered AS (
    SELECT *, lead(admission_date) OVER (PARTITION BY person_id ORDER BY admission_date, discharge_date) AS next_admission
    FROM adm
)
SELECT person_id || '|' || CAST(admission_date AS VARCHAR) AS stay_id, discharge_date,
       CAST(next_admission > discharge_date AND next_admission <= discharge_date + INTERVAL 30 DAY AS INTEGER) AS readmit_30d
FROM ordered
WHERE discharge_date + INTERVAL 30 DAY < $as_of
"""

SDOH_MATCH_SQL = """
WITH members AS (
    SELECT person_id, arg_max(county_fips, enrollment_start_date) AS county_fips,
           arg_max(zip_code, enrollment_start_date) AS zip_code
    FROM chk_eligibility GROUP BY person_id
)
SELECT count(*) AS members,
       count(*) FILTER (WHERE county_fips IN (SELECT county_fips FROM chk_area_sdoh_county)
                        OR zip_code IN (SELECT zip_code FROM chk_area_sdoh_zip)) AS matched
FROM members
"""

CODE_COVERAGE_SQL = """
SELECT coalesce(s.code_system, 'none') AS code_system, count(*) AS codes,
       count(*) FILTER (WHERE CASE s.code_system
                                  WHEN 'icd-10-cm' THEN s.code IS NOT NULL
                                  WHEN 'icd-9-cm' THEN g.icd10cm_code IS NOT NULL
                                  WHEN 'snomed-ct' THEN m.icd10cm_code IS NOT NULL
                                  ELSE false END) AS mapped
FROM chk_codes AS s
LEFT JOIN _ref_icd9_icd10cm AS g ON g.icd9_code = s.code
LEFT JOIN _ref_snomed_icd10cm AS m ON m.snomed_code = s.code
GROUP BY ALL ORDER BY codes DESC
"""


@dataclass
class ExtractFacts:
    """One canonical extract as found in the landing folder."""

    extract: str
    files: int = 0
    rows: int = 0
    first_date: date | None = None
    last_date: date | None = None
    columns_used: list[str] = field(default_factory=list)
    absent_filled_with_nulls: list[str] = field(default_factory=list)
    missing_required: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    rows_counted_as_lines: bool = False
    unreadable: list[str] = field(default_factory=list)
    first_file_lacking: str = ""


@dataclass
class ModelReadiness:
    task: str
    trains: bool
    detail: str
    ranks_by: str


@dataclass
class Readiness:
    """Everything ``riskstrat check`` found; ``verdict`` and ``summary()`` for people."""

    format: str
    landing: str
    extracts: dict[str, ExtractFacts] = field(default_factory=dict)
    code_systems: dict[str, tuple[int, int]] = field(default_factory=dict)
    code_sample: str = ""
    sdoh_members: int = 0
    sdoh_matched: int = 0
    as_of: date | None = None
    as_of_rule: str = ""
    months_running_out: list[str] = field(default_factory=list)
    enrolled_at_as_of: int = 0
    empty_features: list[str] = field(default_factory=list)
    models: list[ModelReadiness] = field(default_factory=list)
    adapter_summary: str = ""
    blockers: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return CANNOT if self.blockers else GAPS if self.gaps else READY

    @property
    def exit_status(self) -> int:
        return 2 if self.blockers else 0

    def summary(self) -> str:
        lines = [f"check {self.landing} (format {self.format})"]
        if self.adapter_summary:
            lines += ["  " + line for line in self.adapter_summary.splitlines()]
        lines.append("  extract               files        rows  dates")
        for facts in self.extracts.values():
            if not facts.files:
                lines.append(f"  {facts.extract:<20} absent")
                continue
            span = f"{facts.first_date} .. {facts.last_date}" if facts.first_date else "-"
            approx = "~" if facts.rows_counted_as_lines else " "
            lines.append(f"  {facts.extract:<20} {facts.files:>5} {approx}{facts.rows:>11,}  {span}")
            if facts.unreadable:
                lines.append(f"      unreadable: {', '.join(facts.unreadable)}")
            if facts.missing_required:
                lines.append(f"      MISSING required: {', '.join(facts.missing_required)}")
            if facts.absent_filled_with_nulls:
                lines.append(f"      absent, filled with nulls: {', '.join(facts.absent_filled_with_nulls)}")
            if facts.ignored:
                lines.append(f"      ignored: {', '.join(facts.ignored)}")
        if self.code_systems:
            parts = [f"{system} {codes:,} ({mapped / codes:.0%} to ICD-10-CM)" if codes else system
                     for system, (codes, mapped) in self.code_systems.items()]
            lines.append(f"  diagnosis codes{self.code_sample}: " + ", ".join(parts))
        if self.sdoh_members:
            lines.append(f"  SDOH match: {self.sdoh_matched:,} of {self.sdoh_members:,} members "
                         f"({self.sdoh_matched / self.sdoh_members:.0%}) link to an area index")
        if self.as_of:
            lines.append(f"  as-of the run would use: {self.as_of}, {self.as_of_rule}; "
                         f"{self.enrolled_at_as_of:,} enrolment spans open on it")
        if self.months_running_out:
            lines.append(f"  months still running out: {', '.join(self.months_running_out)}")
        if self.empty_features:
            lines.append(f"  empty features: {', '.join(self.empty_features)}")
        for model in self.models:
            lines.append(f"  {model.task}: {'trains' if model.trains else 'does not train'}: {model.detail}; "
                         f"ranks by {model.ranks_by}")
        lines += [f"  cannot run: {b}" for b in self.blockers]
        lines += [f"  gap: {g}" for g in self.gaps]
        lines.append(f"verdict: {self.verdict}")
        return "\n".join(lines)


def check_source(source: Path, fmt: str = "auto", sdoh: Path | None = None, as_of: date | None = None) -> Readiness:
    """Check ``source`` (any supported format); a data problem becomes a ``cannot run`` blocker."""
    from adapters import convert, detect_format

    source = Path(source)
    try:
        chosen = detect_format(source) if fmt == "auto" else fmt
    except RiskstratDataError as exc:
        return Readiness(format=fmt, landing=str(source), blockers=[str(exc)])
    if chosen == "canonical" and sdoh is None:
        return check_landing(source, chosen, as_of=as_of)
    with tempfile.TemporaryDirectory(prefix="riskstrat-check-") as scratch:
        landing = Path(scratch) / "landing"
        try:
            report = convert(chosen, source, landing, Path(sdoh) if sdoh else None)
        except RiskstratDataError as exc:
            return Readiness(format=chosen, landing=str(source), blockers=[str(exc)])
        # the as-of comes from month coverage, as in the run, not from the adapter's latest discharge
        result = check_landing(landing, chosen, as_of=as_of)
        result.landing = str(source)
        result.adapter_summary = report.summary()
        if report.enrolment_assumed:
            result.gaps.insert(0, "no usable enrolment in the source: one span per person was assumed, so the "
                                  "enrolment checks (30-day follow-up enrolment, member snapshots) cannot be made")
        return result


def check_landing(landing: Path, fmt: str = "canonical", as_of: date | None = None) -> Readiness:
    """Check a canonical landing folder in place."""
    result = Readiness(format=fmt, landing=str(landing))
    with duckdb.connect() as con:
        for extract in all_contracts():
            facts = _extract_facts(landing, extract)
            result.extracts[extract] = facts
            if facts.unreadable:
                listed = ", ".join(facts.unreadable[:5]) + (" ..." if len(facts.unreadable) > 5 else "")
                problem = (f"{listed}: cannot be read (empty, truncated or not UTF-8 CSV); re-send the "
                           f"{extract} file(s)")
                monthly = load_contract(extract).partition_by is not None
                (result.gaps if monthly or extract not in ESSENTIAL else result.blockers).append(
                    problem + ("; their months will fail to load and the others load" if monthly else ""))
            if facts.missing_required:
                result.blockers.append(
                    f"{facts.first_file_lacking}: required column(s) {', '.join(facts.missing_required)} missing "
                    f"from the {extract} extract; "
                    "add them (`riskstrat contracts` says what each holds)")
            elif facts.absent_filled_with_nulls:
                result.gaps.append(f"{extract}: optional column(s) absent, filled with nulls: "
                                   f"{', '.join(facts.absent_filled_with_nulls)}")
        if any(result.extracts[e].missing_required for e in PARSED):
            return result
        _create_views(con, landing, result)
        for extract in ESSENTIAL:
            facts = result.extracts[extract]
            if facts.files == 0 or facts.rows == 0:
                what = "is absent" if facts.files == 0 else "has no rows"
                result.blockers.append(f"{extract} {what}; the pipeline needs it to build stays and member snapshots")
        for extract, use in EXTRACT_USE.items():
            facts = result.extracts.get(extract)
            if facts is not None and (facts.files == 0 or facts.rows == 0):
                result.gaps.append(f"{extract} {'absent' if facts.files == 0 else 'empty'}: no {use}")
        if result.blockers:
            return result
        _dates_and_labels(con, result, as_of)
        _code_coverage(con, landing, result)
        _sdoh_match(con, result)
    result.empty_features = _empty_features(result)
    return result


# ---- reading the landing folder -----------------------------------------------------------------

def _files(landing: Path, extract: str, skip: Iterable[str] = ()) -> list[Path]:
    skip = set(skip)
    if load_contract(extract).partition_by is None:
        path = find_extract_file(landing, extract)
        return [path] if path is not None and path.name not in skip else []
    return [p for p in month_files(landing, extract).values() if p.name not in skip]


def _reader(files: list[Path]) -> str:
    """A DuckDB table function over ``files`` (all text; CSV, gzip CSV or Parquet)."""
    names = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in files) + "]"
    if all(p.name.endswith(".parquet") for p in files):
        return f"read_parquet({names}, union_by_name = true)"
    return (f"read_csv({names}, header = true, all_varchar = true, union_by_name = true, "
            "ignore_errors = true, null_padding = true)")


def _header(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """The file's column names, as ingestion reads them; an empty header is a data error."""
    header = parquet_columns(con, path) if path.name.endswith(".parquet") else csv_header(path)
    if not any(header):
        raise RiskstratDataError(f"{path.name} is empty: it has no header line; re-send it", source=path.name)
    return header


def _extract_facts(landing: Path, extract: str) -> ExtractFacts:
    """Files, header columns against the contract, and (for extracts not parsed later) line counts."""
    contract = load_contract(extract)
    files = _files(landing, extract)
    facts = ExtractFacts(extract=extract, files=len(files))
    if not files:
        return facts
    headers, readable = [], []
    with duckdb.connect() as con:
        for path in files:
            try:
                header = _header(con, path)
                rows = 0
                if extract not in PARSED:
                    rows = (con.execute(f"SELECT count(*) FROM {_reader([path])}").fetchone()[0]
                            if path.name.endswith(".parquet") else data_line_count(path))
            # a corrupt gzip stream raises OSError/EOFError, a broken Parquet footer duckdb.Error
            except (RiskstratDataError, OSError, EOFError, duckdb.Error):
                facts.unreadable.append(path.name)
                continue
            headers.append(header)
            readable.append(path)
            facts.rows += rows
    facts.rows_counted_as_lines = extract not in PARSED
    if not readable:
        facts.files = 0
        return facts
    present = set().union(*headers)
    facts.columns_used = [c for c in contract.column_names if c in present]
    # a required column missing from any one file fails that file's load
    lacking = [(path.name, [c for c in contract.required_columns if c not in header])
               for path, header in zip(readable, headers, strict=True)]
    lacking = [(name, cols) for name, cols in lacking if cols]
    facts.missing_required = list(dict.fromkeys(c for _, cols in lacking for c in cols))
    facts.first_file_lacking = lacking[0][0] if lacking else ""
    facts.absent_filled_with_nulls = [c for c in contract.column_names if c not in present and c not in facts.missing_required]
    facts.ignored = sorted(present - set(contract.column_names) - {""})
    if contract.partition_by is not None:
        months = sorted(month_files(landing, extract))
        facts.first_date = date.fromisoformat(f"{months[0]}-01")
        last = date.fromisoformat(f"{months[-1]}-01")
        facts.last_date = (last.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return facts


def _typed_view(con: duckdb.DuckDBPyConnection, landing: Path, extract: str, result: Readiness) -> None:
    """``chk_<extract>``: the contract's columns typed (unparseable values null), empty when absent."""
    contract = load_contract(extract)
    facts = result.extracts[extract]
    files = _files(landing, extract, facts.unreadable) if facts.files else []
    casts = []
    for column in contract.columns:
        present = column.name in facts.columns_used
        source = f'"{column.name}"' if present else "NULL"
        typed = f"TRY_CAST({source} AS {column.duckdb_type})"
        if column.type == "date" and column.min_value() is not None:
            # dates the contract quarantines (before 1990) must not move the history start or the as-of
            typed = f"CASE WHEN {typed} >= DATE '{column.min_value().isoformat()}' THEN {typed} END"
        casts.append(f'{typed} AS "{column.name}"')
    body = f"SELECT {', '.join(casts)} FROM {_reader(files)}" if files else f"SELECT {', '.join(casts)} WHERE false"
    # table names come from the contracts (a fixed list), never from the data
    con.execute(f"CREATE OR REPLACE TEMP VIEW chk_{extract} AS {body}")


# The few columns of the parsed extracts that the figures below read, materialised once.
PARSED_COLUMNS = {
    "eligibility": "person_id, enrollment_start_date, enrollment_end_date, death_date, county_fips, zip_code",
    "medical_claim": ("person_id, claim_id, claim_type, bill_type_code, claim_start_date, claim_end_date, "
                      "admission_date, discharge_date, paid_amount"),
    "encounter": "person_id, encounter_type, encounter_start_date, encounter_end_date",
}


def _create_views(con: duckdb.DuckDBPyConnection, landing: Path, result: Readiness) -> None:
    for extract in (*PARSED, "area_sdoh_county", "area_sdoh_zip"):
        _typed_view(con, landing, extract, result)
    for extract, columns in PARSED_COLUMNS.items():
        con.execute(f"CREATE TEMP TABLE chk_{extract}_t AS SELECT {columns} FROM chk_{extract}")
        con.execute(f"CREATE OR REPLACE TEMP VIEW chk_{extract} AS SELECT * FROM chk_{extract}_t")
        result.extracts[extract].rows = con.execute(f"SELECT count(*) FROM chk_{extract}_t").fetchone()[0]
    if result.extracts["eligibility"].first_date is None and result.extracts["eligibility"].rows:
        first, last = con.execute("SELECT min(enrollment_start_date), max(enrollment_end_date) FROM chk_eligibility").fetchone()
        result.extracts["eligibility"].first_date, result.extracts["eligibility"].last_date = first, last


def _dates_and_labels(con: duckdb.DuckDBPyConnection, result: Readiness, as_of: date | None) -> None:
    from features.coverage import decide_as_of, source_month_coverage

    coverage = source_month_coverage(con, "chk_medical_claim", "chk_encounter", "chk_eligibility",
                                     claims_loaded=result.extracts["medical_claim"].rows > 0)
    decision = decide_as_of(coverage)
    result.months_running_out = [f"{m:%Y-%m} ({s.replace('_', ' ')})" for m, s in decision.incomplete_months]
    if as_of is None:
        as_of = decision.as_of
        result.as_of_rule = decision.sentence().split(": ", 1)[-1]
    else:
        result.as_of_rule = "given"
    if as_of is None:
        result.blockers.append("no month has both claim lines and enrolled members; compare the date ranges of "
                               "eligibility and medical_claim")
        return
    result.as_of = as_of
    spans = con.execute(ELIGIBILITY_SPANS_SQL, {"as_of": as_of}).pl().row(0, named=True)
    result.enrolled_at_as_of = spans["enrolled_at_as_of"]
    if not spans["enrolled_at_as_of"]:
        result.blockers.append(
            f"no member is enrolled on the as-of {as_of}: eligibility runs {spans['first_start']} to "
            f"{spans['last_end']}; pass --as-of {spans['last_end']} or earlier")
    has_stays = con.execute("SELECT count(*) FROM chk_medical_claim WHERE claim_type = 'institutional' "
                            "AND bill_type_code LIKE '011%' AND admission_date IS NOT NULL").fetchone()[0] > 0
    labels = con.execute(READMISSION_LABELS_SQL, {"as_of": as_of, "claims_have_stays": has_stays}).pl()
    history_start = con.execute("SELECT min(claim_start_date) FROM chk_medical_claim").fetchone()[0]
    result.models.append(_readmission_readiness(labels, as_of, history_start))
    result.models.append(_high_need_readiness(con, as_of, history_start))
    for model in result.models:
        if not model.trains:
            result.gaps.append(f"the {model.task} model will not train (see above); the run ranks by {model.ranks_by}")
    if result.months_running_out:
        result.gaps.append(f"months left out of the as-of: {', '.join(result.months_running_out)}; "
                           "the KPIs flag them incomplete")


def _readmission_readiness(labels: pl.DataFrame, as_of: date, history_start: date | None) -> ModelReadiness:
    """The model's own time split and slice minimums, applied to approximate stays and labels."""
    from models.readmission import readmission_spec, split_stays
    from models.training import InsufficientTrainingData, check_slices

    labelled, readmitted = labels.height, int(labels["readmit_30d"].fill_null(0).sum())
    detail = f"about {labelled:,} index stays with a closed 30-day window, {readmitted:,} readmitted"
    try:
        parts, split = split_stays(labels, as_of, history_start)
        check_slices(parts, readmission_spec(), split)
    except InsufficientTrainingData as exc:
        why = str(exc).split(": ", 1)[-1].split(" (split")[0]
        return ModelReadiness("readmission", False, f"{detail}; {why}", "LACE points")
    sizes = ", ".join(f"{name} {part.height:,}" for name, part in parts.items())
    return ModelReadiness("readmission", True, f"{detail} (time split: {sizes})", "the LightGBM model")


def _high_need_readiness(con: duckdb.DuckDBPyConnection, as_of: date, start: date | None) -> ModelReadiness:
    from models.timesplit import high_need_snapshots
    from models.training import InsufficientTrainingData

    if start is None:
        return ModelReadiness("high_need", False, "no claim dates", "prior-year cost")
    try:
        plan = high_need_snapshots(as_of, start)
    except InsufficientTrainingData as exc:
        return ModelReadiness("high_need", False, str(exc).split(": ", 1)[-1], "prior-year cost")
    enrolled = {day: con.execute("SELECT count(DISTINCT person_id) FROM chk_eligibility WHERE enrollment_start_date <= $d "
                                 "AND enrollment_end_date >= $d", {"d": day}).fetchone()[0]
                for day in (plan.calibration, plan.test)}
    # a snapshot holds the members enrolled on its date; each slice needs MIN_SLICE_MEMBERS rows
    if min(enrolled.values()) < MIN_SLICE_MEMBERS:
        counts = ", ".join(f"{n:,} on {day}" for day, n in enrolled.items())
        return ModelReadiness("high_need", False, f"too few members enrolled on the calibration and test snapshot "
                              f"dates ({counts}; each needs at least {MIN_SLICE_MEMBERS})", "prior-year cost")
    return ModelReadiness("high_need", True, f"{len(plan.train)} training snapshots from {start} to {as_of}, "
                          f"{enrolled[plan.test]:,} members on the test snapshot", "the LightGBM model")


def _code_coverage(con: duckdb.DuckDBPyConnection, landing: Path, result: Readiness) -> None:
    from features.codelists import load_code_lists

    selects, first_month = [], None
    for extract, (system, code) in DIAGNOSIS_COLUMNS.items():
        facts = result.extracts[extract]
        if not facts.files or code not in facts.columns_used:
            continue
        months = [(m, p) for m, p in sorted(month_files(landing, extract).items())
                  if p.name not in facts.unreadable][-CODE_SAMPLE_MONTHS:]
        first_month = min(first_month or months[0][0], months[0][0])
        sys_col = f'"{system}"' if system in facts.columns_used else "NULL"
        selects.append(f'SELECT {sys_col} AS code_system, "{code}" AS code FROM {_reader([p for _, p in months])} '
                       f'WHERE "{code}" IS NOT NULL')
    if not selects:
        return
    load_code_lists(con, gem=True)
    con.execute("CREATE OR REPLACE TEMP VIEW chk_codes AS " + " UNION ALL ".join(selects))
    for system, codes, mapped in con.execute(CODE_COVERAGE_SQL).fetchall():
        result.code_systems[system] = (codes, mapped)
    result.code_sample = f" (months from {first_month} on)"


def _sdoh_match(con: duckdb.DuckDBPyConnection, result: Readiness) -> None:
    members, matched = con.execute(SDOH_MATCH_SQL).fetchone()
    result.sdoh_members, result.sdoh_matched = members, matched
    if members and matched < members:
        result.gaps.append(f"{members - matched:,} of {members:,} members link to no area SDOH index "
                           "(no county FIPS or ZIP in the area files): their area features are null")


def _empty_features(result: Readiness) -> list[str]:
    """Features whose every raw source extract is absent or empty."""
    from features.dictionary import FEATURE_DICTIONARY, raw_source_tables
    from models.high_need import member_dictionary

    empty_sources = {f"raw.{e}" for e, f in result.extracts.items() if f.files == 0 or f.rows == 0}
    specs = [*FEATURE_DICTIONARY.values(), *member_dictionary().values()]
    return list(dict.fromkeys(s.name for s in specs if (raw := raw_source_tables(s)) and raw <= empty_sources))

