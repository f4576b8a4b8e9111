"""SLA Connector's core: configuration, store and the pure SLA engine. It knows no helpdesk."""
