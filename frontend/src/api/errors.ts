import { parseRetryAfter } from "../lib/retryAfter";

/** An error the api answered with its one error body, or a failure to reach it (status 0). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterS: number | null;
  readonly requestId: string | null;
  readonly param: string | null;

  constructor(status: number, code: string, message: string, retryAfterS: number | null = null, requestId: string | null = null, param: string | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
    this.requestId = requestId;
    this.param = param;
  }
}

interface ErrorBody {
  error?: { code?: unknown; message?: unknown; request_id?: unknown; param?: unknown };
}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** Builds an ApiError from a non-2xx response, reading the `{"error": {...}}` body if any. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: ErrorBody;
  try {
    body = (await response.json()) as ErrorBody;
  } catch {
    body = {};
  }
  const err = body.error ?? {};
  return new ApiError(
    response.status,
    str(err.code) ?? `http_${response.status}`,
    str(err.message) ?? response.statusText,
    parseRetryAfter(response.headers.get("Retry-After")),
    str(err.request_id) ?? response.headers.get("X-Request-ID"),
    str(err.param),
  );
}

export const NETWORK_ERROR = "network_error";

export function networkError(cause: unknown): ApiError {
  return new ApiError(0, NETWORK_ERROR, cause instanceof Error ? cause.message : String(cause));
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === "AbortError";
}
