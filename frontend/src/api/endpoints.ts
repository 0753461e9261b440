import { apiJson, apiResponse } from "./client";
import type {
  Activated, AdminModels, ApiKey, ApiKeyCreated, Conversation, ConversationList, ConversationPage,
  DryRun, ModelList, Role, TokenPair, User, UserPage, UserSettings, UsageReport,
} from "./types";

const enc = encodeURIComponent;

function query(params: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : "";
}

export const authApi = {
  register: (email: string, password: string) =>
    apiJson<User>("/api/auth/register", { method: "POST", body: { email, password }, auth: false }),
  login: (email: string, password: string) =>
    apiJson<TokenPair>("/api/auth/login", { method: "POST", body: { email, password }, auth: false }),
  logout: (refreshToken: string) =>
    apiJson<undefined>("/api/auth/logout", { method: "POST", body: { refresh_token: refreshToken } }),
  me: () => apiJson<User>("/api/me"),
};

export const conversationsApi = {
  list: (q: string, limit = 50, offset = 0) =>
    apiJson<ConversationList>(`/api/conversations${query({ q, limit, offset })}`),
  create: () => apiJson<Conversation>("/api/conversations", { method: "POST", body: {} }),
  page: (id: string, before?: string | null, limit = 50, signal?: AbortSignal) =>
    apiJson<ConversationPage>(`/api/conversations/${enc(id)}${query({ limit, before })}`, { signal }),
  patch: (id: string, patch: { title?: string; system_prompt?: string | null }) =>
    apiJson<Conversation>(`/api/conversations/${enc(id)}`, { method: "PATCH", body: patch }),
  remove: (id: string) => apiJson<undefined>(`/api/conversations/${enc(id)}`, { method: "DELETE" }),
  exportBlob: async (id: string, format: "json" | "markdown") => {
    const response = await apiResponse(`/api/conversations/${enc(id)}/export${query({ format })}`);
    return response.blob();
  },
};

export const modelsApi = {
  list: () => apiJson<ModelList>("/api/models"),
};

export const settingsApi = {
  get: () => apiJson<UserSettings>("/api/settings"),
  put: (settings: UserSettings) => apiJson<UserSettings>("/api/settings", { method: "PUT", body: settings }),
};

export const keysApi = {
  list: async () => {
    const body = await apiJson<ApiKey[] | { keys?: ApiKey[]; items?: ApiKey[] }>("/api/keys");
    return Array.isArray(body) ? body : (body.keys ?? body.items ?? []);
  },
  create: (name: string) => apiJson<ApiKeyCreated>("/api/keys", { method: "POST", body: { name } }),
  revoke: (id: string) => apiJson<undefined>(`/api/keys/${enc(id)}`, { method: "DELETE" }),
};

export const adminApi = {
  users: (limit = 100, offset = 0) => apiJson<UserPage>(`/api/admin/users${query({ limit, offset })}`),
  patchUser: (id: string, patch: { role?: Role; disabled?: boolean }) =>
    apiJson<User>(`/api/admin/users/${enc(id)}`, { method: "PATCH", body: patch }),
  models: () => apiJson<AdminModels>("/api/admin/models"),
  dryRun: (profile: string, group?: string) =>
    apiJson<DryRun>(`/api/admin/models/${enc(profile)}/activate`, { method: "POST", body: { dry_run: true, group } }),
  activate: (profile: string, group?: string) =>
    apiJson<Activated>(`/api/admin/models/${enc(profile)}/activate`, { method: "POST", body: { dry_run: false, group } }),
};

export interface UsageFilter {
  from: string;
  to: string;
  user_id?: string;
  model?: string;
}

export const usageApi = {
  admin: (f: UsageFilter) => apiJson<UsageReport>(`/api/admin/usage${query({ ...f })}`),
  adminCsv: async (f: UsageFilter) => (await apiResponse(`/api/admin/usage/records.csv${query({ ...f })}`)).blob(),
};

export const chatApi = {
  cancel: (requestId: string) => apiJson<unknown>(`/api/chat/${enc(requestId)}/cancel`, { method: "POST" }),
};
