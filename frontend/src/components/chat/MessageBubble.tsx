import { memo, useState } from "react";
import { useTranslation } from "react-i18next";
import type { Message } from "../../api/types";
import { Markdown } from "../Markdown";
import { CopyButton } from "../CopyButton";
import { useStream } from "../../stores/stream";
import { isActive } from "../../stores/streamReducer";
import { QueueStatus } from "./QueueStatus";

interface Props {
  message: Message;
  isLastAssistant: boolean;
  busy: boolean;
  onRegenerate: () => void;
  onResend: (text: string) => void;
  /** The answer being generated: its text comes from the stream store. The same bubble
   * (same key) shows the stored answer once it is done, so nothing renders twice. */
  live?: boolean;
}

export const MessageBubble = memo(function MessageBubble({ message, isLastAssistant, busy, onRegenerate, onResend, live = false }: Props) {
  const { t } = useTranslation();
  const liveText = useStream((s) => (live ? s.text : null));
  const liveStatus = useStream((s) => (live ? s.status : null));
  const streaming = liveStatus !== null && isActive(liveStatus);
  const text = liveText ?? message.content;
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(message.content);
  const isUser = message.role === "user";
  if (message.role === "system") return null;
  const submitEdit = () => {
    setEditing(false);
    if (draft.trim()) onResend(draft);
  };
  return (
    <article
      className={`msg group flex ${isUser ? "justify-end" : "justify-start"}`}
      data-testid={`message-${message.role}`}
      data-role={message.role}
      data-request-id={message.request_id ?? undefined}
      data-streaming={live ? String(streaming) : undefined}
      aria-busy={live ? streaming : undefined}
      aria-label={isUser ? t("chat.youSaid") : t("chat.assistantSaid")}
    >
      <div className={`max-w-[85%] rounded-2xl px-4 py-2 ${isUser ? "bg-blue-600 text-white" : "bg-gray-100 dark:bg-gray-800 text-gray-900 dark:text-gray-100"}`}>
        {editing ? (
          <div className="flex flex-col gap-2">
            <label className="sr-only" htmlFor={`edit-${message.id}`}>{t("chat.editMessage")}</label>
            <textarea id={`edit-${message.id}`} data-testid="edit-input" className="min-w-[16rem] rounded p-2 text-gray-900" rows={3} value={draft}
              onChange={(e) => setDraft(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submitEdit(); }
                if (e.key === "Escape") setEditing(false);
              }} />
            <div className="flex gap-2 justify-end">
              <button type="button" className="text-sm underline" onClick={() => setEditing(false)}>{t("common.cancel")}</button>
              <button type="button" data-testid="edit-send" className="text-sm rounded bg-white/20 px-2" onClick={submitEdit}>{t("chat.resend")}</button>
            </div>
          </div>
        ) : isUser ? (
          <p className="whitespace-pre-wrap break-words">{message.content}</p>
        ) : live && !text ? (
          <QueueStatus />
        ) : (
          <Markdown text={text} />
        )}
        {live && text && liveStatus === "reconnecting" && <p className="text-xs opacity-70" role="status">{t("chat.reconnecting")}</p>}
        {message.status !== "complete" && (
          <p className="mt-1 text-xs opacity-70">{t(`chat.status.${message.status}`)}</p>
        )}
        {!editing && (
          <div className={`mt-1 flex gap-2 ${isUser ? "" : "opacity-70 group-hover:opacity-100 focus-within:opacity-100"}`}>
            {isUser ? (
              <button type="button" data-testid="message-edit" disabled={busy} className="text-xs underline disabled:opacity-40" onClick={() => { setDraft(message.content); setEditing(true); }}>
                {t("chat.edit")}
              </button>
            ) : (
              <>
                <CopyButton text={message.content} label={t("chat.copyAnswer")} testId="message-copy" />
                {isLastAssistant && (
                  <button type="button" data-testid="regenerate" disabled={busy} className="text-xs underline disabled:opacity-40" onClick={onRegenerate}>
                    {t("chat.regenerate")}
                  </button>
                )}
              </>
            )}
          </div>
        )}
      </div>
    </article>
  );
});
