// Step-up: a mutation answering STEP_UP_REQUIRED asks for a fresh authenticator code, calls
// `stepUp(code)`, then runs the mutation again.
import { createContext, useCallback, useContext, useRef, useState, type ReactNode } from "react";
import { useClient } from "urql";
import { StepUpMutation } from "./operations";
import { Dialog } from "./ui";
import { TextField, useFormErrors, FormAlert } from "./forms";
import { useI18n } from "./i18n";

type Run<T> = () => Promise<T>;
type WithStepUp = <T extends { errors: ReadonlyArray<{ code: string }> } | null | undefined>(run: Run<T>) => Promise<T>;

const StepUpContext = createContext<WithStepUp | null>(null);

export function useStepUp(): WithStepUp {
  const value = useContext(StepUpContext);
  if (!value) throw new Error("useStepUp outside StepUpProvider");
  return value;
}

export function StepUpProvider({ children }: { children: ReactNode }) {
  const client = useClient();
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const errors = useFormErrors(["code"]);
  const pending = useRef<((confirmed: boolean) => void) | null>(null);

  const ask = useCallback(() => new Promise<boolean>((resolve) => {
    pending.current = resolve;
    setCode("");
    errors.clear();
    setOpen(true);
  }), [errors]);

  const finish = (confirmed: boolean) => {
    setOpen(false);
    pending.current?.(confirmed);
    pending.current = null;
  };

  const withStepUp = useCallback<WithStepUp>(async (run) => {
    const first = await run();
    if (!first?.errors.some((e) => e.code === "STEP_UP_REQUIRED")) return first;
    return (await ask()) ? run() : first;
  }, [ask]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setBusy(true);
    const result = await client.mutation(StepUpMutation, { code: code.trim() }).toPromise();
    setBusy(false);
    const payload = result.data?.stepUp;
    if (payload?.ok) finish(true);
    else errors.set(payload?.errors ?? [{ field: null, message: result.error?.message ?? "error", code: "INTERNAL_SERVER_ERROR" }]);
  };

  return (
    <StepUpContext.Provider value={withStepUp}>
      {children}
      <Dialog open={open} title={t("stepup.title")} onClose={() => finish(false)}>
        <form onSubmit={submit} noValidate>
          <p>{t("stepup.explain")}</p>
          <FormAlert errors={errors} />
          <TextField label={t("stepup.code")} name="code" errors={errors} value={code} onChange={(e) => setCode(e.target.value)}
            inputMode="numeric" autoComplete="one-time-code" autoFocus required />
          <div className="actions">
            <button type="submit" disabled={busy}>{t("stepup.confirm")}</button>
            <button type="button" className="secondary" onClick={() => finish(false)}>{t("stepup.cancel")}</button>
          </div>
        </form>
      </Dialog>
    </StepUpContext.Provider>
  );
}
