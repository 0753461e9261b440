import { QueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/errors";

export const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      refetchOnWindowFocus: false,
      retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
    },
  },
});

export const queryKeys = {
  conversations: (q: string) => ["conversations", q] as const,
  conversationsAll: ["conversations"] as const,
  models: ["models"] as const,
  settings: ["settings"] as const,
  keys: ["keys"] as const,
  adminUsers: ["admin", "users"] as const,
  adminModels: ["admin", "models"] as const,
  adminUsage: (from: string, to: string) => ["admin", "usage", from, to] as const,
};
