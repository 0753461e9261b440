import { memo, useState } from "react";
import { useTranslation } from "react-i18next";
import type { Conversation } from "../api/types";
import { useConversations } from "../stores/conversations";
import { useUi } from "../stores/ui";

export const ConversationItem = memo(function ConversationItem({ conversation, active }: { conversation: Conversation; active: boolean }) {
  const { t } = useTranslation();
  const [renaming, setRenaming] = useState(false);
  const [title, setTitle] = useState(conversation.title);
  const [menu, setMenu] = useState(false);
  const label = conversation.title || t("sidebar.untitled");
  const store = useConversations.getState;
  const commit = () => {
    setRenaming(false);
    if (title.trim() && title !== conversation.title) void store().rename(conversation.id, title.trim());
  };
  const fail = () => useUi.getState().showToast({ message: t("sidebar.exportFailed") });
  return (
    <li data-testid="conversation-item" data-id={conversation.id} className={`group rounded-lg ${active ? "bg-gray-200 dark:bg-gray-700" : "hover:bg-gray-100 dark:hover:bg-gray-800"}`}>
      {renaming ? (
        <form className="p-1" onSubmit={(e) => { e.preventDefault(); commit(); }}>
          <label className="sr-only" htmlFor={`rename-${conversation.id}`}>{t("sidebar.renameLabel")}</label>
          <input id={`rename-${conversation.id}`} data-testid="rename-input" autoFocus value={title} maxLength={200}
            onChange={(e) => setTitle(e.target.value)} onBlur={commit}
            onKeyDown={(e) => { if (e.key === "Escape") { setTitle(conversation.title); setRenaming(false); } }}
            className="w-full rounded border border-gray-300 bg-white px-2 py-1 text-sm dark:border-gray-600 dark:bg-gray-900" />
        </form>
      ) : (
        <div className="flex items-center">
          <a href={`#/c/${encodeURIComponent(conversation.id)}`} aria-current={active ? "page" : undefined} data-testid="conversation-link"
            onClick={(e) => { e.preventDefault(); useUi.getState().navigate({ view: "chat", conversationId: conversation.id }); }}
            className="flex-1 truncate px-3 py-2 text-sm">{label}</a>
          <button type="button" data-testid="conversation-menu" aria-haspopup="true" aria-expanded={menu} aria-label={t("sidebar.actionsFor", { title: label })}
            onClick={() => setMenu(!menu)} className="px-2 py-1 text-sm opacity-60 hover:opacity-100">⋯</button>
        </div>
      )}
      {menu && !renaming && (
        <div className="flex flex-wrap gap-1 px-2 pb-2 text-xs" role="group" aria-label={t("sidebar.actionsFor", { title: label })}>
          <button type="button" data-testid="conversation-rename" className="rounded border px-2 py-0.5" onClick={() => { setMenu(false); setTitle(conversation.title); setRenaming(true); }}>{t("sidebar.rename")}</button>
          <button type="button" data-testid="conversation-export-json" className="rounded border px-2 py-0.5" onClick={() => void store().exportAs(conversation.id, "json", conversation.title).catch(fail)}>{t("sidebar.exportJson")}</button>
          <button type="button" data-testid="conversation-export-markdown" className="rounded border px-2 py-0.5" onClick={() => void store().exportAs(conversation.id, "markdown", conversation.title).catch(fail)}>{t("sidebar.exportMarkdown")}</button>
          <button type="button" data-testid="conversation-delete" className="rounded border border-red-400 px-2 py-0.5 text-red-700 dark:text-red-300" onClick={() => { setMenu(false); store().remove(conversation.id); }}>{t("sidebar.delete")}</button>
        </div>
      )}
    </li>
  );
});
