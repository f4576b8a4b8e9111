"""Helpdesk adapters, one package per kind of host, loaded lazily by `adapters.registry`.

They know nothing of SLAs: they import only `connector.core`, their own settings section
(`connector.config.sources`) and `adapters.base`, never the store, the service or the reports.
"""
