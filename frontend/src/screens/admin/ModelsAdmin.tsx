import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { adminApi } from "../../api/endpoints";
import { ApiError } from "../../api/errors";
import type { DryRun, ProfileSummary } from "../../api/types";
import { describeError } from "../../lib/errorMessages";
import { useAdminModels } from "../../stores/adminModels";

function gib(n: number): string {
  return n.toFixed(2);
}

function ActivateDialog({ profile, onClose }: { profile: ProfileSummary; onClose: () => void }) {
  const { t } = useTranslation();
  const [check, setCheck] = useState<DryRun | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  useEffect(() => {
    adminApi.dryRun(profile.id).then(setCheck, (err: unknown) => {
      setError(err instanceof ApiError ? `${t(`${describeError(err.status, err.code).key}.title`)} ${err.message}` : t("errors.unknown.title"));
    });
  }, [profile.id, t]);
  const activate = async () => {
    try {
      await adminApi.activate(profile.id, check?.group ?? undefined);
      setDone(true);
    } catch (err) {
      setError(err instanceof ApiError ? `${t(`${describeError(err.status, err.code).key}.title`)} ${err.message}` : t("errors.unknown.title"));
    }
  };
  return (
    <div role="dialog" aria-modal="true" aria-labelledby="activate-title" data-testid="activate-dialog" className="fixed inset-0 z-50 flex items-center justify-center bg-black/40 p-4">
      <div className="w-full max-w-lg rounded-xl bg-white p-5 dark:bg-gray-900">
        <h3 id="activate-title" className="mb-3 text-lg font-bold">{t("admin.models.activateTitle", { name: profile.display_name || profile.id })}</h3>
        {!check && !error && <p role="status">{t("admin.models.checking")}</p>}
        {check && (
          <div data-testid="dry-run-result" data-fits={check.fits ? "true" : "false"} className="text-sm">
            <p className={check.fits ? "text-green-700 dark:text-green-300" : "text-red-700 dark:text-red-300"}>
              {check.fits ? t("admin.models.fits") : t("admin.models.doesNotFit")}
            </p>
            <p data-testid="dry-run-numbers">{t("admin.models.neededVsAvailable", { needed: gib(check.needed_gib), available: gib(check.available_gib) })}</p>
            {check.reason && <p className="opacity-80">{check.reason}</p>}
            <ul className="mt-2 list-disc pl-5">
              {check.checks.map((c, i) => (
                <li key={i} data-testid="dry-run-check">
                  {t("admin.models.checkLine", {
                    hardware: `${c.hardware.count}× ${c.hardware.name || c.hardware.device} ${gib(c.hardware.memory_gib)} GiB`,
                    needed: gib(c.report.needed_gib), available: gib(c.report.available_gib),
                    result: c.report.fits ? t("admin.models.ok") : t("admin.models.notOk"),
                  })}
                </li>
              ))}
            </ul>
          </div>
        )}
        {error && <p role="alert" data-testid="activate-error" className="mt-2 text-sm text-red-700 dark:text-red-300">{error}</p>}
        {done && <p role="status" className="mt-2 text-sm">{t("admin.models.activationStarted")}</p>}
        <div className="mt-4 flex justify-end gap-2">
          <button type="button" className="rounded border px-3 py-1" onClick={onClose}>{t("common.close")}</button>
          <button type="button" data-testid="activate-confirm" disabled={!check?.fits || done} className="rounded bg-blue-700 px-3 py-1 text-white disabled:opacity-50" onClick={() => void activate()}>
            {t("admin.models.confirm")}
          </button>
        </div>
      </div>
    </div>
  );
}

export default function ModelsAdmin() {
  const { t } = useTranslation();
  const data = useAdminModels((s) => s.data);
  const swaps = useAdminModels((s) => s.swaps);
  const connected = useAdminModels((s) => s.connected);
  const [activating, setActivating] = useState<ProfileSummary | null>(null);
  useEffect(() => useAdminModels.getState().start(), []);
  useEffect(() => {
    if (!useAdminModels.getState().data) adminApi.models().then((d) => { if (!useAdminModels.getState().data) useAdminModels.setState({ data: d }); }, () => undefined);
  }, []);
  return (
    <section className="p-6" aria-labelledby="models-title">
      <h2 id="models-title" className="mb-1 text-xl font-bold">{t("admin.models.title")}</h2>
      <p className="mb-4 text-sm opacity-70" role="status" data-testid="admin-events-status">{connected ? t("admin.models.live") : t("admin.models.connecting")}</p>
      <h3 className="mb-2 font-semibold">{t("admin.models.profiles")}</h3>
      <table className="mb-6 w-full text-left text-sm" data-testid="admin-profiles-table">
        <thead><tr><th className="p-2">{t("admin.models.profile")}</th><th className="p-2">{t("admin.models.device")}</th><th className="p-2">{t("admin.models.state")}</th><th className="p-2">{t("admin.models.workers")}</th><th className="p-2"><span className="sr-only">{t("admin.models.actions")}</span></th></tr></thead>
        <tbody>
          {data?.profiles.map((p) => (
            <tr key={p.id} data-testid="admin-profile-row" data-id={p.id} className="border-t border-gray-200 dark:border-gray-700">
              <td className="p-2"><span className="font-medium">{p.display_name || p.id}</span> <code className="text-xs opacity-70">{p.id}</code></td>
              <td className="p-2">{p.device} · {p.quantization}</td>
              <td className="p-2" data-testid="admin-profile-state">{p.state}</td>
              <td className="p-2">{p.ready_workers}/{p.workers}</td>
              <td className="p-2"><button type="button" data-testid="admin-activate" className="rounded border px-2 py-0.5" onClick={() => setActivating(p)}>{t("admin.models.activate")}</button></td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3 className="mb-2 font-semibold">{t("admin.models.workerList")}</h3>
      <table className="w-full text-left text-sm" data-testid="admin-workers-table">
        <thead><tr><th className="p-2">{t("admin.models.worker")}</th><th className="p-2">{t("admin.models.group")}</th><th className="p-2">{t("admin.models.state")}</th><th className="p-2">{t("admin.models.load")}</th><th className="p-2">{t("admin.models.swap")}</th></tr></thead>
        <tbody>
          {data?.workers.map((w) => {
            const swap = swaps[w.worker_id];
            return (
              <tr key={w.worker_id} data-testid="admin-worker-row" data-state={w.state} className="border-t border-gray-200 dark:border-gray-700">
                <td className="p-2"><code>{w.worker_id}</code></td>
                <td className="p-2">{w.group}{w.profile_id ? ` (${w.profile_id})` : ""}</td>
                <td className="p-2" data-testid="admin-worker-state">{w.gone ? t("admin.models.gone") : w.state}</td>
                <td className="p-2">{w.in_flight}/{w.capacity}{w.queue_depth != null ? ` · ${t("admin.models.queue", { count: w.queue_depth })}` : ""}</td>
                <td className="p-2" data-testid="admin-worker-swap">{swap ? `${t(`admin.models.phases.${swap.phase}`)}${swap.detail ? ` — ${swap.detail}` : ""}` : "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {activating && <ActivateDialog profile={activating} onClose={() => setActivating(null)} />}
    </section>
  );
}
