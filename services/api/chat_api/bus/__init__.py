"""The api's NATS side, one module per job; ``chat_api.gateway.NatsGateway`` composes them
behind the ``Gateway`` Protocol the rest of the api uses. ``GatewayUnavailable`` is what
they raise when the bus cannot do what was asked."""


class GatewayUnavailable(Exception):
    """The request could not be put on the bus."""
