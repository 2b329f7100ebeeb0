// Payload errors beside the right field: each mutation answers `errors { field message code }`; a
// field's error goes under its input (aria-invalid + aria-describedby), anything that names no field
// of the form is shown at the top of the form, never dropped.
import { useCallback, useId, useMemo, useState, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes } from "react";
import { useI18n } from "./i18n";

export interface FieldError {
  field?: string | null;
  message: string;
  code: string;
}

/** The last segment of an API field path ("input.amount" -> "amount", "answers.2.value" -> "answers.2.value" kept whole too). */
function candidates(field: string): string[] {
  const parts = field.split(".");
  return [field, parts.slice(1).join("."), parts[parts.length - 1]].filter(Boolean);
}

export interface FormErrors {
  /** Errors for fields the form renders, keyed by the form's field name. */
  byField: Record<string, FieldError>;
  /** Errors that name no rendered field (or no field at all). */
  general: FieldError[];
  set(errors: readonly FieldError[]): void;
  clear(): void;
  of(name: string): FieldError | undefined;
  any: boolean;
}

export function useFormErrors(fields: readonly string[]): FormErrors {
  const [errors, setErrors] = useState<readonly FieldError[]>([]);
  const key = fields.join("|");
  const split = useMemo(() => {
    const byField: Record<string, FieldError> = {};
    const general: FieldError[] = [];
    for (const error of errors) {
      const name = error.field ? candidates(error.field).find((c) => fields.includes(c)) : undefined;
      if (name && !byField[name]) byField[name] = error;
      else general.push(error);
    }
    return { byField, general };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [errors, key]);
  const set = useCallback((next: readonly FieldError[]) => setErrors(next), []);
  const clear = useCallback(() => setErrors([]), []);
  return { ...split, set, clear, of: (name) => split.byField[name], any: errors.length > 0 };
}

export function FormAlert({ errors }: { errors: FormErrors }) {
  const { t } = useI18n();
  if (!errors.any) return null;
  return (
    <div role="alert" className="alert alert-error">
      {errors.general.length === 0 ? <p>{t("form.fixErrors")}</p> : null}
      {errors.general.map((e, i) => (
        <p key={i} data-code={e.code}>{e.message}</p>
      ))}
    </div>
  );
}

type FieldProps = {
  label: ReactNode;
  name: string;
  errors?: FormErrors;
  hint?: ReactNode;
} & InputHTMLAttributes<HTMLInputElement>;

export function TextField({ label, name, errors, hint, id, ...input }: FieldProps) {
  const autoId = useId();
  const inputId = id ?? `${autoId}-${name}`;
  const error = errors?.of(name);
  const hintId = hint ? `${inputId}-hint` : undefined;
  const errorId = error ? `${inputId}-error` : undefined;
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label htmlFor={inputId}>{label}</label>
      <input
        id={inputId}
        name={name}
        aria-invalid={error ? true : undefined}
        aria-describedby={[hintId, errorId].filter(Boolean).join(" ") || undefined}
        {...input}
      />
      {hint ? <p id={hintId} className="hint">{hint}</p> : null}
      {error ? <p id={errorId} className="field-error" data-code={error.code}>{error.message}</p> : null}
    </div>
  );
}

type SelectProps = {
  label: ReactNode;
  name: string;
  errors?: FormErrors;
  children: ReactNode;
} & SelectHTMLAttributes<HTMLSelectElement>;

export function SelectField({ label, name, errors, id, children, ...select }: SelectProps) {
  const autoId = useId();
  const selectId = id ?? `${autoId}-${name}`;
  const error = errors?.of(name);
  const errorId = error ? `${selectId}-error` : undefined;
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label htmlFor={selectId}>{label}</label>
      <select id={selectId} name={name} aria-invalid={error ? true : undefined} aria-describedby={errorId} {...select}>
        {children}
      </select>
      {error ? <p id={errorId} className="field-error" data-code={error.code}>{error.message}</p> : null}
    </div>
  );
}

/** A payload's errors, or the transport's error as a form-level one (never a blank screen). */
export function errorsOf(
  payload: { errors: readonly FieldError[] } | null | undefined,
  error?: { message: string } | null,
): FieldError[] {
  if (payload) return [...payload.errors];
  return [{ field: null, message: error?.message ?? "no answer from the server", code: "INTERNAL_SERVER_ERROR" }];
}

/** A fresh idempotency key for one money movement (reused if the same submission is retried). */
export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
