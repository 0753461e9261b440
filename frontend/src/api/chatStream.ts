import { apiResponse } from "./client";
import { readChatEvents, type ChatEvent } from "./sse";
import type { ChatBody } from "./types";

/** POST /api/chat and read its events until the body ends (throws ApiError before the stream). */
export async function postChat(body: ChatBody, onEvent: (e: ChatEvent) => void, signal: AbortSignal): Promise<void> {
  const response = await apiResponse("/api/chat", { method: "POST", body, signal, headers: { Accept: "text/event-stream" } });
  if (!response.body) return;
  await readChatEvents(response.body, onEvent);
}

/** GET /api/chat/{id}/events: re-attach, after `lastSeq` when given (Last-Event-ID). */
export async function attachChat(requestId: string, lastSeq: number | null, onEvent: (e: ChatEvent) => void, signal: AbortSignal): Promise<void> {
  const headers: Record<string, string> = { Accept: "text/event-stream" };
  if (lastSeq !== null && lastSeq >= 0) headers["Last-Event-ID"] = String(lastSeq);
  const response = await apiResponse(`/api/chat/${encodeURIComponent(requestId)}/events`, { signal, headers });
  if (!response.body) return;
  await readChatEvents(response.body, onEvent);
}
