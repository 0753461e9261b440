"""``on_<request>``: core request-reply on every ``ADMIN_*`` subject, queue group
``MODEL_ADMIN_QUEUE``.

One route per subject: decode the request Struct, call one ``ModelAdmin`` method, reply
``Reply(ok=...)`` or ``Reply(error=RpcError(code, message))`` (``llmchat_bus.rpc``). A
malformed payload is ``invalid_request``; an ``AdminError`` carries its own code; anything
else is ``internal_error`` (logged). A handler never raises into the service.
"""

from __future__ import annotations

from typing import cast

from nats.aio.client import Client as NatsClient

from contracts import admin as adm
from contracts import subjects
from llmchat_bus.rpc import Route, RpcServer, ping_route, route
from model_admin.service import ModelAdmin


def routes(admin: ModelAdmin) -> list[Route]:
    """Subject -> (request Struct, ``ModelAdmin`` method). The reply's ``ok`` is its result."""
    a = admin
    return [
        route(subjects.ADMIN_PROFILES_LIST, adm.ListProfiles, a.list_profiles),
        route(subjects.ADMIN_PROFILES_GET, adm.GetProfile, a.get_profile),
        route(subjects.ADMIN_PROFILES_ADD, adm.AddProfile, a.add_profile),
        route(subjects.ADMIN_PROFILES_CHECK, adm.CheckProfile, a.check),
        route(subjects.ADMIN_ACTIVATE, adm.ActivateRequest, a.activate),
        route(subjects.ADMIN_ALIAS_RESOLVE, adm.ResolveModel, a.resolve),
        route(subjects.ADMIN_ALIAS_SET, adm.SetAlias, a.set_alias),
        route(subjects.ADMIN_WORKERS_LIST, adm.ListWorkers, a.list_workers),
        route(subjects.ADMIN_SWAPS_STATUS, adm.SwapStatusQuery, a.swap_status),
    ]


def rpc_server(nc: NatsClient, routes: list[Route], concurrency: int = 32) -> RpcServer:
    return RpcServer(nc, routes, queue=subjects.MODEL_ADMIN_QUEUE, concurrency=concurrency)


def described() -> RpcServer:
    """The server as its AsyncAPI document describes it (``make asyncapi``): never
    connected and its routes never called, so the domain classes stand in for their
    objects (each reply's type is read from the method's annotations)."""
    stand_in = cast(ModelAdmin, ModelAdmin)
    return rpc_server(NatsClient(), [*routes(stand_in), ping_route(subjects.ADMIN_PING)])
