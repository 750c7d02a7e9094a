-- features.readmission_label (SELECT only; run into the connection-local temp table
-- _readmission_label by features.readmission.materialise_labels, shared by
-- features.readmission_stay and marts.kpi_readmission_monthly so the cohort and the label are
-- defined once).
-- Grain: one row per acute stay in core.inpatient_stay discharged before $as_of.
-- Logic:
--   exclusion_reason: 'died' (discharge_disposition_code '20'), 'ama' ('07', left against
--     medical advice), 'transfer' ('02' to another acute hospital, after transfer chaining, so
--     only transfers to a hospital we have no claim for remain); NULL = index stay.
--   readmit_30d (index stays only): 1 when ANY acute stay of the same person that is unplanned
--     (admit_type_code <> '3' elective; a missing admit type counts as unplanned) starts in
--     (discharge_date, discharge_date + 30]; every admission in the window is scanned, so a
--     planned admission on day 5 does not hide an unplanned one on day 20. NULL when
--     discharge_date + 30 >= $as_of: the 30-day window is not yet complete, outcome unobservable.
--   in_case_management_flag: the member had a case-management case open at discharge
--     (open_date <= discharge_date and close_date null or > discharge_date).
WITH stays AS (
    SELECT * FROM core.inpatient_stay WHERE discharge_date < $as_of
),
readmits AS (
    SELECT
        s.stay_id,
        max(CASE WHEN coalesce(r.admit_type_code, '') <> '3' THEN 1 ELSE 0 END) AS any_unplanned
    FROM stays AS s
    JOIN core.inpatient_stay AS r
        ON r.person_id = s.person_id
       AND r.admission_date > s.discharge_date
       AND r.admission_date <= s.discharge_date + 30
       AND r.admission_date < $as_of
    GROUP BY s.stay_id
),
open_case AS (
    SELECT DISTINCT s.stay_id
    FROM stays AS s
    JOIN raw.cm_case AS c
        ON c.person_id = s.person_id
       AND c.open_date IS NOT NULL
       AND c.open_date <= s.discharge_date
       AND (c.close_date IS NULL OR c.close_date > s.discharge_date)
)
SELECT
    s.stay_id,
    s.person_id,
    s.admission_date,
    s.discharge_date,
    CASE s.discharge_disposition_code
        WHEN '20' THEN 'died'
        WHEN '07' THEN 'ama'
        WHEN '02' THEN 'transfer'
    END AS exclusion_reason,
    CAST(s.discharge_date + 30 < $as_of AS INTEGER) AS observable_flag,
    CASE
        WHEN s.discharge_disposition_code IN ('20', '07', '02') THEN NULL
        WHEN s.discharge_date + 30 >= $as_of THEN NULL
        ELSE coalesce(r.any_unplanned, 0)
    END AS readmit_30d,
    CAST(o.stay_id IS NOT NULL AS INTEGER) AS in_case_management_flag
FROM stays AS s
LEFT JOIN readmits AS r ON r.stay_id = s.stay_id
LEFT JOIN open_case AS o ON o.stay_id = s.stay_id
