import { beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../api/errors";
import type { ConversationPage } from "../api/types";

const attachChat = vi.fn();
const page = vi.fn();
vi.mock("../api/chatStream", () => ({ attachChat: (...args: unknown[]) => attachChat(...args), postChat: vi.fn() }));
vi.mock("../api/endpoints", () => ({
  chatApi: {},
  conversationsApi: { page: (...args: unknown[]) => page(...args) },
}));

const { useChat } = await import("../stores/chat");
const { useStream } = await import("../stores/stream");

function stale(): ConversationPage {
  return {
    conversation: { id: "c1", user_id: "u", title: "t", created_at: 1, updated_at: 1, message_count: 2 },
    messages: [
      { id: "m1", role: "user", content: "hi", status: "complete", request_id: "r-old", created_at: 1 },
      { id: "m2", role: "assistant", content: "hello", status: "complete", request_id: "r-old", created_at: 2 },
    ],
    has_more: false,
    next_before: null,
    active_request_id: "r-old",
  } as ConversationPage;
}

describe("following a conversation's running chat", () => {
  beforeEach(() => {
    attachChat.mockReset();
    page.mockReset();
    useStream.getState().reset();
  });

  it("a request the server said is over is not followed again when the conversation still names it", async () => {
    // (bounded, so that without the guard the test fails instead of looping for ever)
    page.mockResolvedValueOnce(stale()).mockResolvedValueOnce(stale()).mockResolvedValueOnce(stale());
    page.mockResolvedValue({ ...stale(), active_request_id: null });
    attachChat.mockRejectedValue(new ApiError(410, "stream_expired", "expired"));
    await useChat.getState().open("c1");
    // the 410 reloads the conversation once; it still names r-old, which is not followed again
    expect(attachChat).toHaveBeenCalledTimes(1);
    expect(page).toHaveBeenCalledTimes(2);
    expect(useChat.getState().messages.map((m) => m.content)).toEqual(["hi", "hello"]);
    expect(useStream.getState().requestId).toBeNull();

    await useChat.getState().open("c1");
    expect(attachChat).toHaveBeenCalledTimes(1);
    expect(page).toHaveBeenCalledTimes(3);
  });
});
