-- features.member_features (a script: features.member.write_member_features runs its statements
-- once per as-of date, $as_of_date, and appends each date's final SELECT in order)
-- memory: processing by snapshot date, one small statement per feature group. For each as-of date
--   ($as_of_date) every feature group below is its own statement (one join and one aggregate) into
--   a connection-local temp table _mf_<group>, and the last statement folds the groups into one row
--   per member with a single hash aggregate (UNION ALL BY NAME, max() of the one value each group
--   holds) instead of an 18-way join. No statement pins more than a few hash tables at once: the
--   single statement needed about 190 MB at 10k members whatever the data (18 hash-join build
--   sides pinned together); this script runs in 74 MB there and at 2 GB for 1M members. Each statement holds one snapshot of the cohort and only
--   the events of that date's windows: scans of claims, encounters, labs, pharmacy and diagnoses
--   are bounded by the constants $lookback_start (as_of_date - 365) and $label_end (on or after
--   as_of_date + 12 months), which also skips the row groups of other months. The dates are
--   appended in (as_of_date, person_id) order, the order the single statement wrote.
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
-- Money sums are rounded to cents: a float sum's last bits depend on the order it is added in
--   (DuckDB's threads, Spark's partitions), and LightGBM bins 980.1 and 980.1000000000001 as two
--   values, so unrounded sums made the high-need model differ between engines (issue 16).
-- Features: see features.dictionary (MEMBER_FEATURES) and docs/features.md. HCC scores come from the
-- temp table _member_hcc (hccinfhir); Charlson/Elixhauser from _ref_charlson/_ref_elixhauser.

-- member_cost_events(lo, hi): one row per medical claim line (by claim_start_date, with
-- claim_end_date so a claim still open at the as-of can be left out) and per pharmacy claim (by
-- dispensing_date, pharmacy = 1) dated in [lo, hi), with its allowed_amount; the cost features and
-- the next-year cost label below read the same events. Defined here, not with the shared macros,
-- because it names raw tables that not every connection has.
CREATE OR REPLACE TEMP MACRO member_cost_events(lo, hi) AS TABLE
    SELECT person_id, claim_start_date AS cost_date, claim_end_date AS end_date, allowed_amount, 0 AS pharmacy
    FROM raw.medical_claim
    WHERE claim_start_date >= lo AND claim_start_date < hi
    UNION ALL
    SELECT person_id, dispensing_date, dispensing_date, allowed_amount, 1 FROM raw.pharmacy_claim
    WHERE dispensing_date >= lo AND dispensing_date < hi;

CREATE OR REPLACE TEMP TABLE _mf_stay_feat AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
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
)
SELECT * FROM stay_feat;

CREATE OR REPLACE TEMP TABLE _mf_last_discharge AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
last_discharge AS (
    SELECT c.person_id, c.as_of_date, max(s.discharge_date) AS last_discharge_date
    FROM c
    JOIN core.inpatient_stay AS s ON s.person_id = c.person_id AND s.discharge_date < c.as_of_date
    GROUP BY c.person_id, c.as_of_date
)
SELECT * FROM last_discharge;

CREATE OR REPLACE TEMP TABLE _mf_next_adm AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
next_adm AS (
    SELECT c.person_id, c.as_of_date, count(*) AS next_adm
    FROM c
    JOIN core.inpatient_stay AS s
        ON s.person_id = c.person_id
       AND s.admission_date >= c.as_of_date
       AND s.admission_date < c.label_end_date
       AND s.planned_flag = 0
    GROUP BY c.person_id, c.as_of_date
)
SELECT * FROM next_adm;

CREATE OR REPLACE TEMP TABLE _mf_ed_dates AS
WITH ed_dates AS (
    SELECT DISTINCT person_id, claim_start_date AS visit_date, claim_end_date AS end_date
    FROM raw.medical_claim
    WHERE (revenue_center_code LIKE '045%'
           OR place_of_service_code = '23'
           OR hcpcs_code IN ('99281', '99282', '99283', '99284', '99285'))
      AND coalesce(bill_type_code, '') NOT LIKE '011%'
      AND claim_start_date >= $lookback_start AND claim_start_date < $label_end
)
SELECT * FROM ed_dates;

CREATE OR REPLACE TEMP TABLE _mf_ed_feat AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
ed_dates AS (
    SELECT * FROM _mf_ed_dates
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
)
SELECT * FROM ed_feat;

CREATE OR REPLACE TEMP TABLE _mf_next_ed AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
ed_dates AS (
    SELECT * FROM _mf_ed_dates
),
next_ed AS (
    SELECT c.person_id, c.as_of_date, count(DISTINCT v.visit_date) AS next_ed
    FROM c
    JOIN ed_dates AS v
        ON v.person_id = c.person_id AND v.visit_date >= c.as_of_date AND v.visit_date < c.label_end_date
    GROUP BY c.person_id, c.as_of_date
)
SELECT * FROM next_ed;

CREATE OR REPLACE TEMP TABLE _mf_office_dates AS
WITH office_dates AS (
    SELECT person_id, claim_start_date AS visit_date
    FROM raw.medical_claim
    WHERE claim_type = 'professional'
      AND (place_of_service_code IN ('11', '02', '10', '49', '50', '71', '72')
           OR hcpcs_code IN ('99202', '99203', '99204', '99205', '99211', '99212', '99213',
                             '99214', '99215', '99495', '99496'))
      AND claim_start_date >= $lookback_start AND claim_start_date < $as_of_date
    UNION
    SELECT person_id, encounter_start_date
    FROM raw.encounter
    WHERE encounter_type IN ('office', 'telehealth')
      AND encounter_start_date >= $lookback_start AND encounter_start_date < $as_of_date
)
SELECT * FROM office_dates;

CREATE OR REPLACE TEMP TABLE _mf_office_feat AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
office_dates AS (
    SELECT * FROM _mf_office_dates
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
)
SELECT * FROM office_feat;

CREATE OR REPLACE TEMP TABLE _mf_followup AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
office_dates AS (
    SELECT * FROM _mf_office_dates
),
followup AS (
    SELECT
        c.person_id, c.as_of_date,
        avg(CASE WHEN EXISTS (
                SELECT 1 FROM office_dates AS o
                WHERE o.person_id = s.person_id
                  AND o.visit_date > s.discharge_date
                  AND o.visit_date <= s.discharge_date + 7
            ) THEN 1.0 ELSE 0.0 END) AS followup_rate
    FROM c
    JOIN core.inpatient_stay AS s
        ON s.person_id = c.person_id
       AND s.discharge_date >= c.d365_start
       AND s.discharge_date + 7 < c.as_of_date
       AND s.discharge_disposition_code NOT IN ('20')
    GROUP BY c.person_id, c.as_of_date
)
SELECT * FROM followup;

CREATE OR REPLACE TEMP TABLE _mf_cost_feat AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
cost_events AS (
    SELECT * FROM member_cost_events($lookback_start, $label_end)
),
cost_feat AS (
    SELECT
        c.person_id, c.as_of_date,
        round(sum(e.allowed_amount) FILTER (WHERE e.cost_date >= c.d90_start), 2) AS cost_90,
        round(sum(e.allowed_amount), 2) AS cost_365,
        round(sum(e.allowed_amount) FILTER (WHERE e.pharmacy = 1), 2) AS rx_365,
        round(sum(e.allowed_amount) FILTER (WHERE e.cost_date >= c.d180_start), 2) AS cost_last_180,
        round(sum(e.allowed_amount) FILTER (WHERE e.cost_date < c.d180_start), 2) AS cost_prev_180
    FROM c
    JOIN cost_events AS e
        ON e.person_id = c.person_id
       AND e.cost_date >= c.d365_start
       AND e.cost_date < c.as_of_date
       AND e.end_date < c.as_of_date
    GROUP BY c.person_id, c.as_of_date
)
SELECT * FROM cost_feat;

CREATE OR REPLACE TEMP TABLE _mf_next_cost AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
cost_events AS (
    SELECT * FROM member_cost_events($lookback_start, $label_end)
),
next_cost AS (
    SELECT c.person_id, c.as_of_date, round(sum(e.allowed_amount), 2) AS next_amount
    FROM c
    JOIN cost_events AS e
        ON e.person_id = c.person_id AND e.cost_date >= c.as_of_date AND e.cost_date < c.label_end_date
    GROUP BY c.person_id, c.as_of_date
)
SELECT * FROM next_cost;

CREATE OR REPLACE TEMP TABLE _mf_enrol AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
enrol AS (
    SELECT
        c.person_id, c.as_of_date,
        sum(greatest(0, date_diff('day', greatest(e.enrollment_start_date, c.d365_start),
                                  least(e.enrollment_end_date, c.as_of_date - 1)) + 1)) AS enrolled_days
    FROM c
    JOIN raw.eligibility AS e
        ON e.person_id = c.person_id
       AND e.enrollment_start_date < c.as_of_date
       AND e.enrollment_end_date >= c.d365_start
    GROUP BY c.person_id, c.as_of_date
)
SELECT * FROM enrol;

CREATE OR REPLACE TEMP TABLE _mf_member_codes AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
),
member_codes AS (
    SELECT DISTINCT c.person_id, c.as_of_date, d.icd10cm_code
    FROM c
    JOIN core.diagnosis AS d
        ON d.person_id = c.person_id
       AND d.diagnosis_date >= c.d365_start
       AND d.diagnosis_date < c.as_of_date
    WHERE d.icd10cm_code IS NOT NULL AND d.diagnosis_date >= $lookback_start AND d.diagnosis_date < $as_of_date
)
SELECT * FROM member_codes;

CREATE OR REPLACE TEMP TABLE _mf_charlson AS
WITH member_codes AS (
    SELECT * FROM _mf_member_codes
),
distinct_codes AS (
    SELECT DISTINCT icd10cm_code FROM member_codes
),
charlson_code AS (
    SELECT d.icd10cm_code, r.family, r.weight
    FROM distinct_codes AS d JOIN _ref_charlson AS r ON regexp_matches(d.icd10cm_code, r.pattern)
),
charlson AS (
    SELECT person_id, as_of_date, sum(weight) AS charlson_score
    FROM (
        SELECT m.person_id, m.as_of_date, cc.family, max(cc.weight) AS weight
        FROM member_codes AS m JOIN charlson_code AS cc ON cc.icd10cm_code = m.icd10cm_code
        GROUP BY ALL
    )
    GROUP BY ALL
)
SELECT * FROM charlson;

CREATE OR REPLACE TEMP TABLE _mf_elixhauser AS
WITH member_codes AS (
    SELECT * FROM _mf_member_codes
),
distinct_codes AS (
    SELECT DISTINCT icd10cm_code FROM member_codes
),
elix_code AS (
    SELECT d.icd10cm_code, r.category, r.hierarchy_group, r.hierarchy_rank, r.vw_weight
    FROM distinct_codes AS d JOIN _ref_elixhauser AS r ON regexp_matches(d.icd10cm_code, r.pattern)
),
elixhauser AS (
    SELECT person_id, as_of_date, sum(vw_weight) AS elix_vw, count(*) AS elix_n
    FROM (
        SELECT m.person_id, m.as_of_date, ec.hierarchy_group,
               arg_max(ec.vw_weight, ec.hierarchy_rank) AS vw_weight
        FROM member_codes AS m JOIN elix_code AS ec ON ec.icd10cm_code = m.icd10cm_code
        GROUP BY ALL
    )
    GROUP BY ALL
)
SELECT * FROM elixhauser;

CREATE OR REPLACE TEMP TABLE _mf_rx AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
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
    WHERE p.dispensing_date >= $lookback_start AND p.dispensing_date < $as_of_date
)
SELECT * FROM rx;

CREATE OR REPLACE TEMP TABLE _mf_rx_feat AS
WITH rx AS (
    SELECT * FROM _mf_rx
),
rx_feat AS (
    SELECT person_id, as_of_date, count(DISTINCT drug_class) AS n_classes
    FROM rx GROUP BY ALL
)
SELECT * FROM rx_feat;

CREATE OR REPLACE TEMP TABLE _mf_pdc AS
WITH rx AS (
    SELECT * FROM _mf_rx
),
rx_ordered AS (
    -- fills of one group with the same day and supply end (metformin and an SGLT2 inhibitor
    -- dispensed together) cover the same days once; without the DISTINCT their order is a tie the
    -- two windows below may break differently, which splits one island into two copies (PDC > 1)
    SELECT
        *,
        max(supply_end) OVER (
            PARTITION BY person_id, as_of_date, pdc_group ORDER BY dispensing_date, supply_end
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        ) AS prev_end
    FROM (SELECT DISTINCT person_id, as_of_date, pdc_group, dispensing_date, supply_end
          FROM rx WHERE pdc_group IS NOT NULL)
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
)
SELECT * FROM pdc;

CREATE OR REPLACE TEMP TABLE _mf_labs AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
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
    WHERE l.result_date >= $lookback_start AND l.result_date < $as_of_date
    GROUP BY c.person_id, c.as_of_date
)
SELECT * FROM labs;

CREATE OR REPLACE TEMP TABLE _mf_sdoh AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
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
)
SELECT * FROM sdoh;

CREATE OR REPLACE TEMP TABLE _mf_cm AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
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
)
SELECT * FROM cm;

CREATE OR REPLACE TEMP TABLE _mf_cm_contacts AS
WITH c AS (
    SELECT * FROM _member_cohort WHERE as_of_date = $as_of_date
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
)
SELECT * FROM cm_contacts;

CREATE OR REPLACE TEMP TABLE _mf_cost_rank AS
-- top 5% of next-12-month cost among the date's cohort: a window over (key, amount) only
SELECT
    c.person_id, c.as_of_date,
    row_number() OVER (PARTITION BY c.as_of_date ORDER BY coalesce(nc.next_amount, 0) DESC, c.person_id) AS cost_rank,
    count(*) OVER (PARTITION BY c.as_of_date) AS cohort_size
FROM _member_cohort AS c
LEFT JOIN _mf_next_cost AS nc ON nc.person_id = c.person_id AND nc.as_of_date = c.as_of_date
WHERE c.as_of_date = $as_of_date;

-- the date's rows: one per member of the cohort, features folded from the groups above
WITH member_row AS (
    -- every group holds at most one row per (person_id, as_of_date), so max() returns its value
    SELECT person_id, as_of_date, max(COLUMNS(* EXCLUDE (person_id, as_of_date)))
    FROM (
        SELECT person_id, as_of_date, label_complete_flag, birth_date, gender, race, ethnicity, dual_status_code,
               payer_type, zip_code, county_fips
        FROM _member_cohort WHERE as_of_date = $as_of_date
        UNION ALL BY NAME SELECT * FROM _mf_cost_rank
        UNION ALL BY NAME SELECT * FROM _mf_next_cost
        UNION ALL BY NAME SELECT * FROM _mf_next_adm
        UNION ALL BY NAME SELECT * FROM _mf_next_ed
        UNION ALL BY NAME SELECT * FROM _mf_stay_feat
        UNION ALL BY NAME SELECT * FROM _mf_last_discharge
        UNION ALL BY NAME SELECT * FROM _mf_ed_feat
        UNION ALL BY NAME SELECT * FROM _mf_office_feat
        UNION ALL BY NAME SELECT * FROM _mf_followup
        UNION ALL BY NAME SELECT * FROM _mf_cost_feat
        UNION ALL BY NAME SELECT * FROM _mf_enrol
        UNION ALL BY NAME SELECT * FROM _member_hcc WHERE as_of_date = $as_of_date
        UNION ALL BY NAME SELECT * FROM _mf_charlson
        UNION ALL BY NAME SELECT * FROM _mf_elixhauser
        UNION ALL BY NAME SELECT * FROM _mf_rx_feat
        UNION ALL BY NAME SELECT * FROM _mf_pdc
        UNION ALL BY NAME SELECT * FROM _mf_labs
        UNION ALL BY NAME SELECT * FROM _mf_sdoh
        UNION ALL BY NAME SELECT * FROM _mf_cm
        UNION ALL BY NAME SELECT * FROM _mf_cm_contacts
    )
    GROUP BY person_id, as_of_date
),
assembled AS (
    SELECT
        m.person_id,
        m.as_of_date,
        CASE WHEN m.label_complete_flag = 1
             THEN CAST(m.cost_rank <= ceil(0.05 * m.cohort_size) AS INTEGER) END AS high_need_cost_12m,
        CASE WHEN m.label_complete_flag = 1
             THEN CAST(coalesce(m.next_adm, 0) >= 2 OR coalesce(m.next_ed, 0) >= 4 AS INTEGER) END
            AS high_need_utilization_12m,
        CASE WHEN m.label_complete_flag = 1 THEN CAST(coalesce(m.next_amount, 0) AS DOUBLE) END AS allowed_amount_next_12m,
        CASE WHEN m.label_complete_flag = 1 THEN CAST(coalesce(m.next_adm, 0) AS INTEGER) END
            AS unplanned_admissions_next_12m,
        CASE WHEN m.label_complete_flag = 1 THEN CAST(coalesce(m.next_ed, 0) AS INTEGER) END AS ed_visits_next_12m,
        CAST(coalesce(m.cost_365, 0) AS DOUBLE) AS prior_cost_12m,
        coalesce(m.gender, 'unknown') AS sex,
        age_band(m.birth_date, m.as_of_date) AS age_band,
        coalesce(m.race, 'unknown') AS race,
        coalesce(m.ethnicity, 'unknown') AS ethnicity,
        svi_quartile(sv.svi_overall) AS svi_quartile,
        CAST(date_sub('year', m.birth_date, m.as_of_date) AS DOUBLE) AS age_years,
        CAST(CASE m.gender WHEN 'female' THEN 1 WHEN 'male' THEN 0 END AS DOUBLE) AS female_flag,
        CAST(CASE WHEN coalesce(m.dual_status_code, '00') <> '00' THEN 1 ELSE 0 END AS DOUBLE) AS dual_flag,
        CAST(m.payer_type = 'medicaid' AS DOUBLE) AS medicaid_flag,
        CAST(m.payer_type = 'medicare' AS DOUBLE) AS medicare_flag,
        CAST(coalesce(m.enrolled_days, 0) AS DOUBLE) AS enrolled_days_365d,
        CAST(coalesce(m.ip_30, 0) AS DOUBLE) AS ip_admissions_30d,
        CAST(coalesce(m.ed_30, 0) AS DOUBLE) AS ed_visits_30d,
        CAST(coalesce(m.bd_30, 0) AS DOUBLE) AS bed_days_30d,
        CAST(coalesce(m.of_30, 0) AS DOUBLE) AS office_visits_30d,
        CAST(coalesce(m.ip_90, 0) AS DOUBLE) AS ip_admissions_90d,
        CAST(coalesce(m.ed_90, 0) AS DOUBLE) AS ed_visits_90d,
        CAST(coalesce(m.bd_90, 0) AS DOUBLE) AS bed_days_90d,
        CAST(coalesce(m.of_90, 0) AS DOUBLE) AS office_visits_90d,
        CAST(coalesce(m.ip_180, 0) AS DOUBLE) AS ip_admissions_180d,
        CAST(coalesce(m.ed_180, 0) AS DOUBLE) AS ed_visits_180d,
        CAST(coalesce(m.bd_180, 0) AS DOUBLE) AS bed_days_180d,
        CAST(coalesce(m.of_180, 0) AS DOUBLE) AS office_visits_180d,
        CAST(coalesce(m.ip_365, 0) AS DOUBLE) AS ip_admissions_365d,
        CAST(coalesce(m.ed_365, 0) AS DOUBLE) AS ed_visits_365d,
        CAST(coalesce(m.bd_365, 0) AS DOUBLE) AS bed_days_365d,
        CAST(coalesce(m.of_365, 0) AS DOUBLE) AS office_visits_365d,
        CAST(m.followup_rate AS DOUBLE) AS followup_7d_rate_365d,
        CAST(date_diff('day', m.last_discharge_date, m.as_of_date) AS DOUBLE) AS days_since_last_discharge,
        CAST(coalesce(m.cost_90, 0) AS DOUBLE) AS allowed_amount_90d,
        CAST(coalesce(m.cost_365, 0) AS DOUBLE) AS allowed_amount_365d,
        CAST(coalesce(m.rx_365, 0) AS DOUBLE) AS pharmacy_allowed_amount_365d,
        CAST(coalesce(m.cost_last_180, 0) - coalesce(m.cost_prev_180, 0) AS DOUBLE) AS allowed_amount_change_180d,
        CAST(coalesce(m.cost_last_180, 0) >= 1000 AND coalesce(m.cost_last_180, 0) > 1.5 * coalesce(m.cost_prev_180, 0)
             AS DOUBLE) AS rising_cost_flag,
        CAST(m.hcc_score_v24 AS DOUBLE) AS hcc_score_v24,
        CAST(m.hcc_score_v28 AS DOUBLE) AS hcc_score_v28,
        CAST(m.hcc_count_v28 AS DOUBLE) AS hcc_count_v28,
        CAST(m.hcc_diabetes_flag AS DOUBLE) AS hcc_diabetes_flag,
        CAST(m.hcc_heart_failure_flag AS DOUBLE) AS hcc_heart_failure_flag,
        CAST(m.hcc_ckd_flag AS DOUBLE) AS hcc_ckd_flag,
        CAST(m.hcc_copd_flag AS DOUBLE) AS hcc_copd_flag,
        CAST(m.hcc_cancer_flag AS DOUBLE) AS hcc_cancer_flag,
        CAST(m.hcc_dementia_flag AS DOUBLE) AS hcc_dementia_flag,
        CAST(m.hcc_psychiatric_flag AS DOUBLE) AS hcc_psychiatric_flag,
        CAST(coalesce(m.charlson_score, 0) AS DOUBLE) AS charlson_index,
        CAST(coalesce(m.elix_vw, 0) AS DOUBLE) AS elixhauser_vw_index,
        CAST(coalesce(m.elix_n, 0) AS DOUBLE) AS elixhauser_count,
        CAST(coalesce(m.n_classes, 0) AS DOUBLE) AS drug_classes_180d,
        CAST(coalesce(m.n_classes, 0) >= 5 AS DOUBLE) AS polypharmacy_flag,
        CAST(m.pdc_statin AS DOUBLE) AS pdc_statin_180d,
        CAST(m.pdc_ras AS DOUBLE) AS pdc_ras_180d,
        CAST(m.pdc_diabetes AS DOUBLE) AS pdc_diabetes_180d,
        CAST(m.hgb AS DOUBLE) AS hemoglobin_last_365d,
        CAST(CASE WHEN m.hgb IS NULL THEN NULL WHEN m.hgb < 12 THEN 1 ELSE 0 END AS DOUBLE) AS low_hemoglobin_365d_flag,
        CAST(m.na AS DOUBLE) AS sodium_last_365d,
        CAST(CASE WHEN m.na IS NULL THEN NULL WHEN m.na < 135 THEN 1 ELSE 0 END AS DOUBLE) AS low_sodium_365d_flag,
        CAST(m.a1c AS DOUBLE) AS hba1c_last_365d,
        CAST(CASE WHEN m.a1c IS NULL THEN NULL WHEN m.a1c >= 9 THEN 1 ELSE 0 END AS DOUBLE) AS high_hba1c_365d_flag,
        CAST(m.egfr AS DOUBLE) AS egfr_last_365d,
        CAST(CASE WHEN m.egfr IS NULL THEN NULL WHEN m.egfr < 60 THEN 1 ELSE 0 END AS DOUBLE) AS low_egfr_365d_flag,
        CAST(m.food_insecurity AS DOUBLE) AS sdoh_food_insecurity_flag,
        CAST(m.housing_instability AS DOUBLE) AS sdoh_housing_instability_flag,
        CAST(m.transportation AS DOUBLE) AS sdoh_transportation_flag,
        CAST(m.utilities AS DOUBLE) AS sdoh_utilities_flag,
        CAST(m.interpersonal_safety AS DOUBLE) AS sdoh_interpersonal_safety_flag,
        CAST(m.financial_strain AS DOUBLE) AS sdoh_financial_strain_flag,
        CAST(m.social_isolation AS DOUBLE) AS sdoh_social_isolation_flag,
        CAST(m.positive_domains AS DOUBLE) AS sdoh_positive_domains,
        CAST(sv.svi_overall AS DOUBLE) AS svi_overall,
        CAST(sv.svi_socioeconomic AS DOUBLE) AS svi_socioeconomic,
        CAST(sv.svi_household AS DOUBLE) AS svi_household,
        CAST(sv.svi_minority AS DOUBLE) AS svi_minority,
        CAST(sv.svi_housing_transport AS DOUBLE) AS svi_housing_transport,
        CAST(zp.median_household_income AS DOUBLE) AS median_household_income,
        CAST(coalesce(m.open_flag, 0) AS DOUBLE) AS cm_open_case_flag,
        CAST(coalesce(m.cases_365, 0) AS DOUBLE) AS cm_cases_365d,
        CAST(coalesce(m.declined_365, 0) AS DOUBLE) AS cm_declined_365d,
        CAST(coalesce(m.reached_90, 0) AS DOUBLE) AS cm_reached_contacts_90d,
        CAST(date_diff('day', m.last_close_date, m.as_of_date) AS DOUBLE) AS days_since_cm_case_close
    FROM member_row AS m
    LEFT JOIN raw.area_sdoh_county AS sv ON sv.county_fips = m.county_fips
    LEFT JOIN raw.area_sdoh_zip AS zp ON zp.zip_code = m.zip_code
)
SELECT * FROM assembled
ORDER BY as_of_date, person_id
