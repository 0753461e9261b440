import { useTranslation } from "react-i18next";
import { LANGUAGES, setLanguage, type Language } from "../i18n";
import { useUi } from "../stores/ui";

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  return (
    <label className="flex items-center gap-1 text-sm">
      <span className="sr-only">{t("prefs.language")}</span>
      <select data-testid="language-switch" aria-label={t("prefs.language")} value={i18n.language}
        onChange={(e) => setLanguage(e.target.value as Language)}
        className="rounded border border-gray-300 bg-white px-1 py-0.5 dark:border-gray-600 dark:bg-gray-900">
        {LANGUAGES.map((lng) => <option key={lng} value={lng}>{t(`prefs.languages.${lng}`)}</option>)}
      </select>
    </label>
  );
}

export function ThemeSwitch() {
  const { t } = useTranslation();
  const theme = useUi((s) => s.theme);
  return (
    <button type="button" data-testid="theme-switch" aria-pressed={theme === "dark"} onClick={() => useUi.getState().toggleTheme()}
      aria-label={theme === "dark" ? t("prefs.toLight") : t("prefs.toDark")}
      className="rounded border border-gray-300 px-2 py-0.5 text-sm dark:border-gray-600">
      {theme === "dark" ? t("prefs.light") : t("prefs.dark")}
    </button>
  );
}
