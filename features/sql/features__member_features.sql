-- features.member_features
-- Grain: one row per person_id and as_of_date (the cohort _member_cohort: enrolled on as_of_date,
-- alive before it; see features__member_cohort.sql for the windows).
-- Point in time: every feature reads only events dated strictly before as_of_date, in half-open
-- windows [as_of_date - N, as_of_date); claims also need claim_end_date < as_of_date and stays
-- discharge_date < as_of_date (a stay still open at as_of_date is not yet known). Labels read only
-- [as_of_date, label_end_date).
-- Labels (NULL when label_complete_flag = 0: the 12-month window is not complete in the data):
--   allowed_amount_next_12m        medical (claim_start_date in the window) + pharmacy (dispensing_date)
--                                  allowed amount; members who die or leave keep their partial amount
--   high_need_cost_12m             1 for the top 5% of allowed_amount_next_12m among the cohort of the
--                                  same as_of_date (ceil(0.05 n) members, ties broken by person_id)
--   unplanned_admissions_next_12m  acute stays admitted in the window and not planned (CMS planned
--                                  readmission algorithm, core.inpatient_stay.planned_flag)
--   ed_visits_next_12m             distinct ED visit dates in the window
--   high_need_utilization_12m      1 when unplanned_admissions_next_12m >= 2 or ed_visits_next_12m >= 4
--                                  (need that does not lean on spending)
--   prior_cost_12m                 baseline: allowed amount in the 365 days before as_of_date
-- Features: see features.dictionary (MEMBER_FEATURES) and docs/features.md. HCC scores come from the
-- temp table _member_hcc (hccinfhir); Charlson/Elixhauser from _ref_charlson/_ref_elixhauser.
CREATE OR REPLACE TABLE features.member_features AS
WITH c AS (
    SELECT * FROM _member_cohort
),
stay_feat AS (
    SELECT
        c.person_id, c.as_of_date,
        count(*) FILTER (WHERE s.admission_date >= c.d30_start) AS ip_30,
        count(*) FILTER (WHERE s.admission_date >= c.d90_start) AS ip_90,
        count(*) FILTER (WHERE s.admission_date >= c.d180_start) AS ip_180,
        count(*) FILTER (WHERE s.admission_date >= c.d365_start) AS ip_365,
        sum(greatest(0, date_diff('day', greatest(s.admission_date, c.d30_start), s.discharge_date))) AS bd_30,
        sum(greatest(0, date_diff('day', greatest(s.admission_date, c.d90_start), s.discharge_date))) AS bd_90,
        sum(greatest(0, date_diff('day', greatest(s.admission_date, c.d180_start), s.discharge_date))) AS bd_180,
        sum(greatest(0, date_diff('day', greatest(s.admission_date, c.d365_start), s.discharge_date))) AS bd_365
    FROM c
    JOIN core.inpatient_stay AS s
        ON s.person_id = c.person_id
       AND s.discharge_date < c.as_of_date
       AND s.discharge_date >= c.d365_start
    GROUP BY c.person_id, c.as_of_date
),
last_discharge AS (
    SELECT c.person_id, c.as_of_date, max(s.discharge_date) AS last_discharge_date
    FROM c
    JOIN core.inpatient_stay AS s ON s.person_id = c.person_id AND s.discharge_date < c.as_of_date
    GROUP BY c.person_id, c.as_of_date
),
ed_dates AS (
    SELECT DISTINCT person_id, claim_start_date AS visit_date, claim_end_date AS end_date
    FROM raw.medical_claim
    WHERE (revenue_center_code LIKE '045%'
           OR place_of_service_code = '23'
           OR hcpcs_code IN ('99281', '99282', '99283', '99284', '99285'))
      AND coalesce(bill_type_code, '') NOT LIKE '011%'
),
ed_feat AS (
    SELECT
        c.person_id, c.as_of_date,
        count(DISTINCT v.visit_date) FILTER (WHERE v.visit_date >= c.d30_start) AS ed_30,
        count(DISTINCT v.visit_date) FILTER (WHERE v.visit_date >= c.d90_start) AS ed_90,
        count(DISTINCT v.visit_date) FILTER (WHERE v.visit_date >= c.d180_start) AS ed_180,
        count(DISTINCT v.visit_date) AS ed_365
    FROM c
    JOIN ed_dates AS v
        ON v.person_id = c.person_id
       AND v.visit_date >= c.d365_start
       AND v.visit_date < c.as_of_date
       AND v.end_date < c.as_of_date
    GROUP BY c.person_id, c.as_of_date
),
office_dates AS (
    SELECT person_id, claim_start_date AS visit_date
    FROM raw.medical_claim
    WHERE claim_type = 'professional'
      AND (place_of_service_code IN ('11', '02', '10', '49', '50', '71', '72')
           OR hcpcs_code IN ('99202', '99203', '99204', '99205', '99211', '99212', '99213',
                             '99214', '99215', '99495', '99496'))
    UNION
    SELECT person_id, encounter_start_date
    FROM raw.encounter
    WHERE encounter_type IN ('office', 'telehealth')
),
office_feat AS (
    SELECT
        c.person_id, c.as_of_date,
        count(*) FILTER (WHERE o.visit_date >= c.d30_start) AS of_30,
        count(*) FILTER (WHERE o.visit_date >= c.d90_start) AS of_90,
        count(*) FILTER (WHERE o.visit_date >= c.d180_start) AS of_180,
        count(*) AS of_365
    FROM c
    JOIN office_dates AS o
        ON o.person_id = c.person_id AND o.visit_date >= c.d365_start AND o.visit_date < c.as_of_date
    GROUP BY c.person_id, c.as_of_date
),
followup AS (
    SELECT
        c.person_id, c.as_of_date,
        avg(CASE WHEN EXISTS (
                SELECT 1 FROM office_dates AS o
                WHERE o.person_id = s.person_id
                  AND o.visit_date > s.discharge_date
                  AND o.visit_date <= s.discharge_date + 7
            ) THEN 1.0 ELSE 0.0 END) AS rate
    FROM c
    JOIN core.inpatient_stay AS s
        ON s.person_id = c.person_id
       AND s.discharge_date >= c.d365_start
       AND s.discharge_date + 7 < c.as_of_date
       AND s.discharge_disposition_code NOT IN ('20')
    GROUP BY c.person_id, c.as_of_date
),
cost_events AS (
    SELECT person_id, claim_start_date AS cost_date, claim_end_date AS end_date, allowed_amount, 0 AS pharmacy
    FROM raw.medical_claim
    UNION ALL
    SELECT person_id, dispensing_date, dispensing_date, allowed_amount, 1 FROM raw.pharmacy_claim
),
cost_feat AS (
    SELECT
        c.person_id, c.as_of_date,
        sum(e.allowed_amount) FILTER (WHERE e.cost_date >= c.d90_start) AS cost_90,
        sum(e.allowed_amount) AS cost_365,
        sum(e.allowed_amount) FILTER (WHERE e.pharmacy = 1) AS rx_365,
        sum(e.allowed_amount) FILTER (WHERE e.cost_date >= c.d180_start) AS cost_last_180,
        sum(e.allowed_amount) FILTER (WHERE e.cost_date < c.d180_start) AS cost_prev_180
    FROM c
    JOIN cost_events AS e
        ON e.person_id = c.person_id
       AND e.cost_date >= c.d365_start
       AND e.cost_date < c.as_of_date
       AND e.end_date < c.as_of_date
    GROUP BY c.person_id, c.as_of_date
),
enrol AS (
    SELECT
        c.person_id, c.as_of_date,
        sum(greatest(0, date_diff('day', greatest(e.enrollment_start_date, c.d365_start),
                                  least(e.enrollment_end_date, c.as_of_date - 1)) + 1)) AS days
    FROM c
    JOIN raw.eligibility AS e
        ON e.person_id = c.person_id
       AND e.enrollment_start_date < c.as_of_date
       AND e.enrollment_end_date >= c.d365_start
    GROUP BY c.person_id, c.as_of_date
),
member_codes AS (
    SELECT DISTINCT c.person_id, c.as_of_date, d.icd10cm_code
    FROM c
    JOIN core.diagnosis AS d
        ON d.person_id = c.person_id
       AND d.diagnosis_date >= c.d365_start
       AND d.diagnosis_date < c.as_of_date
    WHERE d.icd10cm_code IS NOT NULL
),
distinct_codes AS (
    SELECT DISTINCT icd10cm_code FROM member_codes
),
charlson_code AS (
    SELECT d.icd10cm_code, r.family, r.weight
    FROM distinct_codes AS d JOIN _ref_charlson AS r ON regexp_matches(d.icd10cm_code, r.pattern)
),
charlson AS (
    SELECT person_id, as_of_date, sum(weight) AS score
    FROM (
        SELECT m.person_id, m.as_of_date, cc.family, max(cc.weight) AS weight
        FROM member_codes AS m JOIN charlson_code AS cc ON cc.icd10cm_code = m.icd10cm_code
        GROUP BY ALL
    )
    GROUP BY ALL
),
elix_code AS (
    SELECT d.icd10cm_code, r.category, r.hierarchy_group, r.hierarchy_rank, r.vw_weight
    FROM distinct_codes AS d JOIN _ref_elixhauser AS r ON regexp_matches(d.icd10cm_code, r.pattern)
),
elixhauser AS (
    SELECT person_id, as_of_date, sum(vw_weight) AS vw, count(*) AS n
    FROM (
        SELECT m.person_id, m.as_of_date, ec.hierarchy_group,
               arg_max(ec.vw_weight, ec.hierarchy_rank) AS vw_weight
        FROM member_codes AS m JOIN elix_code AS ec ON ec.icd10cm_code = m.icd10cm_code
        GROUP BY ALL
    )
    GROUP BY ALL
),
rx AS (
    SELECT
        c.person_id, c.as_of_date, p.drug_class, p.dispensing_date,
        least(p.dispensing_date + CAST(p.days_supply AS INTEGER), c.as_of_date) AS supply_end,
        CASE
            WHEN p.drug_class = 'statin' THEN 'statin'
            WHEN p.drug_class = 'ace_arb' THEN 'ras'
            WHEN p.drug_class IN ('metformin', 'sglt2') THEN 'diabetes'
        END AS pdc_group
    FROM c
    JOIN raw.pharmacy_claim AS p
        ON p.person_id = c.person_id
       AND p.dispensing_date >= c.d180_start
       AND p.dispensing_date < c.as_of_date
),
rx_feat AS (
    SELECT person_id, as_of_date, count(DISTINCT drug_class) AS n_classes
    FROM rx GROUP BY ALL
),
rx_ordered AS (
    SELECT
        *,
        max(supply_end) OVER (
            PARTITION BY person_id, as_of_date, pdc_group ORDER BY dispensing_date, supply_end
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS prev_end
    FROM rx
    WHERE pdc_group IS NOT NULL
),
rx_islands AS (
    SELECT
        *,
        sum(CASE WHEN prev_end IS NULL OR dispensing_date > prev_end THEN 1 ELSE 0 END) OVER (
            PARTITION BY person_id, as_of_date, pdc_group ORDER BY dispensing_date, supply_end
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS island
    FROM rx_ordered
),
rx_merged AS (
    SELECT person_id, as_of_date, pdc_group, min(dispensing_date) AS s, max(supply_end) AS e
    FROM rx_islands GROUP BY person_id, as_of_date, pdc_group, island
),
pdc AS (
    SELECT
        person_id, as_of_date,
        max(CASE WHEN pdc_group = 'statin' THEN ratio END) AS pdc_statin,
        max(CASE WHEN pdc_group = 'ras' THEN ratio END) AS pdc_ras,
        max(CASE WHEN pdc_group = 'diabetes' THEN ratio END) AS pdc_diabetes
    FROM (
        SELECT person_id, as_of_date, pdc_group,
               sum(date_diff('day', s, e)) / greatest(date_diff('day', min(s), any_value(as_of_date)), 1) AS ratio
        FROM rx_merged GROUP BY person_id, as_of_date, pdc_group
    )
    GROUP BY person_id, as_of_date
),
labs AS (
    SELECT
        c.person_id, c.as_of_date,
        arg_max(l.result_value, (l.result_date, l.lab_result_id)) FILTER (WHERE l.loinc_code = '718-7') AS hgb,
        arg_max(l.result_value, (l.result_date, l.lab_result_id)) FILTER (WHERE l.loinc_code = '2951-2') AS na,
        arg_max(l.result_value, (l.result_date, l.lab_result_id)) FILTER (WHERE l.loinc_code = '4548-4') AS a1c,
        arg_max(l.result_value, (l.result_date, l.lab_result_id))
            FILTER (WHERE l.loinc_code IN ('33914-3', '62238-1')) AS egfr
    FROM c
    JOIN raw.lab_result AS l
        ON l.person_id = c.person_id
       AND l.result_date >= c.d365_start
       AND l.result_date < c.as_of_date
       AND l.loinc_code IN ('718-7', '2951-2', '4548-4', '33914-3', '62238-1')
    GROUP BY c.person_id, c.as_of_date
),
sdoh_latest AS (
    SELECT
        c.person_id, c.as_of_date, s.domain,
        arg_max(s.positive_flag, (s.screening_date, s.screening_id)) AS positive
    FROM c
    JOIN raw.sdoh_screening AS s ON s.person_id = c.person_id AND s.screening_date < c.as_of_date
    GROUP BY c.person_id, c.as_of_date, s.domain
),
sdoh AS (
    SELECT
        person_id, as_of_date,
        max(positive) FILTER (WHERE domain = 'food_insecurity') AS food_insecurity,
        max(positive) FILTER (WHERE domain = 'housing_instability') AS housing_instability,
        max(positive) FILTER (WHERE domain = 'transportation') AS transportation,
        max(positive) FILTER (WHERE domain = 'utilities') AS utilities,
        max(positive) FILTER (WHERE domain = 'interpersonal_safety') AS interpersonal_safety,
        max(positive) FILTER (WHERE domain = 'financial_strain') AS financial_strain,
        max(positive) FILTER (WHERE domain = 'social_isolation') AS social_isolation,
        sum(positive) AS positive_domains
    FROM sdoh_latest
    GROUP BY person_id, as_of_date
),
cm AS (
    SELECT
        c.person_id, c.as_of_date,
        max(CASE WHEN k.open_date IS NOT NULL AND k.open_date < c.as_of_date
                  AND (k.close_date IS NULL OR k.close_date >= c.as_of_date) THEN 1 ELSE 0 END) AS open_flag,
        count(*) FILTER (WHERE k.referral_date >= c.d365_start) AS cases_365,
        count(*) FILTER (WHERE k.close_date >= c.d365_start AND k.close_date < c.as_of_date
                         AND k.close_reason IN ('declined', 'unable_to_reach')) AS declined_365,
        max(k.close_date) FILTER (WHERE k.close_date < c.as_of_date) AS last_close_date
    FROM c
    JOIN raw.cm_case AS k ON k.person_id = c.person_id AND k.referral_date < c.as_of_date
    GROUP BY c.person_id, c.as_of_date
),
cm_contacts AS (
    SELECT c.person_id, c.as_of_date, count(*) AS reached_90
    FROM c
    JOIN raw.cm_contact AS t
        ON t.person_id = c.person_id
       AND t.contact_date >= c.d90_start
       AND t.contact_date < c.as_of_date
       AND t.outcome = 'reached'
    GROUP BY c.person_id, c.as_of_date
),
next_cost AS (
    SELECT c.person_id, c.as_of_date, sum(e.allowed_amount) AS amount
    FROM c
    JOIN cost_events AS e
        ON e.person_id = c.person_id AND e.cost_date >= c.as_of_date AND e.cost_date < c.label_end_date
    GROUP BY c.person_id, c.as_of_date
),
next_adm AS (
    SELECT c.person_id, c.as_of_date, count(*) AS n
    FROM c
    JOIN core.inpatient_stay AS s
        ON s.person_id = c.person_id
       AND s.admission_date >= c.as_of_date
       AND s.admission_date < c.label_end_date
       AND s.planned_flag = 0
    GROUP BY c.person_id, c.as_of_date
),
next_ed AS (
    SELECT c.person_id, c.as_of_date, count(DISTINCT v.visit_date) AS n
    FROM c
    JOIN ed_dates AS v
        ON v.person_id = c.person_id AND v.visit_date >= c.as_of_date AND v.visit_date < c.label_end_date
    GROUP BY c.person_id, c.as_of_date
),
labelled AS (
    SELECT
        c.person_id, c.as_of_date, c.label_complete_flag,
        coalesce(nc.amount, 0) AS next_amount,
        coalesce(na.n, 0) AS next_adm,
        coalesce(ne.n, 0) AS next_ed,
        row_number() OVER (PARTITION BY c.as_of_date ORDER BY coalesce(nc.amount, 0) DESC, c.person_id) AS cost_rank,
        count(*) OVER (PARTITION BY c.as_of_date) AS cohort_size
    FROM c
    LEFT JOIN next_cost AS nc ON nc.person_id = c.person_id AND nc.as_of_date = c.as_of_date
    LEFT JOIN next_adm AS na ON na.person_id = c.person_id AND na.as_of_date = c.as_of_date
    LEFT JOIN next_ed AS ne ON ne.person_id = c.person_id AND ne.as_of_date = c.as_of_date
),
assembled AS (
    SELECT
        c.person_id,
        c.as_of_date,
        CASE WHEN lb.label_complete_flag = 1
             THEN CAST(lb.cost_rank <= ceil(0.05 * lb.cohort_size) AS INTEGER) END AS high_need_cost_12m,
        CASE WHEN lb.label_complete_flag = 1
             THEN CAST(lb.next_adm >= 2 OR lb.next_ed >= 4 AS INTEGER) END AS high_need_utilization_12m,
        CASE WHEN lb.label_complete_flag = 1 THEN CAST(lb.next_amount AS DOUBLE) END AS allowed_amount_next_12m,
        CASE WHEN lb.label_complete_flag = 1 THEN CAST(lb.next_adm AS INTEGER) END AS unplanned_admissions_next_12m,
        CASE WHEN lb.label_complete_flag = 1 THEN CAST(lb.next_ed AS INTEGER) END AS ed_visits_next_12m,
        CAST(coalesce(co.cost_365, 0) AS DOUBLE) AS prior_cost_12m,
        coalesce(c.gender, 'unknown') AS sex,
        age_band(c.birth_date, c.as_of_date) AS age_band,
        coalesce(c.race, 'unknown') AS race,
        coalesce(c.ethnicity, 'unknown') AS ethnicity,
        svi_quartile(sv.svi_overall) AS svi_quartile,
        CAST(date_sub('year', c.birth_date, c.as_of_date) AS DOUBLE) AS age_years,
        CAST(CASE c.gender WHEN 'female' THEN 1 WHEN 'male' THEN 0 END AS DOUBLE) AS female_flag,
        CAST(CASE WHEN coalesce(c.dual_status_code, '00') <> '00' THEN 1 ELSE 0 END AS DOUBLE) AS dual_flag,
        CAST(c.payer_type = 'medicaid' AS DOUBLE) AS medicaid_flag,
        CAST(c.payer_type = 'medicare' AS DOUBLE) AS medicare_flag,
        CAST(coalesce(en.days, 0) AS DOUBLE) AS enrolled_days_365d,
        CAST(coalesce(st.ip_30, 0) AS DOUBLE) AS ip_admissions_30d,
        CAST(coalesce(ed.ed_30, 0) AS DOUBLE) AS ed_visits_30d,
        CAST(coalesce(st.bd_30, 0) AS DOUBLE) AS bed_days_30d,
        CAST(coalesce(of.of_30, 0) AS DOUBLE) AS office_visits_30d,
        CAST(coalesce(st.ip_90, 0) AS DOUBLE) AS ip_admissions_90d,
        CAST(coalesce(ed.ed_90, 0) AS DOUBLE) AS ed_visits_90d,
        CAST(coalesce(st.bd_90, 0) AS DOUBLE) AS bed_days_90d,
        CAST(coalesce(of.of_90, 0) AS DOUBLE) AS office_visits_90d,
        CAST(coalesce(st.ip_180, 0) AS DOUBLE) AS ip_admissions_180d,
        CAST(coalesce(ed.ed_180, 0) AS DOUBLE) AS ed_visits_180d,
        CAST(coalesce(st.bd_180, 0) AS DOUBLE) AS bed_days_180d,
        CAST(coalesce(of.of_180, 0) AS DOUBLE) AS office_visits_180d,
        CAST(coalesce(st.ip_365, 0) AS DOUBLE) AS ip_admissions_365d,
        CAST(coalesce(ed.ed_365, 0) AS DOUBLE) AS ed_visits_365d,
        CAST(coalesce(st.bd_365, 0) AS DOUBLE) AS bed_days_365d,
        CAST(coalesce(of.of_365, 0) AS DOUBLE) AS office_visits_365d,
        CAST(fu.rate AS DOUBLE) AS followup_7d_rate_365d,
        CAST(date_diff('day', ld.last_discharge_date, c.as_of_date) AS DOUBLE) AS days_since_last_discharge,
        CAST(coalesce(co.cost_90, 0) AS DOUBLE) AS allowed_amount_90d,
        CAST(coalesce(co.cost_365, 0) AS DOUBLE) AS allowed_amount_365d,
        CAST(coalesce(co.rx_365, 0) AS DOUBLE) AS pharmacy_allowed_amount_365d,
        CAST(coalesce(co.cost_last_180, 0) - coalesce(co.cost_prev_180, 0) AS DOUBLE) AS allowed_amount_change_180d,
        CAST(coalesce(co.cost_last_180, 0) >= 1000 AND coalesce(co.cost_last_180, 0) > 1.5 * coalesce(co.cost_prev_180, 0)
             AS DOUBLE) AS rising_cost_flag,
        CAST(h.hcc_score_v24 AS DOUBLE) AS hcc_score_v24,
        CAST(h.hcc_score_v28 AS DOUBLE) AS hcc_score_v28,
        CAST(h.hcc_count_v28 AS DOUBLE) AS hcc_count_v28,
        CAST(h.hcc_diabetes_flag AS DOUBLE) AS hcc_diabetes_flag,
        CAST(h.hcc_heart_failure_flag AS DOUBLE) AS hcc_heart_failure_flag,
        CAST(h.hcc_ckd_flag AS DOUBLE) AS hcc_ckd_flag,
        CAST(h.hcc_copd_flag AS DOUBLE) AS hcc_copd_flag,
        CAST(h.hcc_cancer_flag AS DOUBLE) AS hcc_cancer_flag,
        CAST(h.hcc_dementia_flag AS DOUBLE) AS hcc_dementia_flag,
        CAST(h.hcc_psychiatric_flag AS DOUBLE) AS hcc_psychiatric_flag,
        CAST(coalesce(ch.score, 0) AS DOUBLE) AS charlson_index,
        CAST(coalesce(ex.vw, 0) AS DOUBLE) AS elixhauser_vw_index,
        CAST(coalesce(ex.n, 0) AS DOUBLE) AS elixhauser_count,
        CAST(coalesce(rf.n_classes, 0) AS DOUBLE) AS drug_classes_180d,
        CAST(coalesce(rf.n_classes, 0) >= 5 AS DOUBLE) AS polypharmacy_flag,
        CAST(pd.pdc_statin AS DOUBLE) AS pdc_statin_180d,
        CAST(pd.pdc_ras AS DOUBLE) AS pdc_ras_180d,
        CAST(pd.pdc_diabetes AS DOUBLE) AS pdc_diabetes_180d,
        CAST(lab.hgb AS DOUBLE) AS hemoglobin_last_365d,
        CAST(CASE WHEN lab.hgb IS NULL THEN NULL WHEN lab.hgb < 12 THEN 1 ELSE 0 END AS DOUBLE) AS low_hemoglobin_365d_flag,
        CAST(lab.na AS DOUBLE) AS sodium_last_365d,
        CAST(CASE WHEN lab.na IS NULL THEN NULL WHEN lab.na < 135 THEN 1 ELSE 0 END AS DOUBLE) AS low_sodium_365d_flag,
        CAST(lab.a1c AS DOUBLE) AS hba1c_last_365d,
        CAST(CASE WHEN lab.a1c IS NULL THEN NULL WHEN lab.a1c >= 9 THEN 1 ELSE 0 END AS DOUBLE) AS high_hba1c_365d_flag,
        CAST(lab.egfr AS DOUBLE) AS egfr_last_365d,
        CAST(CASE WHEN lab.egfr IS NULL THEN NULL WHEN lab.egfr < 60 THEN 1 ELSE 0 END AS DOUBLE) AS low_egfr_365d_flag,
        CAST(sd.food_insecurity AS DOUBLE) AS sdoh_food_insecurity_flag,
        CAST(sd.housing_instability AS DOUBLE) AS sdoh_housing_instability_flag,
        CAST(sd.transportation AS DOUBLE) AS sdoh_transportation_flag,
        CAST(sd.utilities AS DOUBLE) AS sdoh_utilities_flag,
        CAST(sd.interpersonal_safety AS DOUBLE) AS sdoh_interpersonal_safety_flag,
        CAST(sd.financial_strain AS DOUBLE) AS sdoh_financial_strain_flag,
        CAST(sd.social_isolation AS DOUBLE) AS sdoh_social_isolation_flag,
        CAST(sd.positive_domains AS DOUBLE) AS sdoh_positive_domains,
        CAST(sv.svi_overall AS DOUBLE) AS svi_overall,
        CAST(sv.svi_socioeconomic AS DOUBLE) AS svi_socioeconomic,
        CAST(sv.svi_household AS DOUBLE) AS svi_household,
        CAST(sv.svi_minority AS DOUBLE) AS svi_minority,
        CAST(sv.svi_housing_transport AS DOUBLE) AS svi_housing_transport,
        CAST(zp.median_household_income AS DOUBLE) AS median_household_income,
        CAST(coalesce(cm.open_flag, 0) AS DOUBLE) AS cm_open_case_flag,
        CAST(coalesce(cm.cases_365, 0) AS DOUBLE) AS cm_cases_365d,
        CAST(coalesce(cm.declined_365, 0) AS DOUBLE) AS cm_declined_365d,
        CAST(coalesce(ct.reached_90, 0) AS DOUBLE) AS cm_reached_contacts_90d,
        CAST(date_diff('day', cm.last_close_date, c.as_of_date) AS DOUBLE) AS days_since_cm_case_close
    FROM c
    JOIN labelled AS lb ON lb.person_id = c.person_id AND lb.as_of_date = c.as_of_date
    LEFT JOIN stay_feat AS st ON st.person_id = c.person_id AND st.as_of_date = c.as_of_date
    LEFT JOIN last_discharge AS ld ON ld.person_id = c.person_id AND ld.as_of_date = c.as_of_date
    LEFT JOIN ed_feat AS ed ON ed.person_id = c.person_id AND ed.as_of_date = c.as_of_date
    LEFT JOIN office_feat AS of ON of.person_id = c.person_id AND of.as_of_date = c.as_of_date
    LEFT JOIN followup AS fu ON fu.person_id = c.person_id AND fu.as_of_date = c.as_of_date
    LEFT JOIN cost_feat AS co ON co.person_id = c.person_id AND co.as_of_date = c.as_of_date
    LEFT JOIN enrol AS en ON en.person_id = c.person_id AND en.as_of_date = c.as_of_date
    LEFT JOIN _member_hcc AS h ON h.person_id = c.person_id AND h.as_of_date = c.as_of_date
    LEFT JOIN charlson AS ch ON ch.person_id = c.person_id AND ch.as_of_date = c.as_of_date
    LEFT JOIN elixhauser AS ex ON ex.person_id = c.person_id AND ex.as_of_date = c.as_of_date
    LEFT JOIN rx_feat AS rf ON rf.person_id = c.person_id AND rf.as_of_date = c.as_of_date
    LEFT JOIN pdc AS pd ON pd.person_id = c.person_id AND pd.as_of_date = c.as_of_date
    LEFT JOIN labs AS lab ON lab.person_id = c.person_id AND lab.as_of_date = c.as_of_date
    LEFT JOIN sdoh AS sd ON sd.person_id = c.person_id AND sd.as_of_date = c.as_of_date
    LEFT JOIN cm ON cm.person_id = c.person_id AND cm.as_of_date = c.as_of_date
    LEFT JOIN cm_contacts AS ct ON ct.person_id = c.person_id AND ct.as_of_date = c.as_of_date
    LEFT JOIN raw.area_sdoh_county AS sv ON sv.county_fips = c.county_fips
    LEFT JOIN raw.area_sdoh_zip AS zp ON zp.zip_code = c.zip_code
)
SELECT * FROM assembled
ORDER BY as_of_date, person_id
