// What the tests share: the portals' addresses, the demo brokerage's credentials, the mailbox, and an
// axe check that fails a test on any violation.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { basename, resolve } from "node:path";
import { expect, test, type Page } from "@playwright/test";
import AxeBuilder from "@axe-core/playwright";

export function portalUrl(app: "client" | "ib" | "staff"): string {
  const url = process.env[`PORTAL_${app.toUpperCase()}_URL`];
  if (!url) throw new Error(`the ${app} portal is not running (is it built?)`);
  return url;
}

export function demoPassword(email: string): string {
  const creds = JSON.parse(readFileSync(resolve(process.env.FOREXCRM_E2E_DATA_DIR!, "demo-credentials.json"), "utf8"));
  return creds[email];
}

/** The newest e-mail to `to` whose body matches `pattern`, waiting for the worker to send it. */
export async function mailLink(to: string, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const mails: Array<{ body: string }> = await (await fetch(`${process.env.MAIL_SINK_URL}/messages?to=${encodeURIComponent(to)}`)).json();
    for (const mail of mails.reverse()) {
      const match = mail.body.match(pattern);
      if (match) return match[0];
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`no e-mail to ${to} matching ${pattern}`);
}

/** Every page a test visits passes an automated accessibility check (WCAG 2.1 A/AA rules). */
export async function expectAccessible(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const summary = results.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
  expect(summary, "axe violations").toEqual([]);
}

/** A screenshot for portal-examples/README.md: the image in docs/screenshots/, and a line in the run's log from
 * which the run's end (e2e/screenshots-teardown.ts) writes the README's table: its caption, its spec and the
 * line of this call (the table's order). Without a caption the manifest's is kept. */
export async function screenshot(page: Page, name: string, caption?: string): Promise<void> {
  await page.screenshot({ path: resolve(import.meta.dirname, "..", "docs", "screenshots", `${name}.png`), fullPage: true });
  const log = process.env.FOREXCRM_E2E_SCREENSHOT_LOG;
  if (!log) return;
  const spec = basename(test.info().file);
  // The caller's line in its spec, from this call's stack (the table follows the order screenshots are taken).
  const frame = (new Error().stack ?? "").split("\n").find((f) => f.includes(`${spec}:`)) ?? "";
  const line = Number(frame.match(new RegExp(`${spec.replace(/\./g, "\\.")}:(\\d+)`))?.[1] ?? 0);
  appendFileSync(log, JSON.stringify({ name, caption, spec, line }) + "\n");
}

/** Authenticator secrets enrolled by a test, kept beside the run's data so a later spec signs the same user in. */
function secretsFile(): string {
  return resolve(process.env.FOREXCRM_E2E_DATA_DIR!, "e2e-totp-secrets.json");
}

export function rememberSecret(email: string, secret: string): void {
  const known = existsSync(secretsFile()) ? JSON.parse(readFileSync(secretsFile(), "utf8")) : {};
  writeFileSync(secretsFile(), JSON.stringify({ ...known, [email]: secret }), { mode: 0o600 });
}

export function knownSecret(email: string): string | undefined {
  return existsSync(secretsFile()) ? JSON.parse(readFileSync(secretsFile(), "utf8"))[email] : undefined;
}

/** The trading-server simulator `forexcrm run` started (its public /sim/ endpoints). */
export async function simulator(action: string, body: unknown): Promise<any> {
  const response = await fetch(`${process.env.SIMULATOR_URL}/sim/${action}`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`simulator ${action}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** A staff member with these roles, through the CLI (`forexcrm create-staff`) against the server under test. */
export function createStaff(email: string, password: string, name: string, roles: string[]): void {
  const dataDir = process.env.FOREXCRM_E2E_DATA_DIR!;
  const bin = process.env.FOREXCRM_BIN ?? resolve(import.meta.dirname, "..", "..", ".venv/bin/forexcrm");
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "DATABASE_URL" && k !== "REDIS_URL" && !k.startsWith("FOREXCRM_")));
  const result = spawnSync(bin, ["create-staff", "--email", email, "--password", password, "--display-name", name, ...roles.flatMap((r) => ["--role", r])],
    { env: { ...env, FOREXCRM_DATA_DIR: dataDir, FOREXCRM_LOG_LEVEL: "WARNING" }, cwd: dataDir, encoding: "utf8" });
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
}

/** The Stripe stand-in's settlement report for everything it has settled, as finance downloads it with the
 * broker's secret key: its balance transactions (charges and refunds), each with our payment reference from
 * the metadata, written in the CRM's import format (provider, reference, amount, currency, fee, settled_at, status). */
export async function stripeSettlementReport(): Promise<string> {
  const secrets = JSON.parse(readFileSync(resolve(process.env.FOREXCRM_E2E_DATA_DIR!, "sandbox", "secrets.json"), "utf8"));
  const get = async (path: string) => {
    const response = await fetch(`${process.env.STRIPE_URL}${path}`, { headers: { authorization: `Bearer ${secrets.stripe.api_key}` } });
    if (!response.ok) throw new Error(`stripe ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const cents = (n: number) => `${n < 0 ? "-" : ""}${Math.floor(Math.abs(n) / 100)}.${String(Math.abs(n) % 100).padStart(2, "0")}`;
  const lines = ["provider,reference,amount,currency,fee,settled_at,status"];
  for (const txn of (await get("/v1/balance_transactions?expand[]=data.source")).data) {
    // A charge's reference travels on its PaymentIntent; a refund carries its own.
    const metadata = txn.type === "charge" ? (await get(`/v1/payment_intents/${txn.source.payment_intent}`)).metadata : txn.source.metadata ?? {};
    lines.push(["stripe", metadata.reference, cents(txn.amount), String(txn.currency).toUpperCase(), cents(txn.fee),
      new Date(txn.created * 1000).toISOString(), "settled"].join(","));
  }
  return lines.join("\n") + "\n";
}
