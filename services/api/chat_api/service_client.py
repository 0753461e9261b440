"""What the api makes of a backend service's request-reply failures, in one place.

The facades (``NatsPersistence``, ``NatsMetering``, ``NatsModelAdmin``) are typed methods
over one ``llmchat_bus.rpc_client.RpcClient`` each; ``ServiceClient`` is their shared
base and turns the client's two failures into ``ApiError``, driven by each service's
``ServiceErrors`` table:

- no answer (``RpcNoAnswer``: down, timeout, unreadable or empty reply) -> the service's
  ``unavailable`` error (a 503 ``service_unavailable`` with its ``Retry-After``);
- a refusal (``RpcRefused``) whose code is in ``status_of_code`` -> that HTTP status with
  the wire code and message (a status of 500 or more: the service could not answer, and
  retrying cannot fix it);
- a refusal with any other code -> the service's ``unavailable`` error (logged).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

import msgspec
from nats.aio.client import Client as NatsClient

from chat_api.errors import ApiError
from contracts.errors import ErrorCode
from llmchat_bus.rpc_client import NoAnswerReason, RpcClient, RpcNoAnswer, RpcRefused

log = logging.getLogger("chat_api.services")

T = TypeVar("T")


def service_unavailable(message: str, retry_after_s: str) -> ApiError:
    return ApiError(
        503, ErrorCode.SERVICE_UNAVAILABLE, message, headers={"Retry-After": retry_after_s}
    )


class Unavailable(Protocol):
    """A service's 503: its default message says the service is unavailable."""

    def __call__(self, message: str = ...) -> ApiError: ...


@dataclass(frozen=True, slots=True)
class ServiceErrors:
    """How the api reports one service's failures."""

    name: str
    """The service as messages and logs name it ("persistence", "model-admin")."""
    status_of_code: Mapping[str, int]
    """Refusals the api passes on, as HTTP statuses."""
    unavailable: Unavailable
    unreachable_log_level: int = logging.WARNING
    """How loudly the client logs a request nobody answered."""

    def no_answer(self, error: RpcNoAnswer) -> ApiError:
        if error.reason is NoAnswerReason.UNREADABLE:
            return self.unavailable(f"{self.name} sent a reply the api cannot read")
        if error.reason is NoAnswerReason.EMPTY:
            return self.unavailable(f"{self.name} sent an empty reply")
        return self.unavailable()

    def refused(self, code: str, message: str) -> ApiError:
        """The ``ApiError`` of an error reply; codes the api does not expect become 503."""
        status = self.status_of_code.get(code)
        if status is None:
            log.warning("%s answered %s: %s", self.name, code, message)
            return self.unavailable(f"{self.name} failed: {message}")
        if status >= 500:
            log.error("%s answered %s: %s", self.name, code, message)
            return ApiError(status, code, f"{self.name} could not answer: {message}")
        return ApiError(status, code, message)


class ServiceClient:
    """Base of a facade: ``call`` one subject of the service, failures as ``ApiError``."""

    errors: ClassVar[ServiceErrors]

    def __init__(self, nc: NatsClient, timeout_s: float, *, propagate_trace: bool = False) -> None:
        self.nc = nc
        self.rpc = RpcClient(
            nc,
            self.errors.name,
            timeout_s,
            propagate_trace=propagate_trace,
            unreachable_log_level=self.errors.unreachable_log_level,
        )

    async def call(self, subject: str, request: msgspec.Struct, result_type: type[T]) -> T:
        try:
            return await self.rpc.call(subject, request, result_type)
        except RpcNoAnswer as exc:
            raise self.errors.no_answer(exc) from exc
        except RpcRefused as exc:
            raise self.errors.refused(exc.code, exc.message) from exc
