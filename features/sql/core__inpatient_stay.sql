-- core.inpatient_stay
-- Grain: one row per acute inpatient stay (person_id, admission_date of the first claim).
-- Logic:
--   1. Acute inpatient claims: raw.medical_claim lines with claim_type 'institutional',
--      bill_type_code starting '011' and a non-null admission_date, rolled up to one row
--      per claim_id (admission = min, discharge = max(coalesce(discharge_date, claim_end_date)),
--      codes from the lowest line that carries them, allowed_amount summed over lines).
--   2. Claims of one person are ordered by admission_date, discharge_date. A claim joins the
--      stay before it when it overlaps it (admission_date < the running max discharge_date),
--      or when it starts 0 or 1 day after that discharge and the claim holding that discharge
--      ended in transfer to another acute hospital ('02') or 'still a patient' ('30',
--      interim bill). Otherwise it opens a new stay (gaps and islands).
--   3. Per stay: admit_type_code and principal diagnosis of the first claim, disposition of
--      the claim with the latest discharge, first non-null DRG, allowed_amount summed,
--      n_claims, transfer_chained_flag (1 when a transfer link was used), procedure_codes (the
--      distinct ICD-10-PCS procedure_code_1 values of its claims).
--   4. principal_icd10cm_code: the principal diagnosis in ICD-10-CM (ICD-9-CM through the CMS GEMs,
--      temp table _ref_icd9_icd10cm; SNOMED CT through the NLM map, _ref_snomed_icd10cm).
--      planned_flag / planned_reason: the CMS Planned Readmission
--      Algorithm v4.0 applied to the stay as a potential readmission (temp table
--      _ref_planned_readmission, features.codelists): planned when any procedure is always planned
--      (PA1: transplants, deliveries), or the principal diagnosis is always planned (PA2: maintenance
--      chemotherapy, rehabilitation, delivery), or a potentially planned procedure (PA3: PCI, CABG,
--      joint replacement, ...) was done and the principal diagnosis is not acute (PA4).
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
        arg_min(diagnosis_code_1, claim_line_number) AS principal_diagnosis_code,
        arg_min(diagnosis_code_type, claim_line_number) AS diagnosis_code_type,
        list(DISTINCT procedure_code_1) FILTER (WHERE procedure_code_1 IS NOT NULL) AS procedure_codes,
        arg_min(drg_code, claim_line_number) FILTER (WHERE drg_code IS NOT NULL) AS drg_code,
        sum(allowed_amount) AS allowed_amount
    FROM lines
    GROUP BY claim_id, person_id
),
ordered AS (
    SELECT
        *,
        max(discharge_date) OVER w_prev AS prev_max_discharge_date,
        arg_max(discharge_disposition_code, discharge_date) OVER w_prev AS prev_disposition_code
    FROM claims
    WINDOW w_prev AS (
        PARTITION BY person_id ORDER BY admission_date, discharge_date, claim_id
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
            PARTITION BY person_id ORDER BY admission_date, discharge_date, claim_id
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
    arg_min(admit_type_code, (admission_date, discharge_date, claim_id)) AS admit_type_code,
    arg_max(discharge_disposition_code, (discharge_date, admission_date, claim_id)) AS discharge_disposition_code,
    arg_min(principal_diagnosis_code, (admission_date, discharge_date, claim_id)) AS principal_diagnosis_code,
    arg_min(diagnosis_code_type, (admission_date, discharge_date, claim_id)) AS diagnosis_code_type,
    list_sort(list_distinct(flatten(list(coalesce(procedure_codes, []))))) AS procedure_codes,
    arg_min(drg_code, (admission_date, discharge_date, claim_id)) FILTER (WHERE drg_code IS NOT NULL) AS drg_code,
    sum(allowed_amount) AS allowed_amount,
    CAST(count(*) AS BIGINT) AS n_claims,
    CAST(max(CASE WHEN link_type = 'transfer' THEN 1 ELSE 0 END) AS BIGINT) AS transfer_chained_flag,
    CAST(sum(CASE WHEN link_type = 'transfer' THEN 1 ELSE 0 END) AS BIGINT) AS n_transfer_links
FROM numbered
GROUP BY person_id, stay_seq
),
coded AS (
    SELECT
        s.*,
        CASE s.diagnosis_code_type
            WHEN 'icd-9-cm' THEN g.icd10cm_code
            WHEN 'snomed-ct' THEN sn.icd10cm_code
            ELSE s.principal_diagnosis_code
        END AS principal_icd10cm_code
    FROM stays AS s
    LEFT JOIN _ref_icd9_icd10cm AS g
        ON g.icd9_code = s.principal_diagnosis_code  -- equality only (hash join); the CASE picks by type
    LEFT JOIN (SELECT snomed_code, any_value(icd10cm_code) AS icd10cm_code FROM _ref_snomed_icd10cm GROUP BY 1) AS sn
        ON sn.snomed_code = s.principal_diagnosis_code
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
    CASE
        WHEN coalesce(pf.always_procedure, 0) = 1 THEN 'always_planned_procedure'
        WHEN coalesce(df.always_diagnosis, 0) = 1 THEN 'always_planned_diagnosis'
        WHEN coalesce(pf.potential_procedure, 0) = 1 AND coalesce(df.acute_diagnosis, 0) = 0
            THEN 'potentially_planned_procedure'
    END AS planned_reason,
    CAST(CASE
        WHEN coalesce(pf.always_procedure, 0) = 1 OR coalesce(df.always_diagnosis, 0) = 1 THEN 1
        WHEN coalesce(pf.potential_procedure, 0) = 1 AND coalesce(df.acute_diagnosis, 0) = 0 THEN 1
        ELSE 0
    END AS INTEGER) AS planned_flag
FROM coded AS c
LEFT JOIN proc_flags AS pf ON pf.stay_id = c.stay_id
LEFT JOIN dx_flags AS df ON df.stay_id = c.stay_id
ORDER BY c.person_id, c.admission_date
