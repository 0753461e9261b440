import { useTranslation } from "react-i18next";
import { useUi } from "../stores/ui";

export function Toasts() {
  const { t } = useTranslation();
  const toasts = useUi((s) => s.toasts);
  return (
    <div className="fixed bottom-4 left-1/2 z-50 flex -translate-x-1/2 flex-col gap-2" aria-live="polite">
      {toasts.map((toast) => (
        <div key={toast.id} role="status" data-testid="toast" className="flex items-center gap-3 rounded-lg bg-gray-900 px-4 py-2 text-sm text-white shadow-lg dark:bg-gray-100 dark:text-gray-900">
          <span>{toast.message}</span>
          {toast.actionLabel && toast.onAction && (
            <button type="button" data-testid="toast-action" className="font-semibold underline" onClick={() => { toast.onAction?.(); useUi.getState().dismissToast(toast.id); }}>
              {toast.actionLabel}
            </button>
          )}
          <button type="button" aria-label={t("common.dismiss")} onClick={() => useUi.getState().dismissToast(toast.id)}>×</button>
        </div>
      ))}
    </div>
  );
}
