"""The reports: compliance, SLA log, credits, breaches, due; CSV / JSON / table; the daily export.

Reads the store, never a helpdesk: imports the store, the config and the core, never the service
or the adapters.
"""
