-- features.member_cohort (SELECT only; run into the temp table _member_cohort by
-- features.member.build_member_dataset; every member feature and label joins to it, so the as-of
-- date and the windows are defined here once).
-- memory: one join of the as-of dates with the enrolment spans and one GROUP BY (person_id,
--   as_of_date): grows with members x dates (2.5M rows at 1M members) and spills.
-- Grain: one row per person_id and as_of_date, for each date in $as_of_dates at which the member has
-- an enrolment span covering as_of_date (start <= as_of_date <= end) and no death_date before it.
-- Logic: demographics from the covering span (the latest-starting one when several cover the date);
-- window bounds, all half-open [start, as_of_date): d30/d90/d180/d365_start = as_of_date - 30/90/180/365;
-- the label window is [as_of_date, label_end_date) with label_end_date = as_of_date + 12 months, and
-- label_complete_flag = 1 when label_end_date <= $data_end (the day after the last date in the data).
WITH as_of_list AS (
    SELECT DISTINCT CAST(d AS DATE) AS as_of_date FROM (SELECT unnest($as_of_dates) AS d)
),
covering AS (
    SELECT a.as_of_date, e.*
    FROM as_of_list AS a
    JOIN raw.eligibility AS e
        ON e.enrollment_start_date <= a.as_of_date AND e.enrollment_end_date >= a.as_of_date
),
dead AS (
    SELECT DISTINCT a.as_of_date, e.person_id
    FROM as_of_list AS a
    JOIN raw.eligibility AS e ON e.death_date IS NOT NULL AND e.death_date < a.as_of_date
)
SELECT
    c.person_id,
    c.as_of_date,
    arg_max(c.birth_date, c.enrollment_start_date) AS birth_date,
    arg_max(c.gender, c.enrollment_start_date) AS gender,
    arg_max(c.race, c.enrollment_start_date) AS race,
    arg_max(c.ethnicity, c.enrollment_start_date) AS ethnicity,
    arg_max(c.dual_status_code, c.enrollment_start_date) AS dual_status_code,
    arg_max(c.payer_type, c.enrollment_start_date) AS payer_type,
    arg_max(c.zip_code, c.enrollment_start_date) AS zip_code,
    arg_max(c.county_fips, c.enrollment_start_date) AS county_fips,
    c.as_of_date - 30 AS d30_start,
    c.as_of_date - 90 AS d90_start,
    c.as_of_date - 180 AS d180_start,
    c.as_of_date - 365 AS d365_start,
    CAST(c.as_of_date + INTERVAL 12 MONTH AS DATE) AS label_end_date,
    CAST(CAST(c.as_of_date + INTERVAL 12 MONTH AS DATE) <= $data_end AS INTEGER) AS label_complete_flag
FROM covering AS c
ANTI JOIN dead AS d ON d.person_id = c.person_id AND d.as_of_date = c.as_of_date
GROUP BY c.person_id, c.as_of_date
