import type { TokenPair } from "../api/types";

const KEY = "llmchat.tokens";

export interface StoredTokens {
  access: string;
  accessExpiresAt: number;
  refresh: string;
  refreshExpiresAt: number;
}

export function tokensFromPair(pair: TokenPair, now: number = Date.now()): StoredTokens {
  return {
    access: pair.access_token,
    accessExpiresAt: now + pair.expires_in * 1000,
    refresh: pair.refresh_token,
    refreshExpiresAt: now + pair.refresh_expires_in * 1000,
  };
}

export function loadTokens(): StoredTokens | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as Partial<StoredTokens>;
    if (typeof parsed.access !== "string" || typeof parsed.refresh !== "string") return null;
    return {
      access: parsed.access,
      refresh: parsed.refresh,
      accessExpiresAt: Number(parsed.accessExpiresAt) || 0,
      refreshExpiresAt: Number(parsed.refreshExpiresAt) || 0,
    };
  } catch {
    return null;
  }
}

export function saveTokens(tokens: StoredTokens | null): void {
  if (tokens) localStorage.setItem(KEY, JSON.stringify(tokens));
  else localStorage.removeItem(KEY);
}

/** When to refresh: a minute before expiry, or at 80% of a short lifetime. */
export function refreshDelayMs(tokens: StoredTokens, now: number = Date.now()): number {
  const left = tokens.accessExpiresAt - now;
  const margin = Math.min(60_000, left * 0.2);
  return Math.max(0, left - margin);
}
