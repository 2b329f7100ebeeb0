// Starts a portal: its messages, the session, step-up prompts and routing around its App. The
// text-only paths (subscriptions, uploads) send a trusted document's registered text, looked up in
// the app's manifest and the shared package's.
import { StrictMode, type ComponentType } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { registerManifests, type Manifest } from "./documents";
import { I18nProvider, type Language, type Messages } from "./i18n";
import { SessionProvider } from "./session";
import { StepUpProvider } from "./stepup";

export function mountPortal(App: ComponentType, messages: Record<Language, Messages>, manifest: () => Promise<Manifest>): void {
  registerManifests(
    manifest,
    () => import("./gql/persisted-documents.json").then((m) => m.default as Manifest),
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
}
