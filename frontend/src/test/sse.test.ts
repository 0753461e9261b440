import { describe, expect, it } from "vitest";
import { ChatEventParser, readChatEvents, type ChatEvent } from "../api/sse";

function parseAll(chunks: string[]): ChatEvent[] {
  const out: ChatEvent[] = [];
  const p = new ChatEventParser((e) => out.push(e));
  for (const c of chunks) p.feed(c);
  return out;
}

const stream =
  'event: start\ndata: {"request_id":"r1","model":"m"}\n\n' +
  'event: queued\ndata: {"position":3,"eta_s":8.5}\n\n' +
  ": keep-alive\n\n" +
  'id: 1\nevent: token\ndata: {"text":"Hel"}\n\n' +
  'id: 2\nevent: token\ndata: {"text":"lo 한국"}\n\n' +
  'event: done\ndata: {"finish_reason":"stop","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}\n\n';

describe("ChatEventParser", () => {
  it("parses every frame kind", () => {
    expect(parseAll([stream])).toEqual([
      { type: "start", requestId: "r1", model: "m" },
      { type: "queued", position: 3, etaS: 8.5 },
      { type: "keepalive" },
      { type: "token", seq: 1, text: "Hel" },
      { type: "token", seq: 2, text: "lo 한국" },
      { type: "done", finishReason: "stop", usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
    ]);
  });

  it("gives the same events whatever the split points", () => {
    const whole = parseAll([stream]);
    for (const size of [1, 2, 3, 7, 13]) {
      const chunks: string[] = [];
      for (let i = 0; i < stream.length; i += size) chunks.push(stream.slice(i, i + size));
      expect(parseAll(chunks)).toEqual(whole);
    }
  });

  it("handles CRLF, error frames, null eta and unknown events", () => {
    const events = parseAll([
      'event: queued\r\ndata: {"position":1,"eta_s":null}\r\n\r\n',
      "event: mystery\ndata: {}\n\n",
      "event: token\ndata: not json\n\n",
      'event: error\ndata: {"code":"rate_limited","message":"slow down"}\n\n',
    ]);
    expect(events).toEqual([
      { type: "queued", position: 1, etaS: null },
      { type: "error", code: "rate_limited", message: "slow down" },
    ]);
  });

  it("reads a resumed stream: start, then tokens after the last id", async () => {
    const body = 'event: start\ndata: {"request_id":"r1","model":"m"}\n\nid: 3\nevent: token\ndata: {"text":"x"}\n\n';
    const bytes = new TextEncoder().encode(body);
    // split inside a multibyte-free frame and feed as a stream of two chunks
    const rs = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, 30));
        c.enqueue(bytes.slice(30));
        c.close();
      },
    });
    const out: ChatEvent[] = [];
    await readChatEvents(rs, (e) => out.push(e));
    expect(out).toEqual([{ type: "start", requestId: "r1", model: "m" }, { type: "token", seq: 3, text: "x" }]);
  });

  it("decodes UTF-8 split inside a character", async () => {
    const bytes = new TextEncoder().encode('id: 1\nevent: token\ndata: {"text":"안녕"}\n\n');
    const cut = bytes.indexOf(0xec) + 1;
    const rs = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice(0, cut));
        c.enqueue(bytes.slice(cut));
        c.close();
      },
    });
    const out: ChatEvent[] = [];
    await readChatEvents(rs, (e) => out.push(e));
    expect(out).toEqual([{ type: "token", seq: 1, text: "안녕" }]);
  });
});
