// Small accessible pieces: a modal dialog on the native <dialog> (focus trapped, Escape closes),
// status messages, a loading line, a money cell.
import { useEffect, useRef, type ReactNode } from "react";
import { useI18n } from "./i18n";

export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby="dialog-title" onClose={onClose} onCancel={onClose} className="dialog">
      {open ? (
        <>
          <h2 id="dialog-title">{title}</h2>
          {children}
        </>
      ) : null}
    </dialog>
  );
}

export function Loading() {
  const { t } = useI18n();
  return <p role="status" aria-live="polite" className="loading">{t("common.loading")}</p>;
}

export function ErrorMessage({ error }: { error: { message: string } | undefined | null }) {
  const { t } = useI18n();
  if (!error) return null;
  return <p role="alert" className="alert alert-error">{t("common.error", { message: error.message })}</p>;
}

export function Notice({ children, tone = "info" }: { children: ReactNode; tone?: "info" | "success" | "error" }) {
  return <div role={tone === "error" ? "alert" : "status"} className={`alert alert-${tone}`}>{children}</div>;
}

export function Money({ amount, currency }: { amount: string; currency: string }) {
  const { money } = useI18n();
  return <span className="money">{money(amount, currency)}</span>;
}

export function PageTitle({ children }: { children: ReactNode }) {
  useEffect(() => {
    if (typeof children === "string") document.title = children;
  }, [children]);
  return <h1 id="page-title" tabIndex={-1}>{children}</h1>;
}
