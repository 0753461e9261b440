"""``FakePersistence``: the ``Persistence`` Protocol in memory, scoped by owner like the
real service (another user's conversation or key is ``not_found``), plus the app fixtures
of the account / conversation / admin unit tests."""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from chat_api.app import create_app
from chat_api.auth import issue_token
from chat_api.chat import ChatService
from chat_api.errors import ApiError
from chat_api.persistence_client import unavailable
from chat_api.relay import StreamTable
from chat_api.settings import ApiSettings
from contracts.accounts import (
    ApiKeyCreated,
    ApiKeyList,
    ApiKeyOwner,
    ApiKeyView,
    Authenticate,
    RefreshIssued,
    RefreshRotated,
    RegisterUser,
    UpdateUser,
    UserList,
    UserSettings,
    UserView,
)
from contracts.conversations import (
    MAX_MESSAGES_PAGE,
    ConversationDetail,
    ConversationList,
    ConversationView,
    CreateConversation,
    DeleteConversation,
    GetConversation,
    ListConversations,
    MessageRole,
    MessageStatus,
    MessageView,
    UpdateConversation,
)
from contracts.errors import ErrorCode
from tests.api.fake_gateway import FakeGateway

SECRET = "test-secret-0123456789-0123456789-abcdef"
PASSWORD = "correct horse battery"


def _not_found(what: str) -> ApiError:
    return ApiError(404, ErrorCode.NOT_FOUND, f"{what} not found")


def _unauthorized() -> ApiError:
    return ApiError(401, ErrorCode.UNAUTHORIZED, "invalid credentials")


class FakePersistence:
    def __init__(self) -> None:
        self.users: dict[str, UserView] = {}
        self.passwords: dict[str, str] = {}  # user id -> password
        self.refresh: dict[str, tuple[str, bool, str]] = {}  # token -> (user, revoked, session)
        self.ended_sessions: set[str] = set()
        self.keys: dict[str, tuple[str, ApiKeyView, str]] = {}  # id -> (user, view, secret)
        self.settings: dict[str, UserSettings] = {}
        self.conversations: dict[str, ConversationView] = {}
        self.messages: dict[str, list[MessageView]] = {}
        self.page_requests: list[GetConversation] = []
        self.page_cap = MAX_MESSAGES_PAGE
        """At most this many messages a page (the real service's reply budget)."""
        self.calls: list[str] = []
        self.down = False

    def _hit(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise unavailable()

    def count(self, name: str) -> int:
        return self.calls.count(name)

    # --- helpers for tests --------------------------------------------------------
    def add_user(
        self, user_id: str, role: str = "user", email: str | None = None, disabled: bool = False
    ) -> UserView:
        user = UserView(
            id=user_id,
            email=email or f"{user_id}@example.com",
            role=role,  # type: ignore[arg-type]
            disabled=disabled,
            created_at=time.time(),
        )
        self.users[user_id] = user
        self.passwords[user_id] = PASSWORD
        return user

    def add_message(
        self,
        conversation_id: str,
        role: MessageRole,
        content: str,
        status: MessageStatus = "complete",
    ) -> None:
        self.messages[conversation_id].append(
            MessageView(
                id=uuid.uuid4().hex,
                role=role,
                content=content,
                status=status,
                created_at=time.time(),
            )
        )

    # --- accounts -----------------------------------------------------------------
    async def register(self, request: RegisterUser) -> UserView:
        self._hit("register")
        if any(u.email == request.email for u in self.users.values()):
            raise ApiError(409, ErrorCode.CONFLICT, "email already registered")
        user = self.add_user(uuid.uuid4().hex, request.role, request.email)
        self.passwords[user.id] = request.password
        return user

    async def authenticate(self, request: Authenticate) -> UserView:
        self._hit("authenticate")
        for user in self.users.values():
            if user.email == request.email and self.passwords.get(user.id) == request.password:
                if user.disabled:
                    raise _unauthorized()
                return user
        raise _unauthorized()

    async def get_user(self, user_id: str, session_id: str | None = None) -> UserView:
        self._hit("get_user")
        if user_id not in self.users:
            raise _not_found("user")
        if session_id is not None and session_id in self.ended_sessions:
            raise _unauthorized()
        return self.users[user_id]

    async def list_users(self, limit: int, offset: int) -> UserList:
        self._hit("list_users")
        users = list(self.users.values())
        return UserList(users=users[offset : offset + limit], total=len(users))

    async def update_user(self, request: UpdateUser) -> UserView:
        self._hit("update_user")
        user = self.users.get(request.user_id)
        if user is None:
            raise _not_found("user")
        changes: dict[str, Any] = {}
        if request.role is not None:
            changes["role"] = request.role
        if request.disabled is not None:
            changes["disabled"] = request.disabled
        user = msgspec.structs.replace(user, **changes)
        self.users[user.id] = user
        return user

    async def issue_refresh(self, user_id: str, ttl_s: float) -> RefreshIssued:
        self._hit("issue_refresh")
        token = secrets.token_urlsafe(16)
        session_id = uuid.uuid4().hex
        self.refresh[token] = (user_id, False, session_id)
        return RefreshIssued(token=token, expires_at=time.time() + ttl_s, session_id=session_id)

    async def rotate_refresh(self, token: str, ttl_s: float) -> RefreshRotated:
        self._hit("rotate_refresh")
        entry = self.refresh.get(token)
        if entry is None:
            raise _unauthorized()
        user_id, revoked, session_id = entry
        if revoked or session_id in self.ended_sessions:  # used twice: the session ends
            self.ended_sessions.add(session_id)
            raise _unauthorized()
        user = self.users[user_id]
        if user.disabled:
            raise _unauthorized()
        self.refresh[token] = (user_id, True, session_id)
        new = secrets.token_urlsafe(16)
        self.refresh[new] = (user.id, False, session_id)
        return RefreshRotated(
            user=user, token=new, expires_at=time.time() + ttl_s, session_id=session_id
        )

    async def revoke_refresh(self, token: str) -> None:
        self._hit("revoke_refresh")
        entry = self.refresh.get(token)
        if entry is not None:
            self.refresh[token] = (entry[0], True, entry[2])
            self.ended_sessions.add(entry[2])

    async def create_api_key(self, user_id: str, name: str) -> ApiKeyCreated:
        self._hit("create_api_key")
        secret = "sk-llmchat-" + secrets.token_urlsafe(24)
        view = ApiKeyView(
            id=uuid.uuid4().hex, name=name, prefix=secret[:15], created_at=time.time()
        )
        self.keys[view.id] = (user_id, view, secret)
        return ApiKeyCreated(key=view, secret=secret)

    async def list_api_keys(self, user_id: str) -> ApiKeyList:
        self._hit("list_api_keys")
        return ApiKeyList(keys=[view for owner, view, _ in self.keys.values() if owner == user_id])

    async def revoke_api_key(self, user_id: str, key_id: str) -> None:
        self._hit("revoke_api_key")
        entry = self.keys.get(key_id)
        if entry is None or entry[0] != user_id:
            raise _not_found("API key")
        self.keys[key_id] = (entry[0], msgspec.structs.replace(entry[1], revoked=True), entry[2])

    async def verify_api_key(self, secret: str) -> ApiKeyOwner:
        self._hit("verify_api_key")
        for owner, view, key_secret in self.keys.values():
            if key_secret == secret and not view.revoked:
                user = self.users[owner]
                if user.disabled:
                    raise _unauthorized()
                return ApiKeyOwner(user=user, key_id=view.id)
        raise _unauthorized()

    async def get_settings(self, user_id: str) -> UserSettings:
        self._hit("get_settings")
        return self.settings.get(user_id, UserSettings())

    async def put_settings(self, user_id: str, settings: UserSettings) -> UserSettings:
        self._hit("put_settings")
        self.settings[user_id] = settings
        return settings

    # --- conversations --------------------------------------------------------------
    def _owned(
        self, user_id: str, conversation_id: str, any_owner: bool = False
    ) -> ConversationView:
        conversation = self.conversations.get(conversation_id)
        if conversation is None or (conversation.user_id != user_id and not any_owner):
            raise _not_found("conversation")
        return conversation

    async def create_conversation(self, request: CreateConversation) -> ConversationView:
        self._hit("create_conversation")
        now = time.time()
        view = ConversationView(
            id=uuid.uuid4().hex,
            user_id=request.user_id,
            title=request.title,
            system_prompt=request.system_prompt,
            created_at=now,
            updated_at=now,
        )
        self.conversations[view.id] = view
        self.messages[view.id] = []
        return view

    async def list_conversations(self, request: ListConversations) -> ConversationList:
        self._hit("list_conversations")
        mine = [
            c
            for c in self.conversations.values()
            if c.user_id == request.user_id
            and (request.query is None or request.query.lower() in c.title.lower())
        ]
        mine.sort(key=lambda c: c.updated_at, reverse=True)
        return ConversationList(
            items=mine[request.offset : request.offset + request.limit], total=len(mine)
        )

    async def get_conversation(self, request: GetConversation) -> ConversationDetail:
        """One page as the real service picks it (list order stands for time order);
        ``page_cap`` stands for its reply budget."""
        self._hit("get_conversation")
        self.page_requests.append(request)
        conversation = self._owned(request.user_id, request.conversation_id, request.any_owner)
        stored = self.messages[conversation.id]
        candidates = [
            m
            for m in stored
            if (request.statuses is None or m.status in request.statuses)
            and not (request.skip_empty and not m.content)
        ]
        if request.before is not None:
            ids = [m.id for m in stored]
            if request.before not in ids:
                raise ApiError(400, ErrorCode.INVALID_REQUEST, "before: no such message")
            position = ids.index(request.before)
            candidates = [m for m in candidates if ids.index(m.id) < position]
        limit = min(MAX_MESSAGES_PAGE if request.limit is None else request.limit, self.page_cap)
        page: list[MessageView] = []
        chars = 0
        newest = candidates[max(len(candidates) - limit, 0) :] if limit else []
        for message in reversed(newest):
            if (
                page
                and request.max_chars is not None
                and (chars + len(message.content) > request.max_chars)
            ):
                break
            page.append(message)
            chars += len(message.content)
        page.reverse()
        has_more = len(page) < len(candidates)
        return ConversationDetail(
            conversation=msgspec.structs.replace(conversation, message_count=len(stored)),
            messages=page,
            has_more=has_more,
            next_before=page[0].id if has_more and page else None,
        )

    async def update_conversation(self, request: UpdateConversation) -> ConversationView:
        self._hit("update_conversation")
        conversation = self._owned(request.user_id, request.conversation_id)
        changes: dict[str, Any] = {"updated_at": time.time()}
        if request.title is not msgspec.UNSET:
            changes["title"] = request.title
        if request.system_prompt is not msgspec.UNSET:
            changes["system_prompt"] = request.system_prompt
        conversation = msgspec.structs.replace(conversation, **changes)
        self.conversations[conversation.id] = conversation
        return conversation

    async def delete_conversation(self, request: DeleteConversation) -> None:
        self._hit("delete_conversation")
        self._owned(request.user_id, request.conversation_id)
        del self.conversations[request.conversation_id]
        del self.messages[request.conversation_id]


def bearer(user_id: str, role: str = "user") -> dict[str, str]:
    token = issue_token(SECRET, user_id, role=role)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def fake_persistence() -> FakePersistence:
    persistence = FakePersistence()
    persistence.add_user("alice")
    persistence.add_user("bob")
    persistence.add_user("root", role="admin")
    return persistence


@pytest.fixture
def app_settings(tmp_path: Any) -> ApiSettings:
    return ApiSettings(
        jwt_secret=SECRET,
        data_dir=tmp_path,
        max_input_chars=1000,
        max_messages=8,
        max_tokens_limit=512,
        request_timeout_s=30.0,
        models=("gemma3-270m", "other-model"),
    )


@pytest.fixture
def app_gateway() -> FakeGateway:
    return FakeGateway(live_models=("gemma3-270m", "other-model"))


@pytest.fixture
def app_client(
    app_settings: ApiSettings, app_gateway: FakeGateway, fake_persistence: FakePersistence
) -> Iterator[TestClient[Any]]:
    service = ChatService(app_settings, app_gateway, StreamTable())
    app = create_app(app_settings, chat_service=service, persistence=fake_persistence)
    with TestClient(app=app, raise_server_exceptions=False) as client:
        yield client
