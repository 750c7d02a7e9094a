-- marts.intake_assignment (DDL only, run by models.intake.record_assignment)
-- Grain: one row per member of an evaluation-lottery band per round (assignment_date = the list's
-- as-of date; one round per as-of, a re-run replaces its round). Rows are appended across runs.
-- Logic: the band is the band_size members ranked closest to the capacity cut (half just inside,
-- half just outside); offered_flag = 1 for the seeded random half given the band's slots (listed in
-- marts.intake_list), 0 for the other half (not listed). rank is the member's rank among eligible
-- scored members before the cut; capacity is the list's open slots; lottery_seed reproduces the draw;
-- program is 'all' because the band competes for the slots of every program on the list.
-- score and benefit are the member's risk score and estimated reduction in 30-day readmission risk
-- (ml.benefit_score) at assignment, so a later run can check the benefit ranking against the
-- randomised halves (models.benefit_eval.lottery_benefit_check); older logs get them as NULL.
CREATE TABLE IF NOT EXISTS marts.intake_assignment (
    assignment_date DATE,
    person_id VARCHAR,
    program VARCHAR,
    lottery_band_flag BIGINT,
    offered_flag BIGINT,
    lottery_seed BIGINT,
    score_name VARCHAR,
    rank BIGINT,
    capacity BIGINT,
    band_size BIGINT,
    round_id VARCHAR,
    score DOUBLE,
    benefit DOUBLE
);
ALTER TABLE marts.intake_assignment ADD COLUMN IF NOT EXISTS score DOUBLE;
ALTER TABLE marts.intake_assignment ADD COLUMN IF NOT EXISTS benefit DOUBLE;
