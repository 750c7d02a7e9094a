-- features.program_effect_cohort (SELECT only; run into the temp table _program_effect_cohort by
-- models.program_effect.build_program_effect_cohort). The target trial that marts.program_effect
-- emulates: eligibility, time zero, treatment and outcomes are defined here once.
-- Grain: one row per index stay of features.readmission_stay (alive, not AMA, not transferred, enrolled
-- for the 30 days after discharge: features__readmission_label.sql) with discharge_date + 30 < $as_of,
-- and (for scoring the expected benefit of enrolling now, models.benefit) the stays discharged in
-- [$recent_from, $as_of), whose outcomes are all NULL; $recent_from = $as_of adds none.
-- Time zero: the discharge_date of the index stay (the decision point: refer or not).
-- Eligible: the member is not opted out of outreach on an enrolment span covering the discharge
--   (opted_out_flag) and was not already in a program when admitted (already_enrolled_flag: a case
--   with open_date < admission_date and close_date null or > admission_date; such a member was picked
--   at an earlier decision point, so this discharge is no decision to enrol: a new-user design).
--   Ineligible rows are returned, flagged, so their counts are visible; estimates leave them out.
-- Treatment (enrolled at time zero, grace period $grace_days days): a raw.cm_case of the member with
--   open_date not null, referral_date <= discharge_date + $grace_days, open_date <= discharge_date +
--   $grace_days and (close_date null or close_date > discharge_date). enrolled_programs lists the
--   distinct programs of such cases (a stay can count for several); enrolled_flag = any of them.
-- Outcomes, counted from time zero (window (discharge_date, end], admissions and visits before $as_of);
--   NULL when the window has not closed before $as_of:
--   readmit_30d        the readmission label: an unplanned acute admission 1-30 days after discharge
--   readmit_180d       an unplanned acute admission (core.inpatient_stay.planned_flag = 0) 1-180 days
--                      after discharge; also NULL when the member has enrolment rows that do not cover
--                      the 180 days and did not die within them (admissions after leaving are unseen)
--   admissions_6m/12m  unplanned acute admissions starting in the 6 / 12 calendar months after
--                      discharge, per member-month enrolled in the window
--   ed_visits_6m/12m   distinct ED visit dates (medical claims with revenue 045x, POS 23 or CPT
--                      99281-99285, not an inpatient bill; or raw.encounter type 'emergency'), same
--                      windows, per member-month
--   paid_6m/12m        paid_amount of raw.medical_claim (claim_start_date) + raw.pharmacy_claim
--                      (dispensing_date) in the window, per member-month
--   member_months_6m/12m  days of the window covered by an enrolment span (ending at death), capped at
--                      the window, / 30.4375; the whole window for a member with no enrolment row at
--                      all (EHR-only sources, as the readmission label does). A rate is NULL when its
--                      member-months are 0.
-- Before time zero (the descriptive pre/post comparison only, never a confounder of the estimate):
--   admissions_pre_6m  unplanned acute admissions starting in [discharge_date - 6 months,
--                      discharge_date] (the index admission counts when unplanned, as a program's own
--                      before/after report would count it), per member-month enrolled in that window.
-- Confounders, all known at discharge: every column of features.readmission_stay except the
--   identifiers, the label and open_cm_case_flag (a case open at discharge is part of the treatment,
--   not a confounder; features__readmission_stay.sql), and
--   medicaid_flag / medicare_flag      payer_type of the enrolment span covering the discharge
--   prior_ip_admissions_30d/90d/730d   acute admissions starting in the 30 / 90 / 730 days before the
--                                      index admission
--   prior_unplanned_discharges_180d    unplanned stays (planned_flag = 0) discharged in the 180 days
--                                      before it (prior_ip_stays_180d also counts planned ones)
--   emergency_admission_type_flag      UB-04 type of admission '1' emergency (emergency_admit_flag
--                                      also counts '2' urgent)
--   ed_visits_30d / ed_visits_365d     distinct ED visit dates (as above) in the 30 / 365 days before it
--   office_visits_365d                 distinct office/telehealth visit dates (the readmission features'
--                                      office definition) in the 365 days before the index admission
--   elixhauser_count / _vw_index       Elixhauser comorbidities (Quan 2005 ICD-10 codes, temp table
--                                      _ref_elixhauser; one per hierarchy group) coded in core.diagnosis
--                                      in the 365 days up to discharge, and their van Walraven score
WITH idx AS (
    SELECT stay_id, person_id, admission_date, discharge_date, readmit_30d
    FROM features.readmission_stay
    WHERE discharge_date + 30 < $as_of
       OR (discharge_date >= $recent_from AND discharge_date < $as_of)
),
windows AS (
    SELECT
        stay_id, person_id, discharge_date,
        discharge_date + 180 AS end_180d,
        CAST(discharge_date + INTERVAL 6 MONTH AS DATE) AS end_6m,
        CAST(discharge_date + INTERVAL 12 MONTH AS DATE) AS end_12m,
        CAST(discharge_date - INTERVAL 6 MONTH AS DATE) AS start_pre_6m
    FROM idx
),
ed_dates AS (
    SELECT DISTINCT person_id, visit_date FROM (
        SELECT person_id, claim_start_date AS visit_date
        FROM raw.medical_claim
        WHERE (revenue_center_code LIKE '045%'
               OR place_of_service_code = '23'
               OR hcpcs_code IN ('99281', '99282', '99283', '99284', '99285'))
          AND coalesce(bill_type_code, '') NOT LIKE '011%'
        UNION ALL
        SELECT person_id, encounter_start_date FROM raw.encounter WHERE encounter_type = 'emergency'
    )
),
already_enrolled AS (
    -- in a program when admitted: picked at an earlier decision point, not at this discharge
    SELECT DISTINCT i.stay_id
    FROM idx AS i
    JOIN raw.cm_case AS c
        ON c.person_id = i.person_id
       AND c.open_date IS NOT NULL
       AND c.open_date < i.admission_date
       AND (c.close_date IS NULL OR c.close_date > i.admission_date)
),
covering_span AS (
    SELECT i.stay_id, arg_max(e.payer_type, e.enrollment_start_date) AS payer_type
    FROM idx AS i
    JOIN raw.eligibility AS e
        ON e.person_id = i.person_id
       AND e.enrollment_start_date <= i.discharge_date
       AND e.enrollment_end_date >= i.discharge_date
    GROUP BY i.stay_id
),
history AS (
    -- utilisation before the index admission, beyond the readmission features' windows
    SELECT
        i.stay_id,
        count(DISTINCT s.stay_id) FILTER (WHERE s.admission_date >= i.admission_date - 30) AS ip_30d,
        count(DISTINCT s.stay_id) FILTER (WHERE s.admission_date >= i.admission_date - 90) AS ip_90d,
        count(DISTINCT s.stay_id) AS ip_730d,
        count(DISTINCT s.stay_id) FILTER (WHERE s.planned_flag = 0 AND s.discharge_date >= i.admission_date - 180)
            AS unplanned_180d
    FROM idx AS i
    JOIN core.inpatient_stay AS s
        ON s.person_id = i.person_id
       AND s.admission_date < i.admission_date
       AND s.admission_date >= i.admission_date - 730
    GROUP BY i.stay_id
),
ed_history AS (
    SELECT
        i.stay_id,
        count(*) FILTER (WHERE v.visit_date >= i.admission_date - 30) AS ed_30d,
        count(*) AS ed_365d
    FROM idx AS i
    JOIN ed_dates AS v
        ON v.person_id = i.person_id
       AND v.visit_date < i.admission_date
       AND v.visit_date >= i.admission_date - 365
    GROUP BY i.stay_id
),
elix_code AS (
    SELECT c.icd10cm_code, r.hierarchy_group, r.hierarchy_rank, r.vw_weight
    FROM (SELECT DISTINCT icd10cm_code FROM core.diagnosis WHERE icd10cm_code IS NOT NULL) AS c
    JOIN _ref_elixhauser AS r ON regexp_matches(c.icd10cm_code, r.pattern)
),
elix_diagnosis AS (
    -- diagnosis rows with an Elixhauser code only (the join below drops every other row), not
    -- de-duplicated: a repeated (member, date, code) row changes no hierarchy group's arg_max, and a
    -- DISTINCT over every diagnosis row (3M groups at 200k members) was two thirds of this statement's time
    SELECT d.person_id, d.diagnosis_date, d.icd10cm_code
    FROM core.diagnosis AS d
    SEMI JOIN (SELECT DISTINCT icd10cm_code FROM elix_code) AS c ON c.icd10cm_code = d.icd10cm_code
),
elixhauser AS (
    -- Elixhauser comorbidities (Quan 2005 codes, van Walraven weights; the temp table _ref_elixhauser)
    -- coded in the 365 days before discharge, one per hierarchy group
    SELECT stay_id, count(*) AS elix_n, sum(vw_weight) AS elix_vw
    FROM (
        SELECT i.stay_id, r.hierarchy_group, arg_max(r.vw_weight, r.hierarchy_rank) AS vw_weight
        FROM idx AS i
        JOIN elix_diagnosis AS d
            ON d.person_id = i.person_id
           AND d.diagnosis_date <= i.discharge_date
           AND d.diagnosis_date > i.discharge_date - 365
        JOIN elix_code AS r ON r.icd10cm_code = d.icd10cm_code
        GROUP BY ALL
    )
    GROUP BY stay_id
),
office_history AS (
    -- distinct office or telehealth visit dates (the readmission features' place-of-service and E/M
    -- codes; any claim type, inpatient bills left out) in the 365 days before the index admission:
    -- how much usual-source care the member has
    SELECT i.stay_id, count(DISTINCT v.visit_date) AS office_365d
    FROM idx AS i
    JOIN (
        SELECT person_id, claim_start_date AS visit_date
        FROM raw.medical_claim
        WHERE (place_of_service_code IN ('11', '02', '10', '49', '50', '71', '72')
               OR hcpcs_code IN ('99202', '99203', '99204', '99205', '99211', '99212', '99213',
                                 '99214', '99215', '99495', '99496'))
          AND coalesce(bill_type_code, '') NOT LIKE '011%'
        UNION ALL
        SELECT person_id, encounter_start_date FROM raw.encounter WHERE encounter_type IN ('office', 'telehealth')
    ) AS v
        ON v.person_id = i.person_id
       AND v.visit_date < i.admission_date
       AND v.visit_date >= i.admission_date - 365
    GROUP BY i.stay_id
),
opted_out AS (
    SELECT DISTINCT i.stay_id
    FROM idx AS i
    JOIN raw.eligibility AS e
        ON e.person_id = i.person_id
       AND e.enrollment_start_date <= i.discharge_date
       AND e.enrollment_end_date >= i.discharge_date
       AND coalesce(e.outreach_opt_out_flag, 0) = 1
),
treated AS (
    SELECT i.stay_id, list(DISTINCT c.program ORDER BY c.program) AS enrolled_programs
    FROM idx AS i
    JOIN raw.cm_case AS c
        ON c.person_id = i.person_id
       AND c.open_date IS NOT NULL
       AND c.referral_date <= i.discharge_date + $grace_days
       AND c.open_date <= i.discharge_date + $grace_days
       AND (c.close_date IS NULL OR c.close_date > i.discharge_date)
    GROUP BY i.stay_id
),
admissions AS (
    SELECT
        w.stay_id,
        count(*) FILTER (WHERE s.admission_date > w.discharge_date AND s.admission_date <= w.end_180d) AS n_180d,
        count(*) FILTER (WHERE s.admission_date > w.discharge_date AND s.admission_date <= w.end_6m) AS n_6m,
        count(*) FILTER (WHERE s.admission_date > w.discharge_date AND s.admission_date <= w.end_12m) AS n_12m,
        count(*) FILTER (WHERE s.admission_date <= w.discharge_date) AS n_pre_6m
    FROM windows AS w
    JOIN core.inpatient_stay AS s
        ON s.person_id = w.person_id
       AND s.planned_flag = 0
       AND s.admission_date >= w.start_pre_6m
       AND s.admission_date <= w.end_12m
       AND s.admission_date < $as_of
    GROUP BY w.stay_id
),
ed AS (
    SELECT
        w.stay_id,
        count(*) FILTER (WHERE v.visit_date <= w.end_6m) AS n_6m,
        count(*) AS n_12m
    FROM windows AS w
    JOIN ed_dates AS v
        ON v.person_id = w.person_id
       AND v.visit_date > w.discharge_date
       AND v.visit_date <= w.end_12m
       AND v.visit_date < $as_of
    GROUP BY w.stay_id
),
paid_events AS (
    SELECT person_id, claim_start_date AS paid_date, paid_amount FROM raw.medical_claim
    UNION ALL
    SELECT person_id, dispensing_date, paid_amount FROM raw.pharmacy_claim
),
paid AS (
    SELECT
        w.stay_id,
        coalesce(sum(p.paid_amount) FILTER (WHERE p.paid_date <= w.end_6m), 0) AS paid_6m,
        coalesce(sum(p.paid_amount), 0) AS paid_12m
    FROM windows AS w
    JOIN paid_events AS p
        ON p.person_id = w.person_id
       AND p.paid_date > w.discharge_date
       AND p.paid_date <= w.end_12m
       AND p.paid_date < $as_of
    GROUP BY w.stay_id
),
spans AS (
    SELECT w.*, e.person_id AS span_person_id, e.enrollment_start_date AS span_start,
           least(e.enrollment_end_date, coalesce(e.death_date, e.enrollment_end_date)) AS span_end,
           e.death_date
    FROM windows AS w
    LEFT JOIN raw.eligibility AS e ON e.person_id = w.person_id
),
enrolment AS (
    -- covered days per window: the overlap of each span with [first, last] of the window
    SELECT
        stay_id,
        count(span_person_id) AS n_spans,
        coalesce(sum(greatest(0, date_diff('day', greatest(span_start, discharge_date + 1),
                                                  least(span_end, end_180d)) + 1)), 0) AS days_180d,
        coalesce(sum(greatest(0, date_diff('day', greatest(span_start, discharge_date + 1),
                                                  least(span_end, end_6m)) + 1)), 0) AS days_6m,
        coalesce(sum(greatest(0, date_diff('day', greatest(span_start, discharge_date + 1),
                                                  least(span_end, end_12m)) + 1)), 0) AS days_12m,
        coalesce(sum(greatest(0, date_diff('day', greatest(span_start, start_pre_6m),
                                                  least(span_end, discharge_date)) + 1)), 0) AS days_pre_6m,
        max(CASE WHEN death_date IS NOT NULL AND death_date <= end_180d THEN 1 ELSE 0 END) AS died_180d
    FROM spans
    GROUP BY stay_id
),
exposure AS (
    SELECT
        w.stay_id, w.discharge_date, w.end_180d, w.end_6m, w.end_12m, en.n_spans, en.days_180d, en.died_180d,
        CASE WHEN en.n_spans = 0 THEN date_diff('day', w.discharge_date, w.end_6m)
             ELSE least(en.days_6m, date_diff('day', w.discharge_date, w.end_6m)) END / 30.4375 AS member_months_6m,
        CASE WHEN en.n_spans = 0 THEN date_diff('day', w.discharge_date, w.end_12m)
             ELSE least(en.days_12m, date_diff('day', w.discharge_date, w.end_12m)) END / 30.4375 AS member_months_12m,
        CASE WHEN en.n_spans = 0 THEN date_diff('day', w.start_pre_6m, w.discharge_date) + 1
             ELSE least(en.days_pre_6m, date_diff('day', w.start_pre_6m, w.discharge_date) + 1) END / 30.4375
            AS member_months_pre_6m
    FROM windows AS w
    JOIN enrolment AS en ON en.stay_id = w.stay_id
)
SELECT
    i.stay_id,
    i.person_id,
    i.discharge_date,
    CAST($as_of AS DATE) AS as_of_date,
    CAST(o.stay_id IS NOT NULL AS INTEGER) AS opted_out_flag,
    CAST(ae.stay_id IS NOT NULL AS INTEGER) AS already_enrolled_flag,
    coalesce(t.enrolled_programs, CAST([] AS VARCHAR[])) AS enrolled_programs,
    CAST(t.stay_id IS NOT NULL AS INTEGER) AS enrolled_flag,
    CAST(i.readmit_30d AS DOUBLE) AS readmit_30d,
    CAST(CASE
        WHEN x.end_180d >= $as_of THEN NULL
        WHEN x.n_spans > 0 AND x.days_180d < 180 AND x.died_180d = 0 THEN NULL
        ELSE coalesce(a.n_180d, 0) > 0
    END AS DOUBLE) AS readmit_180d,
    CASE WHEN x.end_6m < $as_of AND x.member_months_6m > 0
         THEN coalesce(a.n_6m, 0) / x.member_months_6m END AS admissions_6m,
    CASE WHEN x.end_12m < $as_of AND x.member_months_12m > 0
         THEN coalesce(a.n_12m, 0) / x.member_months_12m END AS admissions_12m,
    CASE WHEN x.end_6m < $as_of AND x.member_months_6m > 0
         THEN coalesce(ed.n_6m, 0) / x.member_months_6m END AS ed_visits_6m,
    CASE WHEN x.end_12m < $as_of AND x.member_months_12m > 0
         THEN coalesce(ed.n_12m, 0) / x.member_months_12m END AS ed_visits_12m,
    CASE WHEN x.end_6m < $as_of AND x.member_months_6m > 0
         THEN coalesce(p.paid_6m, 0) / x.member_months_6m END AS paid_6m,
    CASE WHEN x.end_12m < $as_of AND x.member_months_12m > 0
         THEN coalesce(p.paid_12m, 0) / x.member_months_12m END AS paid_12m,
    x.member_months_6m,
    x.member_months_12m,
    CASE WHEN x.member_months_pre_6m > 0 THEN coalesce(a.n_pre_6m, 0) / x.member_months_pre_6m END
        AS admissions_pre_6m,
    x.member_months_pre_6m,
    CAST(cs.payer_type = 'medicaid' AS DOUBLE) AS medicaid_flag,
    CAST(cs.payer_type = 'medicare' AS DOUBLE) AS medicare_flag,
    CAST(coalesce(h.ip_30d, 0) AS DOUBLE) AS prior_ip_admissions_30d,
    CAST(coalesce(h.ip_90d, 0) AS DOUBLE) AS prior_ip_admissions_90d,
    CAST(coalesce(h.ip_730d, 0) AS DOUBLE) AS prior_ip_admissions_730d,
    CAST(coalesce(h.unplanned_180d, 0) AS DOUBLE) AS prior_unplanned_discharges_180d,
    CAST(st.admit_type_code = '1' AS DOUBLE) AS emergency_admission_type_flag,
    CAST(coalesce(eh.ed_30d, 0) AS DOUBLE) AS ed_visits_30d,
    CAST(coalesce(eh.ed_365d, 0) AS DOUBLE) AS ed_visits_365d,
    CAST(coalesce(el.elix_n, 0) AS DOUBLE) AS elixhauser_count,
    CAST(coalesce(el.elix_vw, 0) AS DOUBLE) AS elixhauser_vw_index,
    CAST(coalesce(oh.office_365d, 0) AS DOUBLE) AS office_visits_365d,
    r.* EXCLUDE (stay_id, person_id, admission_date, discharge_date, readmit_30d, open_cm_case_flag)
FROM idx AS i
JOIN exposure AS x ON x.stay_id = i.stay_id
JOIN features.readmission_stay AS r ON r.stay_id = i.stay_id
LEFT JOIN opted_out AS o ON o.stay_id = i.stay_id
LEFT JOIN already_enrolled AS ae ON ae.stay_id = i.stay_id
LEFT JOIN covering_span AS cs ON cs.stay_id = i.stay_id
LEFT JOIN history AS h ON h.stay_id = i.stay_id
LEFT JOIN core.inpatient_stay AS st ON st.stay_id = i.stay_id
LEFT JOIN ed_history AS eh ON eh.stay_id = i.stay_id
LEFT JOIN elixhauser AS el ON el.stay_id = i.stay_id
LEFT JOIN office_history AS oh ON oh.stay_id = i.stay_id
LEFT JOIN treated AS t ON t.stay_id = i.stay_id
LEFT JOIN admissions AS a ON a.stay_id = i.stay_id
LEFT JOIN ed ON ed.stay_id = i.stay_id
LEFT JOIN paid AS p ON p.stay_id = i.stay_id
ORDER BY i.discharge_date, i.stay_id
