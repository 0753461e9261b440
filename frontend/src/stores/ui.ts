import { create } from "zustand";

export type Theme = "light" | "dark";
export type View = "chat" | "settings" | "keys" | "admin-users" | "admin-models" | "admin-usage";

const THEME_KEY = "llmchat.theme";

function initialTheme(): Theme {
  try {
    const saved = localStorage.getItem(THEME_KEY);
    if (saved === "light" || saved === "dark") return saved;
  } catch {
    // ignore
  }
  return typeof matchMedia === "function" && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function applyTheme(theme: Theme): void {
  document.documentElement.classList.toggle("dark", theme === "dark");
}

export interface Route {
  view: View;
  conversationId: string | null;
}

const VIEWS: readonly View[] = ["chat", "settings", "keys", "admin-users", "admin-models", "admin-usage"];

/** `#/c/<id>` opens a conversation, `#/<view>` a screen, anything else a new chat. */
export function parseHash(hash: string): Route {
  const path = hash.replace(/^#\/?/, "");
  const [head, ...rest] = path.split("/");
  if (head === "c" && rest[0]) return { view: "chat", conversationId: decodeURIComponent(rest[0]) };
  if (head && (VIEWS as readonly string[]).includes(head)) return { view: head as View, conversationId: null };
  return { view: "chat", conversationId: null };
}

export function routeHash(route: Route): string {
  if (route.view === "chat") return route.conversationId ? `#/c/${encodeURIComponent(route.conversationId)}` : "#/";
  return `#/${route.view}`;
}

export interface Toast {
  id: number;
  message: string;
  actionLabel?: string;
  onAction?: () => void;
}

interface UiStore {
  theme: Theme;
  route: Route;
  sidebarOpen: boolean;
  toasts: Toast[];
  setTheme: (theme: Theme) => void;
  toggleTheme: () => void;
  navigate: (route: Route) => void;
  syncFromHash: () => void;
  setSidebarOpen: (open: boolean) => void;
  showToast: (toast: Omit<Toast, "id">, ttlMs?: number) => number;
  dismissToast: (id: number) => void;
}

let toastSeq = 0;

export const useUi = create<UiStore>()((set, get) => ({
  theme: initialTheme(),
  route: typeof location !== "undefined" ? parseHash(location.hash) : { view: "chat", conversationId: null },
  sidebarOpen: false,
  toasts: [],
  setTheme: (theme) => {
    try {
      localStorage.setItem(THEME_KEY, theme);
    } catch {
      // ignore
    }
    applyTheme(theme);
    set({ theme });
  },
  toggleTheme: () => get().setTheme(get().theme === "dark" ? "light" : "dark"),
  navigate: (route) => {
    const hash = routeHash(route);
    if (location.hash !== hash) history.pushState(null, "", hash);
    set({ route, sidebarOpen: false });
  },
  syncFromHash: () => set({ route: parseHash(location.hash) }),
  setSidebarOpen: (sidebarOpen) => set({ sidebarOpen }),
  showToast: (toast, ttlMs = 5000) => {
    const id = ++toastSeq;
    set({ toasts: [...get().toasts, { ...toast, id }] });
    setTimeout(() => get().dismissToast(id), ttlMs);
    return id;
  },
  dismissToast: (id) => set({ toasts: get().toasts.filter((t) => t.id !== id) }),
}));
