"""NATS subscribers of model-admin: request-reply, heartbeat mirror, watchers."""
