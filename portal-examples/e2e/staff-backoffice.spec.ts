// The back office's four-eyes money screens and its records, in a real browser against the real API
// (staff created with `forexcrm create-staff`; after the journeys, so the demo client has paid):
//   a balance adjustment above the threshold: an amount beyond the currency's scale refused beside the
//   field, the request waits, its requester cannot approve it, a second finance member sees who asked
//   (by name) and approves it, and the wallet moves by exactly the amount;
//   a withdrawal of the demo client's: the second approver sees the first one's name on the screen;
//   client-360's communications: a call logged (an empty one refused beside the field first) and
//   listed with its author's name;
//   regulatory reporting: the retail-client loss percentage computed for a quarter (a day that starts
//   none refused beside the field), the reporting settings (a bad LEI refused beside its field), a past
//   day rebuilt (today and an empty reason refused beside their fields), the files listed;
//   records on request: the balance adjustment above found for the demo client and exported as CSV
//   (the reason as entered) and XLSX.
import { expect, test, type Browser, type Page } from "@playwright/test";
import { clientSignIn, DEMO, wireWithdrawal } from "./client-helpers";
import { expectAccessible, portalUrl, screenshot } from "./fixtures";
import { createStaff, firstStaffSignIn, unique, withStepUp } from "./staff-helpers";

const REASON = `goodwill e2e ${Date.now().toString(36)}`;

async function staffPage(browser: Browser, email: string, name: string, roles: string[]): Promise<{ page: Page; secret: string }> {
  createStaff(email, name, roles);
  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const secret = await firstStaffSignIn(page, email);
  return { page, secret };
}

/** A decimal string in cents, exactly (no float). */
function cents(amount: string): bigint {
  const [whole, frac = ""] = amount.replace(/[^\d.-]/g, "").split(".");
  const negative = whole.startsWith("-");
  const value = BigInt(whole.replace("-", "") + frac.padEnd(2, "0").slice(0, 2));
  return negative ? -value : value;
}

/** The demo client's USD wallet picked on the adjustment form; returns its balance as the option shows it. */
async function pickDemoUsdWallet(page: Page): Promise<string> {
  await page.getByLabel("Find a client").fill(DEMO);
  await page.getByRole("button", { name: "Find", exact: true }).click();
  const option = page.getByLabel("Wallet", { exact: true }).locator("option", { hasText: `(${DEMO}) · USD · ` });
  await expect(option).toHaveCount(1);
  const label = (await option.textContent())!;
  await page.getByLabel("Wallet", { exact: true }).selectOption({ label });
  return label.split(" · ").pop()!.trim();
}

test("balance adjustment: above the threshold it waits; its requester cannot approve; a second staff member sees who asked and approves", async ({ browser }) => {
  const ana = await staffPage(browser, unique("ana"), "Ana Ledger", ["finance"]);
  const page = ana.page;
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Balance adjustments" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Balance adjustments" })).toBeVisible();
  const before = await pickDemoUsdWallet(page);
  // More places than USD has: refused beside the amount, nothing requested.
  await page.getByLabel("Amount", { exact: true }).fill("1500.001");
  await page.getByLabel("Reason", { exact: true }).fill(REASON);
  await page.getByRole("button", { name: "Adjust the balance" }).click();
  await expect(page.getByLabel("Amount", { exact: true })).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator(".field-error[data-code=AMOUNT_PRECISION]")).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel("Amount", { exact: true }).fill("1500.00");
  await page.getByRole("button", { name: "Adjust the balance" }).click();
  await withStepUp(page, ana.secret, page.getByText("Above the threshold: the adjustment waits for a second staff member's approval."));
  const row = page.getByTestId("pending-adjustments").getByRole("row", { name: new RegExp(REASON) });
  await expect(row).toContainText("Ana Ledger");
  await expect(row).toContainText("$1,500.00");
  // The requester cannot be the second pair of eyes.
  await page.getByRole("button", { name: `Approve the adjustment: ${REASON}` }).click();
  await expect(page.locator("[role=alert] [data-code=SELF_APPROVAL_FORBIDDEN]")).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, "staff-adjustments", "Staff: a balance adjustment waiting for a second staff member");

  const bo = await staffPage(browser, unique("bo"), "Bo Ledger", ["finance"]);
  await bo.page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Balance adjustments" }).click();
  const seen = bo.page.getByTestId("pending-adjustments").getByRole("row", { name: new RegExp(REASON) });
  await expect(seen).toContainText("Ana Ledger"); // who asked, by name
  // Rejecting needs a reason: refused beside the field.
  await bo.page.getByRole("button", { name: `Reject the adjustment: ${REASON}` }).click();
  await expect(bo.page.getByLabel("Reason (to reject)")).toHaveAttribute("aria-invalid", "true");
  await bo.page.getByRole("button", { name: `Approve the adjustment: ${REASON}` }).click();
  await withStepUp(bo.page, bo.secret, bo.page.getByText("Approved by Bo Ledger: the adjustment is posted."));
  await expect(seen).toHaveCount(0);
  const after = await pickDemoUsdWallet(bo.page);
  expect(cents(after) - cents(before)).toBe(150000n);
  // Spanish.
  await bo.page.getByLabel("Language").selectOption("es");
  await expect(bo.page.getByRole("heading", { exact: true, name: "Ajustes de saldo" })).toBeVisible();
  await expectAccessible(bo.page);
  await bo.page.getByLabel("Idioma").selectOption("en");
  await ana.page.context().close();
  await bo.page.context().close();
});

test("withdrawal approval: the second approver sees the first one by name", async ({ browser }) => {
  const context = await browser.newContext();
  const client = await context.newPage();
  const clientSecret = await clientSignIn(client);
  const reference = await wireWithdrawal(client, clientSecret, "1200");

  const approve = async (staff: { page: Page; secret: string }) => {
    await staff.page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Withdrawals" }).click();
    await expect(staff.page.getByRole("heading", { exact: true, name: "Withdrawals awaiting approval" })).toBeVisible();
    await staff.page.getByRole("button", { name: `Approve ${reference}` }).click();
    await withStepUp(staff.page, staff.secret, staff.page.getByText(`Approval of ${reference} recorded`));
  };
  const first = await staffPage(browser, unique("wd1"), "Wendy First", ["finance"]);
  const row = (page: Page) => page.getByRole("row", { name: new RegExp(reference) });
  await approve(first);
  await expect(row(first.page).getByTestId("wd-approvals")).toHaveText(/^Approved by Wendy First on /);

  const second = await staffPage(browser, unique("wd2"), "Walt Second", ["finance"]);
  await second.page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Withdrawals" }).click();
  await expect(row(second.page).getByTestId("wd-approvals")).toHaveText(/^Approved by Wendy First on /);
  await expectAccessible(second.page);
  await screenshot(second.page, "staff-withdrawals-approvers", "Staff: withdrawals with who approved first");
  // The second approver declines it instead (the hold is released: the later specs' balances stay as they were).
  await second.page.getByLabel("Reason (to reject)").fill("e2e: the approver's name was shown");
  await second.page.getByRole("button", { name: `Reject ${reference}` }).click();
  await expect(second.page.getByText(`${reference} rejected; the held amount is released.`)).toBeVisible();
  await context.close();
  await first.page.context().close();
  await second.page.context().close();
});

test("client-360 communications: a call logged and listed with its author", async ({ browser }) => {
  const cora = await staffPage(browser, unique("cora"), "Cora Compliance", ["compliance"]);
  const page = cora.page;
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clients" }).click();
  await page.getByLabel("Search clients").fill(DEMO);
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("table").getByRole("link").first().click();
  const section = page.getByTestId("communications");
  await expect(section.getByRole("heading", { name: "Communications" })).toBeVisible();
  await section.getByLabel("Kind").selectOption("call");
  await section.getByLabel("Direction").selectOption("out");
  const subject = `Margin call ${Date.now().toString(36)}`;
  await section.getByLabel("Subject").fill(subject);
  await section.getByRole("button", { name: "Log it" }).click();
  await expect(section.getByLabel("What was said")).toHaveAttribute("aria-invalid", "true");
  await section.getByLabel("What was said").fill("Explained the margin level; the client will deposit.");
  await section.getByRole("button", { name: "Log it" }).click();
  await expect(section.getByText("Logged.")).toBeVisible();
  const entry = section.getByTestId("communication").filter({ hasText: subject });
  await expect(entry).toContainText("Call · To the client");
  await expect(entry).toContainText("Cora Compliance");
  await expectAccessible(page);
  await page.getByLabel("Language").selectOption("es");
  await expect(section.getByRole("heading", { name: "Comunicaciones" })).toBeVisible();
  await expect(entry).toContainText("Llamada · Al cliente");
  await expectAccessible(page);
  await page.getByLabel("Idioma").selectOption("en");
  await page.context().close();
});

test("regulatory reports and records on request: retail loss, settings, a rebuild, the files; records exported as CSV and XLSX", async ({ browser }) => {
  const reg = await staffPage(browser, unique("reg"), "Rita Reports", ["compliance", "dealer"]);
  const page = reg.page;
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Regulatory reports" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Regulatory reports" })).toBeVisible();

  // Retail-client loss: a day that starts no quarter refused beside the field, then this quarter computed.
  const now = new Date();
  const quarterStart = `${now.getUTCFullYear()}-${String(Math.floor(now.getUTCMonth() / 3) * 3 + 1).padStart(2, "0")}-01`;
  await page.getByLabel("Quarter's first day").fill(`${now.getUTCFullYear()}-02-15`);
  await page.getByRole("button", { name: "Compute again" }).click();
  await expect(page.getByLabel("Quarter's first day")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("Quarter's first day").fill(quarterStart);
  await page.getByRole("button", { name: "Compute again" }).click();
  const figure = page.getByTestId("retail-loss");
  await expect(figure).toContainText("Retail accounts that lost money");
  await expect(figure).toContainText(/ of \d+/);

  // Settings: a bad LEI refused beside its field, then saved.
  await page.getByLabel("Reporting LEI").fill("529900T8BM49AURSDO56");
  await page.getByLabel("Trade repository LEI").fill("549300ZFEEJ2IP5VME73");
  await page.getByLabel("Sector (e.g. INVF)").fill("INVF");
  await page.getByLabel("Country").fill("CY");
  await page.getByLabel("Client agreement").fill("Client Agreement v3");
  await page.getByRole("button", { name: "Save the settings" }).click();
  await expect(page.getByLabel("Reporting LEI")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("Reporting LEI").fill("529900T8BM49AURSDO55");
  await page.getByRole("button", { name: "Save the settings" }).click();
  await withStepUp(page, reg.secret, page.getByText("Settings saved."));

  // A rebuild of today with no reason: both refused beside their fields; then yesterday, with a reason.
  const today = now.toISOString().slice(0, 10);
  const yesterday = new Date(now.getTime() - 86_400_000).toISOString().slice(0, 10);
  await page.getByLabel("Day", { exact: true }).fill(today);
  await page.getByRole("button", { name: "Rebuild", exact: true }).click();
  await expect(page.getByLabel("Day", { exact: true })).toHaveAttribute("aria-invalid", "true");
  await expect(page.getByLabel("Why it is rebuilt")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("Day", { exact: true }).fill(yesterday);
  await page.getByLabel("Why it is rebuilt").fill("e2e: the trade repository asked again");
  await page.getByRole("button", { name: "Rebuild", exact: true }).click();
  await withStepUp(page, reg.secret, page.getByText(/^EMIR reports of .* queued for rebuilding/));
  // The files (yesterday held no position on this fresh brokerage, so its rebuild writes none).
  await page.getByLabel("Business day").fill(yesterday);
  await expect(page.getByTestId("reg-files").or(page.getByTestId("reg-no-files"))).toBeVisible();
  const files = page.getByTestId("reg-files").getByRole("row");
  if (await page.getByTestId("reg-files").isVisible()) {
    // A file: its download is the document its SHA-256 names.
    const hash = (await page.getByTestId("reg-sha256").first().textContent())!.trim();
    await files.nth(1).getByRole("button", { name: /^Download / }).click();
    const href = await page.getByTestId("reg-download").first().getAttribute("href");
    const body = await page.request.get(new URL(href!, portalUrl("staff")).href);
    const { createHash } = await import("node:crypto");
    expect(createHash("sha256").update(await body.body()).digest("hex")).toBe(hash);
  }
  await expectAccessible(page);
  await screenshot(page, "staff-regulatory", "Staff: regulatory reports");
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { exact: true, name: "Informes regulatorios" })).toBeVisible();
  await expectAccessible(page);
  await page.getByLabel("Idioma").selectOption("en");

  // Records on request: the balance adjustments of the demo client, on screen, then as CSV and XLSX.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Records on request" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Records on request" })).toBeVisible();
  await page.getByLabel("Kind").selectOption("BALANCE_ADJUSTMENT");
  await page.getByLabel("Find a client").fill(DEMO);
  await page.getByRole("button", { name: "Find", exact: true }).click();
  const demo = page.getByLabel("Client", { exact: true }).locator("option", { hasText: `(${DEMO})` });
  await expect(demo).toHaveCount(1);
  await page.getByLabel("Client", { exact: true }).selectOption({ label: (await demo.textContent())! });
  await page.getByRole("button", { name: "Show" }).click();
  await expect(page.getByTestId("rec-table").getByRole("row", { name: new RegExp(REASON) })).toContainText("$1,500.00");
  await page.getByRole("button", { name: "Export CSV" }).click();
  const csvHref = await page.getByTestId("rec-download").getAttribute("href");
  const csv = await (await page.request.get(new URL(csvHref!, portalUrl("staff")).href)).text();
  expect(csv).toContain(REASON);
  expect(csv).toContain("1500.00");
  await page.getByRole("button", { name: "Export XLSX" }).click();
  await expect(page.getByTestId("rec-download")).toHaveText("Save balance_adjustment.xlsx");
  const xlsxHref = await page.getByTestId("rec-download").getAttribute("href");
  const xlsx = await (await page.request.get(new URL(xlsxHref!, portalUrl("staff")).href)).body();
  expect(xlsx.subarray(0, 2).toString("latin1")).toBe("PK"); // a zip: the workbook
  await expectAccessible(page);
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { exact: true, name: "Registros a petición" })).toBeVisible();
  await expectAccessible(page);
  await page.context().close();
});

test("phone width (375 px): balance adjustments, regulatory reports and records on request fit and pass axe", async ({ browser }) => {
  const pat = unique("pat");
  createStaff(pat, "Pat Phone", ["administrator"]);
  const context = await browser.newContext({ viewport: { width: 375, height: 812 } });
  const page = await context.newPage();
  await firstStaffSignIn(page, pat);
  for (const [path, heading] of [["/adjustments", "Balance adjustments"], ["/regulatory", "Regulatory reports"],
    ["/records", "Records on request"], ["/withdrawals", "Withdrawals awaiting approval"]] as const) {
    await page.goto(`${portalUrl("staff")}${path}`);
    await expect(page.getByRole("heading", { level: 1, exact: true, name: heading })).toBeVisible();
    await expect(page.getByText("Loading…")).toHaveCount(0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${path} scrolls sideways at 375 px`).toBeLessThanOrEqual(0);
    await expectAccessible(page);
  }
  await context.close();
});
