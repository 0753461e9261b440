import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { settingsApi } from "../../api/endpoints";
import { queryKeys } from "../../lib/queryClient";
import { useChat, type ChatParams } from "../../stores/chat";
import { useModels } from "./ModelPicker";
import { effectiveDefaults } from "../../lib/defaults";

function numOrNull(value: string): number | null {
  if (value.trim() === "") return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** Per-chat system prompt and sampling; empty fields use the defaults shown as placeholders. */
export function ParamsPanel() {
  const { t } = useTranslation();
  const params = useChat((s) => s.params);
  const settings = useQuery({ queryKey: queryKeys.settings, queryFn: settingsApi.get });
  const models = useModels();
  const defaults = effectiveDefaults(params.model, settings.data, models.data);
  const set = (patch: Partial<ChatParams>) => useChat.getState().setParams(patch);
  const field = "w-full rounded border border-gray-300 bg-white px-2 py-1 text-sm dark:border-gray-600 dark:bg-gray-900";
  return (
    <section aria-label={t("params.title")} data-testid="params-panel" className="grid gap-2 border-b border-gray-200 p-3 text-sm dark:border-gray-700 sm:grid-cols-4">
      <label className="sm:col-span-4">
        <span className="block opacity-80">{t("params.systemPrompt")}</span>
        <textarea data-testid="param-system-prompt" rows={2} className={field} value={params.systemPrompt}
          placeholder={defaults.systemPrompt || t("params.systemPromptPlaceholder")} onChange={(e) => set({ systemPrompt: e.target.value })} />
      </label>
      <label>
        <span className="block opacity-80">{t("params.temperature")}</span>
        <input data-testid="param-temperature" type="number" min={0} max={2} step={0.1} className={field}
          value={params.temperature ?? ""} placeholder={String(defaults.temperature ?? "")} onChange={(e) => set({ temperature: numOrNull(e.target.value) })} />
      </label>
      <label>
        <span className="block opacity-80">{t("params.topP")}</span>
        <input data-testid="param-top-p" type="number" min={0.01} max={1} step={0.05} className={field}
          value={params.topP ?? ""} placeholder={String(defaults.topP ?? "")} onChange={(e) => set({ topP: numOrNull(e.target.value) })} />
      </label>
      <label>
        <span className="block opacity-80">{t("params.maxTokens")}</span>
        <input data-testid="param-max-tokens" type="number" min={1} step={1} className={field}
          value={params.maxTokens ?? ""} placeholder={String(defaults.maxTokens ?? "")} onChange={(e) => set({ maxTokens: numOrNull(e.target.value) })} />
      </label>
      <div className="flex items-end">
        <button type="button" className="rounded border border-gray-300 px-2 py-1 dark:border-gray-600" onClick={() => set({ systemPrompt: "", temperature: null, topP: null, maxTokens: null })}>
          {t("params.reset")}
        </button>
      </div>
    </section>
  );
}
