-- rollup_level(grouping(program), grouping(team), grouping(case_manager_id)): the level a KPI row of a
-- program > team > case-manager GROUPING SETS roll-up belongs to: 'all', 'program', 'team' or 'case_manager'.
CREATE OR REPLACE TEMP MACRO rollup_level(program_rolled_up, team_rolled_up, manager_rolled_up) AS
    CASE
        WHEN program_rolled_up = 1 THEN 'all'
        WHEN team_rolled_up = 1 THEN 'program'
        WHEN manager_rolled_up = 1 THEN 'team'
        ELSE 'case_manager'
    END
