-- features.program_effect_lottery (SELECT only; read by models.program_effect.lottery_effects)
-- Grain: one row per lottery band member and round (assignment_date, person_id, program) in the
-- temp table _lottery_assignment (raw.cm_intake_assignment and/or marts.intake_assignment, rows with
-- lottery_band_flag = 1) whose $window_days-day window closed before $as_of
-- (assignment_date + $window_days < $as_of).
-- Outcomes, from the assignment date (intention to treat: whether or not the member enrolled):
--   admissions_180d     unplanned acute admissions (core.inpatient_stay.planned_flag = 0) starting in
--                       (assignment_date, assignment_date + $window_days]
--   any_admission_180d  1 when there is at least one
-- offered_flag is the randomised arm; lottery_seed and assignment_date identify the round.
WITH band AS (
    SELECT DISTINCT assignment_date, person_id, program, offered_flag, lottery_seed
    FROM _lottery_assignment
    WHERE lottery_band_flag = 1
      AND assignment_date + $window_days < $as_of
)
SELECT
    b.assignment_date,
    b.person_id,
    b.program,
    CAST(b.offered_flag AS INTEGER) AS offered_flag,
    b.lottery_seed,
    CAST(count(s.stay_id) AS DOUBLE) AS admissions_180d,
    CAST(count(s.stay_id) > 0 AS DOUBLE) AS any_admission_180d
FROM band AS b
LEFT JOIN core.inpatient_stay AS s
    ON s.person_id = b.person_id
   AND s.planned_flag = 0
   AND s.admission_date > b.assignment_date
   AND s.admission_date <= b.assignment_date + $window_days
GROUP BY ALL
ORDER BY b.assignment_date, b.program, b.person_id
