"""Privacy and compliance: body storage modes, retention, legal holds, audited search and export.

Plain Python and SQL over the warehouse (runnable without Dagster); ``defs/compliance.py`` and the
``search`` / ``export`` / ``hold`` / ``purge`` commands are thin wrappers around these modules.
"""
