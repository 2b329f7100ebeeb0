// What every portal's page frame is: the skip link, the header with the navigation, the language
// picker and sign-out, and focus moved to the new page's heading after navigation (screen readers
// announce it).
import { useEffect, useRef, type ReactNode } from "react";
import { NavLink, useLocation } from "react-router-dom";
import { LanguagePicker, useI18n } from "./i18n";
import { useSession } from "./session";

export type NavEntry = { to: string; label: string; end?: boolean };

export function PortalShell({ links, extra, children }: { links: NavEntry[]; extra?: ReactNode; children: ReactNode }) {
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
  return (
    <>
      <a className="skip" href="#main">{t("common.skip")}</a>
      <header className="top">
        <strong>{t("app.name")}</strong>
        <nav aria-label={t("nav.label")}>
          <ul>
            {links.map(({ to, label, end }) => (
              <li key={to}><NavLink to={to} end={end ?? true}>{label}</NavLink></li>
            ))}
          </ul>
        </nav>
        <div className="actions">
          {extra}
          <LanguagePicker />
          <span className="muted">{viewer?.email}</span>
          <button type="button" className="secondary" onClick={() => void signOut()}>{t("signout")}</button>
        </div>
      </header>
      <main id="main">{children}</main>
    </>
  );
}
