// Journeys 3 to 5 across the three portals, in order, against the demo brokerage (the demo client was
// registered through the sub-IB's referral link):
//   3. the client opens a live account, deposits by card through the PSP's hosted-checkout stand-in,
//      transfers to the new account; the simulator trades on it (its public /sim/ endpoints) and the
//      dashboard's equity changes without a reload (tradingAccountStateUpdated over graphql-ws);
//   4. the client's IB (the sub-IB) sees the commission line of that trade and how it was computed;
//   5. the client withdraws (step-up where the API asks); two finance staff approve (four eyes: the
//      amount reaches the threshold); the back office's reconciliation runs: no break on the trading server,
//      the ledger or the balances; only the card deposit may wait for the PSP's settlement report.
// Every page visited passes an axe check.
import { expect, test, type Browser, type Page } from "@playwright/test";
import { cardDeposit, clientSignIn } from "./client-helpers";
import { createStaff, demoPassword, expectAccessible, portalUrl, screenshot, simulator, stripeSettlementReport } from "./fixtures";
import { freshCode } from "./totp";
import { STAFF_PASSWORD, firstStaffSignIn } from "./staff-helpers";

test.describe.configure({ mode: "serial" });

const SUB_IB = "subib@demo.example.com";
const LOTS = "0.03"; // within the margin $300 buys at the account's leverage

let login = 0;

/** Answers the step-up prompt when the API asked for one. */
async function stepUpIfAsked(page: Page, secret: string): Promise<void> {
  const dialog = page.getByRole("dialog", { name: "Confirm with your authenticator" });
  if (await dialog.isVisible({ timeout: 2_000 }).catch(() => false)) {
    await expectAccessible(page);
    await dialog.getByLabel("Authenticator code").fill(await freshCode(secret));
    await dialog.getByRole("button", { name: "Confirm" }).click();
    await expect(dialog).toBeHidden();
  }
}

test("journey 3: card deposit, transfer to a new live account, the simulator trades, equity moves live", async ({ page }) => {
  test.setTimeout(180_000);
  const secret = await clientSignIn(page);

  // A new live account.
  await page.getByRole("link", { name: "Accounts" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Trading accounts" })).toBeVisible();
  await page.getByRole("button", { name: "Open account" }).click();
  await stepUpIfAsked(page, secret);
  const opened = page.getByText(/Account \d+ is open\./);
  await expect(opened).toBeVisible({ timeout: 30_000 });
  login = Number((await opened.textContent())!.match(/Account (\d+)/)![1]);
  await expectAccessible(page);

  // A card deposit through the provider's hosted checkout; back in the portal it succeeds live.
  await cardDeposit(page, "300");

  // Transfer to the new account.
  await page.getByRole("link", { name: "Funds" }).click();
  const transfer = page.locator("form", { has: page.getByRole("heading", { name: "Transfer" }) });
  await transfer.getByLabel("Wallet", { exact: true }).selectOption({ label: "USD" });
  const option = transfer.getByLabel("Trading account").locator("option", { hasText: String(login) });
  await transfer.getByLabel("Trading account").selectOption({ label: (await option.textContent())! });
  await transfer.getByLabel("Amount").fill("300");
  await transfer.getByRole("button", { name: "Transfer" }).click();
  await stepUpIfAsked(page, secret);
  await expect(transfer.getByText(`Moved $300.00 (account ${login})`)).toBeVisible({ timeout: 30_000 });

  // The dashboard: the new account's figures, then the simulator trades and they move on this page.
  await page.getByRole("link", { name: "Dashboard" }).click();
  const row = page.getByTestId(`account-${login}`);
  await expect(row.getByRole("cell").nth(2)).toHaveText("$300.00");
  const equityBefore = (await row.getByTestId("equity").textContent())!;
  await page.evaluate(() => { (window as unknown as { sameDocument: boolean }).sameDocument = true; });
  const traded = await simulator("trade", { login, symbol: "EURUSD", side: "buy", lots: LOTS });
  const [position] = traded.positions as number[];
  await page.waitForTimeout(1_000); // the simulator's clock moves the price a little
  await simulator("close", { position });
  // The deals are pulled within seconds and announced; equity (and balance) change without a reload.
  await expect(row.getByTestId("equity")).not.toHaveText(equityBefore, { timeout: 45_000 });
  expect(await page.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument)).toBe(true);
  await expect(row.getByTestId("equity")).toHaveText(/^\$\d{3}\.\d{2}$/); // the currency's scale, from the string
  await expectAccessible(page);
  await screenshot(page, "client-dashboard-live", "Dashboard after a trade (live)");
});

test("journey 4: the client's IB sees the commission line of that trade and its explanation", async ({ page }) => {
  test.setTimeout(150_000);
  expect(login, "journey 3 opened and traded an account").toBeGreaterThan(0);
  await page.goto(portalUrl("ib"));
  await page.getByLabel("E-mail").fill(SUB_IB);
  await page.getByLabel("Password").fill(demoPassword(SUB_IB));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "My network" })).toBeVisible();
  await page.getByRole("link", { name: "Commissions" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Commissions" })).toBeVisible();
  // The line comes once the IB engine has processed the pulled deals: reload until it is listed.
  const ours = async () => {
    const lines = page.getByTestId("commission-line");
    for (let i = 0; i < Math.min(await lines.count(), 10); i++) {
      const line = lines.nth(i);
      await line.getByRole("button", { name: "How was this computed?" }).click();
      const inputs = line.locator("pre");
      await expect(inputs).toBeAttached();
      const text = (await inputs.textContent()) ?? "";
      if (text.includes(`"login": ${login}`) && new RegExp(`"volume": "?${LOTS.replace(".", "\\.")}`).test(text)) return line;
      await line.getByRole("button", { name: "How was this computed?" }).click();
    }
    return null;
  };
  let found = null;
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("commission-line").first()).toBeVisible({ timeout: 5_000 });
    found = await ours();
    expect(found, `a commission line for account ${login}`).not.toBeNull();
  }).toPass({ timeout: 120_000 });
  const line = found!;
  await expect(line.getByText("Formula:")).toBeVisible();
  await expect(line.locator("code").first()).not.toBeEmpty();
  await expect(line.locator("strong .money")).toHaveText(/^\$\d+\.\d{2}$/);
  await expectAccessible(page);
  await screenshot(page, "ib-commission-line", "IB: the commission line of the client's trade");
});

/** A finance staff member's first sign-in (the mandatory authenticator enrolment) in a context of its own. */
async function staffMember(browser: Browser, email: string): Promise<{ page: Page; secret: string }> {
  const page = await (await browser.newContext()).newPage();
  return { page, secret: await firstStaffSignIn(page, email) };
}

test("journey 5: withdrawal with step-up, four-eyes approval, reconciliation finds no break in the journey's money", async ({ page, browser }) => {
  test.setTimeout(240_000);
  const secret = await clientSignIn(page);
  await page.getByRole("link", { name: "Funds" }).click();
  const withdraw = page.locator("form", { has: page.getByRole("heading", { name: "Withdraw" }) });
  const wire = withdraw.getByLabel("Method").locator("option", { hasText: /wire/i }).first();
  await withdraw.getByLabel("Method").selectOption({ label: (await wire.textContent())! });
  await withdraw.getByLabel("Amount").fill("1000");
  await withdraw.getByLabel("IBAN to pay to").fill("DE89370400440532013000");
  await withdraw.getByRole("button", { name: "Request withdrawal" }).click();
  await stepUpIfAsked(page, secret);
  const heading = page.getByRole("heading", { name: /^Payment / });
  await expect(heading).toBeVisible();
  const reference = (await heading.textContent())!.replace(/^Payment /, "").trim();

  // Two finance staff members (1000 USD reaches the four-eyes threshold).
  const stamp = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const first = `fin1-${stamp}@example.com`;
  const second = `fin2-${stamp}@example.com`;
  createStaff(first, STAFF_PASSWORD, "Fran First", ["finance"]);
  createStaff(second, STAFF_PASSWORD, "Sam Second", ["finance"]);
  const approve = async (staff: { page: Page; secret: string }) => {
    await staff.page.getByRole("link", { name: "Withdrawals" }).click();
    await expect(staff.page.getByRole("heading", { exact: true, name: "Withdrawals awaiting approval" })).toBeVisible();
    await staff.page.getByRole("button", { name: `Approve ${reference}` }).click();
    await stepUpIfAsked(staff.page, staff.secret);
    await expect(staff.page.getByText(`Approval of ${reference} recorded`)).toBeVisible();
  };
  const one = await staffMember(browser, first);
  await approve(one);
  // Still awaiting the second approver.
  await expect(one.page.getByRole("button", { name: `Approve ${reference}` })).toBeVisible();
  const two = await staffMember(browser, second);
  await approve(two);
  await expect(two.page.getByRole("button", { name: `Approve ${reference}` })).toHaveCount(0);

  // The client sees the withdrawal approved.
  await page.reload();
  await expect(page.getByTestId("payment-status")).toContainText("(approved)", { timeout: 30_000 });

  // Reconciliation as of now. First what finance does each day: download the card provider's settlement
  // report (the Stripe stand-in's balance transactions, read with the broker's secret key) and import it on
  // the Reconciliation page, so the card deposits are matched against what the provider settled.
  await two.page.getByRole("link", { name: "Reconciliation" }).click();
  await expect(two.page.getByRole("heading", { exact: true, name: "Reconciliation" })).toBeVisible();
  const report = await stripeSettlementReport();
  expect(report.split("\n").filter((l) => l.startsWith("stripe,DEP-")).length, "card deposits the provider settled").toBeGreaterThan(0);
  const upload = two.page.locator("form", { has: two.page.getByRole("heading", { name: "Import a settlement report" }) });
  await upload.getByLabel("Report (CSV)").setInputFiles({ name: "stripe-settlement.csv", mimeType: "text/csv", buffer: Buffer.from("provider,reference\n") });
  await upload.getByRole("button", { name: "Import report" }).click();
  await expect(upload.getByLabel("Provider")).toHaveAttribute("aria-invalid", "true"); // required, refused beside it
  await upload.getByLabel("Provider").fill("stripe");
  await upload.getByRole("button", { name: "Import report" }).click();
  await expect(upload.getByLabel("Report (CSV)")).toHaveAttribute("aria-invalid", "true"); // a malformed file, refused beside it
  await upload.getByLabel("Report (CSV)").setInputFiles({ name: "stripe-settlement.csv", mimeType: "text/csv", buffer: Buffer.from(report) });
  await upload.getByRole("button", { name: "Import report" }).click();
  await expect(upload.getByText(/^Report \d+ from stripe imported: \d+ lines\.$/)).toBeVisible();
  await expectAccessible(two.page);
  await two.page.getByRole("button", { name: "Use the current time" }).click();
  await two.page.getByRole("button", { name: "Run reconciliation" }).click();
  await stepUpIfAsked(two.page, two.secret);
  const done = two.page.getByText(/^Run \d+ as of .*: \d+ matched, \d+ breaks\.$/);
  await expect(done).toBeVisible({ timeout: 60_000 });
  const run = (await done.textContent())!.match(/^Run (\d+)/)![1];
  // Client money: finance records the segregated balance its bank statement shows for the close (here
  // exactly the requirement the run computed per currency) and runs the same cutoff again.
  const cm = two.page.getByTestId("recon-client-money");
  await expect(cm).toBeVisible();
  const record = two.page.locator("form", { has: two.page.getByRole("heading", { name: "Client money: record a segregated balance" }) });
  const lines = cm.locator("tbody tr");
  for (let i = 0; i < await lines.count(); i++) {
    const currency = (await lines.nth(i).getByRole("rowheader").textContent())!.trim();
    const close = (await lines.nth(i).getByRole("cell").nth(0).textContent())!.trim();
    const requirement = (await lines.nth(i).getByRole("cell").nth(4).textContent())!.trim();
    await record.getByLabel("Close date").fill(close);
    await record.getByLabel("Account").fill("client money a/c");
    await record.getByLabel("Currency").fill(currency);
    await record.getByLabel("Statement balance").fill(requirement);
    await record.getByRole("button", { name: "Record", exact: true }).click();
    await expect(record.getByText(`${close} BANK client money a/c: ${requirement} ${currency}`)).toBeVisible();
  }
  await two.page.getByRole("button", { name: "Run reconciliation" }).click();
  await stepUpIfAsked(two.page, two.secret);
  await expect(two.page.getByText(new RegExp(`^Run ${run} as of .*: \\d+ matched, 0 breaks\\.$`))).toBeVisible({ timeout: 60_000 });
  const runRow = two.page.getByTestId(`recon-run-${run}`);
  await expect(runRow).toBeVisible();
  // The provider's settlements, the trading server, the ledger's integrity and the balances all reconcile:
  // the card deposits, the transfer, the trade and the approved withdrawal leave no break at all.
  // The runs' list is read again after the run: wait for the row to show it before reading its count
  // (read at once, it may still hold the first run's breaks); only a count that stays is listed below.
  await expect(runRow.getByTestId("recon-breaks")).toHaveText("0").catch(() => undefined);
  if ((await runRow.getByTestId("recon-breaks").textContent()) !== "0") {
    await runRow.getByRole("button", { name: `Breaks of run ${run}` }).click();
    await two.page.getByLabel("Status").selectOption("");
    const breaks = two.page.locator("section", { has: two.page.getByRole("heading", { name: `Breaks of run ${run}` }) });
    await expect(breaks.getByRole("row").nth(1)).toBeVisible();
    expect((await breaks.getByRole("row").allTextContents()).slice(1), "reconciliation breaks").toEqual([]);
  }
  await expect(runRow.getByTestId("recon-breaks")).toHaveText("0");
  await expect(runRow.getByText("No break")).toBeVisible();
  await expect(runRow.getByRole("cell").nth(4)).toHaveText(/^\d+$/);
  await expectAccessible(two.page);
  await screenshot(two.page, "staff-reconciliation", "Staff: reconciliation");
  await one.page.context().close();
  await two.page.context().close();
});
