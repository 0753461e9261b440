import { useTranslation } from "react-i18next";
import { describeError } from "../../lib/errorMessages";
import { useNow } from "../../lib/useNow";
import { useChat } from "../../stores/chat";
import { useStream } from "../../stores/stream";
import { useAuth } from "../../stores/auth";

export function ErrorBanner() {
  const { t } = useTranslation();
  const error = useStream((s) => s.error);
  const status = useStream((s) => s.status);
  const now = useNow(status === "error" && error?.retryAfterS != null);
  if (status !== "error" || !error || error.code === "cancelled") return null;
  const view = describeError(error.status, error.code, error.retryAfterS);
  const left = view.retryAfterS == null ? 0 : Math.max(0, Math.ceil(view.retryAfterS - (now - error.at) / 1000));
  const dismiss = () => useStream.getState().reset();
  return (
    <div role="alert" data-testid="chat-error" data-code={error.code} className="mx-auto my-2 max-w-3xl rounded-lg border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100">
      <p className="font-semibold">{t(`${view.key}.title`)}</p>
      <p>{t(`${view.key}.hint`)}</p>
      {left > 0 && <p data-testid="retry-countdown">{t("errors.retryIn", { seconds: left })}</p>}
      <div className="mt-2 flex gap-2">
        {view.action === "login" ? (
          <button type="button" className="rounded bg-red-700 px-3 py-1 text-white" onClick={() => void useAuth.getState().logout()}>{t("auth.login")}</button>
        ) : view.action !== "edit" && view.action !== "none" ? (
          <button type="button" data-testid="error-retry" disabled={left > 0} className="rounded bg-red-700 px-3 py-1 text-white disabled:opacity-50" onClick={() => void useChat.getState().retry()}>
            {view.action === "reattach" ? t("errors.reconnect") : t("common.retry")}
          </button>
        ) : null}
        <button type="button" className="rounded px-3 py-1 underline" onClick={dismiss}>{t("common.dismiss")}</button>
      </div>
    </div>
  );
}
