-- age_band(birth_date, at_date): the fairness subgroup for age at a date, in full years:
-- '0-17', '18-44', '45-64', '65-74', '75+'; 'unknown' when there is no birth date.
CREATE OR REPLACE TEMP MACRO age_band(birth_date, at_date) AS
    CASE
        WHEN birth_date IS NULL THEN 'unknown'
        WHEN date_sub('year', birth_date, at_date) < 18 THEN '0-17'
        WHEN date_sub('year', birth_date, at_date) < 45 THEN '18-44'
        WHEN date_sub('year', birth_date, at_date) < 65 THEN '45-64'
        WHEN date_sub('year', birth_date, at_date) < 75 THEN '65-74'
        ELSE '75+'
    END
