"""What a chat is made of when the request leaves things out (pure functions).

Precedence, highest first: the request > the conversation's system prompt > the user's
settings > the model profile's sampling defaults (FR-3; a model routed by the ``MODELS``
whitelist has none: ``None`` goes on the wire and the worker's defaults apply). A
conversation chat is ``[system prompt] + stored history + the request's new turn(s)``;
when that exceeds the message / character limits the oldest history goes first. Only the
history that can fit is fetched (``history_request``): a conversation may be far larger
than one chat's input, and than one persistence reply.
"""

from __future__ import annotations

from chat_api.errors import ApiError
from chat_api.settings import ApiSettings
from contracts.accounts import UserSettings
from contracts.admin import ProfileSampling
from contracts.conversations import (
    MAX_MESSAGES_PAGE,
    ConversationDetail,
    GetConversation,
    MessageStatus,
)
from contracts.errors import ErrorCode
from contracts.inference import ChatMessage, SamplingParams

HISTORY_STATUSES: tuple[MessageStatus, ...] = ("complete", "cancelled")


def history_of(detail: ConversationDetail) -> list[ChatMessage]:
    """Stored user / assistant messages worth sending again (not failed, not empty)."""
    return [
        ChatMessage(role=m.role, content=m.content)
        for m in detail.messages
        if m.role in ("user", "assistant") and m.status in HISTORY_STATUSES and m.content
    ]


def history_request(
    settings: ApiSettings, user_id: str, conversation_id: str, messages: tuple[ChatMessage, ...]
) -> GetConversation:
    """The conversation with at most the history ``fit_history`` could keep beside the
    request's own messages (the conversation's system prompt, unknown yet, can only take
    more room): the newest messages of ``history_of``'s kind, within the room left."""
    count = min(settings.max_messages - len(messages), MAX_MESSAGES_PAGE)
    chars = settings.max_input_chars - sum(len(m.content) for m in messages)
    no_room = count <= 0 or chars <= 0
    return GetConversation(
        user_id=user_id,
        conversation_id=conversation_id,
        limit=0 if no_room else count,
        max_chars=0 if no_room else chars,
        statuses=HISTORY_STATUSES,
        skip_empty=True,
    )


def system_prompt_of(*candidates: str | None) -> str | None:
    """The first non-blank prompt, in precedence order."""
    for prompt in candidates:
        if prompt and prompt.strip():
            return prompt
    return None


def fit_history(
    settings: ApiSettings,
    head: list[ChatMessage],
    history: list[ChatMessage],
    turns: list[ChatMessage],
) -> list[ChatMessage]:
    """Drop the oldest history until the whole chat fits MAX_MESSAGES / MAX_INPUT_CHARS."""
    fixed_count = len(head) + len(turns)
    fixed_chars = sum(len(m.content) for m in head) + sum(len(m.content) for m in turns)
    keep: list[ChatMessage] = []
    count, chars = fixed_count, fixed_chars
    for message in reversed(history):
        if count + 1 > settings.max_messages or chars + len(message.content) > (
            settings.max_input_chars
        ):
            break
        keep.append(message)
        count += 1
        chars += len(message.content)
    keep.reverse()
    # never start the kept history with an assistant reply cut from its question
    while keep and keep[0].role == "assistant":
        keep.pop(0)
    return [*head, *keep, *turns]


def compose_messages(
    settings: ApiSettings,
    messages: tuple[ChatMessage, ...],
    defaults: UserSettings | None,
    detail: ConversationDetail | None,
) -> tuple[ChatMessage, ...]:
    request_system = [m for m in messages if m.role == "system"]
    if detail is None:
        if request_system:
            return messages
        prompt = system_prompt_of(defaults.system_prompt if defaults else None)
        if prompt is None:
            return messages
        return (ChatMessage(role="system", content=prompt), *messages)
    turns = [m for m in messages if m.role != "system"]
    if not turns or turns[-1].role != "user":
        raise ApiError(
            400,
            ErrorCode.INVALID_REQUEST,
            "with conversation_id, messages are the new turn(s) and must end with a user message",
            param="messages",
        )
    if request_system:
        head = request_system
    else:
        prompt = system_prompt_of(
            detail.conversation.system_prompt, defaults.system_prompt if defaults else None
        )
        head = [] if prompt is None else [ChatMessage(role="system", content=prompt)]
    return tuple(fit_history(settings, head, history_of(detail), turns))


def _filled(
    sampling: SamplingParams,
    temperature: float | None,
    top_p: float | None,
    max_tokens: int | None,
) -> SamplingParams:
    """``sampling`` with its unset temperature / top_p / max_tokens taken from these."""
    return SamplingParams(
        temperature=sampling.temperature if sampling.temperature is not None else temperature,
        top_p=sampling.top_p if sampling.top_p is not None else top_p,
        max_tokens=sampling.max_tokens if sampling.max_tokens is not None else max_tokens,
        stop=sampling.stop,
        seed=sampling.seed,
    )


def compose_sampling(sampling: SamplingParams, defaults: UserSettings | None) -> SamplingParams:
    if defaults is None:
        return sampling
    return _filled(sampling, defaults.temperature, defaults.top_p, defaults.max_tokens)


def apply_profile_sampling(
    sampling: SamplingParams, profile: ProfileSampling | None, max_tokens_limit: int
) -> SamplingParams:
    """Fill what the request and the user left unset from the profile's defaults; the
    profile's ``max_tokens`` is capped at ``MAX_TOKENS_LIMIT`` (a default must not make
    a request the api itself refuses)."""
    if profile is None:
        return sampling
    return _filled(
        sampling, profile.temperature, profile.top_p, min(profile.max_tokens, max_tokens_limit)
    )


def compose_model(
    settings: ApiSettings, model: str | None, defaults: UserSettings | None
) -> str | None:
    """The request's model, else the user's (if still served), else None (= the default)."""
    if model:
        return model
    if defaults is not None and defaults.model in settings.models:
        return defaults.model
    return None


def new_user_message(messages: tuple[ChatMessage, ...]) -> str:
    """The content of the last user message (the new turn of a conversation chat)."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    return ""
