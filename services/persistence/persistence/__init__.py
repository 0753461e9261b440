"""The persistence service: accounts, conversations and messages (SQLAlchemy 2 async).

It answers the api's account and conversation queries over NATS request-reply and stores
conversation messages from the lifecycle events of ``CHAT_EVENTS``. No other service reads
its tables.
"""
