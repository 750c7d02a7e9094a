"""Public SDOH reference files -> ``area_sdoh_county`` and ``area_sdoh_zip``, and members linked to a county.

Inputs (folder layout of ``../shared/data/sdoh``; any file found under the folder is used):

- ``SVI<year>_US_COUNTY.csv[.gz]`` (CDC/ATSDR SVI, county level, any release year; the latest one
  present is used): FIPS, ST_ABBR, COUNTY, RPL_THEMES, RPL_THEME1..4. SVI writes -999 for missing
  ranks: those become null, and a county without an overall rank is not mapped (svi_overall is required).
- ``zip_county_fips*.csv[.gz]`` (HUD-USPS derived ZIP -> county list; zip, stcountyfp): a ZIP
  spanning counties is listed once per county, without address shares, so the first listed county is kept.
- ``ACS.csv[.gz]`` (Census S1903 median household income by ZCTA, two header rows) with
  ``zip_to_zcta*.csv[.gz]`` (UDS Mapper ZIP -> ZCTA): income per ZIP through its ZCTA.

Members are linked to a county in this order, and the report counts members per route:
``county_fips`` (the source's own FIPS, found in the SVI file), ``zip_to_county`` (blank or unknown
FIPS: the ZIP's county from the crosswalk, written into eligibility.county_fips),
``state_county_name`` (state + county name matched to the SVI's names), ``unmatched``. ``zip_income``
counts members whose ZIP has an ACS income.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from adapters.common import Conversion, fips5, read_table, zip5

SVI_FILE = re.compile(r"SVI_?(\d{4})_US_(COUNTY|CNTY)\.csv(\.gz)?$", re.IGNORECASE)
RANKS = {
    "svi_overall": "RPL_THEMES",
    "svi_socioeconomic": "RPL_THEME1",
    "svi_household": "RPL_THEME2",
    "svi_minority": "RPL_THEME3",
    "svi_housing_transport": "RPL_THEME4",
}


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and re.search(pattern, p.name, re.IGNORECASE))


def svi_files(root: Path) -> dict[int, Path]:
    """``{year: path}`` of every SVI county file under ``root``."""
    return {int(m.group(1)): p for p in root.rglob("*") if (m := SVI_FILE.search(p.name))}


def _rank(name: str) -> pl.Expr:
    value = pl.col(name).cast(pl.Float64, strict=False)
    return pl.when((value >= 0) & (value <= 1)).then(value)


def _county_key(expr: pl.Expr) -> pl.Expr:
    """County name normalised for matching: lower case, no 'County'/'Parish'/..., letters only."""
    return (
        expr.str.to_lowercase()
        .str.replace(r"\s+(county|parish|borough|census area|municipality|city and borough)$", "")
        .str.replace_all(r"[^a-z]", "")
    )


def county_table(run: Conversion, root: Path, year: int | None = None) -> pl.DataFrame | None:
    files = svi_files(root)
    if not files:
        run.note(f"no SVI county file under {root.name}: area_sdoh_county not produced")
        run.not_produced.append("area_sdoh_county")
        return None
    year = year if year is not None else max(files)
    table = f"svi_{year}_county"
    frame = read_table(files[year])
    run.count_in(table, frame.select(pl.len()).collect().item())
    kept = run.keep(table, frame.with_columns(fips5(pl.col("FIPS")).alias("county_fips"), _rank("RPL_THEMES").alias("_overall")), [
        ("no five-digit county FIPS", pl.col("county_fips").is_null()),
        ("overall SVI rank missing (-999)", pl.col("_overall").is_null()),
    ])
    run.note(f"SVI release {year} used (of {', '.join(map(str, sorted(files)))} present); -999 ranks are null")
    return kept.select(
        "county_fips",
        pl.col("ST_ABBR").alias("state"),
        pl.col("COUNTY").alias("county_name"),
        pl.lit(year, dtype=pl.Int64).alias("svi_year"),
        *[_rank(src).alias(dst) for dst, src in RANKS.items()],
    )


def zip_table(run: Conversion, root: Path) -> pl.DataFrame | None:
    cross = _files(root, r"^zip_county.*\.csv(\.gz)?$")
    zcta = _files(root, r"^zip_to_zcta.*\.csv(\.gz)?$")
    acs = _files(root, r"^ACS.*\.csv(\.gz)?$")
    parts: list[pl.LazyFrame] = []
    if cross:
        frame = read_table(cross[0])
        run.count_in("zip_county_crosswalk", frame.select(pl.len()).collect().item())
        with_zip = frame.with_columns(zip5(pl.col("zip")).alias("zip_code"), fips5(pl.col("stcountyfp")).alias("county_fips"))
        kept = run.keep("zip_county_crosswalk", with_zip.with_columns(pl.int_range(pl.len()).over("zip_code").alias("_nth")), [
            ("no five-digit ZIP or county", pl.col("zip_code").is_null() | pl.col("county_fips").is_null()),
            ("second county of a ZIP (first listed kept)", pl.col("_nth") > 0),
        ])
        parts.append(kept.lazy().select("zip_code", "county_fips"))
    if zcta and acs:
        z = read_table(zcta[0])
        run.count_in("zip_to_zcta", z.select(pl.len()).collect().item())
        a = read_table(acs[0])
        # the second header row holds labels, not data
        a = a.filter(pl.col("GEO.id2") != "Id2")
        run.count_in("acs_income_zcta", a.select(pl.len()).collect().item())
        income = a.select(
            pl.col("GEO.id2").str.zfill(5).alias("zcta"),
            pl.col("HC01_EST_VC13").str.replace_all(r"[,+]", "").str.replace(r"-$", "").cast(pl.Float64, strict=False)
            .alias("median_household_income"),
        )
        by_zip = z.select(zip5(pl.col("ZIP_CODE")).alias("zip_code"), pl.col("ZCTA").str.zfill(5).alias("zcta")).join(
            income, on="zcta", how="left", maintain_order="left")
        kept = run.keep("zip_to_zcta", by_zip.with_columns(pl.int_range(pl.len()).over("zip_code").alias("_nth")), [
            ("no five-digit ZIP", pl.col("zip_code").is_null()),
            ("repeated ZIP", pl.col("_nth") > 0),
        ])
        no_income = kept.filter(pl.col("median_household_income").is_null()).height
        run.note(f"{no_income} ZIPs have no ACS median income (ZCTA without an estimate); income null")
        parts.append(kept.lazy().select("zip_code", "median_household_income"))
    if not parts:
        run.note("no ZIP crosswalk or ACS income file: area_sdoh_zip not produced")
        run.not_produced.append("area_sdoh_zip")
        return None
    table = parts[0]
    for part in parts[1:]:
        table = table.join(part, on="zip_code", how="full", coalesce=True)
    return table.collect()


def convert(root: Path, run: Conversion) -> None:
    """Write the area extracts and link the queued (or written) eligibility rows to a county."""
    counties = county_table(run, root)
    zips = zip_table(run, root)
    if counties is not None:
        run.add("area_sdoh_county", counties)
    if zips is not None:
        run.add("area_sdoh_zip", zips)
    landing_elig = run.landing / "eligibility.csv"
    if not landing_elig.exists():
        return
    elig = pl.read_csv(landing_elig, infer_schema=False)
    names = run.county_names
    if names is not None:
        elig = elig.join(names, on="person_id", how="left")
    else:
        elig = elig.with_columns(pl.lit(None, dtype=pl.String).alias("county_name"))
    linked, counts = link_members(elig, counties, zips)
    run.sdoh_match.update(counts)
    # eligibility.county_fips gains the county found by ZIP or name; the file is rewritten
    run.rows_written["eligibility"] -= linked.height
    run.add("eligibility", linked.drop("county_name").with_columns(
        *[pl.col(c).str.to_date("%Y-%m-%d", strict=False) for c in ("birth_date", "death_date", "enrollment_start_date", "enrollment_end_date") if c in linked.columns]
    ))
    run.finish_extract("eligibility")


def link_members(elig: pl.DataFrame, counties: pl.DataFrame | None, zips: pl.DataFrame | None) -> tuple[pl.DataFrame, dict[str, int]]:
    """Fill eligibility.county_fips by route; count members (distinct person_id) per route."""
    svi = counties.select("county_fips", "state", "county_name") if counties is not None else pl.DataFrame(
        schema={"county_fips": pl.String, "state": pl.String, "county_name": pl.String})
    known = svi["county_fips"]
    by_zip = zips.select("zip_code", pl.col("county_fips").alias("_zip_county")) if zips is not None and "county_fips" in zips.columns \
        else pl.DataFrame(schema={"zip_code": pl.String, "_zip_county": pl.String})
    by_name = svi.select("state", _county_key(pl.col("county_name")).alias("_key"), pl.col("county_fips").alias("_name_county")).unique(
        subset=["state", "_key"], keep="first")
    elig = elig.with_columns([pl.lit(None, dtype=pl.String).alias(c) for c in ("county_fips", "zip_code", "state", "county_name")
                              if c not in elig.columns])
    frame = (
        elig.join(by_zip, on="zip_code", how="left")
        .with_columns(_county_key(pl.col("county_name")).alias("_key"))
        .join(by_name, on=["state", "_key"], how="left")
        .with_columns(
            pl.when(pl.col("county_fips").is_in(known.implode())).then(pl.lit("county_fips"))
            .when(pl.col("_zip_county").is_in(known.implode())).then(pl.lit("zip_to_county"))
            .when(pl.col("_name_county").is_not_null()).then(pl.lit("state_county_name"))
            .otherwise(pl.lit("unmatched")).alias("_route")
        )
        .with_columns(
            pl.when(pl.col("_route") == "zip_to_county").then(pl.col("_zip_county"))
            .when(pl.col("_route") == "state_county_name").then(pl.col("_name_county"))
            .otherwise(pl.col("county_fips")).alias("county_fips")
        )
    )
    members = frame.group_by("person_id").agg(pl.col("_route").first(), pl.col("zip_code").first())
    counts = {"members": members.height}
    for route in ("county_fips", "zip_to_county", "state_county_name", "unmatched"):
        counts[route] = members.filter(pl.col("_route") == route).height
    if zips is not None and "median_household_income" in zips.columns:
        with_income = zips.filter(pl.col("median_household_income").is_not_null())["zip_code"]
        counts["zip_income"] = members.filter(pl.col("zip_code").is_in(with_income.implode())).height
    return frame.drop("_zip_county", "_key", "_name_county", "_route"), counts
