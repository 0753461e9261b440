"""How the api maps persistence's error replies (``error_of``)."""

from __future__ import annotations

from chat_api.persistence_client import error_of
from contracts.errors import ErrorCode
from contracts.rpc import RpcError


def test_refusals_keep_their_code() -> None:
    error = error_of(RpcError(code=ErrorCode.NOT_FOUND, message="conversation not found"))
    assert (error.status_code, error.code, error.headers) == (404, "not_found", {})


def test_a_reply_too_large_is_a_500_not_a_retry_later() -> None:
    """The rpc server's stand-in for a reply over the NATS payload: retrying cannot help."""
    message = "the reply (2000000 bytes) exceeds the NATS max payload (1048576 bytes)"
    error = error_of(RpcError(code=ErrorCode.REPLY_TOO_LARGE, message=message))
    assert (error.status_code, error.code) == (500, "reply_too_large")
    assert message in error.message
    assert "Retry-After" not in error.headers


def test_unexpected_codes_are_an_outage() -> None:
    error = error_of(RpcError(code=ErrorCode.INTERNAL, message="internal error"))
    assert (error.status_code, error.code) == (503, "service_unavailable")
    assert error.headers == {"Retry-After": "2"}
