// The back office in a real browser (one server, after the client portal's tests):
//   sign-in with mandatory TOTP: a new staff member must enrol an authenticator before any screen;
//   journey 2: a client registers and submits the application in the client portal; an administrator
//   marks the client's country high risk; two compliance officers each view the documents (signed
//   links) and approve — the second sees who made the first approval (four eyes), the first cannot
//   approve twice, and the client is approved;
//   a staff member without kyc.approve sees no review queue data (the API refuses it).
// Staff members are created with `forexcrm create-staff` (the documented way to add staff before any
// administrator can approve another), never with SQL. Every page visited passes an axe check.
import { expect, test, type Browser, type Page } from "@playwright/test";
import { expectAccessible, portalUrl, screenshot } from "./fixtures";
import { PDF, PNG, onboardClient } from "./client-helpers";
import { freshCode } from "./totp";
import { createStaff, firstStaffSignIn, staffSignIn, unique } from "./staff-helpers";

test.describe.configure({ mode: "serial" });

/** The administrator journey 2 creates, and their authenticator secret. */
let adminEmail = "";
let adminSecret = "";

/** A client registers in the client portal and submits the application (journey 1's steps, shared). */
async function clientSubmits(browser: Browser, email: string): Promise<void> {
  const { page } = await onboardClient(browser, email, {
    name: "Hana Reviewed", first: "Hana", last: "Reviewed", birth: "1980-02-03", phone: "+49 30 901821",
    street: "Unter den Linden 2", taxId: "12345678902",
  });
  await page.context().close();
}

/** Opens the client's review page from the queue and views each document through its signed link. */
async function openAndViewDocuments(page: Page, clientName: string): Promise<void> {
  await page.getByRole("link", { name: "Review queue" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Review queue" })).toBeVisible();
  await page.getByRole("link", { name: clientName }).click();
  await expect(page.getByRole("heading", { name: `Review: ${clientName}` })).toBeVisible();
  await expect(page.getByTestId("risk-level")).toHaveText("High");
  await expect(page.getByRole("button", { name: "Approve" })).toBeDisabled();
  for (const name of ["passport.png", "bill.pdf"]) {
    await page.getByRole("button", { name: `View ${name}` }).click();
    const viewer = page.getByTestId("document-viewer");
    await expect(viewer).toContainText(name);
    // The signed link serves the very bytes the client uploaded.
    const href = await viewer.getByRole("link", { name: "Open in a new tab" }).getAttribute("href");
    const response = await page.request.get(href!);
    expect(response.status()).toBe(200);
    expect(Buffer.from(await response.body()).equals(name.endsWith(".png") ? PNG : PDF)).toBe(true);
  }
  await expect(page.getByRole("button", { name: "Approve" })).toBeEnabled();
}

test("journey 2: two staff members approve a high-risk client after viewing the documents (four eyes)", async ({ browser }) => {
  const admin = unique("admin");
  const alice = unique("alice");
  const bob = unique("bob");
  createStaff(admin, "Ada Admin", ["administrator"]);
  createStaff(alice, "Alice Compliance", ["compliance"]);
  createStaff(bob, "Bob Compliance", ["compliance"]);

  // The administrator marks Germany high risk: its clients need two approvals.
  const adminContext = await browser.newContext();
  const adminPage = await adminContext.newPage();
  adminSecret = await firstStaffSignIn(adminPage, admin);
  adminEmail = admin;
  await adminPage.getByRole("link", { name: "Jurisdictions" }).click();
  await adminPage.getByLabel("Country").fill("DE");
  await adminPage.getByLabel("Regulator").fill("BaFin");
  await adminPage.getByLabel("High risk (two approvals)").check();
  await adminPage.getByRole("button", { name: "Save" }).click();
  const dialog = adminPage.getByRole("dialog", { name: "Confirm with your authenticator" });
  await expect(adminPage.getByText("Saved DE.").or(dialog)).toBeVisible();
  if (await dialog.isVisible()) {
    await dialog.getByLabel("Authenticator code").fill(await freshCode(adminSecret));
    await dialog.getByRole("button", { name: "Confirm" }).click();
  }
  await expect(adminPage.getByText("Saved DE.")).toBeVisible();
  await expectAccessible(adminPage);
  await adminContext.close();

  const clientEmail = unique("hana");
  await clientSubmits(browser, clientEmail);

  // First approver.
  const aliceContext = await browser.newContext();
  const a = await aliceContext.newPage();
  const aliceSecret = await firstStaffSignIn(a, alice);
  await expect(a.getByRole("heading", { exact: true, name: "Review queue" })).toBeVisible();
  await expectAccessible(a);
  await screenshot(a, "staff-review-queue", "Staff: review queue");
  await openAndViewDocuments(a, "Hana Reviewed");
  await expectAccessible(a);
  await a.getByRole("button", { name: "Approve" }).click();
  await expect(a.getByText("Your approval is recorded. A second staff member must approve too.")).toBeVisible();
  await expect(a.getByTestId("earlier-approvals")).toContainText("Approved by you");
  await expect(a.getByTestId("client-status").first()).toHaveText("Under review");
  // The same person cannot be the second pair of eyes.
  await a.getByRole("button", { name: "Approve" }).click();
  await expect(a.getByRole("alert")).toContainText("a different approver must");
  await screenshot(a, "staff-review-client", "Staff: review with four eyes");
  await aliceContext.close();

  // Second approver: sees who approved first, then approves.
  const bobContext = await browser.newContext();
  const b = await bobContext.newPage();
  await firstStaffSignIn(b, bob);
  await openAndViewDocuments(b, "Hana Reviewed");
  await expect(b.getByTestId("earlier-approvals")).toContainText(/Approved by staff member #\d+/);
  await expect(b.getByTestId("earlier-approvals")).not.toContainText("you");
  await expectAccessible(b);
  await b.getByRole("button", { name: "Approve" }).click();
  await expect(b.getByText("Decision recorded. The client is now: Approved.")).toBeVisible();

  // The client-360 view: approved, its documents and the audit trail of both decisions.
  await b.getByRole("link", { name: "Client 360" }).click();
  await expect(b.getByRole("heading", { exact: true, name: "Hana Reviewed" })).toBeVisible();
  await expect(b.getByTestId("client-status").first()).toHaveText("Approved");
  await expect(b.getByTestId("audit-trail")).toContainText("client.decision");
  await expectAccessible(b);
  await screenshot(b, "staff-client-360", "Staff: client 360");
  // Found by e-mail in the client search.
  await b.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clients" }).click();
  await b.getByLabel("Search clients").fill(clientEmail);
  await b.getByRole("button", { name: "Search" }).click();
  await expect(b.getByRole("table").getByRole("link", { name: "Hana Reviewed" })).toBeVisible();
  await expectAccessible(b);
  // Spanish.
  await b.getByLabel("Language").selectOption("es");
  await expect(b.getByRole("heading", { exact: true, name: "Clientes" })).toBeVisible();
  await bobContext.close();

  // Sign-in again asks for the authenticator code as a second step.
  const again = await browser.newContext();
  const p = await again.newPage();
  await staffSignIn(p, alice, aliceSecret);
  await expect(p.getByRole("heading", { exact: true, name: "Review queue" })).toBeVisible();
  await again.close();
});

test("a staff member without kyc.approve does not see the review queue's data", async ({ browser }) => {
  const carl = unique("carl");
  createStaff(carl, "Carl Support", ["support"]);
  const context = await browser.newContext();
  const page = await context.newPage();
  await firstStaffSignIn(page, carl);
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Review queue" })).toHaveCount(0);
  await page.goto(`${portalUrl("staff")}/review`);
  await expect(page.getByText("You do not have permission to see this.")).toBeVisible();
  await expect(page.getByRole("table")).toHaveCount(0);
  await expect(page.getByText("Hana Reviewed")).toHaveCount(0);
  await expectAccessible(page);
  await context.close();
});

test("an administrator verifies the audit trail, sees the roles and the withdrawals awaiting approval", async ({ browser }) => {
  expect(adminSecret).not.toBe("");
  const context = await browser.newContext();
  const page = await context.newPage();
  await staffSignIn(page, adminEmail, adminSecret);
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Audit & roles" }).click();
  await page.getByRole("button", { name: "Verify now" }).click();
  await expect(page.getByTestId("audit-result")).toContainText("The audit trail is intact.");
  await expect(page.getByRole("table").getByRole("rowheader", { name: /compliance/ })).toBeVisible();
  await expectAccessible(page);
  await nav.getByRole("link", { name: "Withdrawals" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Withdrawals awaiting approval" })).toBeVisible();
  await expect(page.getByRole("table").or(page.getByText("No withdrawal is waiting."))).toBeVisible();
  await expectAccessible(page);
  // After the client portal's tests a withdrawal waits (the demo client's): approve it, with a fresh
  // authenticator code where the API asks for one.
  const approve = page.getByRole("button", { name: /^Approve / }).first();
  if (await approve.isVisible()) {
    await approve.click();
    const dialog = page.getByRole("dialog", { name: "Confirm with your authenticator" });
    await expect(page.getByText(/^Approval of .* recorded/).or(dialog).or(page.getByRole("alert"))).toBeVisible();
    if (await dialog.isVisible()) {
      await dialog.getByLabel("Authenticator code").fill(await freshCode(adminSecret));
      await dialog.getByRole("button", { name: "Confirm" }).click();
    }
    await expect(page.getByText(/^Approval of .* recorded/)).toBeVisible();
    await screenshot(page, "staff-withdrawals", "Staff: withdrawals");
  }
  await context.close();
});
