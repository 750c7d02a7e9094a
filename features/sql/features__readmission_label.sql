-- features.readmission_label (SELECT only; run into the connection-local temp table
-- _readmission_label by features.readmission.materialise_labels, shared by
-- features.readmission_stay and marts.kpi_readmission_monthly so the cohort and the label are
-- defined once).
-- memory: per stay (about 300k at 1M members): the stays are the build side of its joins with
--   stays, enrolment spans and cases; one GROUP BY stay_id each.
-- Grain: one row per acute stay in core.inpatient_stay discharged before $as_of (transfers already
-- chained into one stay by core.inpatient_stay).
-- Parameters: $as_of (cut-off), $variant ('cms_hwr' CMS hospital-wide readmission logic, default;
-- 'hedis_pcr' HEDIS Plan All-Cause Readmissions).
-- Logic:
--   exclusion_reason (first that applies; NULL = index stay):
--     'died'            discharge_disposition_code '20'
--     'ama'             '07', left against medical advice
--     'transfer'        '02' to another acute hospital that we have no claim for (chained
--                       transfers are already one stay)
--     'age_under_18'    hedis_pcr only: under 18 at discharge
--     'pregnancy_perinatal'  hedis_pcr only: principal diagnosis O*, P* or Z3A* (ICD-10-CM)
--     'not_enrolled_30d'  the member has eligibility rows but the 31 days [discharge, discharge + 30]
--                       are not all covered by enrolment spans, and the member did not die by
--                       discharge + 30 (CMS: enrolled in Part A for 30 days after discharge).
--                       Substitute for EHR-only sources: a member with no eligibility row at all is
--                       kept and counted in no_enrolment_record; the outcome then counts as observed
--                       once the 30-day window closes before $as_of.
--     'not_enrolled_prior_365d'  hedis_pcr only: more than 45 days of the 365 before discharge not
--                       covered by enrolment (HEDIS allows one gap of up to 45 days; we allow 45
--                       uncovered days in total).
--   readmit_30d (index stays only): 1 when ANY acute stay of the same person starts in
--     (discharge_date, discharge_date + 30] and before $as_of and is not planned by the CMS Planned
--     Readmission Algorithm v4.0 (core.inpatient_stay.planned_flag, used by both variants: HEDIS's
--     planned-stay value sets cover the same chemotherapy, rehabilitation, transplant and
--     potentially-planned-procedure rules). Every admission in the window is scanned, so a planned
--     admission on day 5 does not hide an unplanned one on day 20. NULL when discharge_date + 30 >=
--     $as_of: the 30-day window is not yet complete, outcome unobservable.
--   planned_readmission_flag: 1 when the window held a planned readmission and no unplanned one.
--   in_case_management_flag: a case-management case was open at discharge
--     (open_date <= discharge_date and close_date null or > discharge_date).
WITH stays AS (
    SELECT * FROM core.inpatient_stay WHERE discharge_date < $as_of
),
readmits AS (
    SELECT
        s.stay_id,
        max(CASE WHEN r.planned_flag = 0 THEN 1 ELSE 0 END) AS any_unplanned,
        max(CASE WHEN r.planned_flag = 1 THEN 1 ELSE 0 END) AS any_planned
    FROM stays AS s
    JOIN core.inpatient_stay AS r
        ON r.person_id = s.person_id
       AND r.admission_date > s.discharge_date
       AND r.admission_date <= s.discharge_date + 30
       AND r.admission_date < $as_of
    GROUP BY s.stay_id
),
enrolment AS (
    SELECT
        s.stay_id,
        count(e.person_id) AS n_spans,
        coalesce(sum(greatest(0, date_diff('day',
            greatest(e.enrollment_start_date, s.discharge_date),
            least(e.enrollment_end_date, s.discharge_date + 30)) + 1)), 0) AS days_after,
        coalesce(sum(greatest(0, date_diff('day',
            greatest(e.enrollment_start_date, s.discharge_date - 365),
            least(e.enrollment_end_date, s.discharge_date - 1)) + 1)), 0) AS days_before,
        max(CASE WHEN e.death_date IS NOT NULL AND e.death_date <= s.discharge_date + 30 THEN 1 ELSE 0 END)
            AS died_within_30d,
        max(e.birth_date) AS birth_date
    FROM stays AS s
    LEFT JOIN raw.eligibility AS e ON e.person_id = s.person_id
    GROUP BY s.stay_id
),
open_case AS (
    SELECT DISTINCT s.stay_id
    FROM stays AS s
    JOIN raw.cm_case AS c
        ON c.person_id = s.person_id
       AND case_open_on(c.open_date, c.close_date, s.discharge_date)
),
reasoned AS (
    SELECT
        s.*,
        en.n_spans,
        CASE
            WHEN s.discharge_disposition_code = '20' THEN 'died'
            WHEN s.discharge_disposition_code = '07' THEN 'ama'
            WHEN s.discharge_disposition_code = '02' THEN 'transfer'
            WHEN $variant = 'hedis_pcr' AND en.birth_date IS NOT NULL
                 AND date_sub('year', en.birth_date, s.discharge_date) < 18 THEN 'age_under_18'
            WHEN $variant = 'hedis_pcr' AND regexp_matches(coalesce(s.principal_icd10cm_code, ''), '^(O|P|Z3A)')
                THEN 'pregnancy_perinatal'
            WHEN en.n_spans > 0 AND en.days_after < 31 AND en.died_within_30d = 0 THEN 'not_enrolled_30d'
            WHEN $variant = 'hedis_pcr' AND en.n_spans > 0 AND en.days_before < 365 - 45
                THEN 'not_enrolled_prior_365d'
        END AS exclusion_reason
    FROM stays AS s
    JOIN enrolment AS en ON en.stay_id = s.stay_id
)
SELECT
    s.stay_id,
    s.person_id,
    s.admission_date,
    s.discharge_date,
    s.exclusion_reason,
    CAST(s.discharge_date + 30 < $as_of AS INTEGER) AS observable_flag,
    CASE
        WHEN s.exclusion_reason IS NOT NULL THEN NULL
        WHEN s.discharge_date + 30 >= $as_of THEN NULL
        ELSE coalesce(r.any_unplanned, 0)
    END AS readmit_30d,
    CASE
        WHEN s.exclusion_reason IS NOT NULL OR s.discharge_date + 30 >= $as_of THEN NULL
        ELSE CAST(coalesce(r.any_planned, 0) = 1 AND coalesce(r.any_unplanned, 0) = 0 AS INTEGER)
    END AS planned_readmission_flag,
    CAST(s.n_spans = 0 AS INTEGER) AS no_enrolment_record_flag,
    CAST($variant AS VARCHAR) AS variant,
    CAST(o.stay_id IS NOT NULL AS INTEGER) AS in_case_management_flag
FROM reasoned AS s
LEFT JOIN readmits AS r ON r.stay_id = s.stay_id
LEFT JOIN open_case AS o ON o.stay_id = s.stay_id
