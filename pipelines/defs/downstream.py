"""Assets after ingestion, gathered for the Definitions."""

from pipelines.defs.core.assets import core_checks, core_diagnosis, core_inpatient_stay
from pipelines.defs.features.assets import feature_checks, features_member_features, features_readmission_stay
from pipelines.defs.modeling.benefit import ml_benefit_score
from pipelines.defs.modeling.assets import (
    ml_high_need_model,
    ml_high_need_score,
    ml_readmission_model,
    ml_readmission_score,
)
from pipelines.defs.outputs.assets import (
    intake_list_asset,
    marts_kpi_readmission_monthly,
    marts_program_kpis,
    reports_case_manager_worklists,
    reports_program_report,
)
from pipelines.defs.outputs.program_effect import marts_program_effect

downstream_checks = [*core_checks, *feature_checks]


def downstream_assets_for(intake_score: str) -> list:
    """The assets after ingestion, with ``marts.intake_list`` waiting on the ``intake_score`` score
    only, so a failure on the other score path never stops the list."""
    return [
        core_inpatient_stay,
        core_diagnosis,
        features_readmission_stay,
        features_member_features,
        ml_readmission_model,
        ml_readmission_score,
        ml_high_need_model,
        ml_high_need_score,
        ml_benefit_score,
        intake_list_asset(intake_score),
        marts_kpi_readmission_monthly,
        marts_program_kpis,
        marts_program_effect,
        reports_program_report,
        reports_case_manager_worklists,
    ]
