import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { modelsApi } from "../../api/endpoints";
import { queryKeys } from "../../lib/queryClient";
import { useChat } from "../../stores/chat";

export function useModels() {
  return useQuery({ queryKey: queryKeys.models, queryFn: modelsApi.list, refetchInterval: 15_000 });
}

export function stateKey(state: string, readyWorkers: number): string {
  if (state === "ready" && readyWorkers > 0) return "models.state.ready";
  if (state === "loading" || state === "draining") return "models.state.loading";
  return "models.state.unavailable";
}

export function ModelPicker() {
  const { t } = useTranslation();
  const { data } = useModels();
  const model = useChat((s) => s.params.model);
  const models = data?.models ?? [];
  return (
    <div className="flex items-center gap-2">
      <label htmlFor="model-picker" className="text-sm opacity-80">{t("models.label")}</label>
      <select id="model-picker" data-testid="model-picker" value={model ?? ""}
        onChange={(e) => useChat.getState().setParams({ model: e.target.value || null })}
        className="rounded border border-gray-300 bg-white px-2 py-1 text-sm dark:border-gray-600 dark:bg-gray-900">
        <option value="">{t("models.default", { name: data?.default_model ?? "" })}</option>
        {models.map((m) => (
          <option key={m.id} value={m.id} data-state={m.state}>
            {`${m.display_name || m.id} · ${t(stateKey(m.state, m.ready_workers))}`}
          </option>
        ))}
      </select>
    </div>
  );
}
