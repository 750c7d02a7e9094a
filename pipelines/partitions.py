"""Partitions: monthly extracts are partitioned by service month, added as files arrive."""

import dagster as dg

LANDING_MONTH = "landing_month"
landing_month_partitions = dg.DynamicPartitionsDefinition(name=LANDING_MONTH)
