import { useState } from "react";
import { useTranslation } from "react-i18next";
import { useChat } from "../stores/chat";
import { Composer } from "../components/chat/Composer";
import { ErrorBanner } from "../components/chat/ErrorBanner";
import { MessageList } from "../components/chat/MessageList";
import { ModelPicker } from "../components/chat/ModelPicker";
import { ParamsPanel } from "../components/chat/ParamsPanel";

export default function ChatScreen() {
  const { t } = useTranslation();
  const [showParams, setShowParams] = useState(false);
  const title = useChat((s) => s.conversation?.title);
  const loadError = useChat((s) => s.loadError);
  return (
    <section className="flex h-full min-h-0 flex-col" aria-label={t("chat.title")}>
      <div className="flex flex-wrap items-center gap-3 border-b border-gray-200 px-4 py-2 dark:border-gray-700">
        <h2 className="mr-auto truncate font-semibold" data-testid="chat-title">{title || t("chat.newChat")}</h2>
        <ModelPicker />
        <button type="button" data-testid="params-toggle" aria-expanded={showParams} onClick={() => setShowParams(!showParams)}
          className="rounded border border-gray-300 px-2 py-1 text-sm dark:border-gray-600">{t("params.toggle")}</button>
      </div>
      {showParams && <ParamsPanel />}
      {loadError && <p role="alert" className="p-3 text-center text-red-700 dark:text-red-300">{t("chat.loadFailed")}</p>}
      <MessageList />
      <ErrorBanner />
      <Composer />
      <p className="pb-2 text-center text-xs opacity-60">{t("chat.keyboardHint")}</p>
    </section>
  );
}
