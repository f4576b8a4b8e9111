"""Helpdesk adapters, one module or package per kind of host, loaded by `adapters.registry`."""
