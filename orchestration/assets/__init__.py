"""Dagster assets: raw landing (gateway + app), the dbt project, and the reports."""
