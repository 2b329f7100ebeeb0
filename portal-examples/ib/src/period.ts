/** The last `days` days up to tomorrow (UTC midnight), as the API's [since, until) period. */
export function lastDays(days: number): { since: string; until: string } {
  const until = new Date();
  until.setUTCHours(0, 0, 0, 0);
  until.setUTCDate(until.getUTCDate() + 1);
  const since = new Date(until);
  since.setUTCDate(since.getUTCDate() - days);
  return { since: since.toISOString(), until: until.toISOString() };
}

export function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A payout's or dispute's status as the API writes it ("paid", "held", "open", ...) in the reader's language; an
 * unknown one as it is. */
export function statusLabel(t: (key: string) => string, status: string): string {
  const key = `status.${status.toLowerCase()}`;
  const text = t(key);
  return text === key ? status : text;
}
