"""The read-only HTTP API, the Prometheus metrics and the status page (`sla-connector serve`).

Public API: `create_app(settings, clock)` (connector.api.app) and `serve(settings)`
(connector.api.server). It reads the store through a read-only connection and computes every
report through `connector.reports`, so it shows what the command line shows. It may import
reports, store, config and core; never adapters or the service. Needs the `api` extra.
"""
