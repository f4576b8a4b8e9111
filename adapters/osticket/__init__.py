"""osTicket through its MySQL/MariaDB database: reads tickets, writes a raised priority and internal
notes the way osTicket's own code writes them. Needs the `osticket` extra (PyMySQL)."""
