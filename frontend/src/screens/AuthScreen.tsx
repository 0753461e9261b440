import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ApiError } from "../api/errors";
import { describeError } from "../lib/errorMessages";
import { useAuth } from "../stores/auth";
import { LanguageSwitch, ThemeSwitch } from "../components/Preferences";

export default function AuthScreen() {
  const { t } = useTranslation();
  const [mode, setMode] = useState<"login" | "register">("login");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setError(null);
    if (mode === "register" && password.length < 8) {
      setError(t("auth.passwordTooShort"));
      return;
    }
    setBusy(true);
    try {
      if (mode === "login") await useAuth.getState().login(email, password);
      else await useAuth.getState().register(email, password);
    } catch (err) {
      if (err instanceof ApiError && mode === "login" && (err.status === 401 || err.status === 400)) setError(t("auth.badCredentials"));
      else if (err instanceof ApiError && mode === "register" && err.status === 409) setError(t("auth.emailTaken"));
      else if (err instanceof ApiError && mode === "register" && err.status === 403) setError(t("auth.registrationClosed"));
      else if (err instanceof ApiError) setError(t(`${describeError(err.status, err.code).key}.title`));
      else setError(t("errors.unknown.title"));
    } finally {
      setBusy(false);
    }
  };
  const field = "w-full rounded border border-gray-300 bg-white px-3 py-2 dark:border-gray-600 dark:bg-gray-900";
  return (
    <main className="flex min-h-full items-center justify-center p-4">
      <div className="w-full max-w-sm rounded-2xl border border-gray-200 p-6 shadow-sm dark:border-gray-700">
        <div className="mb-4 flex justify-end gap-2"><LanguageSwitch /><ThemeSwitch /></div>
        <h1 className="mb-4 text-2xl font-bold">{mode === "login" ? t("auth.loginTitle") : t("auth.registerTitle")}</h1>
        <form data-testid={mode === "login" ? "login-form" : "register-form"} className="flex flex-col gap-3" onSubmit={(e) => { e.preventDefault(); void submit(); }}>
          <label className="flex flex-col gap-1 text-sm">
            {t("auth.email")}
            <input data-testid="auth-email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} className={field} />
          </label>
          <label className="flex flex-col gap-1 text-sm">
            {t("auth.password")}
            <input data-testid="auth-password" type="password" autoComplete={mode === "login" ? "current-password" : "new-password"} required
              minLength={mode === "register" ? 8 : undefined} value={password} onChange={(e) => setPassword(e.target.value)} className={field} />
          </label>
          {error && <p role="alert" data-testid="auth-error" className="text-sm text-red-700 dark:text-red-300">{error}</p>}
          <button type="submit" data-testid="auth-submit" disabled={busy} className="rounded-lg bg-blue-700 px-3 py-2 font-medium text-white hover:bg-blue-800 disabled:opacity-50">
            {mode === "login" ? t("auth.login") : t("auth.register")}
          </button>
        </form>
        <button type="button" data-testid="auth-switch" className="mt-4 text-sm underline" onClick={() => { setMode(mode === "login" ? "register" : "login"); setError(null); }}>
          {mode === "login" ? t("auth.toRegister") : t("auth.toLogin")}
        </button>
      </div>
    </main>
  );
}
