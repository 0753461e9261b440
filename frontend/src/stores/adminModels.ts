import { create } from "zustand";
import { followAdminEvents, type AdminEvent } from "../api/adminEvents";
import { isAbort } from "../api/errors";
import type { AdminModels, AdminWorker, SwapStatus } from "../api/types";

interface AdminModelsStore {
  data: AdminModels | null;
  /** Latest swap phase per worker (live). */
  swaps: Record<string, SwapStatus>;
  connected: boolean;
  apply: (e: AdminEvent) => void;
  start: () => () => void;
}

export function applyWorkerChange(workers: AdminWorker[], status: { worker_id: string; model: string; state: string; in_flight: number; capacity: number; engine: string; detail?: string; profile_id?: string | null; queue_depth?: number | null; command_id?: string | null }, gone: boolean, ageS: number): AdminWorker[] {
  const existing = workers.find((w) => w.worker_id === status.worker_id);
  const next: AdminWorker = {
    worker_id: status.worker_id,
    group: status.model,
    profile_id: status.profile_id ?? existing?.profile_id ?? null,
    state: status.state,
    in_flight: status.in_flight,
    capacity: status.capacity,
    queue_depth: status.queue_depth ?? null,
    hardware: existing?.hardware ?? null,
    engine: status.engine,
    detail: status.detail ?? "",
    command_id: status.command_id ?? null,
    last_seen_s: ageS,
    gone,
    engine_stats: existing?.engine_stats ?? {},
  };
  return existing ? workers.map((w) => (w.worker_id === next.worker_id ? next : w)) : [...workers, next];
}

export const useAdminModels = create<AdminModelsStore>()((set, get) => ({
  data: null,
  swaps: {},
  connected: false,
  apply: (e) => {
    if (e.type === "snapshot") {
      set({ data: e.admin, connected: true });
      return;
    }
    if (e.type === "end") {
      set({ connected: false });
      return;
    }
    const { change } = e;
    if (change.kind === "swap" && change.swap) set({ swaps: { ...get().swaps, [change.swap.worker_id]: change.swap } });
    const data = get().data;
    if (change.kind === "worker" && change.worker && data) {
      set({ data: { ...data, workers: applyWorkerChange(data.workers, change.worker.status, change.worker.gone, change.worker.age_s) } });
    }
  },
  start: () => {
    const ctl = new AbortController();
    const loop = async () => {
      while (!ctl.signal.aborted) {
        try {
          await followAdminEvents((e) => get().apply(e), ctl.signal);
        } catch (err) {
          if (isAbort(err)) return;
        }
        set({ connected: false });
        await new Promise((r) => setTimeout(r, 3000));
      }
    };
    void loop();
    return () => ctl.abort();
  },
}));
