import { NETWORK_ERROR } from "../api/errors";

/** What the user can do about an error. */
export type ErrorAction = "retry" | "wait" | "login" | "reattach" | "edit" | "none";

export interface ErrorView {
  /** i18n key under errors.* (title + hint are `${key}.title` / `${key}.hint`). */
  key: string;
  action: ErrorAction;
  retryAfterS: number | null;
}

const BY_CODE: Record<string, Omit<ErrorView, "retryAfterS">> = {
  rate_limited: { key: "errors.rate_limited", action: "wait" },
  model_unavailable: { key: "errors.model_loading", action: "wait" },
  model_overloaded: { key: "errors.model_overloaded", action: "wait" },
  service_unavailable: { key: "errors.service_unavailable", action: "wait" },
  shutting_down: { key: "errors.service_unavailable", action: "retry" },
  content_blocked: { key: "errors.content_blocked", action: "edit" },
  context_length_exceeded: { key: "errors.context_too_long", action: "edit" },
  invalid_request: { key: "errors.invalid_request", action: "edit" },
  unauthorized: { key: "errors.unauthorized", action: "login" },
  forbidden: { key: "errors.forbidden", action: "none" },
  not_found: { key: "errors.not_found", action: "none" },
  model_not_found: { key: "errors.model_not_found", action: "edit" },
  conflict: { key: "errors.conflict", action: "none" },
  timeout: { key: "errors.timeout", action: "retry" },
  worker_lost: { key: "errors.worker_lost", action: "retry" },
  engine_error: { key: "errors.engine_error", action: "retry" },
  stream_interrupted: { key: "errors.stream_interrupted", action: "retry" },
  stream_expired: { key: "errors.stream_expired", action: "none" },
  cancelled: { key: "errors.cancelled", action: "none" },
  internal_error: { key: "errors.internal", action: "retry" },
  [NETWORK_ERROR]: { key: "errors.network", action: "reattach" },
  profile_incompatible: { key: "errors.profile_incompatible", action: "none" },
  profile_invalid: { key: "errors.profile_invalid", action: "none" },
  profile_read_only: { key: "errors.profile_read_only", action: "none" },
  hardware_unknown: { key: "errors.hardware_unknown", action: "none" },
};

const BY_STATUS: Record<number, Omit<ErrorView, "retryAfterS">> = {
  0: BY_CODE[NETWORK_ERROR]!,
  400: BY_CODE.invalid_request!,
  401: BY_CODE.unauthorized!,
  403: BY_CODE.forbidden!,
  404: BY_CODE.not_found!,
  409: BY_CODE.conflict!,
  410: BY_CODE.stream_expired!,
  429: BY_CODE.rate_limited!,
  503: BY_CODE.service_unavailable!,
};

/** Maps an HTTP status and error code (body or stream `error` event) to a message key and action. */
export function describeError(status: number, code: string, retryAfterS: number | null = null): ErrorView {
  const known = BY_CODE[code] ?? BY_STATUS[status] ?? (status >= 500 ? BY_CODE.internal_error! : { key: "errors.unknown", action: "retry" as const });
  const wait = known.action === "wait" ? (retryAfterS ?? (status === 429 || status === 503 ? 5 : null)) : retryAfterS;
  return { ...known, retryAfterS: wait };
}

/** All keys describeError can return (the i18n test checks both languages have them). */
export function allErrorKeys(): string[] {
  return [...new Set([...Object.values(BY_CODE), ...Object.values(BY_STATUS)].map((v) => v.key)), "errors.unknown"];
}
