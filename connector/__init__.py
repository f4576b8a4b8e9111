"""SLA Connector: business-hours SLA clocks, escalations and credit reports beside a helpdesk.

Layers, top to bottom (checked by `lint-imports`): `cli` -> `service` -> `reports` and the
`adapters` package -> `store` -> `config` -> `core`. A layer imports only the layers below it.
"""
