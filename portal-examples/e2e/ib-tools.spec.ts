// The IB portal's partner tools against the real API the harness starts (after ib-portal.spec.ts, whose tree counts
// the registration here would change; the demo IB, whose sub-IB's client
// the simulator trades): statements downloaded as CSV and PDF (the files' contents checked against the
// statement), a dispute raised on a commission line whose id the commissions page shows, payouts run by a
// staff member and their status in the portal, 2FA enrolment on the Security page with the API-token page's
// step-up prompt (then 2FA off again), and a referral link followed on the IB portal's own origin (`/r/` is
// proxied to the API) attributing the registration to the IB.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { demoPassword, expectAccessible, portalUrl } from "./fixtures";
import { STEP_UP_TTL_S } from "./harness";
import { createStaff, firstStaffSignIn, staffApi, unique } from "./staff-helpers";
import { freshCode } from "./totp";

test.describe.configure({ mode: "serial" });

const IB = "ib@demo.example.com";
const SUB_IB = "subib@demo.example.com";
const CSV_HEADER = "line_id,time,kind,source,level,client_id,symbol,lots,formula,rate,fx_rate,amount,currency";

async function signIn(page: Page, email: string): Promise<void> {
  await page.goto(portalUrl("ib"));
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(demoPassword(email));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "My network" })).toBeVisible();
}

/** One of the IB portal's operations sent as the IB signed in on `page`, by its trusted document's hash. */
async function ibApi(page: Page, operation: string, variables: Record<string, unknown>): Promise<any> {
  const manifest: Record<string, string> = JSON.parse(readFileSync(resolve(import.meta.dirname, "..", "ib", "dist", "trusted-documents.json"), "utf8"));
  const found = Object.entries(manifest).find(([, text]) => new RegExp(`\\b(query|mutation) ${operation}\\b`).test(text));
  expect(found, `${operation} is one of the IB portal's trusted documents`).toBeTruthy();
  const response = await page.request.post(`${portalUrl("ib")}/graphql`, {
    headers: { accept: "application/graphql-response+json, application/json", "content-type": "application/json", "X-Requested-With": "fetch" },
    data: { operationName: operation, variables, extensions: { persistedQuery: { version: 1, sha256Hash: found![0].replace(/^sha256:/, "") } } },
  });
  const body = await response.json();
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data;
}

/** Money as the portal shows it in English: Intl on the decimal string, at its own scale (never a float). */
function shown(amount: string, currency: string): string {
  const scale = amount.includes(".") ? amount.length - amount.indexOf(".") - 1 : 0;
  return new Intl.NumberFormat("en-GB", { style: "currency", currency, currencyDisplay: "narrowSymbol", minimumFractionDigits: scale, maximumFractionDigits: scale })
    .format(amount as unknown as number);
}

/** A decimal string without trailing zeros ("0.400000" -> "0.4"), to compare amounts written at different scales. */
function plain(amount: string): string {
  return amount.includes(".") ? amount.replace(/0+$/, "").replace(/\.$/, "") : amount;
}

async function commissionLines(page: Page): Promise<void> {
  await page.getByRole("link", { name: "Commissions" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Commissions" })).toBeVisible();
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("commission-line").first()).toBeVisible({ timeout: 3_000 });
  }).toPass({ timeout: 90_000 });
}

test("statements download as CSV and PDF with the statement's lines, and a dispute is raised on a commission line", async ({ page }) => {
  await signIn(page, IB);
  await commissionLines(page);
  // Each line shows its id; the first line's id and amount as the API gives them.
  const first = page.getByTestId("commission-line").first();
  const lineId = (await first.getByTestId("line-id").textContent())!.replace(/^line /, "").trim();
  expect(lineId).toMatch(/^\d+$/);
  const explained = (await ibApi(page, "IbLine", { lineId })).myIbCommissionLine;
  await expect(first).toContainText(shown(explained.amount, explained.currency));
  await expectAccessible(page);

  // The statement of the last 30 days as the API writes it now, then the CSV the portal downloads.
  await page.getByRole("link", { name: "Statements and payouts" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Statements and payouts" })).toBeVisible();
  const since = await page.getByLabel("From").inputValue();
  const until = await page.getByLabel("Until (exclusive)").inputValue();
  const period = { since: `${since}T00:00:00Z`, until: `${until}T00:00:00Z` };
  const before: string = (await ibApi(page, "IbStatementCsv", period)).myIbStatementCsv;
  const [csvDownload] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV" }).click()]);
  expect(csvDownload.suggestedFilename()).toBe(`statement-${since}-${until}.csv`);
  const csv = readFileSync((await csvDownload.path())!, "utf8");
  const rows = csv.trimEnd().split("\n");
  expect(rows[0]).toBe(CSV_HEADER);
  // The simulator keeps trading: the file holds the statement read a moment before, newer lines after it.
  const earlier = before.trimEnd().split("\n");
  expect(rows.slice(0, earlier.length)).toEqual(earlier);
  expect(rows.length).toBeGreaterThan(1);
  const line = rows.find((r) => r.split(",")[0] === lineId);
  expect(line, `line ${lineId} is in the CSV`).toBeTruthy();
  const cells = line!.split(",");
  expect(plain(cells[11])).toBe(plain(explained.amount));
  expect(cells[12]).toBe(explained.currency);

  const [pdfDownload] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download PDF" }).click()]);
  expect(pdfDownload.suggestedFilename()).toBe(`statement-${since}-${until}.pdf`);
  const pdf = readFileSync((await pdfDownload.path())!);
  expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
  const text = pdf.toString("latin1");
  expect((text.match(/\/Type\s*\/Page\b(?!s)/g) ?? []).length).toBeGreaterThan(0);
  expect(text).toContain(`Total ${explained.currency}:`);
  expect(text.trimEnd().endsWith("%%EOF")).toBe(true);
  await expectAccessible(page);

  // A dispute on that line: from its "Dispute" link, the id filled in; without a reason refused beside the field.
  await commissionLines(page);
  const row = page.getByTestId("commission-line").filter({ has: page.getByText(`line ${lineId}`, { exact: true }) });
  await row.getByRole("link", { name: `Dispute line ${lineId}` }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Disputes" })).toBeVisible();
  await expect(page.getByLabel("Commission line id (optional)")).toHaveValue(lineId);
  await page.getByRole("button", { name: "Open a dispute" }).click();
  await expect(page.getByLabel("Reason")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator(".field-error[data-code=VALIDATION_FAILED]")).toBeVisible();
  const reason = `Rate looks wrong ${Date.now().toString(36)}`;
  await page.getByLabel("Reason").fill(reason);
  await page.getByRole("button", { name: "Open a dispute" }).click();
  const dispute = page.getByRole("row").filter({ hasText: reason });
  await expect(dispute).toBeVisible();
  await expect(dispute.getByRole("cell").nth(0)).toHaveText(lineId);
  await expect(dispute.getByRole("cell").nth(2)).toHaveText("Open");
  await expectAccessible(page);
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("row").filter({ hasText: reason }).getByRole("cell").nth(2)).toHaveText("Abierta");
  await page.getByLabel("Idioma").selectOption("en");
});

test("an IB requests its payout; payouts run by staff show in the portal with their amount and status", async ({ browser }) => {
  const ibContext = await browser.newContext();
  const ib = await ibContext.newPage();
  await signIn(ib, IB);
  await commissionLines(ib); // something accrued
  const ibId = String((await ibApi(ib, "IbTree", {})).myIbProfile.ibId);

  // The IB asks for its payout: its last closed cycle period, paid, held, already made, or nothing due.
  const profile = (await ibApi(ib, "IbTree", {})).myIbProfile;
  await ib.getByRole("link", { name: "Statements and payouts" }).click();
  await ib.getByRole("button", { name: "Request my payout" }).click();
  const answer = ib.getByTestId("payout-request");
  await expect(answer).toHaveText(/^(Payout for \S+: .+\.|The payout for \S+ was already made\.|Nothing is due for \S+\.)$/);
  expect(profile.payoutCycle).toBeTruthy();
  await expectAccessible(ib);
  await ib.getByLabel("Language").selectOption("es");
  await ib.getByRole("button", { name: "Solicitar mi pago" }).click();
  await expect(answer).toHaveText(/^(Pago de \S+: .+\.|El pago de \S+ ya se realizó\.|No se le debe nada por \S+\.)$/);
  await ib.getByLabel("Idioma").selectOption("en");

  const manager = unique("ibpay");
  createStaff(manager, "Pat Payouts", ["ib_manager", "finance"]);
  const staffContext = await browser.newContext();
  const staff = await staffContext.newPage();
  await firstStaffSignIn(staff, manager);
  const periodKey = new Date(Date.now() - 2_000).toISOString().replace(/\.\d{3}Z$/, "Z");
  const run = (await staffApi(staff, "StaffRunIbPayouts", { input: { period: periodKey, idempotencyKey: crypto.randomUUID(), ibId } })).runIbPayouts;
  expect(run.errors).toEqual([]);
  const mine = [...run.run.created, ...run.run.existing].filter((p: { ibId: string }) => String(p.ibId) === ibId);
  expect(mine.length).toBeGreaterThan(0);
  await staffContext.close();

  await ib.reload(); // the page read the payouts before staff ran them
  await expect(ib.getByRole("heading", { exact: true, name: "Statements and payouts" })).toBeVisible();
  for (const payout of mine as Array<{ amount: string; currency: string; status: string }>) {
    const row = ib.getByTestId("payout").filter({ hasText: shown(payout.amount, payout.currency) });
    await expect(row.first()).toBeVisible();
    await expect(row.first().getByRole("cell").nth(1)).toHaveText({ paid: "Paid", held: "Held for review" }[payout.status.toLowerCase()] ?? payout.status);
  }
  await expectAccessible(ib);
  await ibContext.close();
});

test("2FA enrolment on the Security page; an API token created through the step-up prompt, revoked; 2FA off", async ({ page }) => {
  test.setTimeout(240_000);
  await signIn(page, IB);
  // Without 2FA the token page cannot confirm a step-up: the prompt's refusal is shown in the dialog.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Security" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Security" })).toBeVisible();
  await expect(page.getByTestId("totp-state")).toHaveText(/is off/);
  await expectAccessible(page);
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await page.getByLabel("Code from the app").fill("000000");
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByLabel("Code from the app")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("Code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByTestId("recovery-codes").getByRole("listitem")).not.toHaveCount(0);
  await expectAccessible(page);

  // Past the step-up's lifetime on the server under test, creating a token answers STEP_UP_REQUIRED: the prompt.
  await page.waitForTimeout((STEP_UP_TTL_S + 1) * 1000);
  await page.getByRole("link", { name: "API tokens" }).click();
  const name = `feed-${Date.now().toString(36)}`;
  await page.getByLabel("Token name").fill(name);
  await page.getByRole("button", { name: "Create token" }).click();
  const dialog = page.getByRole("dialog", { name: "Confirm with your authenticator" });
  await expect(dialog).toBeVisible();
  await expectAccessible(page);
  await dialog.getByLabel("Authenticator code").fill("000000");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expect(dialog.getByLabel("Authenticator code")).toHaveAttribute("aria-invalid", "true");
  await dialog.getByLabel("Authenticator code").fill(await freshCode(secret));
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId("token-secret")).not.toBeEmpty();
  const token = page.getByRole("row").filter({ hasText: name });
  await expect(token).toBeVisible();
  await token.getByRole("button", { name: `Revoke ${name}` }).click();
  await expect(token).toContainText("Revoked");
  await expectAccessible(page);
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { exact: true, name: "Tokens de API" })).toBeVisible();
  await page.getByLabel("Idioma").selectOption("en");

  // 2FA off again (a step-up where the API asks), so the other specs sign this IB in with its password alone.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Security" }).click();
  await page.waitForTimeout((STEP_UP_TTL_S + 1) * 1000);
  await page.getByRole("button", { name: "Turn off two-factor authentication" }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByLabel("Authenticator code").fill(await freshCode(secret));
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByTestId("totp-state")).toHaveText(/is off/);
  await expectAccessible(page);
});

test("a referral link followed on the IB portal's origin lands on registration and attributes the client to the IB", async ({ browser }) => {
  test.skip(!process.env.PORTAL_CLIENT_URL, "the client portal is not built");
  const ibContext = await browser.newContext();
  const ib = await ibContext.newPage();
  await signIn(ib, SUB_IB);
  await ib.getByRole("link", { name: "Referral links" }).click();
  const name = `Proxied ${Date.now().toString(36)}`;
  await ib.getByLabel("Name").fill(name);
  await ib.getByRole("button", { name: "Create link" }).click();
  const row = ib.getByRole("row").filter({ hasText: name });
  await expect(row).toBeVisible();
  // The API wrote the link on the origin it was reached through: this portal, which proxies /r/ to it.
  const url = (await row.getByRole("code").textContent())!.trim();
  expect(url).toMatch(new RegExp(`^${portalUrl("ib").replace(/[.]/g, "\\.")}/r/[A-Za-z0-9]+$`));
  await expectAccessible(ib);

  const visitorContext = await browser.newContext();
  const visitor = await visitorContext.newPage();
  await visitor.goto(url); // counted by the API, redirected to the client portal's registration with the code
  await expect(visitor.getByRole("heading", { exact: true, name: "Open an account" })).toBeVisible();
  expect(new URL(visitor.url()).searchParams.get("ib_code")).toBe(url.split("/r/")[1]);
  const email = `proxied-${Date.now().toString(36)}@example.com`;
  await visitor.getByLabel("Your name").fill("Paula Proxied");
  await visitor.getByLabel("E-mail").fill(email);
  await visitor.getByLabel("Password").fill("correct horse battery staple 42");
  await visitor.getByRole("button", { name: "Create account" }).click();
  await expect(visitor.getByRole("heading", { exact: true, name: "Your application" })).toBeVisible();
  await visitorContext.close();

  await ib.reload();
  const counted = ib.getByRole("row").filter({ hasText: name }).getByRole("cell");
  await expect(counted.nth(1)).toHaveText("1"); // clicks
  await expect(counted.nth(2)).toHaveText("1"); // registrations
  await ibContext.close();
});
