import { useEffect, useState } from "react";
import { useMutation, useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { settingsApi } from "../api/endpoints";
import type { UserSettings } from "../api/types";
import { queryClient, queryKeys } from "../lib/queryClient";
import { useModels } from "../components/chat/ModelPicker";
import { ApiError } from "../api/errors";
import { describeError } from "../lib/errorMessages";

function num(v: string): number | null {
  if (v.trim() === "") return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

export default function SettingsScreen() {
  const { t } = useTranslation();
  const settings = useQuery({ queryKey: queryKeys.settings, queryFn: settingsApi.get });
  const models = useModels();
  const [form, setForm] = useState<UserSettings>({});
  useEffect(() => {
    if (settings.data) setForm(settings.data);
  }, [settings.data]);
  const save = useMutation({
    mutationFn: (s: UserSettings) => settingsApi.put(s),
    onSuccess: (data) => queryClient.setQueryData(queryKeys.settings, data ?? form),
  });
  const field = "w-full rounded border border-gray-300 bg-white px-2 py-1 dark:border-gray-600 dark:bg-gray-900";
  const clean = (s: UserSettings): UserSettings => ({
    system_prompt: s.system_prompt?.trim() ? s.system_prompt : null,
    model: s.model || null,
    temperature: s.temperature ?? null,
    top_p: s.top_p ?? null,
    max_tokens: s.max_tokens ?? null,
  });
  const err = save.error instanceof ApiError ? describeError(save.error.status, save.error.code) : null;
  return (
    <section className="mx-auto max-w-2xl p-6" aria-labelledby="settings-title">
      <h2 id="settings-title" className="mb-4 text-xl font-bold">{t("settings.title")}</h2>
      <p className="mb-4 text-sm opacity-80">{t("settings.intro")}</p>
      <form data-testid="settings-form" className="flex flex-col gap-3" onSubmit={(e) => { e.preventDefault(); save.mutate(clean(form)); }}>
        <label className="text-sm">{t("params.systemPrompt")}
          <textarea data-testid="settings-system-prompt" rows={4} className={field} value={form.system_prompt ?? ""} onChange={(e) => setForm({ ...form, system_prompt: e.target.value })} />
        </label>
        <label className="text-sm">{t("models.label")}
          <select data-testid="settings-model" className={field} value={form.model ?? ""} onChange={(e) => setForm({ ...form, model: e.target.value || null })}>
            <option value="">{t("models.default", { name: models.data?.default_model ?? "" })}</option>
            {models.data?.models.map((m) => <option key={m.id} value={m.id}>{m.display_name || m.id}</option>)}
          </select>
        </label>
        <div className="grid grid-cols-3 gap-3">
          <label className="text-sm">{t("params.temperature")}
            <input data-testid="settings-temperature" type="number" min={0} max={2} step={0.1} className={field} value={form.temperature ?? ""} onChange={(e) => setForm({ ...form, temperature: num(e.target.value) })} />
          </label>
          <label className="text-sm">{t("params.topP")}
            <input data-testid="settings-top-p" type="number" min={0.01} max={1} step={0.05} className={field} value={form.top_p ?? ""} onChange={(e) => setForm({ ...form, top_p: num(e.target.value) })} />
          </label>
          <label className="text-sm">{t("params.maxTokens")}
            <input data-testid="settings-max-tokens" type="number" min={1} className={field} value={form.max_tokens ?? ""} onChange={(e) => setForm({ ...form, max_tokens: num(e.target.value) })} />
          </label>
        </div>
        <div className="flex items-center gap-3">
          <button type="submit" data-testid="settings-save" disabled={save.isPending} className="rounded bg-blue-700 px-4 py-2 text-white disabled:opacity-50">{t("common.save")}</button>
          {save.isSuccess && <span role="status" className="text-sm">{t("settings.saved")}</span>}
          {err && <span role="alert" className="text-sm text-red-700 dark:text-red-300">{t(`${err.key}.title`)}</span>}
        </div>
      </form>
    </section>
  );
}
