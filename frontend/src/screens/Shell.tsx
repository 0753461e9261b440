import { lazy, Suspense, useEffect } from "react";
import { useTranslation } from "react-i18next";
import { Sidebar } from "../components/Sidebar";
import { Toasts } from "../components/Toasts";
import { useAuth } from "../stores/auth";
import { useChat } from "../stores/chat";
import { useUi } from "../stores/ui";
import ChatScreen from "./ChatScreen";

const SettingsScreen = lazy(() => import("./SettingsScreen"));
const KeysScreen = lazy(() => import("./KeysScreen"));
const AdminScreen = lazy(() => import("./admin/AdminScreen"));

export function Shell() {
  const { t } = useTranslation();
  const route = useUi((s) => s.route);
  const sidebarOpen = useUi((s) => s.sidebarOpen);
  const isAdmin = useAuth((s) => s.user?.role === "admin");

  useEffect(() => {
    const resumed = useChat.getState().resumeAfterReload();
    const route = useUi.getState().route;
    if (resumed && (route.view !== "chat" || route.conversationId !== resumed)) useUi.getState().navigate({ view: "chat", conversationId: resumed });
    const onHash = () => useUi.getState().syncFromHash();
    window.addEventListener("hashchange", onHash);
    window.addEventListener("popstate", onHash);
    return () => {
      window.removeEventListener("hashchange", onHash);
      window.removeEventListener("popstate", onHash);
    };
  }, []);

  useEffect(() => {
    if (route.view === "chat") void useChat.getState().open(route.conversationId);
  }, [route.view, route.conversationId]);

  let main;
  if (route.view === "settings") main = <SettingsScreen />;
  else if (route.view === "keys") main = <KeysScreen />;
  else if (route.view.startsWith("admin-")) main = isAdmin ? <AdminScreen view={route.view} /> : <p className="p-6" role="alert">{t("errors.forbidden.title")}</p>;
  else main = <ChatScreen />;

  return (
    <div className="flex h-full bg-white text-gray-900 dark:bg-gray-950 dark:text-gray-100">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:z-50 focus:p-2">{t("nav.skip")}</a>
      <aside className={`${sidebarOpen ? "fixed inset-0 z-40 block" : "hidden"} w-72 shrink-0 border-r border-gray-200 bg-gray-50 dark:border-gray-700 dark:bg-gray-900 md:static md:block`}>
        <Sidebar />
      </aside>
      <div className="flex min-w-0 flex-1 flex-col">
        {/* Wide screens: the bar is for screen readers only (every screen keeps its h1). */}
        <header className="flex items-center gap-2 border-b border-gray-200 px-3 py-2 dark:border-gray-700 md:sr-only">
          <button type="button" data-testid="sidebar-toggle" aria-expanded={sidebarOpen} onClick={() => useUi.getState().setSidebarOpen(!sidebarOpen)}
            className="rounded border border-gray-300 px-2 py-1 text-sm dark:border-gray-600 md:hidden">{t("nav.menu")}</button>
          <h1 className="font-semibold">{t("app.name")}</h1>
        </header>
        <main id="main" className="min-h-0 flex-1 overflow-y-auto">
          <Suspense fallback={<p className="p-6">{t("common.loading")}</p>}>{main}</Suspense>
        </main>
      </div>
      <Toasts />
    </div>
  );
}
