"""Partitions: monthly extracts are partitioned by service month, added as files arrive."""

import dagster as dg

LANDING_MONTH = "landing_month"
landing_month_partitions = dg.DynamicPartitionsDefinition(name=LANDING_MONTH)


def execute_over_months(
    job: dg.JobDefinition, known_months: list[str], first: str, last: str, **run_kwargs
) -> dg.ExecuteInProcessResult:
    """Run ``job`` in-process on an ephemeral instance over landing months ``first``..``last``.

    ``known_months`` are registered as the dynamic partitions (the range is taken over them);
    a single-run backfill policy makes each monthly asset load the whole range in one step.
    The result's events (kept in memory) say which steps failed and why.
    """
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(LANDING_MONTH, known_months)
        result = job.execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
            **run_kwargs,
        )
    return result
