import { useCallback, useEffect, useLayoutEffect, useMemo, useRef } from "react";
import { useTranslation } from "react-i18next";
import { useChat } from "../../stores/chat";
import { useStream } from "../../stores/stream";
import { isActive } from "../../stores/streamReducer";
import { MessageBubble } from "./MessageBubble";
import type { Message } from "../../api/types";

/** Assistant answers are keyed by request: the live answer and its stored copy are one bubble. */
function keyOf(message: Message): string {
  return message.role === "assistant" && message.request_id ? `answer-${message.request_id}` : message.id;
}

/**
 * Messages oldest first; older pages load when scrolled near the top (keeping the view in
 * place); sticks to the bottom while an answer streams if the reader is there. Bubbles are
 * memoized and use `content-visibility: auto`, so long conversations stay cheap.
 */
export function MessageList() {
  const { t } = useTranslation();
  const messages = useChat((s) => s.messages);
  const conversationId = useChat((s) => s.conversationId);
  const hasMore = useChat((s) => s.hasMore);
  const loadingOlder = useChat((s) => s.loadingOlder);
  const loading = useChat((s) => s.loading);
  const busy = useStream((s) => isActive(s.status));
  // The answer this conversation is generating (or just finished, until it is settled).
  const liveRequest = useStream((s) =>
    s.status !== "idle" && s.conversationId === conversationId && !(s.status === "error" && !s.text) ? (s.requestId ?? "") : null,
  );
  const liveMessage = useMemo<Message | null>(
    () => (liveRequest === null ? null : { id: "live", role: "assistant", content: "", status: "complete", request_id: liveRequest || null, created_at: 0 }),
    [liveRequest],
  );
  const ref = useRef<HTMLDivElement>(null);
  const content = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const prevHeight = useRef<number | null>(null);

  const onScroll = () => {
    const el = ref.current;
    if (!el) return;
    atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
    if (el.scrollTop < 200 && hasMore && !loadingOlder) {
      prevHeight.current = el.scrollHeight;
      void useChat.getState().loadOlder();
    }
  };

  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    if (prevHeight.current !== null && !loadingOlder) {
      el.scrollTop += el.scrollHeight - prevHeight.current;
      prevHeight.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [messages, loadingOlder]);

  // The streaming bubble grows with every frame of tokens: keep the reader at the bottom if
  // they are there. A ResizeObserver runs after layout, so this forces no extra layout and
  // the list does not render again per token.
  useEffect(() => {
    const el = ref.current;
    const inner = content.current;
    if (!el || !inner || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(() => {
      if (atBottom.current && prevHeight.current === null) el.scrollTop = el.scrollHeight;
    });
    observer.observe(inner);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    atBottom.current = true;
  }, [conversationId]);

  const onRegenerate = useCallback(() => void useChat.getState().regenerate(), []);
  const onResend = useCallback((value: string) => void useChat.getState().send(value), []);
  const stored = liveRequest ? messages.filter((m) => !(m.role === "assistant" && m.request_id === liveRequest)) : messages;
  const visible = liveMessage ? [...stored, liveMessage] : stored;
  let lastAssistant = -1;
  for (let i = visible.length - 1; i >= 0; i--) if (visible[i]!.role === "assistant") { lastAssistant = i; break; }

  return (
    <div ref={ref} onScroll={onScroll} className="flex-1 overflow-y-auto" data-testid="message-list" role="log" aria-live="polite" aria-label={t("chat.messages")}>
      <div ref={content} className="mx-auto flex max-w-3xl flex-col gap-3 p-4">
        {loadingOlder && <p className="text-center text-sm opacity-60">{t("common.loading")}</p>}
        {loading && messages.length === 0 && <p className="text-center text-sm opacity-60">{t("common.loading")}</p>}
        {!loading && visible.length === 0 && !busy && <p className="mt-16 text-center text-lg opacity-60" data-testid="empty-chat">{t("chat.empty")}</p>}
        {visible.map((m, i) => (
          <MessageBubble key={keyOf(m)} message={m} live={m === liveMessage} isLastAssistant={i === lastAssistant} busy={busy} onRegenerate={onRegenerate} onResend={onResend} />
        ))}
      </div>
    </div>
  );
}
