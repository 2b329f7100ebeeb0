import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { I18nProvider, SessionProvider, StepUpProvider, registerManifests } from "@forexcrm/portal-shared";
import "@forexcrm/portal-shared/src/styles.css";
import "./app.css";
import { messages } from "./messages";
import { App } from "./App";

// The text-only paths (subscriptions) send a trusted document's registered text.
registerManifests(
  () => import("./gql/persisted-documents.json").then((m) => m.default as Record<string, string>),
  () => import("@forexcrm/portal-shared/src/gql/persisted-documents.json").then((m) => m.default as Record<string, string>),
);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <I18nProvider messages={messages}>
      <SessionProvider>
        <StepUpProvider>
          <BrowserRouter>
            <App />
          </BrowserRouter>
        </StepUpProvider>
      </SessionProvider>
    </I18nProvider>
  </StrictMode>,
);
