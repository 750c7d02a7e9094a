-- core.inpatient_stay
-- memory: grows with acute inpatient claims (about 300k stays at 1M members), not with members x
--   months. Its list aggregates (procedure codes per claim and per stay) cannot spill but hold a few
--   codes per stay; the window that chains claims into stays is partitioned by person_id.
-- Grain: one row per acute inpatient stay (person_id, admission_date of the first claim or encounter).
-- Logic:
--   1. Acute inpatient claims: raw.medical_claim lines with claim_type 'institutional',
--      bill_type_code starting '011' and a non-null admission_date, rolled up to one row
--      per claim_id (admission = min, discharge = max(coalesce(discharge_date, claim_end_date)),
--      codes from the lowest line that carries them, allowed_amount summed over lines). A claim
--      without a diagnosis is still a stay: "a stay is a stay" (the contract lets an institutional
--      inpatient claim leave diagnosis_code_1 blank); its principal diagnosis is unknown.
--   1b. EHR inpatient encounters: raw.encounter rows with encounter_type 'inpatient' build stays
--      too (EHR-only sources), except an encounter whose dates overlap an acute inpatient claim of
--      the same person (start <= claim discharge and end >= claim admission): the claim already
--      holds that stay, so a source sending both never counts it twice. Encounters carry no
--      admit type, procedures, DRG or cost (NULL / empty).
--   2. Claims and encounters of one person are ordered by admission_date, discharge_date. One joins
--      the stay before it when it overlaps it (admission_date < the running max discharge_date),
--      or when it starts 0 or 1 day after that discharge and the record holding that discharge
--      ended in transfer to another acute hospital ('02') or 'still a patient' ('30',
--      interim bill). Otherwise it opens a new stay (gaps and islands).
--   3. Per stay: admit_type_code of the first record, principal diagnosis of the first record that
--      has one (code and code system taken together), disposition of the record with the latest
--      discharge, first non-null DRG, allowed_amount summed, n_claims and n_encounters,
--      stay_source ('claims' when any claim, else 'encounter'), transfer_chained_flag (1 when a
--      transfer link was used), procedure_codes (the distinct ICD-10-PCS procedure_code_1 values).
--   4. principal_icd10cm_code: the principal diagnosis in ICD-10-CM (ICD-9-CM through the CMS GEMs,
--      temp table _ref_icd9_icd10cm; SNOMED CT through the NLM map, _ref_snomed_icd10cm); NULL when
--      the stay has no diagnosis or it does not map. principal_diagnosis_unknown_flag = 1 then.
--      planned_flag / planned_reason: the CMS Planned Readmission
--      Algorithm v4.0 applied to the stay as a potential readmission (temp table
--      _ref_planned_readmission, features.codelists): planned when any procedure is always planned
--      (PA1: transplants, deliveries), or the principal diagnosis is always planned (PA2: maintenance
--      chemotherapy, rehabilitation, delivery), or a potentially planned procedure (PA3: PCI, CABG,
--      joint replacement, ...) was done and the principal diagnosis is known and not acute (PA4).
--      Unknown principal diagnosis (conservative reading: the algorithm calls a readmission planned
--      only on positive evidence): an always-planned procedure still makes the stay planned; a
--      potentially planned procedure does not, because PA4 cannot rule out an acute diagnosis, so
--      the stay counts as an unplanned readmission.
CREATE OR REPLACE TABLE core.inpatient_stay AS
WITH lines AS (
    SELECT *
    FROM raw.medical_claim
    WHERE claim_type = 'institutional'
      AND bill_type_code LIKE '011%'
      AND admission_date IS NOT NULL
),
claims AS (
    SELECT
        claim_id,
        person_id,
        min(admission_date) AS admission_date,
        max(coalesce(discharge_date, claim_end_date)) AS discharge_date,
        arg_min(admit_type_code, claim_line_number) FILTER (WHERE admit_type_code IS NOT NULL) AS admit_type_code,
        arg_min(discharge_disposition_code, claim_line_number)
            FILTER (WHERE discharge_disposition_code IS NOT NULL) AS discharge_disposition_code,
        -- code and code system from the same line
        arg_min({'code': diagnosis_code_1, 'code_type': diagnosis_code_type}, claim_line_number)
            FILTER (WHERE diagnosis_code_1 IS NOT NULL) AS principal_dx,
        list(DISTINCT procedure_code_1) FILTER (WHERE procedure_code_1 IS NOT NULL) AS procedure_codes,
        arg_min(drg_code, claim_line_number) FILTER (WHERE drg_code IS NOT NULL) AS drg_code,
        sum(allowed_amount) AS allowed_amount
    FROM lines
    GROUP BY claim_id, person_id
),
encounters AS (
    SELECT e.*
    FROM raw.encounter AS e
    WHERE e.encounter_type = 'inpatient'
      AND NOT EXISTS (
          SELECT 1 FROM claims AS c
          WHERE c.person_id = e.person_id
            AND c.admission_date <= e.encounter_end_date
            AND c.discharge_date >= e.encounter_start_date
      )
),
records AS (
    SELECT
        'claim:' || claim_id AS record_id, 'claim' AS record_source, person_id, admission_date, discharge_date,
        admit_type_code, discharge_disposition_code, principal_dx, procedure_codes, drg_code, allowed_amount
    FROM claims
    UNION ALL
    SELECT
        'encounter:' || encounter_id, 'encounter', person_id, encounter_start_date, encounter_end_date,
        NULL::VARCHAR, discharge_disposition_code,
        CASE WHEN primary_diagnosis_code IS NOT NULL
             THEN {'code': primary_diagnosis_code, 'code_type': diagnosis_code_type} END,
        []::VARCHAR[], NULL::VARCHAR, NULL::DOUBLE
    FROM encounters
),
ordered AS (
    SELECT
        *,
        max(discharge_date) OVER w_prev AS prev_max_discharge_date,
        arg_max(discharge_disposition_code, discharge_date) OVER w_prev AS prev_disposition_code
    FROM records
    WINDOW w_prev AS (
        PARTITION BY person_id ORDER BY admission_date, discharge_date, record_id
        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
    )
),
flagged AS (
    SELECT
        *,
        CASE
            WHEN prev_max_discharge_date IS NULL THEN 'new'
            WHEN admission_date < prev_max_discharge_date THEN 'overlap'
            WHEN date_diff('day', prev_max_discharge_date, admission_date) <= 1
                 AND prev_disposition_code IN ('02', '30') THEN 'transfer'
            ELSE 'new'
        END AS link_type
    FROM ordered
),
numbered AS (
    SELECT
        *,
        sum(CASE WHEN link_type = 'new' THEN 1 ELSE 0 END) OVER (
            PARTITION BY person_id ORDER BY admission_date, discharge_date, record_id
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS stay_seq
    FROM flagged
),
stays AS (
SELECT
    person_id || '-' || strftime(min(admission_date), '%Y%m%d') || '-' || CAST(stay_seq AS VARCHAR) AS stay_id,
    person_id,
    min(admission_date) AS admission_date,
    max(discharge_date) AS discharge_date,
    CAST(date_diff('day', min(admission_date), max(discharge_date)) AS BIGINT) AS length_of_stay_days,
    arg_min(admit_type_code, (admission_date, discharge_date, record_id)) AS admit_type_code,
    arg_max(discharge_disposition_code, (discharge_date, admission_date, record_id)) AS discharge_disposition_code,
    arg_min(principal_dx, (admission_date, discharge_date, record_id)) AS principal_dx,
    list_sort(list_distinct(flatten(list(coalesce(procedure_codes, []))))) AS procedure_codes,
    arg_min(drg_code, (admission_date, discharge_date, record_id)) FILTER (WHERE drg_code IS NOT NULL) AS drg_code,
    sum(allowed_amount) AS allowed_amount,
    CAST(count(*) FILTER (WHERE record_source = 'claim') AS BIGINT) AS n_claims,
    CAST(count(*) FILTER (WHERE record_source = 'encounter') AS BIGINT) AS n_encounters,
    CASE WHEN bool_or(record_source = 'claim') THEN 'claims' ELSE 'encounter' END AS stay_source,
    CAST(max(CASE WHEN link_type = 'transfer' THEN 1 ELSE 0 END) AS BIGINT) AS transfer_chained_flag,
    CAST(sum(CASE WHEN link_type = 'transfer' THEN 1 ELSE 0 END) AS BIGINT) AS n_transfer_links
FROM numbered
GROUP BY person_id, stay_seq
),
coded AS (
    SELECT
        s.* EXCLUDE (principal_dx),
        s.principal_dx.code AS principal_diagnosis_code,
        s.principal_dx.code_type AS diagnosis_code_type,
        CASE s.principal_dx.code_type
            WHEN 'icd-10-cm' THEN s.principal_dx.code
            WHEN 'icd-9-cm' THEN g.icd10cm_code
            WHEN 'snomed-ct' THEN sn.icd10cm_code
        END AS principal_icd10cm_code
    FROM stays AS s
    LEFT JOIN _ref_icd9_icd10cm AS g
        ON g.icd9_code = s.principal_dx.code  -- equality only (hash join); the CASE picks by type
    LEFT JOIN (SELECT snomed_code, any_value(icd10cm_code) AS icd10cm_code FROM _ref_snomed_icd10cm GROUP BY 1) AS sn
        ON sn.snomed_code = s.principal_dx.code
),
proc_flags AS (
    SELECT
        p.stay_id,
        max(CASE WHEN r.list_type = 'always_planned_procedure' THEN 1 ELSE 0 END) AS always_procedure,
        max(CASE WHEN r.list_type = 'potentially_planned_procedure' THEN 1 ELSE 0 END) AS potential_procedure
    FROM (SELECT stay_id, unnest(procedure_codes) AS code FROM coded) AS p
    JOIN _ref_planned_readmission AS r
        ON r.code_system = 'icd-10-pcs' AND starts_with(p.code, r.code_prefix)
    GROUP BY p.stay_id
),
dx_flags AS (
    SELECT
        c.stay_id,
        max(CASE WHEN r.list_type = 'always_planned_diagnosis' THEN 1 ELSE 0 END) AS always_diagnosis,
        max(CASE WHEN r.list_type = 'acute_diagnosis' THEN 1 ELSE 0 END) AS acute_diagnosis
    FROM coded AS c
    JOIN _ref_planned_readmission AS r
        ON r.code_system = 'icd-10-cm' AND starts_with(c.principal_icd10cm_code, r.code_prefix)
    GROUP BY c.stay_id
)
SELECT
    c.*,
    CAST(c.principal_icd10cm_code IS NULL AS INTEGER) AS principal_diagnosis_unknown_flag,
    CASE
        WHEN coalesce(pf.always_procedure, 0) = 1 THEN 'always_planned_procedure'
        WHEN coalesce(df.always_diagnosis, 0) = 1 THEN 'always_planned_diagnosis'
        WHEN coalesce(pf.potential_procedure, 0) = 1 AND c.principal_icd10cm_code IS NOT NULL
             AND coalesce(df.acute_diagnosis, 0) = 0
            THEN 'potentially_planned_procedure'
    END AS planned_reason,
    CAST(CASE
        WHEN coalesce(pf.always_procedure, 0) = 1 OR coalesce(df.always_diagnosis, 0) = 1 THEN 1
        -- PA4 needs a known principal diagnosis that is not acute; unknown counts as unplanned
        WHEN coalesce(pf.potential_procedure, 0) = 1 AND c.principal_icd10cm_code IS NOT NULL
             AND coalesce(df.acute_diagnosis, 0) = 0 THEN 1
        ELSE 0
    END AS INTEGER) AS planned_flag
FROM coded AS c
LEFT JOIN proc_flags AS pf ON pf.stay_id = c.stay_id
LEFT JOIN dx_flags AS df ON df.stay_id = c.stay_id
ORDER BY c.person_id, c.admission_date
