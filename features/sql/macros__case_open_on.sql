-- case_open_on(open_date, close_date, day): a case-management case is open (engaged) on day: it has
-- opened on or before it and is not closed by then (close_date null or later). The one rule the
-- readmission label's in-case-management flag and the KPIs' case attribution and caseloads use.
CREATE OR REPLACE TEMP MACRO case_open_on(open_date, close_date, day) AS
    open_date IS NOT NULL AND open_date <= day AND (close_date IS NULL OR close_date > day)
