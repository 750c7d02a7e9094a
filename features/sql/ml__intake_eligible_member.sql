-- ml.intake_eligible_member (SELECT only, read by models.intake.build_intake_list)
-- Grain: one row per person_id who may be offered case management on $as_of.
-- Logic: enrolled on $as_of (an eligibility span with start <= $as_of <= end); alive (no
-- death_date on or before $as_of on any span); not opted out of outreach on a span covering
-- $as_of; no case-management case open or pending on $as_of (referred on or before $as_of and
-- not closed by then: an open case, or a referral not yet opened);
-- no case closed as 'declined' in the $declined_days days before $as_of.
-- Also returns region (the state of the span covering $as_of) for matching case managers.
SELECT e.person_id, max(e.state) AS region
FROM raw.eligibility AS e
WHERE e.enrollment_start_date <= $as_of
  AND e.enrollment_end_date >= $as_of
GROUP BY e.person_id
HAVING max(coalesce(e.outreach_opt_out_flag, 0)) = 0
   AND NOT EXISTS (
       SELECT 1 FROM raw.eligibility AS d
       WHERE d.person_id = e.person_id AND d.death_date IS NOT NULL AND d.death_date <= $as_of
   )
   AND NOT EXISTS (
       SELECT 1 FROM raw.cm_case AS c
       WHERE c.person_id = e.person_id
         AND c.referral_date <= $as_of
         AND (c.close_date IS NULL OR c.close_date > $as_of)
   )
   AND NOT EXISTS (
       SELECT 1 FROM raw.cm_case AS c
       WHERE c.person_id = e.person_id
         AND c.close_reason = 'declined'
         AND c.close_date <= $as_of
         AND c.close_date > CAST($as_of AS DATE) - CAST($declined_days AS INTEGER)
   )
