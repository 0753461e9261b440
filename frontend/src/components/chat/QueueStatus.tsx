import { useTranslation } from "react-i18next";
import { useStream } from "../../stores/stream";
import { queueSecondsLeft } from "../../stores/streamReducer";
import { useNow } from "../../lib/useNow";

/** "3rd in line, about 8 s", counted down every second until the first token. */
export function QueueStatus() {
  const { t } = useTranslation();
  const queue = useStream((s) => s.queue);
  const status = useStream((s) => s.status);
  const now = useNow(queue !== null);
  if (status === "reconnecting") return <p role="status" data-testid="stream-status" className="text-sm opacity-70">{t("chat.reconnecting")}</p>;
  if (!queue) return <p role="status" data-testid="stream-status" className="text-sm opacity-70 animate-pulse">{t("chat.thinking")}</p>;
  const left = queueSecondsLeft(queue, now);
  const place = t("queue.position", { count: queue.position, ordinal: true });
  return (
    <p role="status" data-testid="queue-status" data-position={queue.position} className="text-sm opacity-80">
      {left === null ? t("queue.noEta", { place }) : t("queue.eta", { place, seconds: left })}
    </p>
  );
}
