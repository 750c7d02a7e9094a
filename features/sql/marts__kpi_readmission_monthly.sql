-- marts.kpi_readmission_monthly
-- memory: one GROUP BY over the index stays of _readmission_label (about 300k at 1M members).
-- Grain: one row per discharge_month (first day of the month of discharge) and
-- in_case_management_flag (1 when the member had a case-management case open on the
-- discharge date: open_date <= discharge_date and close_date null or later).
-- Definition (30-day all-cause unplanned readmission rate, same cohort and label as
-- features.readmission_stay, see features__readmission_label.sql):
--   denominator  observable_index_stays: index stays (acute stays discharged before $as_of,
--                excluding died '20', left against medical advice '07' and transfers '02')
--                whose 30-day window has closed (discharge_date + 30 < $as_of)
--   numerator    readmissions: those with any unplanned (admit type <> '3') acute admission
--                starting 1-30 days after discharge
--   rate         readmissions / observable_index_stays (NULL when the denominator is 0)
--   index_stays  counts all index stays, unobservable ones too; excluded stays are reported in
--                excluded_died / excluded_ama / excluded_transfer and never enter the rate.
-- month_complete_flag  1 when the discharge month and the month after it (where the 30-day
--                window ends) are complete in claims and eligibility (features.coverage: not still
--                running out); 0 marks a rate that may drop only because claims are still arriving.
CREATE OR REPLACE TABLE marts.kpi_readmission_monthly AS
WITH monthly AS (
    SELECT
        CAST(date_trunc('month', discharge_date) AS DATE) AS discharge_month,
        in_case_management_flag,
        CAST(count(*) FILTER (WHERE exclusion_reason IS NULL) AS BIGINT) AS index_stays,
        CAST(count(*) FILTER (WHERE exclusion_reason IS NULL AND readmit_30d IS NOT NULL) AS BIGINT) AS observable_index_stays,
        CAST(coalesce(sum(readmit_30d) FILTER (WHERE exclusion_reason IS NULL), 0) AS BIGINT) AS readmissions,
        CAST(sum(readmit_30d) FILTER (WHERE exclusion_reason IS NULL) AS DOUBLE)
            / nullif(count(*) FILTER (WHERE exclusion_reason IS NULL AND readmit_30d IS NOT NULL), 0) AS readmission_rate,
        CAST(count(*) FILTER (WHERE exclusion_reason = 'died') AS BIGINT) AS excluded_died,
        CAST(count(*) FILTER (WHERE exclusion_reason = 'ama') AS BIGINT) AS excluded_ama,
        CAST(count(*) FILTER (WHERE exclusion_reason = 'transfer') AS BIGINT) AS excluded_transfer
    FROM _readmission_label
    GROUP BY ALL
)
SELECT
    m.*,
    CAST(coalesce((SELECT count(*) = 2 AND bool_and(c.month_complete_flag = 1) FROM _month_complete AS c
        WHERE c.month IN (m.discharge_month, CAST(m.discharge_month + INTERVAL 1 MONTH AS DATE))), false) AS INTEGER)
        AS month_complete_flag,
    CAST($as_of AS DATE) AS as_of_date
FROM monthly AS m
ORDER BY discharge_month, in_case_management_flag
