import { useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { useChat } from "../../stores/chat";
import { useStream } from "../../stores/stream";
import { isActive } from "../../stores/streamReducer";

export function Composer() {
  const { t } = useTranslation();
  const [text, setText] = useState("");
  const busy = useStream((s) => isActive(s.status));
  const ref = useRef<HTMLTextAreaElement>(null);
  const send = () => {
    if (busy || !text.trim()) return;
    const value = text;
    setText("");
    void useChat.getState().send(value);
  };
  return (
    <form className="mx-auto flex w-full max-w-3xl items-end gap-2 p-3" onSubmit={(e) => { e.preventDefault(); send(); }} data-testid="composer">
      <label htmlFor="composer-input" className="sr-only">{t("chat.inputLabel")}</label>
      <textarea
        id="composer-input"
        ref={ref}
        data-testid="composer-input"
        rows={Math.min(8, Math.max(1, text.split("\n").length))}
        className="flex-1 resize-none rounded-xl border border-gray-300 bg-white p-3 text-gray-900 focus:outline-none focus:ring-2 focus:ring-blue-500 dark:border-gray-600 dark:bg-gray-900 dark:text-gray-100"
        placeholder={t("chat.placeholder")}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
            e.preventDefault();
            send();
          } else if (e.key === "Escape" && busy) {
            e.preventDefault();
            void useChat.getState().stop();
          }
        }}
      />
      {busy ? (
        <button type="button" data-testid="stop-button" onClick={() => void useChat.getState().stop()}
          className="rounded-xl bg-red-600 px-4 py-3 font-medium text-white hover:bg-red-700">{t("chat.stop")}</button>
      ) : (
        <button type="submit" data-testid="send-button" disabled={!text.trim()}
          className="rounded-xl bg-blue-700 px-4 py-3 font-medium text-white hover:bg-blue-800 disabled:opacity-50">{t("chat.send")}</button>
      )}
    </form>
  );
}
