"""Assets after ingestion, gathered for the Definitions."""

from pipelines.defs.core.assets import core_inpatient_stay
from pipelines.defs.features.assets import features_readmission_stay, readmission_stay_grain
from pipelines.defs.modeling.assets import ml_readmission_model, ml_readmission_score
from pipelines.defs.outputs.assets import marts_intake_list, marts_kpi_readmission_monthly

downstream_assets = [
    core_inpatient_stay,
    features_readmission_stay,
    ml_readmission_model,
    ml_readmission_score,
    marts_intake_list,
    marts_kpi_readmission_monthly,
]
downstream_checks = [readmission_stay_grain]
