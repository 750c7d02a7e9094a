-- audit.month_coverage (SELECT only; features.coverage.month_coverage runs it over the temp views
-- _coverage_claims (person_id, start_date, end_date, paid_amount) and _coverage_eligibility
-- (person_id, enrollment_start_date, enrollment_end_date) that it creates over the caller's
-- relations, so it reads raw tables and landing files alike).
-- Grain: one row per calendar month from the first to the last month with a claim line (by
-- start_date, the service month).
-- Eligibility: member_months = members with an enrolment span overlapping the month;
--   month_end_members = enrolled on its last day; next_month_start_members = enrolled on the first
--   day of the next month (the as-of a month's end suggests); enrolled_through_date = the last day of
--   the month anyone is enrolled.
-- Claims: claim_lines and paid_amount with service start in the month, per member-month; the
--   baseline is the mean per-member-month figure of the up to $baseline_months preceding months that
--   have members (baseline_months_used says how many), and lines_ratio / paid_ratio compare the month
--   with it. paid_ratio is NULL when the baseline paid nothing (sources without amounts).
-- last_service_date: the latest end_date (else start_date) of the month's claim lines.
-- The completeness verdict is features.coverage.judge_months (polars), which documents the rule.
WITH claims AS (
    SELECT
        CAST(date_trunc('month', start_date) AS DATE) AS month,
        CAST(count(*) AS BIGINT) AS claim_lines,
        coalesce(sum(paid_amount), 0.0) AS paid_amount,
        max(coalesce(end_date, start_date)) AS last_service_date
    FROM _coverage_claims
    WHERE start_date IS NOT NULL
    GROUP BY 1
),
spine AS (
    SELECT
        CAST(m AS DATE) AS month,
        CAST(m + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE) AS month_end,
        CAST(m + INTERVAL 1 MONTH AS DATE) AS next_start
    FROM generate_series(
        (SELECT min(month) FROM claims), (SELECT max(month) FROM claims), INTERVAL 1 MONTH
    ) AS t(m)
),
spans AS (
    SELECT person_id, enrollment_start_date AS s, enrollment_end_date AS e
    FROM _coverage_eligibility
    WHERE person_id IS NOT NULL AND enrollment_start_date IS NOT NULL AND enrollment_end_date IS NOT NULL
      AND enrollment_start_date <= enrollment_end_date
),
enrolled AS (
    SELECT
        sp.month,
        CAST(count(DISTINCT e.person_id) AS BIGINT) AS member_months,
        CAST(count(DISTINCT e.person_id) FILTER (WHERE e.e >= sp.month_end) AS BIGINT) AS month_end_members,
        max(least(e.e, sp.month_end)) AS enrolled_through_date
    FROM spine AS sp
    JOIN spans AS e ON e.s <= sp.month_end AND e.e >= sp.month
    GROUP BY sp.month
),
next_enrolled AS (
    SELECT sp.month, CAST(count(DISTINCT e.person_id) AS BIGINT) AS next_month_start_members
    FROM spine AS sp
    JOIN spans AS e ON e.s <= sp.next_start AND e.e >= sp.next_start
    GROUP BY sp.month
),
monthly AS (
    SELECT
        sp.month,
        coalesce(en.member_months, 0) AS member_months,
        coalesce(en.month_end_members, 0) AS month_end_members,
        coalesce(nx.next_month_start_members, 0) AS next_month_start_members,
        en.enrolled_through_date,
        coalesce(c.claim_lines, 0) AS claim_lines,
        coalesce(c.paid_amount, 0.0) AS paid_amount,
        c.last_service_date,
        CAST(coalesce(c.claim_lines, 0) AS DOUBLE) / nullif(en.member_months, 0) AS lines_pmm,
        coalesce(c.paid_amount, 0.0) / nullif(en.member_months, 0) AS paid_pmm
    FROM spine AS sp
    LEFT JOIN enrolled AS en ON en.month = sp.month
    LEFT JOIN next_enrolled AS nx ON nx.month = sp.month
    LEFT JOIN claims AS c ON c.month = sp.month
),
baseline AS (
    SELECT
        *,
        -- avg/count skip the NULL per-member-month figures of months without members
        avg(lines_pmm) OVER w AS baseline_lines_pmm,
        avg(paid_pmm) OVER w AS baseline_paid_pmm,
        CAST(count(lines_pmm) OVER w AS INTEGER) AS baseline_months_used
    FROM monthly
    WINDOW w AS (ORDER BY month ROWS BETWEEN $baseline_months PRECEDING AND 1 PRECEDING)
)
SELECT
    month, member_months, month_end_members, next_month_start_members, enrolled_through_date,
    claim_lines, round(paid_amount, 2) AS paid_amount, last_service_date,
    lines_pmm, paid_pmm, baseline_lines_pmm, baseline_paid_pmm, baseline_months_used,
    lines_pmm / nullif(baseline_lines_pmm, 0) AS lines_ratio,
    paid_pmm / nullif(baseline_paid_pmm, 0) AS paid_ratio
FROM baseline
ORDER BY month
