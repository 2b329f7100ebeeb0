import { useEffect, useRef } from "react";
import { NavLink, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { LanguagePicker, Loading, SignIn, useI18n, useSession } from "@forexcrm/portal-shared";
import { Link } from "react-router-dom";
import { Dashboard } from "./pages/Dashboard";
import { Security } from "./pages/Security";
import { Register } from "./pages/Register";
import { VerifyEmail } from "./pages/VerifyEmail";
import { Onboarding } from "./pages/Onboarding";
import { AccountPage } from "./pages/Account";

function Shell({ children }: { children: React.ReactNode }) {
  const { t } = useI18n();
  const { viewer, signOut } = useSession();
  const location = useLocation();
  const first = useRef(true);
  // Move focus to the new page's heading after navigation (screen readers announce it).
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.getElementById("page-title")?.focus();
  }, [location.pathname]);
  const links: Array<[string, string]> = [
    ["/", t("nav.dashboard")],
    ["/onboarding", t("nav.onboarding")],
    ["/security", t("nav.security")],
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
  const { status } = useSession();
  const { t } = useI18n();
  if (status === "loading") return <main id="main"><Loading /></main>;
  if (status === "signedOut") {
    return (
      <>
        <header className="top"><strong>{t("app.name")}</strong><LanguagePicker /></header>
        <Routes>
          <Route path="/register" element={<Register />} />
          <Route path="/verify-email" element={<main id="main" className="narrow"><VerifyEmail /></main>} />
          <Route path="*" element={<SignIn footer={<p>{t("register.noAccount")} <Link to="/register">{t("register.title")}</Link></p>} />} />
        </Routes>
      </>
    );
  }
  return (
    <Shell>
      <Routes>
        <Route path="/" element={<Dashboard />} />
        <Route path="/security" element={<Security />} />
        <Route path="/onboarding" element={<Onboarding />} />
        <Route path="/verify-email" element={<VerifyEmail />} />
        <Route path="/accounts/:id" element={<AccountPage />} />
        <Route path="/register" element={<Navigate to="/onboarding" replace />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </Shell>
  );
}
