"""NATS adapters of persistence: request-reply handlers and the event consumer."""
