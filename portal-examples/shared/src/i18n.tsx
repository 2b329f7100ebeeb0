// Two languages (English and Spanish), chosen by the user and remembered; dates and amounts follow
// the chosen language's conventions through Intl.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { formatMoney } from "./money";

export const LANGUAGES = { en: "English", es: "Español" } as const;
export type Language = keyof typeof LANGUAGES;
export type Messages = Record<string, string>;
const LANGUAGE_KEY = "forexcrm.language";

export const sharedMessages = {
  en: {
    "lang.label": "Language",
    "signin.title": "Sign in",
    "signin.email": "E-mail",
    "signin.password": "Password",
    "signin.totp": "Authenticator code",
    "signin.totpHelp": "Enter the 6-digit code from your authenticator app.",
    "signin.submit": "Sign in",
    "signin.revoked": "Your session was ended elsewhere. Please sign in again.",
    "signin.expired": "Your session expired. Please sign in again.",
    "signin.signedOut": "You have signed out.",
    "signout": "Sign out",
    "stepup.title": "Confirm with your authenticator",
    "stepup.explain": "This action needs a fresh code from your authenticator app.",
    "stepup.code": "Authenticator code",
    "stepup.confirm": "Confirm",
    "stepup.cancel": "Cancel",
    "form.fixErrors": "Please correct the fields marked below.",
    "common.loading": "Loading…",
    "common.error": "Something went wrong: {message}",
    "common.close": "Close",
    "common.save": "Save",
    "common.skip": "Skip to content",
  },
  es: {
    "lang.label": "Idioma",
    "signin.title": "Iniciar sesión",
    "signin.email": "Correo electrónico",
    "signin.password": "Contraseña",
    "signin.totp": "Código del autenticador",
    "signin.totpHelp": "Introduzca el código de 6 dígitos de su aplicación de autenticación.",
    "signin.submit": "Entrar",
    "signin.revoked": "Su sesión se cerró en otro lugar. Inicie sesión de nuevo.",
    "signin.expired": "Su sesión caducó. Inicie sesión de nuevo.",
    "signin.signedOut": "Ha cerrado la sesión.",
    "signout": "Cerrar sesión",
    "stepup.title": "Confirme con su autenticador",
    "stepup.explain": "Esta acción necesita un código nuevo de su aplicación de autenticación.",
    "stepup.code": "Código del autenticador",
    "stepup.confirm": "Confirmar",
    "stepup.cancel": "Cancelar",
    "form.fixErrors": "Corrija los campos marcados abajo.",
    "common.loading": "Cargando…",
    "common.error": "Algo salió mal: {message}",
    "common.close": "Cerrar",
    "common.save": "Guardar",
    "common.skip": "Ir al contenido",
  },
} satisfies Record<Language, Messages>;

export interface I18n {
  language: Language;
  locale: string;
  setLanguage(language: Language): void;
  t(key: string, params?: Record<string, string | number>): string;
  money(amount: string, currency: string): string;
  dateTime(value: string | Date): string;
  date(value: string | Date): string;
  number(value: string): string;
}

const I18nContext = createContext<I18n | null>(null);

export function useI18n(): I18n {
  const value = useContext(I18nContext);
  if (!value) throw new Error("useI18n outside I18nProvider");
  return value;
}

function initialLanguage(): Language {
  const saved = localStorage.getItem(LANGUAGE_KEY);
  if (saved && saved in LANGUAGES) return saved as Language;
  return navigator.language.toLowerCase().startsWith("es") ? "es" : "en";
}

const LOCALES: Record<Language, string> = { en: "en-GB", es: "es-ES" };

export function I18nProvider({ messages, children }: { messages: Record<Language, Messages>; children: ReactNode }) {
  const [language, setLanguageState] = useState<Language>(initialLanguage);
  const setLanguage = useCallback((next: Language) => {
    localStorage.setItem(LANGUAGE_KEY, next);
    setLanguageState(next);
  }, []);
  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);
  const value = useMemo<I18n>(() => {
    const table: Messages = { ...sharedMessages.en, ...messages.en, ...sharedMessages[language], ...messages[language] };
    const locale = LOCALES[language];
    const dateTimeFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
    const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
    return {
      language,
      locale,
      setLanguage,
      t(key, params) {
        const text = table[key] ?? key;
        return params ? text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`)) : text;
      },
      money: (amount, currency) => formatMoney(amount, currency, locale),
      dateTime: (v) => dateTimeFormat.format(typeof v === "string" ? new Date(v) : v),
      date: (v) => dateFormat.format(typeof v === "string" ? new Date(`${v}${v.length === 10 ? "T00:00:00" : ""}`) : v),
      number: (v) => formatMoney(v, "", locale),
    };
  }, [language, messages, setLanguage]);
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>;
}

export function LanguagePicker() {
  const { language, setLanguage, t } = useI18n();
  return (
    <label className="lang-picker">
      <span>{t("lang.label")}</span>{" "}
      <select value={language} onChange={(e) => setLanguage(e.target.value as Language)}>
        {Object.entries(LANGUAGES).map(([code, name]) => (
          <option key={code} value={code} lang={code}>{name}</option>
        ))}
      </select>
    </label>
  );
}
