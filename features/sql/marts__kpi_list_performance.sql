-- marts.kpi_list_performance
-- memory: grows with the members on earlier intake lists (capacity-sized), not with members.
-- Grain: one row per earlier intake list (list_as_of_date x score_name in marts.intake_list_history)
-- whose 30-day follow-up window has closed (list_as_of_date + 30 <= $as_of).
-- How the list performed: denominator members listed; numerator those with an unplanned acute
--   admission (core.inpatient_stay, planned_flag = 0: not planned by the CMS Planned Readmission
--   Algorithm, the rule of the readmission label) starting in
--   [list_as_of_date, list_as_of_date + 30); event_rate = numerator / denominator; expected_events =
--   sum of the listed calibrated scores (for the readmission score, the expected count).
--   Also split by whether the member had a case opened within 30 days of the list (outreach took).
CREATE OR REPLACE TABLE marts.kpi_list_performance AS
WITH lists AS (
    SELECT * FROM marts.intake_list_history WHERE list_as_of_date + 30 <= $as_of
),
events AS (
    SELECT DISTINCT l.list_as_of_date, l.score_name, l.person_id
    FROM lists AS l
    JOIN core.inpatient_stay AS s
        ON s.person_id = l.person_id
       AND coalesce(s.planned_flag, 0) = 0
       AND s.admission_date >= l.list_as_of_date
       AND s.admission_date < l.list_as_of_date + 30
),
opened AS (
    SELECT DISTINCT l.list_as_of_date, l.score_name, l.person_id
    FROM lists AS l
    JOIN raw.cm_case AS c
        ON c.person_id = l.person_id AND c.open_date >= l.list_as_of_date AND c.open_date < l.list_as_of_date + 30
)
SELECT
    l.list_as_of_date, l.score_name,
    CAST(count(*) AS BIGINT) AS listed,
    CAST(count(e.person_id) AS BIGINT) AS listed_with_event,
    CAST(count(e.person_id) AS DOUBLE) / count(*) AS event_rate,
    sum(l.score) AS expected_events,
    CAST(count(o.person_id) AS BIGINT) AS listed_case_opened,
    CAST(count(*) FILTER (WHERE o.person_id IS NOT NULL AND e.person_id IS NOT NULL) AS BIGINT) AS case_opened_with_event,
    CAST($as_of AS DATE) AS as_of_date
FROM lists AS l
LEFT JOIN events AS e USING (list_as_of_date, score_name, person_id)
LEFT JOIN opened AS o USING (list_as_of_date, score_name, person_id)
GROUP BY l.list_as_of_date, l.score_name
ORDER BY l.list_as_of_date, l.score_name
