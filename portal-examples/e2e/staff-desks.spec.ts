// The back office's desks in a real browser (after the client and IB portals' tests, so the demo
// brokerage's simulator has traded, the demo IB has commission lines and clients have paid):
//   the risk desk's exposure by symbol changes live over the exposureUpdated subscription (and reads
//   again by asset class and region), with its chart, alerts, flags and segmentation;
//   the IB network's payout preview for an instant (a malformed period refused beside the field first);
//   a commission plan's next version drafted clause by clause (a refused clause named beside its field),
//   committed, then a successor started from it that closes it;
//   a privileged permission added to a role waits for a second staff member: its requester cannot
//   approve it, another administrator sees who asked and approves it;
//   every staff page at phone width (375 px): no horizontal scrolling, axe clean.
import { expect, test } from "@playwright/test";
import { expectAccessible, portalUrl, screenshot } from "./fixtures";
import { createStaff, firstStaffSignIn, unique, withStepUp } from "./staff-helpers";


test("risk desk: exposure by symbol changes live, by asset class and region, with alerts, flags and books", async ({ browser }) => {
  const dealer = unique("dealer");
  createStaff(dealer, "Dana Dealer", ["dealer"]);
  const context = await browser.newContext();
  const page = await context.newPage();
  await firstStaffSignIn(page, dealer);
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Risk desk" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Risk desk" })).toBeVisible();
  const table = page.getByTestId("exposure-table");
  await expect(table.getByRole("row")).not.toHaveCount(0);
  await expect(page.locator("figure.chart svg[role=img] title")).toContainText("Net lots by Symbol");
  // Live: the simulator keeps trading; each ingested batch publishes the exposure, the page follows it.
  const live = page.getByTestId("exposure-live");
  await expect(live).toHaveText(/Live: [1-9]\d* updates received/, { timeout: 60_000 });
  const first = Number((await live.textContent())!.match(/Live: (\d+)/)![1]);
  await expect.poll(async () => Number((await live.textContent())!.match(/Live: (\d+)/)![1]), { timeout: 60_000 }).toBeGreaterThan(first);
  await expect(table.getByRole("row")).not.toHaveCount(0);
  await expectAccessible(page);
  await screenshot(page, "staff-risk-desk", "Staff: risk desk (live exposure)");
  for (const [option, header] of [["ASSET_CLASS", "Asset class"], ["REGION", "Region"]] as const) {
    await page.getByLabel("Exposure by").selectOption(option);
    await expect(table.getByRole("columnheader", { name: header, exact: true })).toBeVisible();
    await expect(table.getByRole("row")).not.toHaveCount(1);
  }
  await expect(page.getByRole("heading", { exact: true, name: "Alerts" })).toBeVisible();
  await expect(page.getByRole("heading", { exact: true, name: "Toxic-flow flags" })).toBeVisible();
  await expect(page.getByRole("heading", { exact: true, name: "Segmentation (books)" })).toBeVisible();
  // Spanish.
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { exact: true, name: "Mesa de riesgo" })).toBeVisible();
  await expectAccessible(page);
  await context.close();
});

test("IB network: a payout preview (a malformed period refused beside the field first), a plan's versions drafted and committed", async ({ browser }) => {
  const manager = unique("ibm");
  createStaff(manager, "Iris Network", ["ib_manager", "finance"]);
  const context = await browser.newContext();
  const page = await context.newPage();
  await firstStaffSignIn(page, manager);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "IB network" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "IB network" })).toBeVisible();
  const period = page.getByLabel("Period");
  await period.fill("2026-13");
  await page.getByRole("button", { name: "Preview" }).click();
  await expect(period).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator(".field-error[data-code=IB_PAYOUT_PERIOD_INVALID]")).toBeVisible();
  // Everything accrued up to a moment ago: the demo IBs' commission lines from the simulator's trading.
  await period.fill(new Date(Date.now() - 5_000).toISOString().replace(/\.\d{3}Z$/, "Z"));
  await page.getByRole("button", { name: "Preview" }).click();
  const preview = page.getByTestId("payout-preview");
  await expect(preview).toBeVisible();
  await expect(period).not.toHaveAttribute("aria-invalid", "true");
  await expect(preview.locator("tbody tr")).not.toHaveCount(0);
  await expect(preview.locator("tbody tr").first().locator("td").nth(1)).toHaveText(/\d/);
  await expectAccessible(page);
  await screenshot(page, "staff-ib-network", "Staff: IB network (payout preview)");
  // The partners: the demo sub-IB found by e-mail, approved, under its parent.
  const partners = page.getByTestId("ib-partners");
  await page.getByLabel("Find an IB").fill("subib@demo.example.com");
  await page.getByRole("search", { name: "IB partners" }).getByRole("button", { name: "Search" }).click();
  await expect(partners.locator("tbody tr")).toHaveCount(1);
  const sub = partners.locator("tbody tr").first();
  await expect(sub).toContainText("subib@demo.example.com");
  await expect(sub.locator("td").nth(1)).toHaveText("Approved");
  await expect(sub.locator("td").nth(2)).toHaveText(/^\d+$/);
  // Run the payouts of that moment; every payout is then listed, and the status filter keeps to one status.
  await page.getByRole("button", { name: /^Run the payouts of / }).click();
  await expect(page.getByText(/^Payouts of .* run: \d+ created\.$/)).toBeVisible();
  const all = page.getByTestId("ib-all-payouts");
  await expect(all.locator("tbody tr")).not.toHaveCount(0);
  let filtered = 0;
  for (const [option, label] of [["PAID", "Paid"], ["HELD", "Held for review"]]) {
    await page.getByLabel("Payout status").selectOption(option);
    // The previous filter's rows stay until the new page arrives: wait for rows of this status only (or none).
    const statuses = async () => (await page.getByText("No payout matches.").isVisible()) ? [label]
      : [...new Set(await all.locator("tbody tr td:nth-child(5)").allTextContents())];
    await expect.poll(statuses).toEqual([label]);
    filtered += await page.getByText("No payout matches.").isVisible() ? 0 : await all.locator("tbody tr").count();
  }
  // Back to any status: the list (refetched after the run, perhaps only now) holds exactly the two filters' rows.
  expect(filtered).toBeGreaterThan(0);
  await page.getByLabel("Payout status").selectOption("");
  await expect(all.locator("tbody tr")).toHaveCount(filtered);
  await expectAccessible(page);

  // The demo plan's versions as stored: each clause with the rates entered and what each level earns.
  await page.getByTestId("ib-plans").getByRole("link", { name: "Demo hybrid plan" }).click();
  await expect(page.getByRole("heading", { level: 1, name: "Plan Demo hybrid plan" })).toBeVisible();
  await expect(page.getByTestId("ib-plan-version-1").getByTestId("payout-rates").first()).toHaveText(/\d/);
  await expectAccessible(page);

  // A new plan; its first version drafted with two clauses: a share of the spread markup without its
  // markup is refused beside that clause's field (the API names the clause), nothing is added.
  await page.getByRole("link", { name: "IB network" }).first().click();
  const planName = `E2E plan ${Date.now().toString(36)}`;
  const plans = page.locator("form", { has: page.getByRole("button", { name: "Create plan" }) });
  await plans.getByLabel("Plan name").fill(planName);
  await plans.getByRole("button", { name: "Create plan" }).click();
  await expect(page.getByText(`Plan ${planName} created`)).toBeVisible();
  await page.getByTestId("ib-plans").getByRole("link", { name: planName }).click();
  await expect(page.getByRole("heading", { level: 1, name: `Plan ${planName}` })).toBeVisible();
  await expect(page.getByText("no version yet")).toBeVisible();
  const inAnHour = new Date(Date.now() + 3_600_000);
  const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  await page.getByLabel("In force from").fill(local(inAnHour));
  const first = page.getByTestId("clause-1");
  await first.getByLabel("Level rates").fill("0.8, 0.2");
  await first.getByLabel("Base rate").fill("10");
  await first.getByLabel("Most all levels earn per unit").fill("10");
  await first.getByLabel("Symbols (empty: all)").fill("EUR%, XAUUSD");
  await page.getByRole("button", { name: "Add a clause" }).click();
  const second = page.getByTestId("clause-2");
  await second.getByLabel("Pays on").selectOption("SPREAD_SHARE");
  await second.getByLabel("Level rates").fill("0.5");
  await page.getByRole("button", { name: "Commit the version" }).click();
  const markup = second.getByLabel("Spread markup (pips)");
  await expect(markup).toHaveAttribute("aria-invalid", "true");
  await expect(second.locator(".field-error[data-code=IB_PLAN_INVALID]")).toBeVisible();
  await expect(first.getByLabel("Level rates")).not.toHaveAttribute("aria-invalid", "true");
  await expect(page.getByText("no version yet")).toBeVisible();
  await expectAccessible(page);
  // Fixed, it is committed as version 1: $10 a lot, 80% / 20% up two levels.
  await markup.fill("0.4");
  await page.getByRole("button", { name: "Commit the version" }).click();
  await expect(page.getByText("Version 1 committed.")).toBeVisible();
  const v1 = page.getByTestId("ib-plan-version-1");
  await expect(v1.getByTestId("payout-rates").first()).toHaveText("8 / 2 (at most 10 in all)");
  await expect(v1).toContainText("symbols EUR%, XAUUSD");
  await expect(v1).toContainText("Share of the spread markup");
  await expect(v1).toContainText("until a successor starts");
  // Version 2 from version 1's clauses, a week later, without the spread share: it closes version 1.
  await page.getByRole("button", { name: "Start from version 1" }).click();
  await expect(page.getByTestId("clause-2").getByLabel("Spread markup (pips)")).toHaveValue("0.4");
  await page.getByRole("button", { name: "Remove clause 2" }).click();
  await page.getByLabel("In force from").fill(local(new Date(inAnHour.getTime() + 7 * 86_400_000)));
  await page.getByRole("button", { name: "Commit the version" }).click();
  await expect(page.getByText("Version 2 committed.")).toBeVisible();
  await expect(page.getByTestId("ib-plan-version-2")).toContainText("until a successor starts");
  await expect(v1).not.toContainText("until a successor starts");
  await expect(page.getByTestId("ib-plan-version-2").locator("tbody tr")).toHaveCount(1);
  await expectAccessible(page);
  await screenshot(page, "staff-ib-plan", "Staff: a commission plan's versions and the next one's draft");
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { level: 2, name: "Próxima versión (borrador)" })).toBeVisible();
  await expect(page.getByTestId("ib-plan-version-2")).toContainText("Versión 2");
  await expectAccessible(page);
  await page.getByLabel("Idioma").selectOption("en");
  await context.close();
});

test("roles: a privileged permission waits for a second staff member, and its requester cannot approve it", async ({ browser }) => {
  const ada = unique("ada");
  const ben = unique("ben");
  createStaff(ada, "Ada Roles", ["administrator"]);
  createStaff(ben, "Ben Roles", ["administrator"]);
  const role = `desk-auditor-${Date.now().toString(36)}`;

  const adaContext = await browser.newContext();
  const a = await adaContext.newPage();
  const adaSecret = await firstStaffSignIn(a, ada);
  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Roles", exact: true }).click();
  await expect(a.getByRole("heading", { exact: true, name: "Roles and permissions" })).toBeVisible();
  await expectAccessible(a);
  // A role with a read permission applies at once.
  const create = a.locator("form", { has: a.getByRole("button", { name: "Create role" }) });
  await create.getByLabel("Role", { exact: true }).fill(role);
  await create.getByRole("checkbox", { name: /^audit\.read\b/ }).check();
  await create.getByRole("button", { name: "Create role" }).click();
  await expect(a.getByText(`Role ${role} created.`)).toBeVisible();
  await expect(a.getByTestId(`role-permissions-${role}`)).toHaveText("audit.read");
  // A privileged permission added to it waits for a second staff member.
  await a.getByRole("button", { name: `Edit the permissions of ${role}` }).click();
  await a.getByRole("group", { name: `Permissions of ${role}` }).getByRole("checkbox", { name: /^payments\.manage\b/ }).check();
  await a.getByRole("button", { name: "Save permissions" }).click();
  await withStepUp(a, adaSecret, a.getByText(/Recorded as request #\d+: it applies once a second staff member approves it\./));
  await expect(a.getByTestId(`role-permissions-${role}`)).toHaveText("audit.read");
  const request = a.getByTestId("pending-change").filter({ hasText: role });
  await expect(request.getByTestId("requested-by")).toContainText("Requested by you");
  const title = (await request.getByRole("heading").textContent())!;
  const id = title.match(/#(\d+)/)![1];
  // The requester is not the second pair of eyes: refused, and nothing changes.
  await request.getByRole("button", { name: `Approve request #${id}` }).click();
  await expect(request.locator("[data-code=SELF_APPROVAL_FORBIDDEN]")).toContainText("a second staff member");
  await expect(a.getByTestId(`role-permissions-${role}`)).toHaveText("audit.read");
  await expectAccessible(a);
  await screenshot(a, "staff-roles", "Staff: roles (a request waiting for a second approver)");
  await adaContext.close();

  // Another administrator sees who asked, and approves.
  const benContext = await browser.newContext();
  const b = await benContext.newPage();
  const benSecret = await firstStaffSignIn(b, ben);
  await b.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Roles", exact: true }).click();
  const pending = b.getByTestId("pending-change").filter({ hasText: role });
  await expect(pending.getByTestId("requested-by")).toContainText("Requested by Ada Roles");
  await pending.getByRole("button", { name: `Approve request #${id}` }).click();
  await withStepUp(b, benSecret, b.getByText("Approved: the change applies now."));
  await expect(b.getByTestId(`role-permissions-${role}`)).toHaveText("audit.read, payments.manage");
  await expectAccessible(b);
  await benContext.close();
});

test("the staff pages at phone width (375 px): payments, reconciliation, trading servers and the rest fit and pass axe", async ({ browser }) => {
  const pia = unique("pia");
  createStaff(pia, "Pia Phone", ["administrator"]);
  const context = await browser.newContext({ viewport: { width: 375, height: 812 } });
  const page = await context.newPage();
  await firstStaffSignIn(page, pia);
  const pages: Array<[string, string]> = [
    ["/payments", "Payments"], ["/withdrawals", "Withdrawals awaiting approval"], ["/reconciliation", "Reconciliation"],
    ["/risk", "Risk desk"], ["/ib", "IB network"], ["/servers", "Trading servers"], ["/roles", "Roles and permissions"],
    ["/audit", "Audit and roles"], ["/clients", "Clients"], ["/review", "Review queue"], ["/jurisdictions", "Jurisdictions"],
    ["/aml/cases", "AML cases"], ["/aml/scenarios", "AML scenarios"], ["/aml/reports", "Suspicious transaction reports"],
    ["/screening/runs", "Screening runs"],
  ];
  for (const [path, heading] of pages) {
    await page.goto(`${portalUrl("staff")}${path}`);
    await expect(page.getByRole("heading", { level: 1, exact: true, name: heading })).toBeVisible();
    await expect(page.getByText("Loading…")).toHaveCount(0);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow, `${path} scrolls sideways at 375 px`).toBeLessThanOrEqual(0);
    await expectAccessible(page);
    if (path === "/payments") {
      // The client portal's tests paid in and out: every client's payments, filtered to withdrawals.
      await expect(page.getByTestId("payments-table").getByRole("row")).not.toHaveCount(0);
      await page.getByLabel("Direction").selectOption("WITHDRAWAL");
      await expect(page.getByTestId("payments-table").getByRole("cell", { name: "Withdrawal", exact: true }).first()).toBeVisible();
      await expect(page.getByTestId("payments-table").getByRole("cell", { name: "Deposit", exact: true })).toHaveCount(0);
      await expect(page.getByRole("link", { name: "Withdrawals awaiting approval" })).toBeVisible();
      // Each row names its client; the client filter finds the demo client by e-mail and keeps to its payments.
      await page.getByLabel("Direction").selectOption("");
      await page.getByLabel("Client", { exact: true }).fill("client@demo.example.com");
      await page.getByRole("button", { name: "Find client" }).click();
      await page.getByRole("button", { name: "Only Anna Demo's payments" }).click();
      await expect(page.getByTestId("payments-client")).toHaveText("Anna Demo");
      const clientCells = page.getByTestId("payments-table").locator("tbody tr td:nth-child(2)");
      await expect(clientCells.first()).toHaveText("Anna Demo");
      expect(new Set(await clientCells.allTextContents())).toEqual(new Set(["Anna Demo"]));
      expect(new URL(page.url()).searchParams.get("client")).not.toBeNull();
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
      await expectAccessible(page);
      await screenshot(page, "staff-payments-phone", "Staff: payments at phone width");
      // The wire method's account: a wrong IBAN check digit, then a BIC of another country, each refused beside
      // its field (nothing saved), then a valid account is saved and listed.
      const accounts = page.getByTestId("wire-accounts");
      await expect(accounts).toContainText("DE89370400440532013000");
      await page.getByRole("button", { name: "Edit the account of Bank wire (USD) — USD, all countries" }).click();
      const form = page.locator("form", { has: page.getByRole("heading", { name: /^Account of Bank wire/ }) });
      await form.getByLabel("IBAN").fill("DE02120300000000202052");
      await form.getByLabel("BIC (SWIFT)").fill("BYLADEM1001");
      await form.getByLabel("Bank name").fill("Deutsche Kreditbank");
      await form.getByRole("button", { name: "Save account" }).click();
      await expect(form.getByLabel("IBAN")).toHaveAttribute("aria-invalid", "true");
      await form.getByLabel("IBAN").fill("DE02 1203 0000 0000 2020 51");
      await form.getByLabel("BIC (SWIFT)").fill("BNPAFRPPXXX");
      await form.getByRole("button", { name: "Save account" }).click();
      await expect(form.getByLabel("BIC (SWIFT)")).toHaveAttribute("aria-invalid", "true");
      await expect(form.getByLabel("IBAN")).not.toHaveAttribute("aria-invalid", "true");
      await expect(accounts).toContainText("DE89370400440532013000");
      await expectAccessible(page);
      await form.getByLabel("BIC (SWIFT)").fill("BYLADEM1001");
      await form.getByRole("button", { name: "Save account" }).click();
      await expect(page.getByText("The account of Bank wire (USD) — USD, all countries is saved.")).toBeVisible();
      await expect(accounts).toContainText("DE02120300000000202051");
      await expect(accounts).toContainText("Deutsche Kreditbank");
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
    }
    if (path === "/servers") await expect(page.getByTestId("trading-servers").getByRole("row")).not.toHaveCount(1);
  }
  // At desktop width: the payments queue and the trading servers for the README.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto(`${portalUrl("staff")}/payments`);
  await expect(page.getByTestId("payments-table")).toBeVisible();
  await screenshot(page, "staff-payments", "Staff: payments");
  // A row's client opens that client's 360 view.
  await page.getByTestId("payments-table").getByRole("link", { name: "Anna Demo" }).first().click();
  await expect(page.getByRole("heading", { level: 1, exact: true, name: "Anna Demo" })).toBeVisible();
  await page.goto(`${portalUrl("staff")}/servers`);
  await expect(page.getByTestId("trading-servers")).toBeVisible();
  await screenshot(page, "staff-trading-servers", "Staff: trading servers");
  await context.close();
});
