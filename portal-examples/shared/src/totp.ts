// Enrolling an authenticator (client security page, staff's mandatory first screen): start, confirm
// with a code, then the recovery codes; every refusal lands on the code field or the form.
import { useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { type FormErrors, useFormErrors } from "./forms";
import { ConfirmTotpMutation, DisableTotpMutation, StartTotpMutation } from "./operations";
import { useStepUp } from "./stepup";

export type TotpEnrolment = {
  enrolment: { secret: string; uri: string } | null;
  code: string;
  setCode: (code: string) => void;
  recovery: readonly string[] | null;
  errors: FormErrors;
  begin: () => Promise<void>;
  finish: (event: FormEvent) => Promise<void>;
};

export function useTotpEnrolment(onEnrolled?: () => Promise<void>): TotpEnrolment {
  const [, start] = useMutation(StartTotpMutation);
  const [, confirm] = useMutation(ConfirmTotpMutation);
  const [enrolment, setEnrolment] = useState<{ secret: string; uri: string } | null>(null);
  const [code, setCode] = useState("");
  const [recovery, setRecovery] = useState<readonly string[] | null>(null);
  const errors = useFormErrors(["code"]);

  const begin = async () => {
    const result = await start({});
    const payload = result.data?.startTotpEnrollment;
    if (payload?.secret && payload.provisioningUri) {
      errors.clear();
      setEnrolment({ secret: payload.secret, uri: payload.provisioningUri });
    } else errors.set(payload?.errors ?? [{ message: result.error?.message ?? "error", code: "INTERNAL_SERVER_ERROR" }]);
  };

  const finish = async (event: FormEvent) => {
    event.preventDefault();
    const result = await confirm({ code: code.trim() });
    const payload = result.data?.confirmTotpEnrollment;
    if (payload && payload.errors.length === 0) {
      setRecovery(payload.recoveryCodes ?? []);
      setEnrolment(null);
      await onEnrolled?.();
    } else errors.set(payload?.errors ?? [{ message: result.error?.message ?? "error", code: "INTERNAL_SERVER_ERROR" }]);
  };

  return { enrolment, code, setCode, recovery, errors, begin, finish };
}

export type TotpDisable = { errors: FormErrors; disable: () => Promise<boolean> };

/** Turning 2FA off: the API asks for a step-up first (the prompt takes a code, then it is sent again). */
export function useTotpDisable(onDisabled?: () => Promise<void>): TotpDisable {
  const [, run] = useMutation(DisableTotpMutation);
  const withStepUp = useStepUp();
  const errors = useFormErrors([]);

  const disable = async () => {
    const payload = await withStepUp(async () => {
      const result = await run({});
      return result.data?.disableTotp ?? { ok: false, errors: [{ field: null, message: result.error?.message ?? "error", code: "INTERNAL_SERVER_ERROR" }] };
    });
    errors.set(payload.errors);
    if (payload.errors.length > 0 || !payload.ok) return false;
    await onDisabled?.();
    return true;
  };

  return { errors, disable };
}
