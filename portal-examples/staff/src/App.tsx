// The back office: staff only, and only with two-factor authentication (a staff member without it
// enrols before anything else; the API grants no permission until then). Each screen is shown in
// the navigation only to holders of its permission; the API refuses the data to anyone else.
import { Suspense, lazy } from "react";
import { Navigate, Route, Routes } from "react-router-dom";
import { LanguagePicker, Loading, Notice, PageTitle, SignIn, useI18n, useSession, PortalShell } from "@forexcrm/portal-shared";
import { EnrolTotp } from "./pages/EnrolTotp";
import { ReviewQueue } from "./pages/ReviewQueue";
import { ReviewClient } from "./pages/ReviewClient";
import { Clients } from "./pages/Clients";
import { ClientView } from "./pages/ClientView";
import { Jurisdictions } from "./pages/Jurisdictions";
import { Audit } from "./pages/Audit";
import { Withdrawals } from "./pages/Withdrawals";
import { Reconciliation } from "./pages/Reconciliation";
import { Payments } from "./pages/Payments";
import { Risk } from "./pages/Risk";
import { IbNetwork } from "./pages/IbNetwork";
import { TradingServers } from "./pages/TradingServers";
import { Roles } from "./pages/Roles";
import { AmlCaseView, AmlCases } from "./pages/AmlCases";
import { AmlScenarioView, AmlScenarios } from "./pages/AmlScenarios";
import { AmlReportView, AmlReports } from "./pages/AmlReports";
import { ScreeningRuns } from "./pages/ScreeningRuns";
import { BalanceAdjustments } from "./pages/BalanceAdjustments";

// The plan-version editor is a screen few staff open: it loads on first use, not with the shell.
const IbPlanView = lazy(() => import("./pages/IbPlans").then((m) => ({ default: m.IbPlanView })));
// So are regulatory reporting and records on request (compliance and audit, now and then).
const Regulatory = lazy(() => import("./pages/Regulatory").then((m) => ({ default: m.Regulatory })));
const Records = lazy(() => import("./pages/Records").then((m) => ({ default: m.Records })));
// Finance's bank statements and client money, the BI reports (charts), scheduled reports and outbound
// webhooks: a chunk each, on first use.
const BankStatements = lazy(() => import("./pages/BankStatements").then((m) => ({ default: m.BankStatements })));
const ClientMoneyPage = lazy(() => import("./pages/ClientMoney").then((m) => ({ default: m.ClientMoneyPage })));
const Reports = lazy(() => import("./pages/Reports").then((m) => ({ default: m.Reports })));
const ReportSchedules = lazy(() => import("./pages/ReportSchedules").then((m) => ({ default: m.ReportSchedules })));
const Webhooks = lazy(() => import("./pages/Webhooks").then((m) => ({ default: m.Webhooks })));

/** Navigation entries and the permission each needs. */
const SCREENS: Array<[string, string, string]> = [
  ["/review", "nav.review", "kyc.approve"],
  ["/clients", "nav.clients", "clients.read"],
  ["/payments", "nav.payments", "payments.read"],
  ["/withdrawals", "nav.withdrawals", "payments.approve_withdrawal"],
  ["/adjustments", "nav.adjustments", "ledger.adjust"],
  ["/reconciliation", "nav.reconciliation", "reconciliation.manage"],
  ["/bank-statements", "nav.bankStatements", "reconciliation.manage"],
  ["/client-money", "nav.clientMoney", "reconciliation.manage"],
  ["/aml/cases", "nav.amlCases", "compliance.read"],
  ["/aml/scenarios", "nav.amlScenarios", "compliance.read"],
  ["/aml/reports", "nav.amlReports", "compliance.reports"],
  ["/screening/runs", "nav.screeningRuns", "compliance.read"],
  ["/regulatory", "nav.regulatory", "regulatory.reports"],
  ["/records", "nav.records", "audit.read"],
  ["/reports", "nav.reports", "reports.read"],
  ["/report-schedules", "nav.reportSchedules", "reports.read"],
  ["/risk", "nav.risk", "risk.read"],
  ["/ib", "nav.ib", "ib.read"],
  ["/servers", "nav.servers", "trading.read"],
  ["/jurisdictions", "nav.jurisdictions", "config.manage"],
  ["/audit", "nav.audit", "audit.read"],
  ["/roles", "nav.roles", "staff.manage"],
  ["/webhooks", "nav.webhooks", "webhooks.manage"],
];

function Shell({ children }: { children: React.ReactNode }) {
  const { t } = useI18n();
  const { viewer } = useSession();
  const perms = new Set(viewer?.permissions ?? []);
  const links = SCREENS.filter(([, , perm]) => perms.has(perm)).map(([to, label]) => ({ to, label: t(label), end: false }));
  return <PortalShell links={links}>{children}</PortalShell>;
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
        <Route path="/adjustments" element={<BalanceAdjustments />} />
        <Route path="/regulatory" element={<Suspense fallback={<Loading />}><Regulatory /></Suspense>} />
        <Route path="/records" element={<Suspense fallback={<Loading />}><Records /></Suspense>} />
        <Route path="/reconciliation" element={<Reconciliation />} />
        <Route path="/bank-statements" element={<Suspense fallback={<Loading />}><BankStatements /></Suspense>} />
        <Route path="/client-money" element={<Suspense fallback={<Loading />}><ClientMoneyPage /></Suspense>} />
        <Route path="/reports" element={<Suspense fallback={<Loading />}><Reports /></Suspense>} />
        <Route path="/report-schedules" element={<Suspense fallback={<Loading />}><ReportSchedules /></Suspense>} />
        <Route path="/webhooks" element={<Suspense fallback={<Loading />}><Webhooks /></Suspense>} />
        <Route path="/payments" element={<Payments />} />
        <Route path="/risk" element={<Risk />} />
        <Route path="/ib" element={<IbNetwork />} />
        <Route path="/ib/plans/:id" element={<Suspense fallback={<Loading />}><IbPlanView /></Suspense>} />
        <Route path="/servers" element={<TradingServers />} />
        <Route path="/roles" element={<Roles />} />
        <Route path="/aml/cases" element={<AmlCases />} />
        <Route path="/aml/cases/:id" element={<AmlCaseView />} />
        <Route path="/aml/scenarios" element={<AmlScenarios />} />
        <Route path="/aml/scenarios/:id" element={<AmlScenarioView />} />
        <Route path="/aml/reports" element={<AmlReports />} />
        <Route path="/aml/reports/:id" element={<AmlReportView />} />
        <Route path="/screening/runs" element={<ScreeningRuns />} />
        <Route path="*" element={<Navigate to="/" replace />} />
      </Routes>
    </Shell>
  );
}
