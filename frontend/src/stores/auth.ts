import { create } from "zustand";
import { authApi } from "../api/endpoints";
import { getTokens, onTokens, refreshTokens, setTokens } from "../api/client";
import type { User } from "../api/types";
import { refreshDelayMs, tokensFromPair } from "../lib/tokens";

type AuthStatus = "unknown" | "anonymous" | "authenticated";

interface AuthStore {
  status: AuthStatus;
  user: User | null;
  init: () => Promise<void>;
  login: (email: string, password: string) => Promise<void>;
  register: (email: string, password: string) => Promise<void>;
  logout: () => Promise<void>;
}

let timer: ReturnType<typeof setTimeout> | null = null;

function scheduleRefresh(): void {
  if (timer) clearTimeout(timer);
  timer = null;
  const tokens = getTokens();
  if (!tokens) return;
  timer = setTimeout(() => void refreshTokens(), refreshDelayMs(tokens));
}

export const useAuth = create<AuthStore>()((set, get) => {
  onTokens((tokens) => {
    scheduleRefresh();
    if (!tokens && get().status !== "anonymous") set({ status: "anonymous", user: null });
  });
  return {
    status: "unknown",
    user: null,
    init: async () => {
      const tokens = getTokens();
      if (!tokens) {
        set({ status: "anonymous" });
        return;
      }
      if (tokens.accessExpiresAt <= Date.now() + 5000 && !(await refreshTokens())) {
        setTokens(null);
        set({ status: "anonymous" });
        return;
      }
      scheduleRefresh();
      try {
        set({ status: "authenticated", user: await authApi.me() });
      } catch {
        if (!getTokens()) set({ status: "anonymous", user: null });
        else set({ status: "authenticated" });
      }
    },
    login: async (email, password) => {
      const pair = await authApi.login(email, password);
      setTokens(tokensFromPair(pair));
      const user = await authApi.me();
      set({ status: "authenticated", user });
    },
    register: async (email, password) => {
      await authApi.register(email, password);
      await get().login(email, password);
    },
    logout: async () => {
      const tokens = getTokens();
      try {
        if (tokens) await authApi.logout(tokens.refresh);
      } catch {
        // the refresh token expires anyway; leaving is what matters
      }
      setTokens(null);
      set({ status: "anonymous", user: null });
    },
  };
});
