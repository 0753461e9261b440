import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { QueryClientProvider } from "@tanstack/react-query";
import "./i18n";
import "./index.css";
import { App } from "./App";
import { queryClient } from "./lib/queryClient";
import { applyTheme, useUi } from "./stores/ui";

applyTheme(useUi.getState().theme);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <App />
    </QueryClientProvider>
  </StrictMode>,
);
