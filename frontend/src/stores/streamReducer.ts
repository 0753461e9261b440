import type { ChatEvent } from "../api/sse";
import type { Usage } from "../api/types";

export type StreamStatus = "idle" | "connecting" | "waiting" | "streaming" | "reconnecting" | "done" | "error";

export interface StreamError {
  status: number;
  code: string;
  message: string;
  retryAfterS: number | null;
  /** Date.now() when the error was seen (Retry-After counts down from it). */
  at: number;
}

export interface QueueInfo {
  position: number;
  etaS: number | null;
  receivedAt: number;
}

export interface StreamState {
  status: StreamStatus;
  requestId: string | null;
  conversationId: string | null;
  model: string | null;
  text: string;
  /** Seq of the last token applied (-1: none); tokens at or below it are duplicates. */
  lastSeq: number;
  queue: QueueInfo | null;
  error: StreamError | null;
  finishReason: string | null;
  usage: Usage | null;
}

export const idleStream: StreamState = {
  status: "idle",
  requestId: null,
  conversationId: null,
  model: null,
  text: "",
  lastSeq: -1,
  queue: null,
  error: null,
  finishReason: null,
  usage: null,
};

export function isActive(status: StreamStatus): boolean {
  return status === "connecting" || status === "waiting" || status === "streaming" || status === "reconnecting";
}

/** Applies one chat event. Pure: the same events in the same order give the same state. */
export function reduceStream(state: StreamState, event: ChatEvent, now: number): StreamState {
  switch (event.type) {
    case "start": {
      const sameRequest = state.requestId === event.requestId;
      return {
        ...state,
        requestId: event.requestId,
        model: event.model || state.model,
        status: state.text && sameRequest ? "streaming" : "waiting",
        text: sameRequest ? state.text : "",
        lastSeq: sameRequest ? state.lastSeq : -1,
        error: null,
      };
    }
    case "queued":
      if (state.text) return state; // a token already came: the queue is over
      return { ...state, status: "waiting", queue: { position: event.position, etaS: event.etaS, receivedAt: now } };
    case "token":
      if (event.seq >= 0 && event.seq <= state.lastSeq) return state;
      return {
        ...state,
        status: "streaming",
        text: state.text + event.text,
        lastSeq: event.seq >= 0 ? event.seq : state.lastSeq,
        queue: null,
      };
    case "done":
      return { ...state, status: "done", queue: null, finishReason: event.finishReason, usage: event.usage };
    case "error":
      return {
        ...state,
        status: "error",
        queue: null,
        error: { status: 200, code: event.code, message: event.message, retryAfterS: null, at: now },
      };
    case "keepalive":
      return state;
  }
}

/** Seconds left of a queue estimate, counted down from when it arrived. */
export function queueSecondsLeft(queue: QueueInfo, now: number): number | null {
  if (queue.etaS == null) return null;
  return Math.max(0, Math.ceil(queue.etaS - (now - queue.receivedAt) / 1000));
}
