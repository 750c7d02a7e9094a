-- features.member_hcc_input (SELECT only; read by features.member to call hccinfhir, once per as-of date)
-- memory: processing by snapshot date. The sorted code list per member is a list aggregate, which
--   DuckDB cannot spill, so the statement runs for one $as_of_date at a time (one snapshot of the
--   cohort, about one row per member) instead of every date at once.
-- Grain: one row per person_id and as_of_date of _member_cohort.
-- Logic: the CMS-HCC demographic inputs at as_of_date (age in full years; sex 'F'/'M', NULL when
-- unknown; dual_elgbl_cd = dual_status_code, '00' when blank; orec '0' aged, '1' disability when under
-- 65) and the sorted distinct ICD-10-CM codes (core.diagnosis, mapped rows only) dated in the 365
-- days before as_of_date that map to a CC in V24 or V28 (temp table _ref_hcc_dx; other codes cannot
-- change the score, so leaving them out only makes fewer distinct inputs to score).
SELECT
    c.person_id,
    c.as_of_date,
    CAST(date_sub('year', c.birth_date, c.as_of_date) AS INTEGER) AS age,
    CASE c.gender WHEN 'female' THEN 'F' WHEN 'male' THEN 'M' END AS sex,
    coalesce(c.dual_status_code, '00') AS dual_elgbl_cd,
    CASE WHEN date_sub('year', c.birth_date, c.as_of_date) >= 65 THEN '0' ELSE '1' END AS orec,
    coalesce(list_sort(list(DISTINCT d.icd10cm_code) FILTER (WHERE d.icd10cm_code IS NOT NULL)), [])
        AS icd10cm_codes
FROM (SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date) AS c
LEFT JOIN (
    SELECT dx.person_id, dx.diagnosis_date, dx.icd10cm_code
    FROM core.diagnosis AS dx
    SEMI JOIN _ref_hcc_dx AS h ON h.icd10cm_code = dx.icd10cm_code
) AS d
    ON d.person_id = c.person_id
   AND d.diagnosis_date >= c.d365_start
   AND d.diagnosis_date < c.as_of_date
GROUP BY ALL
