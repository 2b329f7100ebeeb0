// Money arrives as a decimal string at its currency's scale ("1250.00", "0.00012345"). It is shown
// through Intl.NumberFormat with the *string* (exact decimal formatting, no float on the way) and
// exactly the string's own number of places, so a BTC amount keeps its 8 and JPY its 0.

const DECIMAL = /^-?\d+(\.\d+)?$/;

/** Decimal places of a decimal string. */
export function scaleOf(amount: string): number {
  const dot = amount.indexOf(".");
  return dot < 0 ? 0 : amount.length - dot - 1;
}

type Formattable = Parameters<Intl.NumberFormat["format"]>[0];

export function formatMoney(amount: string, currency: string, locale: string): string {
  if (!DECIMAL.test(amount)) return amount;
  const scale = scaleOf(amount);
  const exact = amount as unknown as Formattable; // Intl formats a numeric string exactly (ES2023 Intl.NumberFormat v3)
  const plain = { minimumFractionDigits: scale, maximumFractionDigits: scale };
  if (/^[A-Z]{3}$/.test(currency)) {
    try {
      return new Intl.NumberFormat(locale, { ...plain, style: "currency", currency, currencyDisplay: "narrowSymbol" }).format(exact);
    } catch {
      /* not a currency Intl knows: fall through */
    }
  }
  const number = new Intl.NumberFormat(locale, plain).format(exact);
  return currency ? `${number} ${currency}` : number;
}

/** A decimal string at least at its currency's usual scale ("271" USD -> "271.00"), by padding the string: for
 * amounts an API normalised (a rule's explanation); an amount with more places keeps them. */
export function atCurrencyScale(amount: string, currency: string): string {
  if (!DECIMAL.test(amount) || !/^[A-Z]{3}$/.test(currency)) return amount;
  let places: number;
  try {
    places = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 0;
  } catch {
    return amount;
  }
  const missing = places - scaleOf(amount);
  if (missing <= 0) return amount;
  return `${amount}${amount.includes(".") ? "" : "."}${"0".repeat(missing)}`;
}

/** Compare two decimal strings without floats: -1, 0 or 1. */
export function compareDecimal(a: string, b: string): number {
  const scale = Math.max(scaleOf(a), scaleOf(b));
  const toInt = (v: string) => {
    const [whole, frac = ""] = v.replace("-", "").split(".");
    const n = BigInt(whole + frac.padEnd(scale, "0"));
    return v.startsWith("-") ? -n : n;
  };
  const x = toInt(a);
  const y = toInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Normalise user input ("1 250,5" in Spanish, "1,250.5" in English) to a plain decimal string, or null. */
export function parseAmountInput(text: string, locale: string): string | null {
  const decimalSep = new Intl.NumberFormat(locale).formatToParts(1.5).find((p) => p.type === "decimal")?.value ?? ".";
  let s = text.trim().replace(/[\s\u00a0\u202f]/g, "");
  if (decimalSep === ",") s = s.replace(/\./g, "").replace(",", ".");
  else s = s.replace(/,/g, "");
  return DECIMAL.test(s) ? s : null;
}
