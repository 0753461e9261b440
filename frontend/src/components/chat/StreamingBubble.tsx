import { useTranslation } from "react-i18next";
import { useStream } from "../../stores/stream";
import { Markdown } from "../Markdown";
import { QueueStatus } from "./QueueStatus";

/** The answer being generated: subscribes to the stream store alone, so tokens re-render only this. */
export function StreamingBubble({ conversationId }: { conversationId: string | null }) {
  const { t } = useTranslation();
  const text = useStream((s) => s.text);
  const status = useStream((s) => s.status);
  const owner = useStream((s) => s.conversationId);
  if (status === "idle" || owner !== conversationId || (status === "error" && !text)) return null;
  const live = status !== "done" && status !== "error";
  return (
    <article className="flex justify-start" data-testid="message-assistant" data-role="assistant" data-streaming={live ? "true" : "false"} aria-label={t("chat.assistantSaid")} aria-busy={live}>
      <div className="max-w-[85%] rounded-2xl px-4 py-2 bg-gray-100 dark:bg-gray-800">
        {text ? <Markdown text={text} /> : <QueueStatus />}
        {text && status === "reconnecting" && <p className="text-xs opacity-70" role="status">{t("chat.reconnecting")}</p>}
      </div>
    </article>
  );
}
