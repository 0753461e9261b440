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

/** The resume record is written at most this often while tokens flow. */
export const SAVE_EVERY_MS = 250;
let lastSaved = -Infinity;
let saveTimer: ReturnType<typeof setTimeout> | null = null;

function save(state: StreamState): void {
  if (!state.requestId) return;
  lastSaved = Date.now();
  saveResume({ requestId: state.requestId, conversationId: state.conversationId, lastSeq: state.lastSeq, text: state.text });
}

/**
 * Keeps the resume record in step with the stream. While tokens flow it is a snapshot (text
 * and the seq of its last token) at most every SAVE_EVERY_MS, and at once when the page is
 * hidden or unloaded: a re-attach asks for the tokens after the snapshot's seq, so an older
 * snapshot costs a few tokens sent again, never a gap or a double. (Writing the whole text
 * to sessionStorage every frame was a measurable share of a frame on a slow CPU.)
 */
function persist(state: StreamState): void {
  if (state.requestId && isActive(state.status)) {
    const wait = lastSaved + SAVE_EVERY_MS - Date.now();
    if (wait <= 0) save(state);
    else saveTimer ??= setTimeout(() => {
      saveTimer = null;
      persist(useStream.getState());
    }, wait);
  } else if (state.status === "done" || (state.status === "error" && state.error?.status !== 0)) {
    saveResume(null);
  }
}

function saveNow(): void {
  const store = useStream.getState();
  store.flush();
  const state = useStream.getState();
  if (state.requestId && isActive(state.status)) save(state);
}

if (typeof window !== "undefined") window.addEventListener("pagehide", saveNow);

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
    if (saveTimer !== null) clearTimeout(saveTimer);
    saveTimer = null;
    lastSaved = -Infinity;
    if (frame !== null) unschedule(frame);
    frame = null;
    saveResume(null);
    set({ ...idleStream });
  },
}));
