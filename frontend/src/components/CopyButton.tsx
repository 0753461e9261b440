import { useState } from "react";
import { useTranslation } from "react-i18next";
import { copyText } from "../lib/clipboard";

export function CopyButton({ text, label, testId, className = "" }: { text: string; label?: string; testId?: string; className?: string }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  const onClick = async () => {
    if (await copyText(text)) {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    }
  };
  return (
    <button type="button" onClick={() => void onClick()} data-testid={testId} aria-label={label ?? t("common.copy")}
      className={`rounded px-2 py-0.5 text-xs border border-gray-300 dark:border-gray-600 hover:bg-gray-100 dark:hover:bg-gray-700 ${className}`}>
      {copied ? t("common.copied") : t("common.copy")}
    </button>
  );
}
