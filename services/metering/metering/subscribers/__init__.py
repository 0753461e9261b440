"""NATS adapters of metering: the event consumer and the request-reply handlers."""
