import { useEffect, useRef } from "react";
import { NavLink, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { LanguagePicker, Loading, SignIn, useI18n, useSession } from "@forexcrm/portal-shared";
import { ClientPage, TreePage } from "./pages/Tree";
import { LinksPage } from "./pages/Links";
import { CommissionsPage } from "./pages/Commissions";
import { MoneyPage } from "./pages/Money";
import { DisputesPage } from "./pages/Disputes";
import { TokensPage } from "./pages/Tokens";

function Shell({ children }: { children: React.ReactNode }) {
  const { t } = useI18n();
  const { viewer, signOut } = useSession();
  const location = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById("page-title")?.focus();
  }, [location.pathname]);
  const links: Array<[string, string]> = [
    ["/", t("nav.tree")],
    ["/links", t("nav.links")],
    ["/commissions", t("nav.commissions")],
    ["/money", t("nav.money")],
    ["/disputes", t("nav.disputes")],
    ["/tokens", t("nav.tokens")],
  ];
  return (
    <>
      <a className="skip" href="#main">{t("common.skip")}</a>
      <header className="top">
        <strong>{t("app.name")}</strong>
        <nav aria-label={t("nav.label")}>
          <ul>
            {links.map(([to, label]) => (
              <li key={to}><NavLink to={to} end>{label}</NavLink></li>
            ))}
          </ul>
        </nav>
        <div className="actions">
          <LanguagePicker />
          <span className="muted">{viewer?.email}</span>
          <button type="button" className="secondary" onClick={() => void signOut()}>{t("signout")}</button>
        </div>
      </header>
      <main id="main">{children}</main>
    </>
  );
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
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </Shell>
  );
}
