-- features.readmission_stay (a script: features.readmission.write_readmission_features runs its
-- statements in order; the groups go to connection-local temp tables _rs_<group>)
-- memory: one small statement per feature group, folded by one aggregate. Each group (the index
--   stays joined with one source, then one aggregate) is its own statement into a temp table keyed
--   by stay_id; the last statement stacks the groups (UNION ALL BY NAME) and folds them into one
--   row per stay with a single hash aggregate (max() of the one value each group holds) instead of
--   a 12-way join. The single statement held about 155 MB at 10k members whatever the data (every
--   group's hash tables pinned together); the claims-wide distinct sets (ED dates, office dates,
--   diagnosis codes) are each built in a statement of their own.
-- Grain: one row per index stay (see features__readmission_label.sql: acute stay discharged
-- before $as_of, alive, not AMA, not transferred), with the label readmit_30d (NULL when not yet
-- observable) and point-in-time features. Every feature uses only data dated strictly before
-- the stay's discharge_date, or the stay itself (labs dated on the discharge day count):
--   age_at_discharge            full years between birth_date and discharge_date
--   female_flag, dual_flag      eligibility span covering the discharge (else latest span before it,
--                               else, for EHR sources without an earlier span, the first later span);
--                               dual = dual_status_code present and not '00'
--   length_of_stay_days         discharge_date - admission_date of the (chained) stay
--   emergency_admit_flag        admit_type_code '1' emergency or '2' urgent
--   lace_l/a/c/e, lace_score    LACE index (van Walraven et al., CMAJ 2010;182:551-7):
--                               L = LOS points (0,1,2,3 for <1,1,2,3 days; 4 for 4-6; 5 for 7-13; 7 for 14+)
--                               A = 3 when emergency/urgent admission
--                               C = Charlson score points (score 0-3 as is, 4+ -> 5); Charlson score
--                                   from ICD-10-CM diagnoses on medical claims starting in the 365 days
--                                   before discharge (index stay included), Quan et al. (Med Care
--                                   2005;43:1130-9) ICD-10 prefixes with Charlson 1987 weights, one
--                                   weight per family (max: complicated beats uncomplicated diabetes,
--                                   severe beats mild liver disease, metastatic beats solid tumour)
--                               E = ED visits in the 6 months before admission, capped at 4
--   prior_ip_stays_180d/365d    other acute stays discharged in the 180/365 days before discharge
--   ed_visits_180d              distinct ED visit dates (revenue 045x, POS 23, CPT 99281-99285, not
--                               inpatient bill) in the 180 days before admission
--   days_since_prev_discharge   admission_date - discharge_date of the previous stay discharged in the
--                               365 days before this discharge (NULL if none). Bounded like every other
--                               window: unbounded, its range and its NULL share grew with the length of
--                               the history (at 100k generated members NULL fell from 55% of stays in the
--                               first training quarter to 40% in the test months), so the same value
--                               meant different things in training and test and on extracts of
--                               different depth
--   last_hemoglobin/last_sodium latest LOINC 718-7 / 2951-2 result on or before discharge, 365-day lookback;
--   low_hemoglobin_flag         hemoglobin < 12 g/dL; low_sodium_flag: sodium < 135 mmol/L
--   allowed_amount_prior_365d   medical + pharmacy allowed amount dated in the 365 days before admission
-- Money sums are rounded to cents: a float sum's last bits depend on the order it is added in
--   (DuckDB's threads, Spark's partitions), and LightGBM bins 980.1 and 980.1000000000001 as two
--   values, so unrounded sums made the high-need model differ between engines (issue 16).
--   followup_7d_prior_discharge_flag  1 when an office/telehealth visit (professional claim POS
--                               11/02/10/49/50/71/72 or E/M 99202-99215, 99495-99496, or EHR office/
--                               telehealth encounter) fell in (prev discharge, prev discharge + 7] and
--                               before this discharge; NULL when there is no previous stay in the 365
--                               days before this discharge
--   open_cm_case_flag           case-management case open at discharge
--   svi_overall                 county SVI percentile of the county of residence
--   discharged_to_facility_flag 1 when the stay's UB-04 discharge status sends the member to a post-acute
--                               or other facility (03 SNF, 04 ICF, 05 other institution, 61 swing bed,
--                               62 rehabilitation, 63 long-term care hospital, 64 nursing facility, 65
--                               psychiatric, 70 other); NULL when the status is missing
--   discharged_home_health_flag 1 when discharged home with home health services (06); NULL when missing
--   social_needs_positive       social-need domains whose latest screening dated in the 365 days up to
--                               the discharge day is positive (0-7); NULL when not screened in them
--                               (bounded for the reason given for days_since_prev_discharge)
--   hospital_*                  HOSPITAL score (Donze J et al., JAMA Intern Med 2013;173:632-8), points:
--                               low_hemoglobin 1 (last hemoglobin during the stay < 12 g/dL),
--                               oncology_discharge 2 (a malignant-neoplasm diagnosis, ICD-10-CM C* or
--                               ICD-9-CM 140-208, on any claim dated during the stay: the claims proxy
--                               for discharge from an oncology service), low_sodium 1 (last sodium during
--                               the stay < 135 mmol/L), procedure 1 (any ICD-10-PCS procedure on the
--                               stay), urgent_admission 1 (admit type 1/2), prior_admissions_12m (acute
--                               admissions starting in the 365 days before admission: 0-1 -> 0, 2-5 -> 2,
--                               more than 5 -> 5), los_5plus 2 (length of stay >= 5 days); hospital_score
--                               = the sum (0-13). hospital_claims_only_flag = 1 when the hemoglobin or the
--                               sodium of the stay is missing: that lab component scores 0 (the
--                               claims-only variant).
-- Subgroup columns (reporting only, NOT model features): sex (administrative gender), age_band
-- ('0-17', '18-44', '45-64', '65-74', '75+' at discharge), race, ethnicity ('unknown' when blank),
-- svi_quartile ('Q1' < 0.25 <= 'Q2' < 0.5 <= 'Q3' < 0.75 <= 'Q4', 'unknown'); dual_flag is both a
-- model feature and a subgroup column.
-- Features are all DOUBLE so the scoring schema check is about names and one type.

CREATE OR REPLACE TEMP TABLE _rs_idx AS
WITH idx AS (
    SELECT
        l.stay_id, l.person_id, l.admission_date, l.discharge_date, l.readmit_30d,
        l.in_case_management_flag, s.length_of_stay_days, s.admit_type_code, s.discharge_disposition_code,
        CAST(coalesce(len(s.procedure_codes), 0) > 0 AS INTEGER) AS procedure_flag
    FROM _readmission_label AS l
    JOIN core.inpatient_stay AS s ON s.stay_id = l.stay_id
    WHERE l.exclusion_reason IS NULL
)
SELECT * FROM idx;

CREATE OR REPLACE TEMP TABLE _rs_elig AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
elig AS (
    SELECT i.stay_id, e.birth_date, e.gender, e.race, e.ethnicity, e.dual_status_code, e.county_fips
    FROM idx AS i
    JOIN raw.eligibility AS e
        ON e.person_id = i.person_id
    -- the span covering the discharge, else the latest before it; EHR sources (Synthea) may only
    -- have spans that start later, whose birth date and gender are used rather than none at all
    QUALIFY row_number() OVER (
        PARTITION BY i.stay_id
        ORDER BY (e.enrollment_start_date <= i.discharge_date AND e.enrollment_end_date >= i.discharge_date) DESC,
                 (e.enrollment_start_date <= i.discharge_date) DESC,
                 CASE WHEN e.enrollment_start_date <= i.discharge_date THEN e.enrollment_start_date END DESC NULLS LAST,
                 e.enrollment_start_date
    ) = 1
)
SELECT * FROM elig;

CREATE OR REPLACE TEMP TABLE _rs_prior_stays AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
prior_stays AS (
    SELECT
        i.stay_id,
        count(*) FILTER (WHERE p.discharge_date >= i.discharge_date - 180) AS n_180d,
        count(*) FILTER (WHERE p.discharge_date >= i.discharge_date - 365) AS n_365d,
        max(p.discharge_date) FILTER (WHERE p.discharge_date >= i.discharge_date - 365) AS prev_discharge_date
    FROM idx AS i
    JOIN core.inpatient_stay AS p
        ON p.person_id = i.person_id
       AND p.stay_id <> i.stay_id
       AND p.discharge_date < i.discharge_date
    GROUP BY i.stay_id
)
SELECT * RENAME (n_180d AS prior_n_180d, n_365d AS prior_n_365d) FROM prior_stays;

CREATE OR REPLACE TEMP TABLE _rs_ed AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
ed_dates AS (
    SELECT DISTINCT person_id, claim_start_date AS visit_date
    FROM raw.medical_claim
    WHERE (revenue_center_code LIKE '045%'
           OR place_of_service_code = '23'
           OR hcpcs_code IN ('99281', '99282', '99283', '99284', '99285'))
      AND coalesce(bill_type_code, '') NOT LIKE '011%'
),
ed AS (
    SELECT
        i.stay_id,
        count(*) FILTER (WHERE v.visit_date >= CAST(i.admission_date - INTERVAL 6 MONTH AS DATE)) AS n_6m,
        count(*) FILTER (WHERE v.visit_date >= i.admission_date - 180) AS n_180d
    FROM idx AS i
    JOIN ed_dates AS v
        ON v.person_id = i.person_id
       AND v.visit_date < i.admission_date
       AND v.visit_date >= i.admission_date - 186
    GROUP BY i.stay_id
)
SELECT * RENAME (n_6m AS ed_n_6m, n_180d AS ed_n_180d) FROM ed;

CREATE OR REPLACE TEMP TABLE _rs_followup AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
prior_stays AS (
    SELECT * FROM _rs_prior_stays
),
office_dates AS (
    SELECT person_id, claim_start_date AS visit_date
    FROM raw.medical_claim
    WHERE claim_type = 'professional'
      AND (place_of_service_code IN ('11', '02', '10', '49', '50', '71', '72')
           OR hcpcs_code IN ('99202', '99203', '99204', '99205', '99211', '99212', '99213',
                             '99214', '99215', '99495', '99496'))
    UNION
    SELECT person_id, encounter_start_date AS visit_date
    FROM raw.encounter
    WHERE encounter_type IN ('office', 'telehealth')
),
followup AS (
    SELECT
        ps.stay_id,
        max(CASE WHEN o.visit_date IS NULL THEN 0 ELSE 1 END) AS flag
    FROM prior_stays AS ps
    JOIN idx AS i ON i.stay_id = ps.stay_id
    LEFT JOIN office_dates AS o
        ON o.person_id = i.person_id
       AND o.visit_date > ps.prev_discharge_date
       AND o.visit_date <= ps.prev_discharge_date + 7
       AND o.visit_date < i.discharge_date
    WHERE ps.prev_discharge_date IS NOT NULL
    GROUP BY ps.stay_id
)
SELECT * RENAME (flag AS followup_flag) FROM followup;

CREATE OR REPLACE TEMP TABLE _rs_charlson AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
charlson_map(family, weight, pattern) AS (
    VALUES
        ('myocardial_infarction', 1, '^I2[12]|^I252'),
        ('heart_failure', 1, '^I50|^I110|^I13[02]|^I255|^I42|^I43'),
        ('peripheral_vascular', 1, '^I7[01]|^I73[189]|^I771|^I79[02]|^K55[189]|^Z95[89]'),
        ('cerebrovascular', 1, '^G4[56]|^I6[0-9]|^H340'),
        ('dementia', 1, '^F0[123]|^F051|^G30|^G311'),
        ('chronic_pulmonary', 1, '^J4[0-7]|^J6[0-7]|^J684|^J70[13]'),
        ('rheumatic', 1, '^M0[56]|^M3[234]|^M315|^M35[13]|^M360'),
        ('peptic_ulcer', 1, '^K2[5-8]'),
        ('liver', 1, '^B18|^K70[0-39]|^K71[3-57]|^K7[34]|^K76[02-489]|^Z944'),
        ('liver', 3, '^I85|^I864|^I982|^K704|^K711|^K72[19]|^K76[5-7]'),
        ('diabetes', 1, '^E1[013][01689]'),
        ('diabetes', 2, '^E1[013][2-57]'),
        ('hemiplegia', 2, '^G041|^G114|^G80[12]|^G8[12]|^G83[0-49]'),
        ('renal', 2, '^N18|^N19|^N0[35][2-7]|^N250|^I120|^I13[12]|^Z49|^Z940|^Z992'),
        ('malignancy', 2, '^C[01][0-9]|^C2[0-6]|^C3[0-47-9]|^C4[0135-9]|^C5[0-8]|^C6[0-9]|^C7[0-6]|^C8[1-58]|^C9[0-7]'),
        ('malignancy', 6, '^C7[7-9]|^C80'),
        ('hiv_aids', 6, '^B2[0-24]')
),
dx_events AS (
    SELECT DISTINCT person_id, claim_start_date AS dx_date, dx_code
    FROM (
        SELECT person_id, claim_start_date, diagnosis_code_1 AS dx_code FROM raw.medical_claim
        WHERE diagnosis_code_type = 'icd-10-cm'
        UNION ALL
        SELECT person_id, claim_start_date, diagnosis_code_2 FROM raw.medical_claim
        WHERE diagnosis_code_type = 'icd-10-cm'
        UNION ALL
        SELECT person_id, claim_start_date, diagnosis_code_3 FROM raw.medical_claim
        WHERE diagnosis_code_type = 'icd-10-cm'
    )
    WHERE dx_code IS NOT NULL
),
code_family AS (
    -- match the patterns once per distinct code, then join codes by equality
    SELECT c.dx_code, m.family, m.weight
    FROM (SELECT DISTINCT dx_code FROM dx_events) AS c
    JOIN charlson_map AS m ON regexp_matches(c.dx_code, m.pattern)
),
stay_conditions AS (
    SELECT i.stay_id, m.family, max(m.weight) AS weight
    FROM idx AS i
    JOIN dx_events AS d
        ON d.person_id = i.person_id
       AND d.dx_date < i.discharge_date
       AND d.dx_date >= i.discharge_date - 365
    JOIN code_family AS m ON m.dx_code = d.dx_code
    GROUP BY i.stay_id, m.family
),
charlson AS (
    SELECT stay_id, sum(weight) AS score FROM stay_conditions GROUP BY stay_id
)
SELECT * RENAME (score AS charlson_points) FROM charlson;

CREATE OR REPLACE TEMP TABLE _rs_labs AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
labs AS (
    SELECT
        i.stay_id,
        arg_max(l.result_value, (l.result_date, l.lab_result_id)) FILTER (WHERE l.loinc_code = '718-7') AS hemoglobin,
        arg_max(l.result_value, (l.result_date, l.lab_result_id)) FILTER (WHERE l.loinc_code = '2951-2') AS sodium
    FROM idx AS i
    JOIN raw.lab_result AS l
        ON l.person_id = i.person_id
       AND l.result_date <= i.discharge_date
       AND l.result_date > i.discharge_date - 365
       AND l.loinc_code IN ('718-7', '2951-2')
    GROUP BY i.stay_id
)
SELECT * FROM labs;

CREATE OR REPLACE TEMP TABLE _rs_stay_labs AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
stay_labs AS (
    SELECT
        i.stay_id,
        arg_max(l.result_value, (l.result_date, l.lab_result_id)) FILTER (WHERE l.loinc_code = '718-7') AS hemoglobin,
        arg_max(l.result_value, (l.result_date, l.lab_result_id)) FILTER (WHERE l.loinc_code = '2951-2') AS sodium
    FROM idx AS i
    JOIN raw.lab_result AS l
        ON l.person_id = i.person_id
       AND l.result_date >= i.admission_date
       AND l.result_date <= i.discharge_date
       AND l.loinc_code IN ('718-7', '2951-2')
    GROUP BY i.stay_id
)
SELECT * RENAME (hemoglobin AS stay_hemoglobin, sodium AS stay_sodium) FROM stay_labs;

CREATE OR REPLACE TEMP TABLE _rs_oncology AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
oncology AS (
    SELECT DISTINCT i.stay_id
    FROM idx AS i
    JOIN raw.medical_claim AS c
        ON c.person_id = i.person_id
       AND c.claim_start_date >= i.admission_date
       AND c.claim_start_date <= i.discharge_date
    WHERE (c.diagnosis_code_type = 'icd-10-cm'
           AND (c.diagnosis_code_1 LIKE 'C%' OR c.diagnosis_code_2 LIKE 'C%' OR c.diagnosis_code_3 LIKE 'C%'))
       OR (c.diagnosis_code_type = 'icd-9-cm'
           AND (regexp_matches(c.diagnosis_code_1, '^(1[4-9][0-9]|20[0-8])')
                OR regexp_matches(coalesce(c.diagnosis_code_2, ''), '^(1[4-9][0-9]|20[0-8])')
                OR regexp_matches(coalesce(c.diagnosis_code_3, ''), '^(1[4-9][0-9]|20[0-8])')))
)
SELECT stay_id, 1 AS oncology_flag FROM oncology;

CREATE OR REPLACE TEMP TABLE _rs_social_needs AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
social_needs_latest AS (
    SELECT i.stay_id, s.domain, arg_max(s.positive_flag, (s.screening_date, s.screening_id)) AS positive
    FROM idx AS i
    JOIN raw.sdoh_screening AS s
        ON s.person_id = i.person_id
       AND s.screening_date <= i.discharge_date
       AND s.screening_date > i.discharge_date - 365
    GROUP BY i.stay_id, s.domain
),
social_needs AS (
    SELECT stay_id, sum(positive) AS positive_domains FROM social_needs_latest GROUP BY stay_id
)
SELECT * FROM social_needs;

CREATE OR REPLACE TEMP TABLE _rs_prior_admissions AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
prior_admissions AS (
    SELECT i.stay_id, count(*) AS n_12m
    FROM idx AS i
    JOIN core.inpatient_stay AS p
        ON p.person_id = i.person_id
       AND p.admission_date < i.admission_date
       AND p.admission_date >= i.admission_date - 365
    GROUP BY i.stay_id
)
SELECT * FROM prior_admissions;

CREATE OR REPLACE TEMP TABLE _rs_cost AS
WITH idx AS (
    SELECT * FROM _rs_idx
),
cost_events AS (
    SELECT person_id, claim_start_date AS cost_date, allowed_amount FROM raw.medical_claim
    UNION ALL
    SELECT person_id, dispensing_date, allowed_amount FROM raw.pharmacy_claim
),
cost AS (
    SELECT i.stay_id, round(sum(c.allowed_amount), 2) AS allowed_amount
    FROM idx AS i
    JOIN cost_events AS c
        ON c.person_id = i.person_id
       AND c.cost_date < i.admission_date
       AND c.cost_date >= i.admission_date - 365
    GROUP BY i.stay_id
)
SELECT * FROM cost;

-- the index stays with their features, folded from the per-stay groups above
WITH folded AS (
    -- every group holds at most one row per stay_id, so max() returns its value
    SELECT stay_id, max(COLUMNS(* EXCLUDE (stay_id)))
    FROM (
        SELECT * FROM _rs_idx
        UNION ALL BY NAME SELECT * FROM _rs_elig
        UNION ALL BY NAME SELECT * FROM _rs_prior_stays
        UNION ALL BY NAME SELECT * FROM _rs_ed
        UNION ALL BY NAME SELECT * FROM _rs_followup
        UNION ALL BY NAME SELECT * FROM _rs_charlson
        UNION ALL BY NAME SELECT * FROM _rs_labs
        UNION ALL BY NAME SELECT * FROM _rs_stay_labs
        UNION ALL BY NAME SELECT * FROM _rs_oncology
        UNION ALL BY NAME SELECT * FROM _rs_social_needs
        UNION ALL BY NAME SELECT * FROM _rs_prior_admissions
        UNION ALL BY NAME SELECT * FROM _rs_cost
    )
    GROUP BY stay_id
),
assembled AS (
    SELECT
        m.stay_id,
        m.person_id,
        m.admission_date,
        m.discharge_date,
        m.readmit_30d,
        coalesce(m.gender, 'unknown') AS sex,
        age_band(m.birth_date, m.discharge_date) AS age_band,
        coalesce(m.race, 'unknown') AS race,
        coalesce(m.ethnicity, 'unknown') AS ethnicity,
        svi_quartile(sv.svi_overall) AS svi_quartile,
        CAST(CASE WHEN m.stay_hemoglobin < 12 THEN 1 ELSE 0 END AS DOUBLE) AS hospital_low_hemoglobin,
        CAST(CASE WHEN m.oncology_flag = 1 THEN 2 ELSE 0 END AS DOUBLE) AS hospital_oncology_discharge,
        CAST(CASE WHEN m.stay_sodium < 135 THEN 1 ELSE 0 END AS DOUBLE) AS hospital_low_sodium,
        CAST(m.procedure_flag AS DOUBLE) AS hospital_procedure,
        CAST(CASE WHEN m.admit_type_code IN ('1', '2') THEN 1 ELSE 0 END AS DOUBLE) AS hospital_urgent_admission,
        CAST(CASE WHEN coalesce(m.n_12m, 0) <= 1 THEN 0 WHEN m.n_12m <= 5 THEN 2 ELSE 5 END AS DOUBLE)
            AS hospital_prior_admissions_12m,
        CAST(CASE WHEN m.length_of_stay_days >= 5 THEN 2 ELSE 0 END AS DOUBLE) AS hospital_los_5plus,
        CAST(CASE WHEN m.stay_hemoglobin IS NULL OR m.stay_sodium IS NULL THEN 1 ELSE 0 END AS DOUBLE)
            AS hospital_claims_only_flag,
        CAST(date_sub('year', m.birth_date, m.discharge_date) AS DOUBLE) AS age_at_discharge,
        CAST(CASE m.gender WHEN 'female' THEN 1 WHEN 'male' THEN 0 END AS DOUBLE) AS female_flag,
        CAST(CASE WHEN coalesce(m.dual_status_code, '00') <> '00' THEN 1 ELSE 0 END AS DOUBLE) AS dual_flag,
        CAST(m.length_of_stay_days AS DOUBLE) AS length_of_stay_days,
        CAST(CASE WHEN m.admit_type_code IN ('1', '2') THEN 1 ELSE 0 END AS DOUBLE) AS emergency_admit_flag,
        CAST(coalesce(m.charlson_points, 0) AS DOUBLE) AS charlson_score,
        CAST(coalesce(m.ed_n_6m, 0) AS DOUBLE) AS ed_visits_6m,
        CAST(coalesce(m.ed_n_180d, 0) AS DOUBLE) AS ed_visits_180d,
        CAST(coalesce(m.prior_n_180d, 0) AS DOUBLE) AS prior_ip_stays_180d,
        CAST(coalesce(m.prior_n_365d, 0) AS DOUBLE) AS prior_ip_stays_365d,
        CAST(date_diff('day', m.prev_discharge_date, m.admission_date) AS DOUBLE) AS days_since_prev_discharge,
        CAST(m.hemoglobin AS DOUBLE) AS last_hemoglobin,
        CAST(m.sodium AS DOUBLE) AS last_sodium,
        CAST(coalesce(m.allowed_amount, 0) AS DOUBLE) AS allowed_amount_prior_365d,
        CAST(m.followup_flag AS DOUBLE) AS followup_7d_prior_discharge_flag,
        CAST(m.in_case_management_flag AS DOUBLE) AS open_cm_case_flag,
        CAST(sv.svi_overall AS DOUBLE) AS svi_overall,
        CAST(CASE WHEN m.discharge_disposition_code IS NULL THEN NULL
                  WHEN m.discharge_disposition_code IN ('03', '04', '05', '61', '62', '63', '64', '65', '70') THEN 1
                  ELSE 0 END AS DOUBLE) AS discharged_to_facility_flag,
        CAST(CASE WHEN m.discharge_disposition_code IS NULL THEN NULL
                  WHEN m.discharge_disposition_code = '06' THEN 1 ELSE 0 END AS DOUBLE) AS discharged_home_health_flag,
        CAST(m.positive_domains AS DOUBLE) AS social_needs_positive
    FROM folded AS m
    LEFT JOIN raw.area_sdoh_county AS sv ON sv.county_fips = m.county_fips
)
SELECT
    stay_id,
    person_id,
    admission_date,
    discharge_date,
    CAST(readmit_30d AS INTEGER) AS readmit_30d,
    sex,
    age_band,
    race,
    ethnicity,
    svi_quartile,
    age_at_discharge,
    female_flag,
    dual_flag,
    length_of_stay_days,
    emergency_admit_flag,
    CAST(CASE
        WHEN length_of_stay_days < 1 THEN 0
        WHEN length_of_stay_days <= 3 THEN length_of_stay_days
        WHEN length_of_stay_days <= 6 THEN 4
        WHEN length_of_stay_days <= 13 THEN 5
        ELSE 7
    END AS DOUBLE) AS lace_l,
    3 * emergency_admit_flag AS lace_a,
    CASE WHEN charlson_score >= 4 THEN 5.0 ELSE charlson_score END AS lace_c,
    least(ed_visits_6m, 4.0) AS lace_e,
    CAST(CASE
        WHEN length_of_stay_days < 1 THEN 0
        WHEN length_of_stay_days <= 3 THEN length_of_stay_days
        WHEN length_of_stay_days <= 6 THEN 4
        WHEN length_of_stay_days <= 13 THEN 5
        ELSE 7
    END AS DOUBLE)
        + 3 * emergency_admit_flag
        + CASE WHEN charlson_score >= 4 THEN 5.0 ELSE charlson_score END
        + least(ed_visits_6m, 4.0) AS lace_score,
    prior_ip_stays_180d,
    prior_ip_stays_365d,
    ed_visits_180d,
    days_since_prev_discharge,
    last_hemoglobin,
    CAST(CASE WHEN last_hemoglobin IS NULL THEN NULL WHEN last_hemoglobin < 12 THEN 1 ELSE 0 END AS DOUBLE) AS low_hemoglobin_flag,
    last_sodium,
    CAST(CASE WHEN last_sodium IS NULL THEN NULL WHEN last_sodium < 135 THEN 1 ELSE 0 END AS DOUBLE) AS low_sodium_flag,
    allowed_amount_prior_365d,
    followup_7d_prior_discharge_flag,
    open_cm_case_flag,
    svi_overall,
    discharged_to_facility_flag,
    discharged_home_health_flag,
    social_needs_positive,
    hospital_low_hemoglobin,
    hospital_oncology_discharge,
    hospital_low_sodium,
    hospital_procedure,
    hospital_urgent_admission,
    hospital_prior_admissions_12m,
    hospital_los_5plus,
    hospital_low_hemoglobin + hospital_oncology_discharge + hospital_low_sodium + hospital_procedure
        + hospital_urgent_admission + hospital_prior_admissions_12m + hospital_los_5plus AS hospital_score,
    hospital_claims_only_flag
FROM assembled
ORDER BY discharge_date, stay_id
