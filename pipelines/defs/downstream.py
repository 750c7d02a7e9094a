"""Assets after ingestion, gathered for the Definitions."""

from pipelines.defs.core.assets import core_checks, core_diagnosis, core_inpatient_stay
from pipelines.defs.features.assets import feature_checks, features_member_features, features_readmission_stay
from pipelines.defs.modeling.assets import (
    ml_high_need_model,
    ml_high_need_score,
    ml_readmission_model,
    ml_readmission_score,
)
from pipelines.defs.outputs.assets import (
    marts_intake_list,
    marts_kpi_readmission_monthly,
    marts_program_kpis,
    reports_case_manager_worklists,
    reports_program_report,
)

downstream_assets = [
    core_inpatient_stay,
    core_diagnosis,
    features_readmission_stay,
    features_member_features,
    ml_readmission_model,
    ml_readmission_score,
    ml_high_need_model,
    ml_high_need_score,
    marts_intake_list,
    marts_kpi_readmission_monthly,
    marts_program_kpis,
    reports_program_report,
    reports_case_manager_worklists,
]
downstream_checks = [*core_checks, *feature_checks]
