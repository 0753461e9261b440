import { create } from "zustand";
import type { ChatEvent } from "../api/sse";
import { saveResume } from "../lib/resume";
import { idleStream, isActive, reduceStream, type StreamError, type StreamState } from "./streamReducer";

interface StreamActions {
  /** Starts a new stream for a conversation (status connecting, text empty). */
  begin: (conversationId: string | null) => void;
  /** Continues a known request (after a reload / network error) from its text so far. */
  resume: (record: { requestId: string; conversationId: string | null; lastSeq: number; text: string }) => void;
  /** Queues an event; applied at the next animation frame (terminal events at once). */
  push: (event: ChatEvent) => void;
  flush: () => void;
  fail: (error: StreamError) => void;
  setReconnecting: () => void;
  reset: () => void;
}

export type StreamStore = StreamState & StreamActions;

let pending: ChatEvent[] = [];
let frame: number | null = null;

const schedule: (cb: () => void) => number =
  typeof requestAnimationFrame === "function" ? (cb) => requestAnimationFrame(cb) : (cb) => setTimeout(cb, 16) as unknown as number;
const unschedule: (id: number) => void =
  typeof cancelAnimationFrame === "function" ? (id) => cancelAnimationFrame(id) : (id) => clearTimeout(id);

function persist(state: StreamState): void {
  if (state.requestId && isActive(state.status)) {
    saveResume({ requestId: state.requestId, conversationId: state.conversationId, lastSeq: state.lastSeq, text: state.text });
  } else if (state.status === "done" || (state.status === "error" && state.error?.status !== 0)) {
    saveResume(null);
  }
}

export const useStream = create<StreamStore>()((set, get) => ({
  ...idleStream,
  begin: (conversationId) => {
    pending = [];
    set({ ...idleStream, status: "connecting", conversationId });
  },
  resume: (record) => {
    pending = [];
    const next = { ...idleStream, status: "reconnecting" as const, ...record };
    set(next);
    persist(next);
  },
  push: (event) => {
    pending.push(event);
    if (event.type === "done" || event.type === "error" || event.type === "start") {
      get().flush();
      return;
    }
    if (frame === null) frame = schedule(() => get().flush());
  },
  flush: () => {
    if (frame !== null) {
      unschedule(frame);
      frame = null;
    }
    if (pending.length === 0) return;
    const events = pending;
    pending = [];
    const now = Date.now();
    let state: StreamState = get();
    for (const e of events) state = reduceStream(state, e, now);
    set(state);
    persist(state);
  },
  fail: (error) => {
    get().flush();
    const next = { ...get(), status: "error" as const, queue: null, error };
    set(next);
    persist(next);
  },
  setReconnecting: () => {
    get().flush();
    set({ status: "reconnecting", error: null });
  },
  reset: () => {
    pending = [];
    if (frame !== null) unschedule(frame);
    frame = null;
    saveResume(null);
    set({ ...idleStream });
  },
}));
