import { useTranslation } from "react-i18next";
import type { UsageReport } from "../../api/types";

interface Bar {
  label: string;
  value: number;
}

const BAR_MAX_W = 48;
const LABELLED_MAX = 31;

/** A plain SVG bar chart: bars at most BAR_MAX_W wide (one day is not a wall of colour),
 * each with its value above it and its label below while there are few enough to read. */
function BarChart({ title, bars, testId, format = (n) => String(n) }: { title: string; bars: Bar[]; testId: string; format?: (n: number) => string }) {
  const { t } = useTranslation();
  const max = Math.max(1, ...bars.map((b) => b.value));
  const w = 600;
  const h = 180;
  const top = 14; // room for the value above the tallest bar
  const slot = bars.length ? w / bars.length : w;
  const bw = Math.max(1, Math.min(slot - 4, BAR_MAX_W));
  const labelled = bars.length <= LABELLED_MAX;
  return (
    <figure className="mb-6" data-testid={testId}>
      <figcaption className="mb-1 font-semibold">{title}</figcaption>
      {bars.length === 0 ? (
        <p className="text-sm opacity-70">{t("admin.usage.noData")}</p>
      ) : (
        <svg viewBox={`0 0 ${w} ${h + 20}`} role="img" aria-label={title} className="w-full max-w-3xl text-blue-600 dark:text-blue-400">
          {bars.map((b, i) => {
            const bh = (b.value / max) * (h - top);
            const centre = i * slot + slot / 2;
            return (
              <g key={b.label}>
                <rect x={centre - bw / 2} y={h - bh} width={bw} height={bh} fill="currentColor">
                  <title>{`${b.label}: ${format(b.value)}`}</title>
                </rect>
                {bars.length <= 12 && <text x={centre} y={h + 14} fontSize="10" textAnchor="middle" fill="currentColor">{b.label.length > 12 ? `…${b.label.slice(-11)}` : b.label}</text>}
                {labelled && <text x={centre} y={h - bh - 3} fontSize="10" textAnchor="middle" fill="currentColor">{format(b.value)}</text>}
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}

export default function UsageCharts({ report }: { report: UsageReport }) {
  const { t } = useTranslation();
  const days = report.by_day;
  return (
    <div data-testid="usage-charts">
      <BarChart testId="chart-requests" title={t("admin.usage.requestsPerDay")} bars={days.map((d) => ({ label: d.day, value: d.requests }))} />
      <BarChart testId="chart-tokens-model" title={t("admin.usage.tokensByModel")} bars={report.by_model.map((m) => ({ label: m.model, value: m.total_tokens }))} />
      <BarChart testId="chart-tokens-user" title={t("admin.usage.tokensByUser")} bars={(report.by_user ?? []).slice(0, 20).map((u) => ({ label: u.user_id, value: u.total_tokens }))} />
      <BarChart testId="chart-ttft" title={t("admin.usage.ttftP50PerDay")} bars={days.map((d) => ({ label: d.day, value: Math.round(d.p50_ttft_ms ?? 0) }))} format={(n) => t("admin.usage.ms", { value: n })} />
      <BarChart testId="chart-ttft-p95" title={t("admin.usage.ttftP95PerDay")} bars={days.map((d) => ({ label: d.day, value: Math.round(d.p95_ttft_ms ?? 0) }))} format={(n) => t("admin.usage.ms", { value: n })} />
      <BarChart testId="chart-errors" title={t("admin.usage.errorRatePerDay")} bars={days.map((d) => ({ label: d.day, value: d.requests ? Math.round((d.failed / d.requests) * 1000) / 10 : 0 }))} format={(n) => `${n}%`} />
    </div>
  );
}
