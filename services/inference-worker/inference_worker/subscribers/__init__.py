"""NATS subscribers of the worker: chat requests (JetStream pull) and cancels (core)."""
