"""The metering service: one usage record per chat request, and usage queries.

It builds the records from the lifecycle events of ``CHAT_EVENTS`` (its own durable
consumer, upserts by request id: exactly once) and answers usage queries over NATS
request-reply. No other service reads its tables.
"""
