import { useEffect, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { conversationsApi } from "../api/endpoints";
import { queryKeys } from "../lib/queryClient";
import { useAuth } from "../stores/auth";
import { useConversations } from "../stores/conversations";
import { useUi, type View } from "../stores/ui";
import { ConversationItem } from "./ConversationItem";
import { LanguageSwitch, ThemeSwitch } from "./Preferences";

function useDebounced(value: string, ms: number): string {
  const [v, setV] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setV(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return v;
}

function NavButton({ view, label, testId }: { view: View; label: string; testId: string }) {
  const current = useUi((s) => s.route.view);
  return (
    <button type="button" data-testid={testId} aria-current={current === view ? "page" : undefined}
      onClick={() => useUi.getState().navigate({ view, conversationId: null })}
      className={`w-full rounded px-3 py-1.5 text-left text-sm ${current === view ? "bg-gray-200 dark:bg-gray-700" : "hover:bg-gray-100 dark:hover:bg-gray-800"}`}>
      {label}
    </button>
  );
}

export function Sidebar() {
  const { t } = useTranslation();
  const query = useConversations((s) => s.query);
  const pending = useConversations((s) => s.pendingDelete);
  const q = useDebounced(query, 250);
  const route = useUi((s) => s.route);
  const user = useAuth((s) => s.user);
  const list = useQuery({ queryKey: queryKeys.conversations(q), queryFn: () => conversationsApi.list(q, 100) });
  const items = (list.data?.items ?? []).filter((c) => !pending[c.id]);
  return (
    <nav aria-label={t("sidebar.label")} className="flex h-full flex-col gap-2 p-3" data-testid="sidebar">
      <button type="button" data-testid="new-chat" onClick={() => useUi.getState().navigate({ view: "chat", conversationId: null })}
        className="rounded-lg bg-blue-700 px-3 py-2 text-sm font-medium text-white hover:bg-blue-800">{t("chat.newChat")}</button>
      <label className="sr-only" htmlFor="conversation-search">{t("sidebar.search")}</label>
      <input id="conversation-search" data-testid="conversation-search" type="search" value={query} placeholder={t("sidebar.search")}
        onChange={(e) => useConversations.getState().setQuery(e.target.value)}
        className="rounded border border-gray-300 bg-white px-2 py-1 text-sm dark:border-gray-600 dark:bg-gray-900" />
      <ul className="flex-1 overflow-y-auto" data-testid="conversation-list" aria-label={t("sidebar.conversations")}>
        {list.isLoading && <li className="p-2 text-sm opacity-60">{t("common.loading")}</li>}
        {list.isSuccess && items.length === 0 && <li className="p-2 text-sm opacity-60">{q ? t("sidebar.noMatches") : t("sidebar.none")}</li>}
        {items.map((c) => <ConversationItem key={`${c.id}:${c.title}`} conversation={c} active={route.view === "chat" && route.conversationId === c.id} />)}
      </ul>
      <div className="flex flex-col gap-1 border-t border-gray-200 pt-2 dark:border-gray-700">
        <NavButton view="settings" label={t("nav.settings")} testId="nav-settings" />
        <NavButton view="keys" label={t("nav.keys")} testId="nav-keys" />
        {user?.role === "admin" && (
          <>
            <NavButton view="admin-users" label={t("nav.adminUsers")} testId="nav-admin-users" />
            <NavButton view="admin-models" label={t("nav.adminModels")} testId="nav-admin-models" />
            <NavButton view="admin-usage" label={t("nav.adminUsage")} testId="nav-admin-usage" />
          </>
        )}
        <div className="flex items-center justify-between gap-2 pt-2">
          <LanguageSwitch />
          <ThemeSwitch />
        </div>
        <div className="flex items-center justify-between gap-2 text-xs">
          <span className="truncate opacity-70" data-testid="current-user">{user?.email}</span>
          <button type="button" data-testid="logout" className="underline" onClick={() => void useAuth.getState().logout()}>{t("auth.logout")}</button>
        </div>
      </div>
    </nav>
  );
}
