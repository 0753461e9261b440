import { lazy, Suspense, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { usageApi } from "../../api/endpoints";
import { queryKeys } from "../../lib/queryClient";
import { downloadBlob } from "../../lib/clipboard";
import { formatNumber } from "../../lib/format";

const UsageCharts = lazy(() => import("./UsageCharts"));

function isoDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

export default function UsageAdmin() {
  const { t, i18n } = useTranslation();
  const today = new Date();
  const [from, setFrom] = useState(isoDay(new Date(today.getTime() - 29 * 86400_000)));
  const [to, setTo] = useState(isoDay(today));
  const [csvError, setCsvError] = useState(false);
  const usage = useQuery({ queryKey: queryKeys.adminUsage(from, to), queryFn: () => usageApi.admin({ from, to }) });
  const downloadCsv = async () => {
    setCsvError(false);
    try {
      downloadBlob(await usageApi.adminCsv({ from, to }), `usage-${from}-${to}.csv`);
    } catch {
      setCsvError(true);
    }
  };
  const totals = usage.data?.totals;
  const field = "rounded border border-gray-300 bg-white px-2 py-1 dark:border-gray-600 dark:bg-gray-900";
  return (
    <section className="p-6" aria-labelledby="usage-title">
      <h2 id="usage-title" className="mb-4 text-xl font-bold">{t("admin.usage.title")}</h2>
      <div className="mb-4 flex flex-wrap items-end gap-3 text-sm">
        <label className="flex flex-col">{t("admin.usage.from")}<input type="date" data-testid="usage-from" className={field} value={from} max={to} onChange={(e) => setFrom(e.target.value)} /></label>
        <label className="flex flex-col">{t("admin.usage.to")}<input type="date" data-testid="usage-to" className={field} value={to} min={from} onChange={(e) => setTo(e.target.value)} /></label>
        <button type="button" data-testid="usage-csv" className="rounded bg-blue-700 px-3 py-1.5 text-white" onClick={() => void downloadCsv()}>{t("admin.usage.csv")}</button>
        {csvError && <span role="alert" className="text-red-700 dark:text-red-300">{t("admin.usage.csvFailed")}</span>}
      </div>
      {usage.isError && <p role="alert" className="text-red-700 dark:text-red-300">{t("admin.usage.loadFailed")}</p>}
      {totals && (
        <dl className="mb-6 grid grid-cols-2 gap-3 text-sm sm:grid-cols-5" data-testid="usage-totals">
          <div><dt className="opacity-70">{t("admin.usage.requests")}</dt><dd className="text-lg font-semibold">{formatNumber(totals.requests, i18n.language)}</dd></div>
          <div><dt className="opacity-70">{t("admin.usage.tokens")}</dt><dd className="text-lg font-semibold">{formatNumber(totals.total_tokens, i18n.language)}</dd></div>
          <div><dt className="opacity-70">{t("admin.usage.ttftP50")}</dt><dd className="text-lg font-semibold">{totals.p50_ttft_ms == null ? "—" : t("admin.usage.ms", { value: Math.round(totals.p50_ttft_ms) })}</dd></div>
          <div><dt className="opacity-70">{t("admin.usage.ttftP95")}</dt><dd className="text-lg font-semibold">{totals.p95_ttft_ms == null ? "—" : t("admin.usage.ms", { value: Math.round(totals.p95_ttft_ms) })}</dd></div>
          <div><dt className="opacity-70">{t("admin.usage.errorRate")}</dt><dd className="text-lg font-semibold">{totals.requests ? `${((totals.failed / totals.requests) * 100).toFixed(1)}%` : "—"}</dd></div>
        </dl>
      )}
      {usage.data && (
        <Suspense fallback={<p>{t("common.loading")}</p>}>
          <UsageCharts report={usage.data} />
        </Suspense>
      )}
    </section>
  );
}
