"""What people read: the program-lead HTML report, the case-manager worklists and the Excel workbook.

Plain library code (no Dagster): functions take a DuckDB connection or polars frames and write files.
Every page is self-contained: inline CSS and inline SVG charts, no scripts, no external requests.
"""
