"""The pure core: calendar, durations, model, policy, clocks, escalation, local times, errors,
and the text rules of a CSV cell (`cells`: which starts a spreadsheet takes for a formula).

No I/O and no clock of its own (`now` is passed in): same input, same records. Imports only the
standard library and the `holidays` package, never another layer.
"""
