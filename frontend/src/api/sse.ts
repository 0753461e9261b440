import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { Usage } from "./types";

/** The events of a chat stream (POST /api/chat, GET /api/chat/{id}/events). */
export type ChatEvent =
  | { type: "start"; requestId: string; model: string }
  | { type: "queued"; position: number; etaS: number | null }
  | { type: "token"; seq: number; text: string }
  | { type: "done"; finishReason: string; usage: Usage | null }
  | { type: "error"; code: string; message: string }
  | { type: "keepalive" };

type Json = Record<string, unknown>;

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function s(v: unknown, fallback = ""): string {
  return typeof v === "string" ? v : fallback;
}

/** One SSE message -> a ChatEvent (unknown events and bad JSON -> null). */
export function toChatEvent(message: EventSourceMessage): ChatEvent | null {
  let data: Json;
  try {
    data = JSON.parse(message.data) as Json;
  } catch {
    return null;
  }
  switch (message.event) {
    case "start":
      return { type: "start", requestId: s(data.request_id), model: s(data.model) };
    case "queued":
      return { type: "queued", position: num(data.position) ?? 0, etaS: num(data.eta_s) };
    case "token": {
      const seq = message.id !== undefined ? Number(message.id) : NaN;
      return { type: "token", seq: Number.isFinite(seq) ? seq : -1, text: s(data.text) };
    }
    case "done":
      return { type: "done", finishReason: s(data.finish_reason, "stop"), usage: (data.usage as Usage | null) ?? null };
    case "error":
      return { type: "error", code: s(data.code, "internal_error"), message: s(data.message) };
    default:
      return null;
  }
}

/** Feeds text chunks (split anywhere) and calls onEvent per complete chat event. */
export class ChatEventParser {
  private readonly parser;

  constructor(onEvent: (event: ChatEvent) => void) {
    this.parser = createParser({
      onEvent: (message) => {
        const event = toChatEvent(message);
        if (event) onEvent(event);
      },
      onComment: () => onEvent({ type: "keepalive" }),
    });
  }

  feed(chunk: string): void {
    this.parser.feed(chunk);
  }

  reset(): void {
    this.parser.reset();
  }
}

/** Reads a response body to its end, decoding UTF-8 across chunk boundaries. */
export async function readChatEvents(body: ReadableStream<Uint8Array>, onEvent: (event: ChatEvent) => void): Promise<void> {
  const parser = new ChatEventParser(onEvent);
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
    }
    parser.feed(decoder.decode());
  } finally {
    reader.releaseLock();
  }
}
