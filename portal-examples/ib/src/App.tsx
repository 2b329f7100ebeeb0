import { Navigate, Route, Routes } from "react-router-dom";
import { LanguagePicker, Loading, SignIn, useI18n, useSession, PortalShell } from "@forexcrm/portal-shared";
import { ClientPage, TreePage } from "./pages/Tree";
import { LinksPage } from "./pages/Links";
import { CommissionsPage } from "./pages/Commissions";
import { MoneyPage } from "./pages/Money";
import { DisputesPage } from "./pages/Disputes";
import { TokensPage } from "./pages/Tokens";
import { SecurityPage } from "./pages/Security";

function Shell({ children }: { children: React.ReactNode }) {
  const { t } = useI18n();
  const links = [
    ["/", "nav.tree"], ["/links", "nav.links"], ["/commissions", "nav.commissions"], ["/money", "nav.money"],
    ["/disputes", "nav.disputes"], ["/tokens", "nav.tokens"], ["/security", "nav.security"],
  ].map(([to, key]) => ({ to, label: t(key) }));
  return <PortalShell links={links}>{children}</PortalShell>;
}

export function App() {
  const { status, viewer } = useSession();
  const { t } = useI18n();
  if (status === "loading") return <main id="main"><Loading /></main>;
  if (status === "signedOut") {
    return (
      <>
        <header className="top"><strong>{t("app.name")}</strong><LanguagePicker /></header>
        <SignIn />
      </>
    );
  }
  if (!viewer?.isIb) {
    return (
      <Shell>
        <h1 id="page-title" tabIndex={-1}>{t("notIb.title")}</h1>
        <p>{t("notIb.text")}</p>
      </Shell>
    );
  }
  return (
    <Shell>
      <Routes>
        <Route path="/" element={<TreePage />} />
        <Route path="/clients/:id" element={<ClientPage />} />
        <Route path="/links" element={<LinksPage />} />
        <Route path="/commissions" element={<CommissionsPage />} />
        <Route path="/money" element={<MoneyPage />} />
        <Route path="/disputes" element={<DisputesPage />} />
        <Route path="/tokens" element={<TokensPage />} />
        <Route path="/security" element={<SecurityPage />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </Shell>
  );
}
