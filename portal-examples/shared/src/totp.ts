// Enrolling an authenticator (client security page, staff's mandatory first screen): start, confirm
// with a code, then the recovery codes; every refusal lands on the code field or the form.
import { useState, type FormEvent } from "react";
import { useMutation } from "urql";
import { type FormErrors, useFormErrors } from "./forms";
import { ConfirmTotpMutation, StartTotpMutation } from "./operations";

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
