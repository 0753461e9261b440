import { beforeEach, describe, expect, it, vi } from "vitest";
import { idleStream, queueSecondsLeft, reduceStream, type StreamState } from "../stores/streamReducer";
import { SAVE_EVERY_MS, useStream } from "../stores/stream";
import { loadResume } from "../lib/resume";
import type { ChatEvent } from "../api/sse";

function run(events: ChatEvent[], from: StreamState = idleStream): StreamState {
  return events.reduce((s, e) => reduceStream(s, e, 1000), from);
}

const start: ChatEvent = { type: "start", requestId: "r1", model: "m" };
const tok = (seq: number, text: string): ChatEvent => ({ type: "token", seq, text });

describe("reduceStream", () => {
  it("appends tokens in order and ends with done", () => {
    const s = run([start, tok(1, "a"), tok(2, "b"), { type: "done", finishReason: "stop", usage: null }]);
    expect(s.text).toBe("ab");
    expect(s.lastSeq).toBe(2);
    expect(s.status).toBe("done");
    expect(s.finishReason).toBe("stop");
  });

  it("shows the queue until the first token", () => {
    let s = run([start, { type: "queued", position: 3, etaS: 8 }]);
    expect(s.status).toBe("waiting");
    expect(s.queue).toEqual({ position: 3, etaS: 8, receivedAt: 1000 });
    expect(queueSecondsLeft(s.queue!, 4000)).toBe(5);
    expect(queueSecondsLeft(s.queue!, 20_000)).toBe(0);
    s = reduceStream(s, tok(1, "x"), 2000);
    expect(s.queue).toBeNull();
    expect(s.status).toBe("streaming");
  });

  it("keeps an error event's code", () => {
    const s = run([start, tok(1, "part"), { type: "error", code: "timeout", message: "late" }]);
    expect(s.status).toBe("error");
    expect(s.error?.code).toBe("timeout");
    expect(s.text).toBe("part");
  });

  it("resumes without doubling: replayed tokens at or below the last seq are dropped", () => {
    const before = run([start, tok(1, "Hel"), tok(2, "lo")]);
    const resumed = { ...idleStream, status: "reconnecting" as const, requestId: "r1", lastSeq: before.lastSeq, text: before.text };
    const after = run([start, tok(2, "lo"), tok(3, " world"), { type: "done", finishReason: "stop", usage: null }], resumed);
    expect(after.text).toBe("Hello world");
    expect(after.lastSeq).toBe(3);
  });

  it("a start for another request resets the text", () => {
    const s = run([start, tok(1, "old"), { type: "start", requestId: "r2", model: "m" }, tok(1, "new")]);
    expect(s.text).toBe("new");
  });
});

describe("useStream store", () => {
  beforeEach(() => {
    sessionStorage.clear();
    useStream.getState().reset();
  });

  it("batches tokens until a flush", () => {
    const store = useStream.getState();
    store.begin("c1");
    store.push(start);
    store.push(tok(1, "a"));
    store.push(tok(2, "b"));
    expect(useStream.getState().text).toBe("");
    useStream.getState().flush();
    expect(useStream.getState().text).toBe("ab");
  });

  it("writes the resume record at most every SAVE_EVERY_MS, the latest snapshot last", () => {
    vi.useFakeTimers();
    try {
      const store = useStream.getState();
      store.begin("c1");
      store.push(start); // applied and saved at once
      expect(loadResume()?.text).toBe("");
      for (const [seq, text] of [[1, "a"], [2, "b"], [3, "c"]] as const) {
        store.push(tok(seq, text));
        useStream.getState().flush();
      }
      expect(loadResume()?.text).toBe(""); // within SAVE_EVERY_MS of the last write
      vi.advanceTimersByTime(SAVE_EVERY_MS);
      expect(loadResume()).toEqual({ requestId: "r1", conversationId: "c1", lastSeq: 3, text: "abc" });
    } finally {
      vi.useRealTimers();
    }
  });

  it("saves at once when the page is hidden", () => {
    const store = useStream.getState();
    store.begin("c1");
    store.push(start);
    store.push(tok(1, "a"));
    useStream.getState().flush();
    store.push(tok(2, "b")); // not flushed, not saved yet
    window.dispatchEvent(new Event("pagehide"));
    expect(loadResume()).toEqual({ requestId: "r1", conversationId: "c1", lastSeq: 2, text: "ab" });
  });

  it("done applies at once and clears the resume record", () => {
    const store = useStream.getState();
    store.begin("c1");
    store.push(start);
    store.push(tok(1, "a"));
    store.push({ type: "done", finishReason: "stop", usage: null });
    expect(useStream.getState().status).toBe("done");
    expect(useStream.getState().text).toBe("a");
    expect(loadResume()).toBeNull();
  });

  it("resume continues from the saved text and ignores duplicates", () => {
    useStream.getState().resume({ requestId: "r1", conversationId: "c1", lastSeq: 2, text: "ab" });
    const store = useStream.getState();
    store.push(start);
    store.push(tok(1, "a"));
    store.push(tok(2, "b"));
    store.push(tok(3, "c"));
    useStream.getState().flush();
    expect(useStream.getState().text).toBe("abc");
  });
});
