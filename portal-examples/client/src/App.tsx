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
import { Funds } from "./pages/Funds";
import { PaymentPage, Payments } from "./pages/Payments";
import { History } from "./pages/History";
import { Accounts } from "./pages/Accounts";
import { Settings } from "./pages/Settings";
import { BecomeIb } from "./pages/BecomeIb";
import { Notifications } from "./Notifications";

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
    ["/funds", t("nav.funds")],
    ["/accounts", t("nav.accounts")],
    ["/payments", t("nav.payments")],
    ["/history", t("nav.history")],
    ["/onboarding", t("nav.onboarding")],
    ["/security", t("nav.security")],
    ["/settings", t("nav.settings")],
    ["/become-ib", t("nav.ib")],
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
          <Notifications />
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
        <Route path="/accounts" element={<Accounts />} />
        <Route path="/funds" element={<Funds />} />
        <Route path="/payments" element={<Payments />} />
        <Route path="/payments/:id" element={<PaymentPage />} />
        <Route path="/history" element={<History />} />
        <Route path="/settings" element={<Settings />} />
        <Route path="/become-ib" element={<BecomeIb />} />
        <Route path="/register" element={<Navigate to="/onboarding" replace />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </Shell>
  );
}
