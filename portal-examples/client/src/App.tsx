import { Navigate, Route, Routes } from "react-router-dom";
import { LanguagePicker, Loading, SignIn, useI18n, useSession, PortalShell } from "@forexcrm/portal-shared";
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
import { RiskWarning } from "./RiskWarning";

function Shell({ children }: { children: React.ReactNode }) {
  const { t } = useI18n();
  const links = [
    ["/", "nav.dashboard"], ["/funds", "nav.funds"], ["/accounts", "nav.accounts"], ["/payments", "nav.payments"],
    ["/history", "nav.history"], ["/onboarding", "nav.onboarding"], ["/security", "nav.security"],
    ["/settings", "nav.settings"], ["/become-ib", "nav.ib"],
  ].map(([to, key]) => ({ to, label: t(key) }));
  return (
    <>
      <PortalShell links={links} extra={<Notifications />}>{children}</PortalShell>
      <RiskWarning />
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
        <RiskWarning />
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
