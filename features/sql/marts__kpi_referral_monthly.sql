-- marts.kpi_referral_monthly
-- memory: grows with case-management cases; holistic median/quantile per group over few groups.
-- Grain: one row per referral_month x level (all / program / team / case_manager), cases in
-- raw.cm_case referred before $as_of, attributed to the case's program and case manager (team
-- from raw.cm_roster).
-- referrals                          cases referred in the month
-- Time to first contact: days from referral_date to first_contact_date over cases with a first
--   contact (median and 90th percentile); cases never reached are counted in not_reached.
-- Engagement rate: numerator cases opened (open_date set); denominator resolved referrals (opened,
--   or closed without opening); exclusion: referrals still pending on $as_of (neither opened nor closed).
-- Referral completion: numerator sum(services_received_count), denominator
--   sum(services_referred_count), over cases that report both; null when no case reports them.
CREATE OR REPLACE TABLE marts.kpi_referral_monthly AS
WITH cases AS (
    SELECT c.*, r.team
    FROM raw.cm_case AS c
    LEFT JOIN raw.cm_roster AS r ON r.case_manager_id = c.case_manager_id
    WHERE c.referral_date < $as_of
)
SELECT
    CAST(date_trunc('month', referral_date) AS DATE) AS referral_month,
    rollup_level(grouping(program), grouping(team), grouping(case_manager_id)) AS level,
    program, team, case_manager_id,
    CAST(count(*) AS BIGINT) AS referrals,
    CAST(count(first_contact_date) AS BIGINT) AS contacted,
    CAST(count(*) FILTER (WHERE first_contact_date IS NULL AND close_date IS NOT NULL) AS BIGINT) AS not_reached,
    median(date_diff('day', referral_date, first_contact_date)) AS days_to_first_contact_median,
    quantile_cont(date_diff('day', referral_date, first_contact_date), 0.9) AS days_to_first_contact_p90,
    CAST(count(open_date) AS BIGINT) AS engaged,
    CAST(count(*) FILTER (WHERE open_date IS NOT NULL OR close_date IS NOT NULL) AS BIGINT) AS resolved_referrals,
    CAST(count(open_date) AS DOUBLE)
        / nullif(count(*) FILTER (WHERE open_date IS NOT NULL OR close_date IS NOT NULL), 0) AS engagement_rate,
    CAST(sum(services_referred_count) FILTER (WHERE services_received_count IS NOT NULL) AS BIGINT) AS services_referred,
    CAST(sum(services_received_count) FILTER (WHERE services_referred_count IS NOT NULL) AS BIGINT) AS services_received,
    CAST(sum(services_received_count) FILTER (WHERE services_referred_count IS NOT NULL) AS DOUBLE)
        / nullif(sum(services_referred_count) FILTER (WHERE services_received_count IS NOT NULL), 0) AS referral_completion_rate,
    CAST($as_of AS DATE) AS as_of_date
FROM cases
GROUP BY GROUPING SETS (
    (referral_month),
    (referral_month, program),
    (referral_month, program, team),
    (referral_month, program, team, case_manager_id)
)
ORDER BY referral_month, level, program NULLS FIRST, team NULLS FIRST, case_manager_id NULLS FIRST
