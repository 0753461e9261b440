"""The api's only way to the persistence service: NATS request-reply with ``Reply[T]``.

``Persistence`` is the Protocol the features depend on (unit tests pass an in-memory
fake); ``NatsPersistence`` implements it over ``RpcClient`` (``chat_api.service_client``).
A reply that does not come within ``timeout_s`` (or no responder at all) is ``503
service_unavailable``; an error reply becomes the ``ApiError`` of its code (``not_found``
-> 404, ``conflict`` -> 409, ...; ``reply_too_large`` -> 500: a reply persistence could
not send, which retrying cannot fix).
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from chat_api.errors import ApiError
from chat_api.service_client import ServiceClient, ServiceErrors, service_unavailable
from contracts import subjects
from contracts.accounts import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOwner,
    Authenticate,
    CreateApiKey,
    GetSettings,
    GetUser,
    IssueRefresh,
    ListApiKeys,
    ListUsers,
    PutSettings,
    RefreshIssued,
    RefreshRotated,
    RegisterUser,
    RevokeApiKey,
    RevokeRefresh,
    RotateRefresh,
    UpdateUser,
    UserList,
    UserSettings,
    UserView,
    VerifyApiKey,
)
from contracts.conversations import (
    ConversationDetail,
    ConversationList,
    ConversationView,
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversations,
    UpdateConversation,
)
from contracts.errors import ErrorCode
from contracts.rpc import RpcError

RETRY_AFTER_S = "2"

_STATUS_OF_RPC_CODE: dict[str, int] = {
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.REPLY_TOO_LARGE: 500,
}


def unavailable(message: str = "the persistence service is unavailable; retry") -> ApiError:
    return service_unavailable(message, RETRY_AFTER_S)


PERSISTENCE_ERRORS = ServiceErrors("persistence", _STATUS_OF_RPC_CODE, unavailable)


def error_of(error: RpcError) -> ApiError:
    """The ``ApiError`` of an error reply; codes the api does not expect become 503."""
    return PERSISTENCE_ERRORS.refused(error.code, error.message)


class Persistence(Protocol):
    # accounts
    async def register(self, request: RegisterUser) -> UserView: ...
    async def authenticate(self, request: Authenticate) -> UserView: ...
    async def get_user(self, user_id: str, session_id: str | None = None) -> UserView: ...
    async def list_users(self, limit: int, offset: int) -> UserList: ...
    async def update_user(self, request: UpdateUser) -> UserView: ...
    async def issue_refresh(self, user_id: str, ttl_s: float) -> RefreshIssued: ...
    async def rotate_refresh(self, token: str, ttl_s: float) -> RefreshRotated: ...
    async def revoke_refresh(self, token: str) -> None: ...
    async def create_api_key(self, user_id: str, name: str) -> ApiKeyCreated: ...
    async def list_api_keys(self, user_id: str) -> ApiKeyList: ...
    async def revoke_api_key(self, user_id: str, key_id: str) -> None: ...
    async def verify_api_key(self, secret: str) -> ApiKeyOwner: ...
    async def get_settings(self, user_id: str) -> UserSettings: ...
    async def put_settings(self, user_id: str, settings: UserSettings) -> UserSettings: ...

    # conversations
    async def create_conversation(self, request: CreateConversation) -> ConversationView: ...
    async def list_conversations(self, request: ListConversations) -> ConversationList: ...
    async def get_conversation(self, request: GetConversation) -> ConversationDetail: ...
    async def update_conversation(self, request: UpdateConversation) -> ConversationView: ...
    async def delete_conversation(self, request: DeleteConversation) -> None: ...


class NatsPersistence(ServiceClient):
    """``Persistence`` over core NATS request-reply (queue group of the persistence service)."""

    errors = PERSISTENCE_ERRORS

    async def command(self, subject: str, request: msgspec.Struct) -> None:
        """A request whose success value the api does not need (any ``ok`` is fine)."""
        await self.call(subject, request, object)

    # accounts
    async def register(self, request: RegisterUser) -> UserView:
        return await self.call(subjects.ACCOUNT_REGISTER, request, UserView)

    async def authenticate(self, request: Authenticate) -> UserView:
        return await self.call(subjects.ACCOUNT_AUTHENTICATE, request, UserView)

    async def get_user(self, user_id: str, session_id: str | None = None) -> UserView:
        return await self.call(
            subjects.ACCOUNT_GET, GetUser(user_id=user_id, session_id=session_id), UserView
        )

    async def list_users(self, limit: int, offset: int) -> UserList:
        return await self.call(
            subjects.ACCOUNT_LIST, ListUsers(limit=limit, offset=offset), UserList
        )

    async def update_user(self, request: UpdateUser) -> UserView:
        return await self.call(subjects.ACCOUNT_UPDATE, request, UserView)

    async def issue_refresh(self, user_id: str, ttl_s: float) -> RefreshIssued:
        return await self.call(
            subjects.REFRESH_ISSUE, IssueRefresh(user_id=user_id, ttl_s=ttl_s), RefreshIssued
        )

    async def rotate_refresh(self, token: str, ttl_s: float) -> RefreshRotated:
        return await self.call(
            subjects.REFRESH_ROTATE, RotateRefresh(token=token, ttl_s=ttl_s), RefreshRotated
        )

    async def revoke_refresh(self, token: str) -> None:
        await self.command(subjects.REFRESH_REVOKE, RevokeRefresh(token=token))

    async def create_api_key(self, user_id: str, name: str) -> ApiKeyCreated:
        return await self.call(
            subjects.API_KEY_CREATE, CreateApiKey(user_id=user_id, name=name), ApiKeyCreated
        )

    async def list_api_keys(self, user_id: str) -> ApiKeyList:
        return await self.call(subjects.API_KEY_LIST, ListApiKeys(user_id=user_id), ApiKeyList)

    async def revoke_api_key(self, user_id: str, key_id: str) -> None:
        await self.command(subjects.API_KEY_REVOKE, RevokeApiKey(user_id=user_id, key_id=key_id))

    async def verify_api_key(self, secret: str) -> ApiKeyOwner:
        return await self.call(subjects.API_KEY_VERIFY, VerifyApiKey(secret=secret), ApiKeyOwner)

    async def get_settings(self, user_id: str) -> UserSettings:
        return await self.call(subjects.SETTINGS_GET, GetSettings(user_id=user_id), UserSettings)

    async def put_settings(self, user_id: str, settings: UserSettings) -> UserSettings:
        return await self.call(
            subjects.SETTINGS_PUT, PutSettings(user_id=user_id, settings=settings), UserSettings
        )

    # conversations
    async def create_conversation(self, request: CreateConversation) -> ConversationView:
        return await self.call(subjects.CONV_CREATE, request, ConversationView)

    async def list_conversations(self, request: ListConversations) -> ConversationList:
        return await self.call(subjects.CONV_LIST, request, ConversationList)

    async def get_conversation(self, request: GetConversation) -> ConversationDetail:
        return await self.call(subjects.CONV_GET, request, ConversationDetail)

    async def update_conversation(self, request: UpdateConversation) -> ConversationView:
        return await self.call(subjects.CONV_UPDATE, request, ConversationView)

    async def delete_conversation(self, request: DeleteConversation) -> None:
        await self.command(subjects.CONV_DELETE, request)
