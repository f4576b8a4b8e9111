"""The SQLite store (sqlite-utils): schema and migrations, tickets and records, events, outbox.

Encodes the core's values into rows and back (`codec`). Imports the core and the config only.
"""
