"""Cached msgspec JSON encoder and typed decoders for every wire schema.

Decoders raise ``msgspec.ValidationError`` / ``msgspec.DecodeError`` on a bad
payload; subscribers treat that as poison (``term()``), never as a crash.
"""

from __future__ import annotations

import msgspec

from contracts.accounts import AccountChanged
from contracts.admin import (
    ActivateProfile,
    ActivationOutcome,
    AdminChange,
    DesiredState,
    SwapStatus,
)
from contracts.events import ChatEvent
from contracts.inference import CancelChat, CancelRequest, ChatRequest, Chunk, OpenChat, RelayWatch
from contracts.workers import WorkerStatus

_encoder = msgspec.json.Encoder()

encode = _encoder.encode
decode_chat_request = msgspec.json.Decoder(ChatRequest).decode
decode_chunk = msgspec.json.Decoder(Chunk).decode
decode_cancel = msgspec.json.Decoder(CancelRequest).decode
decode_cancel_chat = msgspec.json.Decoder(CancelChat).decode
decode_open_chat = msgspec.json.Decoder(OpenChat).decode
decode_relay_watch = msgspec.json.Decoder(RelayWatch).decode
decode_event = msgspec.json.Decoder(ChatEvent).decode
decode_worker_status = msgspec.json.Decoder(WorkerStatus).decode

# model admin (issue 5)
decode_activate = msgspec.json.Decoder(ActivateProfile).decode
decode_swap_status = msgspec.json.Decoder(SwapStatus).decode
decode_desired_state = msgspec.json.Decoder(DesiredState).decode
decode_admin_change = msgspec.json.Decoder(AdminChange).decode
decode_activation_outcome = msgspec.json.Decoder(ActivationOutcome).decode

# accounts (cache invalidation)
decode_account_changed = msgspec.json.Decoder(AccountChanged).decode

DecodeErrors = (msgspec.DecodeError, msgspec.ValidationError)
