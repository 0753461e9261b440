import { describe, expect, it } from "vitest";
import { describeError } from "../lib/errorMessages";
import { parseRetryAfter } from "../lib/retryAfter";
import { errorFromResponse } from "../api/errors";

describe("describeError", () => {
  it("maps codes to keys and actions", () => {
    expect(describeError(429, "rate_limited", 12)).toEqual({ key: "errors.rate_limited", action: "wait", retryAfterS: 12 });
    expect(describeError(503, "model_unavailable", 5).key).toBe("errors.model_loading");
    expect(describeError(503, "model_overloaded", null)).toEqual({ key: "errors.model_overloaded", action: "wait", retryAfterS: 5 });
    expect(describeError(400, "content_blocked")).toMatchObject({ key: "errors.content_blocked", action: "edit" });
    expect(describeError(401, "unauthorized")).toMatchObject({ key: "errors.unauthorized", action: "login" });
    expect(describeError(0, "network_error")).toMatchObject({ key: "errors.network", action: "reattach" });
    expect(describeError(200, "worker_lost")).toMatchObject({ key: "errors.worker_lost", action: "retry" });
  });

  it("falls back on the status, then to unknown", () => {
    expect(describeError(429, "http_429").key).toBe("errors.rate_limited");
    expect(describeError(502, "weird").key).toBe("errors.internal");
    expect(describeError(418, "teapot").key).toBe("errors.unknown");
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfter("7")).toBe(7);
    expect(parseRetryAfter("1.2")).toBe(2);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("nonsense")).toBeNull();
    const now = Date.parse("2025-01-01T00:00:00Z");
    expect(parseRetryAfter("Wed, 01 Jan 2025 00:00:30 GMT", now)).toBe(30);
  });
});

describe("errorFromResponse", () => {
  it("reads the error body and Retry-After", async () => {
    const body = { error: { code: "rate_limited", message: "too many", type: "rate_limit", param: null, request_id: "req-1" } };
    const res = new Response(JSON.stringify(body), { status: 429, headers: { "Retry-After": "9", "Content-Type": "application/json" } });
    const err = await errorFromResponse(res);
    expect(err.status).toBe(429);
    expect(err.code).toBe("rate_limited");
    expect(err.retryAfterS).toBe(9);
    expect(err.requestId).toBe("req-1");
  });

  it("copes with a body that is not JSON", async () => {
    const err = await errorFromResponse(new Response("oops", { status: 502 }));
    expect(err.code).toBe("http_502");
  });
});
