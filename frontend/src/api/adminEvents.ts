import { createParser } from "eventsource-parser";
import { apiResponse } from "./client";
import type { AdminChange, AdminModels } from "./types";

export type AdminEvent =
  | { type: "snapshot"; admin: AdminModels | null }
  | { type: "change"; change: AdminChange }
  | { type: "end" };

/** Follows GET /api/admin/models/events until aborted or ended. */
export async function followAdminEvents(onEvent: (e: AdminEvent) => void, signal: AbortSignal): Promise<void> {
  const response = await apiResponse("/api/admin/models/events", { signal, headers: { Accept: "text/event-stream" } });
  if (!response.body) return;
  const parser = createParser({
    onEvent: (message) => {
      if (message.event === "end") {
        onEvent({ type: "end" });
        return;
      }
      let data: unknown;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (message.event === "snapshot") {
        const body = data as { admin?: AdminModels | null };
        onEvent({ type: "snapshot", admin: body.admin ?? null });
      } else if (message.event === "worker" || message.event === "swap" || message.event === "desired" || message.event === "aliases") {
        const change = data as AdminChange;
        onEvent({ type: "change", change: { ...change, kind: change.kind ?? message.event } });
      }
    },
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
}
