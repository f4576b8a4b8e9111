"""A shared support mailbox (Maildir or IMAP) treated as a helpdesk."""
