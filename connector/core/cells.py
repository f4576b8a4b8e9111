"""What a CSV cell may hold as it is, shared by the Python writer (`connector.reports.output`),
the SQL that renders the log's lines (`connector.reports.log_lines`) and the ticket cells the
store keeps for it (`connector.store.ticket_cells`), so they cannot drift apart.

Public API: `FORMULA_START` (the characters a spreadsheet may take as the start of a formula,
also in full-width forms: a text cell that begins with one is prefixed with `'`, OWASP's
advice) and `NEEDS_QUOTES` (a cell holding one of these is quoted, RFC 4180).
"""

FORMULA_START = frozenset("=+-@\t\r\n|\uff1d\uff0b\uff0d\uff20")
NEEDS_QUOTES = ',"\r\n'
