-- svi_quartile(svi): the fairness subgroup for a county SVI percentile (0-1):
-- 'Q1' < 0.25 <= 'Q2' < 0.5 <= 'Q3' < 0.75 <= 'Q4'; 'unknown' when the county has no SVI.
CREATE OR REPLACE TEMP MACRO svi_quartile(svi) AS
    CASE
        WHEN svi IS NULL THEN 'unknown'
        WHEN svi < 0.25 THEN 'Q1'
        WHEN svi < 0.5 THEN 'Q2'
        WHEN svi < 0.75 THEN 'Q3'
        ELSE 'Q4'
    END
