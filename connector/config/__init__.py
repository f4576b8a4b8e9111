"""Settings: the TOML file and the environment, validated into one `Settings` (pydantic-settings).

`values` holds the shared value types, `sections` the SLA and service sections, `sources` the
helpdesk sections, `settings` the loader. Imports only the core.
"""
