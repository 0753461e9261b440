import { ApiError, errorFromResponse, isAbort, networkError } from "./errors";
import type { TokenPair } from "./types";
import { loadTokens, saveTokens, tokensFromPair, type StoredTokens } from "../lib/tokens";

type Listener = (tokens: StoredTokens | null) => void;

let tokens: StoredTokens | null = loadTokens();
const listeners = new Set<Listener>();
let refreshing: Promise<boolean> | null = null;

export function getTokens(): StoredTokens | null {
  return tokens;
}

export function setTokens(next: StoredTokens | null): void {
  tokens = next;
  saveTokens(next);
  for (const l of listeners) l(next);
}

export function onTokens(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function rawFetch(input: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(input, init);
  } catch (err) {
    if (isAbort(err)) throw err;
    throw networkError(err);
  }
}

/** Trades the refresh token for a new pair, once at a time; false (and logged out) if refused. */
export function refreshTokens(): Promise<boolean> {
  if (refreshing) return refreshing;
  const current = tokens;
  if (!current) return Promise.resolve(false);
  refreshing = (async () => {
    try {
      const response = await rawFetch("/api/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: current.refresh }),
      });
      if (!response.ok) {
        if (response.status === 400 || response.status === 401 || response.status === 403) setTokens(null);
        return false;
      }
      setTokens(tokensFromPair((await response.json()) as TokenPair));
      return true;
    } catch {
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  auth?: boolean;
}

/**
 * The one fetch wrapper: JSON body, Bearer token, one refresh + retry on 401, and every
 * non-2xx mapped to ApiError from the api's error body. Returns the Response (2xx).
 */
export async function apiResponse(path: string, options: RequestOptions = {}): Promise<Response> {
  const { method = "GET", body, headers = {}, signal, auth = true } = options;
  const send = (): Promise<Response> => {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h["Content-Type"] = "application/json";
    if (auth && tokens) h.Authorization = `Bearer ${tokens.access}`;
    return rawFetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body), signal });
  };
  let response = await send();
  if (response.status === 401 && auth && tokens) {
    if (await refreshTokens()) response = await send();
    else setTokens(null);
  }
  if (!response.ok) throw await errorFromResponse(response);
  return response;
}

export async function apiJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await apiResponse(path, options);
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export { ApiError };
