"""Billing: the directory (who is who), rate plans (what things cost), cost rules and reports.

Plain Python + SQL, no Dagster: the ``billing`` and ``reports`` assets call
:func:`eur_pipeline.billing.compute.refresh_billing` and :func:`eur_pipeline.billing.reports.write_reports`.
"""
