"""Analytics on the stored history: replay a proposed policy (simulate), targets from past
performance (recommend), the breach forecast of running clocks. Reads the store, the config and
the core, and may use the reports' tables; never reaches a helpdesk or the service.
`survival` is pure statistics, kept free of the store."""
