// Countries offered in forms (ISO 3166-1 alpha-2), named in the user's language by Intl.DisplayNames.
export const COUNTRIES = [
  "AE", "AR", "AT", "AU", "BE", "BG", "BR", "CA", "CH", "CL", "CO", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR",
  "GB", "GR", "HR", "HU", "IE", "IN", "IT", "JP", "KE", "LT", "LU", "LV", "MT", "MX", "MY", "NG", "NL", "NO", "NZ",
  "PE", "PL", "PT", "RO", "SE", "SG", "SI", "SK", "TH", "TR", "UY", "ZA",
];

const cache = new Map<string, Intl.DisplayNames>();

export function countryName(code: string, locale: string): string {
  let names = cache.get(locale);
  if (!names) {
    names = new Intl.DisplayNames([locale], { type: "region" });
    cache.set(locale, names);
  }
  return names.of(code) ?? code;
}
