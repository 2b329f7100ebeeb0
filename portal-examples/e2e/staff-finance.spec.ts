// The back office's finance screens in a real browser against the real API (staff created with
// `forexcrm create-staff`):
//   bank statements: a camt.053 file (e2e/fixtures, written by the tests' builder bench/camt_files.py,
//   dated today here) uploaded, v02 and v08, its entries shown with the reference each is matched by; a
//   malformed file refused beside the field; the run's bank breaks;
//   client money: the month's return, the run's result whose sign-off is refused to the member who
//   imported the statement (four eyes, beside the button) and signed off by a second one;
//   reports: revenue by symbol with its chart and table, by week, a figure drilled down to its deals;
//   Spanish; scheduled reports: a schedule whose bad settings are refused beside their fields, created and
//   listed with its runs;
//   webhooks: an endpoint registered against a receiver on loopback (a refused URL and no event type first),
//   its secret shown once, a card deposit delivered signed with it (200 in the delivery log), the message
//   replayed, the secret rotated, the endpoint disabled;
//   each new page at phone width (375 px) without horizontal scrolling, axe clean.
import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { cardDeposit, clientSignIn } from "./client-helpers";
import { expectAccessible, portalUrl, screenshot } from "./fixtures";
import { createStaff, firstStaffSignIn, unique, withStepUp } from "./staff-helpers";

const TODAY = new Date().toISOString().slice(0, 10);

async function staffPage(browser: Browser, name: string, roles: string[], width?: number): Promise<{ page: Page; secret: string }> {
  const email = unique(name.split(" ")[0].toLowerCase());
  createStaff(email, name, roles);
  const context = await browser.newContext(width ? { viewport: { width, height: 812 } } : {});
  const page = await context.newPage();
  return { page, secret: await firstStaffSignIn(page, email) };
}

function nav(page: Page, name: string) {
  return page.getByRole("navigation", { name: "Main" }).getByRole("link", { name, exact: true });
}

/** A fixture statement for a fresh account, dated today (a statement of an account is imported once). */
function statement(version: "02" | "08"): { iban: string; xml: string; endToEnd: string } {
  const template = readFileSync(resolve(import.meta.dirname, "fixtures", `camt053.001.${version}.xml`), "utf8");
  const fixtureIban = /<IBAN>([^<]+)<\/IBAN>/.exec(template)![1];
  const iban = `GB${String(Math.floor(Math.random() * 90) + 10)}E2E${Date.now().toString().slice(-13)}${version}`;
  const xml = template.replaceAll(fixtureIban, iban).replaceAll("2000-01-03", TODAY);
  return { iban, xml, endToEnd: /<EndToEndId>([^<]+)<\/EndToEndId>/.exec(template)![1] };
}

async function upload(page: Page, name: string, content: string): Promise<void> {
  await page.getByLabel("Statement file (camt.053 XML)").setInputFiles({ name, mimeType: "application/xml", buffer: Buffer.from(content) });
  await page.getByRole("button", { name: "Upload statement" }).click();
}

async function noSidewaysScroll(page: Page, what: string): Promise<void> {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow, `${what} scrolls sideways at 375 px`).toBeLessThanOrEqual(0);
}

test("bank statements and client money: camt.053 entries shown, a malformed file refused, the return signed off by a second person", async ({ browser }) => {
  const fay = await staffPage(browser, "Fay Statement", ["finance"]);
  const page = fay.page;
  await nav(page, "Bank statements").click();
  await expect(page.getByRole("heading", { level: 1, name: "Bank statements" })).toBeVisible();
  // A file that is no camt.053: refused beside the field, nothing imported.
  await upload(page, "statement.xml", '<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><Nothing/></Document>');
  await expect(page.getByLabel("Statement file (camt.053 XML)")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator(".field-error[data-code=BANK_STATEMENT_INVALID]")).toBeVisible();
  await expect(page.getByTestId("bank-entries")).toHaveCount(0);

  const v02 = statement("02");
  await upload(page, "statement-v02.xml", v02.xml);
  await expect(page.getByText(`Statement ${v02.iban}-1 of ${v02.iban} imported (camt.053.001.02): 3 entries.`)).toBeVisible();
  const entries = page.getByTestId("bank-entries");
  await expect(entries.getByRole("heading", { name: `Entries of statement ${v02.iban}-1` })).toBeVisible();
  await expect(entries.getByRole("row", { name: /NOREF1/ })).toContainText("No reference: missing in the ledger");
  await expect(entries.getByRole("row", { name: /NOREF1/ })).toContainText("€12.34");
  await expect(entries.getByRole("row").filter({ hasText: v02.endToEnd })).toContainText("€250.00");
  await expect(entries.locator("tbody tr")).toHaveCount(3);
  await expect(page.getByTestId("bank-statements").getByRole("row", { name: new RegExp(v02.iban) })).toContainText("Closing");
  const v08 = statement("08");
  await upload(page, "statement-v08.xml", v08.xml);
  await expect(page.getByText(`Statement ${v08.iban}-1 of ${v08.iban} imported (camt.053.001.08): 3 entries.`)).toBeVisible();
  await expect(entries.getByRole("heading", { name: `Entries of statement ${v08.iban}-1` })).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, "staff-bank-statements");

  // Today's close reconciled now: the statements' closing balances are its EUR bank resource.
  await nav(page, "Reconciliation").click();
  await page.getByRole("button", { name: "Use the current time" }).click();
  await page.getByRole("button", { name: "Run reconciliation" }).click();
  const ran = page.getByText(/^Run \d+ as of /);
  await withStepUp(page, fay.secret, ran);
  const runId = /^Run (\d+) as of/.exec((await ran.textContent())!)![1];
  await nav(page, "Bank statements").click();
  await expect(page.getByRole("heading", { name: new RegExp(`^Bank breaks of run ${runId} `) })).toBeVisible();

  // The month's return holds today's close; the importer (a preparer of the close) cannot sign it off.
  await nav(page, "Client money").click();
  await expect(page.getByTestId("cm-return").getByRole("row", { name: /^EUR / })).toBeVisible();
  await page.getByRole("button", { name: `Client money of run ${runId}` }).click();
  const result = page.getByTestId("recon-client-money");
  await expect(result.getByRole("row", { name: /^EUR / })).toBeVisible();
  await result.getByRole("button", { name: "Sign off the client-money result" }).click();
  await expect(result.locator(".field-error[data-code=CLIENT_MONEY_FOUR_EYES]")).toBeVisible();
  await expect(result.getByRole("button", { name: "Sign off the client-money result" })).toHaveAttribute("aria-describedby", /cm-signoff-error/);
  await expect(page.getByTestId("recon-cm-signed")).toHaveCount(0);
  await expectAccessible(page);

  // A second finance member, who prepared nothing, signs it off.
  const sam = await staffPage(browser, "Sam Signer", ["finance"]);
  await nav(sam.page, "Client money").click();
  await sam.page.getByRole("button", { name: `Client money of run ${runId}` }).click();
  await sam.page.getByLabel("Sign-off note").fill("checked against the bank statements");
  await sam.page.getByRole("button", { name: "Sign off the client-money result" }).click();
  await expect(sam.page.getByTestId("recon-cm-signed")).toContainText("checked against the bank statements");
  await sam.page.reload();
  await expect(sam.page.getByTestId("cm-return").getByRole("row", { name: /^EUR / })).toContainText("by you");
  await screenshot(sam.page, "staff-client-money");
  await page.context().close();
  await sam.page.context().close();
});

test("reports and schedules: revenue by symbol with its chart, table and deals; a schedule refused beside its fields, then created", async ({ browser }) => {
  const { page } = await staffPage(browser, "Rita Reports", ["finance"]);
  await nav(page, "Reports").click();
  await expect(page.getByRole("heading", { level: 1, name: "Reports" })).toBeVisible();
  // The simulator's deals reach the rollups within seconds of being ingested: asked again until they have.
  const firstDrill = page.getByTestId("revenue-table").getByRole("button", { name: /^Deals behind / }).first();
  await expect(async () => {
    await page.getByRole("button", { name: "Show the report" }).click();
    await expect(firstDrill).toBeVisible({ timeout: 3_000 });
  }).toPass({ timeout: 60_000 });
  const report = page.getByTestId("revenue-report");
  await expect(report.getByRole("img", { name: /^Net revenue by Symbol \(USD\): / })).toBeVisible();
  await expect(report.getByRole("img", { name: /^Net revenue by Day \(USD\): / })).toBeVisible();
  const symbol = (await firstDrill.getAttribute("aria-label"))!.replace("Deals behind ", "");
  await firstDrill.click();
  const deals = page.getByTestId("revenue-deals");
  await expect(deals.getByRole("heading", { name: `Deals behind ${symbol}` })).toBeVisible();
  await expect(deals.locator("tbody tr td:nth-child(4)").first()).toHaveText(symbol);
  expect(new Set(await deals.locator("tbody tr td:nth-child(4)").allTextContents())).toEqual(new Set([symbol]));
  await expectAccessible(page);
  await screenshot(page, "staff-reports");
  await page.getByLabel("Granularity").selectOption("WEEK");
  await page.getByRole("button", { name: "Show the report" }).click();
  await expect(report.getByRole("heading", { name: "Net revenue by Week (USD)" })).toBeVisible();
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { level: 1, name: "Informes" })).toBeVisible();
  await expect(report.getByRole("heading", { name: "Ingresos netos por Símbolo (USD)" })).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel("Idioma").selectOption("en");

  await nav(page, "Scheduled reports").click();
  await expect(page.getByRole("heading", { level: 1, name: "Scheduled reports" })).toBeVisible();
  await page.getByLabel("Keys with a line of their own").fill("0");
  await page.getByRole("button", { name: "Schedule it" }).click();
  await expect(page.getByLabel("Keys with a line of their own")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator(".field-error[data-code=REPORT_DIMENSION_INVALID]")).toBeVisible();
  await page.getByLabel("Keys with a line of their own").fill("5");
  await page.getByLabel("Me", { exact: true }).uncheck();
  await page.getByRole("button", { name: "Schedule it" }).click();
  await expect(page.getByLabel("Other staff (ids)")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator(".field-error[data-code=REPORT_RECIPIENTS_REQUIRED]")).toBeVisible();
  await expect(page.getByText("No schedule yet.")).toBeVisible();
  await page.getByLabel("Me", { exact: true }).check();
  await page.getByLabel("Every").selectOption("DAILY");
  await page.getByRole("button", { name: "Schedule it" }).click();
  const created = page.getByText(/^Schedule \d+ created: its first run is at /);
  await expect(created).toBeVisible();
  const scheduleId = /^Schedule (\d+)/.exec((await created.textContent())!)![1];
  const row = page.getByTestId(`schedule-${scheduleId}`);
  await expect(row).toContainText("Revenue · Symbol · Day · top 5");
  await expect(row).toContainText("The last 7 days");
  await row.getByRole("button", { name: `Runs of schedule ${scheduleId}` }).click();
  await expect(page.getByTestId("report-runs")).toContainText("No run yet");
  await expectAccessible(page);
  await page.context().close();
});

test("webhooks: an endpoint on a loopback receiver gets a signed deposit event, replayed; its secret rotated; disabled", async ({ browser }) => {
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  const receiver = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => { body += chunk.toString("utf8"); });
    req.on("end", () => { received.push({ headers: req.headers, body }); res.writeHead(200, { "content-type": "text/plain" }).end("ok"); });
  });
  await new Promise<void>((done) => receiver.listen(0, "127.0.0.1", done));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/${Date.now()}`;
  try {
    const { page } = await staffPage(browser, "Wes Hooks", ["administrator"]);
    await nav(page, "Webhooks").click();
    await expect(page.getByRole("heading", { level: 1, name: "Webhooks" })).toBeVisible();
    await page.getByLabel("URL", { exact: true }).fill("ftp://example.com/hooks");
    await page.getByRole("checkbox", { name: /payment\.deposit_credited/ }).check();
    await page.getByRole("button", { name: "Register endpoint" }).click();
    await expect(page.getByLabel("URL", { exact: true })).toHaveAttribute("aria-invalid", "true");
    await expect(page.locator(".field-error[data-code=WEBHOOK_URL_REFUSED]")).toBeVisible();
    await page.getByLabel("URL", { exact: true }).fill(url);
    await page.getByRole("checkbox", { name: /payment\.deposit_credited/ }).uncheck();
    await page.getByRole("button", { name: "Register endpoint" }).click();
    await expect(page.locator("#wh-types-error[data-code=VALIDATION_FAILED]")).toBeVisible();
    await expect(page.getByLabel("URL", { exact: true })).not.toHaveAttribute("aria-invalid", "true");
    await page.getByRole("checkbox", { name: /payment\.deposit_credited/ }).check();
    await page.getByRole("button", { name: "Register endpoint" }).click();
    const secret = (await page.getByTestId("webhook-secret").textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);
    await expect(page.getByTestId("webhook-endpoints").getByRole("row", { name: new RegExp(url) })).toContainText("Enabled");

    // The demo client's card deposit: the receiver gets it, signed with the secret shown (Standard Webhooks).
    const client = await (await browser.newContext()).newPage();
    await clientSignIn(client);
    await cardDeposit(client, "25");
    await client.context().close();
    await expect.poll(() => received.length, { timeout: 60_000 }).toBeGreaterThan(0);
    const [first] = received;
    const id = String(first.headers["webhook-id"]);
    const signed = createHmac("sha256", Buffer.from(secret.slice("whsec_".length), "base64"))
      .update(`${id}.${first.headers["webhook-timestamp"]}.${first.body}`).digest("base64");
    expect(String(first.headers["webhook-signature"]).split(" ")).toContain(`v1,${signed}`);
    expect(JSON.parse(first.body).type).toBe("payment.deposit_credited");

    await page.getByRole("button", { name: `Delivery log of ${url}` }).click();
    const log = page.getByTestId("webhook-deliveries");
    await expect(async () => {
      await log.getByRole("button", { name: "Refresh" }).click();
      await expect(log.getByRole("row", { name: new RegExp(id) }).first()).toBeVisible({ timeout: 2_000 });
    }).toPass({ timeout: 30_000 });
    await expect(log.getByRole("row", { name: new RegExp(id) }).first().getByTestId("webhook-status")).toHaveText("200");
    await log.getByRole("button", { name: `Replay message ${id}` }).first().click();
    await expect(log.getByText(`Message ${id} queued again.`)).toBeVisible();
    await expect.poll(() => received.filter((r) => r.headers["webhook-id"] === id).length, { timeout: 30_000 }).toBe(2);
    await expectAccessible(page);
    await screenshot(page, "staff-webhooks");

    await page.getByRole("button", { name: `Rotate the secret of ${url}` }).click();
    await expect(page.getByTestId("webhook-rotated-secret")).toHaveText(/^whsec_/);
    await expect(page.getByTestId("webhook-rotated-secret")).not.toHaveText(secret);
    await expect(page.getByTestId("webhook-endpoints").getByRole("row", { name: new RegExp(url) })).toContainText("The previous secret also signs until");
    await page.getByRole("button", { name: `Disable ${url}` }).click();
    await expect(page.getByTestId("webhook-endpoints").getByRole("row", { name: new RegExp(url) })).toContainText("Disabled");
    await expect(page.getByRole("button", { name: `Enable ${url}` })).toBeVisible();
    await page.context().close();
  } finally {
    receiver.close();
  }
});

test("the finance pages at phone width (375 px): bank statements, client money, reports, schedules and webhooks fit and pass axe", async ({ browser }) => {
  const { page } = await staffPage(browser, "Pat Phone", ["administrator"], 375);
  const pages: Array<[string, string]> = [
    ["/bank-statements", "Bank statements"], ["/client-money", "Client money"], ["/reports", "Reports"],
    ["/report-schedules", "Scheduled reports"], ["/webhooks", "Webhooks"],
  ];
  for (const [path, heading] of pages) {
    await page.goto(`${portalUrl("staff")}${path}`);
    await expect(page.getByRole("heading", { level: 1, exact: true, name: heading })).toBeVisible();
    await expect(page.getByText("Loading…")).toHaveCount(0);
    if (path === "/reports") {
      await page.getByRole("button", { name: "Show the report" }).click();
      await expect(page.getByTestId("revenue-report")).toBeVisible();
      await expect(page.getByText("Loading…")).toHaveCount(0);
    }
    await noSidewaysScroll(page, path);
    await expectAccessible(page);
  }
  await page.context().close();
});
