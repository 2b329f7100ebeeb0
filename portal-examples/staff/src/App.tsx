// The back office: staff only, and only with two-factor authentication (a staff member without it
// enrols before anything else; the API grants no permission until then). Each screen is shown in
// the navigation only to holders of its permission; the API refuses the data to anyone else.
import { useEffect, useRef } from "react";
import { NavLink, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { LanguagePicker, Loading, Notice, PageTitle, SignIn, useI18n, useSession } from "@forexcrm/portal-shared";
import { EnrolTotp } from "./pages/EnrolTotp";
import { ReviewQueue } from "./pages/ReviewQueue";
import { ReviewClient } from "./pages/ReviewClient";
import { Clients } from "./pages/Clients";
import { ClientView } from "./pages/ClientView";
import { Jurisdictions } from "./pages/Jurisdictions";
import { Audit } from "./pages/Audit";
import { Withdrawals } from "./pages/Withdrawals";

/** Navigation entries and the permission each needs. */
const SCREENS: Array<[string, string, string]> = [
  ["/review", "nav.review", "kyc.approve"],
  ["/clients", "nav.clients", "clients.read"],
  ["/withdrawals", "nav.withdrawals", "payments.approve_withdrawal"],
  ["/jurisdictions", "nav.jurisdictions", "config.manage"],
  ["/audit", "nav.audit", "audit.read"],
];

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
  const perms = new Set(viewer?.permissions ?? []);
  return (
    <>
      <a className="skip" href="#main">{t("common.skip")}</a>
      <header className="top">
        <strong>{t("app.name")}</strong>
        <nav aria-label={t("nav.label")}>
          <ul>
            {SCREENS.filter(([, , perm]) => perms.has(perm)).map(([to, label]) => (
              <li key={to}><NavLink to={to}>{t(label)}</NavLink></li>
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

function Home() {
  const { t } = useI18n();
  const { viewer } = useSession();
  const perms = new Set(viewer?.permissions ?? []);
  const first = SCREENS.find(([, , perm]) => perms.has(perm));
  if (first) return <Navigate to={first[0]} replace />;
  return <><PageTitle>{t("home.title")}</PageTitle><Notice>{t("home.nothing")}</Notice></>;
}

export function App() {
  const { status, viewer } = useSession();
  const { t } = useI18n();
  if (status === "loading") return <main id="main"><Loading /></main>;
  if (status === "signedOut" || !viewer) {
    return (
      <>
        <header className="top"><strong>{t("app.name")}</strong><LanguagePicker /></header>
        <SignIn />
      </>
    );
  }
  if (!viewer.isStaff) {
    return (
      <Shell><PageTitle>{t("staffOnly.title")}</PageTitle><Notice tone="error">{t("staffOnly.text")}</Notice></Shell>
    );
  }
  if (!viewer.twoFactorEnabled) return <Shell><EnrolTotp /></Shell>;
  return (
    <Shell>
      <Routes>
        <Route path="/" element={<Home />} />
        <Route path="/review" element={<ReviewQueue />} />
        <Route path="/review/:id" element={<ReviewClient />} />
        <Route path="/clients" element={<Clients />} />
        <Route path="/clients/:id" element={<ClientView />} />
        <Route path="/jurisdictions" element={<Jurisdictions />} />
        <Route path="/audit" element={<Audit />} />
        <Route path="/withdrawals" element={<Withdrawals />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </Shell>
  );
}
