"""Assets after ingestion, gathered for the Definitions."""

downstream_assets: list = []
downstream_checks: list = []
