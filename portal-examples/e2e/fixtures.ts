// What the tests share: the portals' addresses, the demo brokerage's credentials, the mailbox, and an
// axe check that fails a test on any violation.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { expect, type Page } from "@playwright/test";
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

/** A screenshot for portal-examples/README.md. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: resolve(import.meta.dirname, "..", "docs", "screenshots", `${name}.png`), fullPage: true });
}
