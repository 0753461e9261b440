import { useEffect } from "react";
import { useTranslation } from "react-i18next";
import { useAuth } from "./stores/auth";
import { queryClient } from "./lib/queryClient";
import AuthScreen from "./screens/AuthScreen";
import { Shell } from "./screens/Shell";

export function App() {
  const { t } = useTranslation();
  const status = useAuth((s) => s.status);
  useEffect(() => {
    void useAuth.getState().init();
  }, []);
  useEffect(() => {
    if (status === "anonymous") queryClient.clear();
  }, [status]);
  if (status === "unknown") return <p className="p-6" role="status">{t("common.loading")}</p>;
  if (status === "anonymous") return <AuthScreen />;
  return <Shell />;
}
