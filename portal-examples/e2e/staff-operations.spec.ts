// Staff operations in a real browser, lean (after the IB portal's specs, so the demo IB network exists):
//   IB network: a client's IB application approved on the IB network page; the new IB moved under a demo IB
//     (with its downline, from now); the demo IB then moved under the new one: refused as a cycle
//     (IB_TREE_CYCLE) beside the New parent field, and nothing moves.
// Every page visited passes an axe check.
import { expect, test } from "@playwright/test";
import { register, uniqueEmail } from "./client-helpers";
import { expectAccessible, portalUrl, screenshot } from "./fixtures";
import { createStaff, firstStaffSignIn, staffApi, unique } from "./staff-helpers";

test("IB network: an application approved, the new IB moved under another parent, a cycle refused beside the field", async ({ browser }) => {
  test.setTimeout(120_000);
  // A client applies to become a partner in the client portal.
  const applicantContext = await browser.newContext();
  const applicant = await applicantContext.newPage();
  const email = uniqueEmail("ops-partner");
  await register(applicant, email, "Olga Operations");
  await applicant.getByRole("link", { name: "Become a partner" }).click();
  await applicant.getByLabel("Clients expected in a year").fill("12");
  await applicant.getByRole("group", { name: "How will you bring clients?" }).getByLabel("Social media").check();
  await applicant.getByRole("button", { name: "Apply" }).click();
  await expect(applicant.getByTestId("ib-application-status")).toHaveText("Your application: pending review");
  await applicantContext.close();

  // An IB manager approves it on the IB network page.
  const manager = unique("ops-ibm");
  createStaff(manager, "Omar Network", ["ib_manager"]);
  const context = await browser.newContext();
  const page = await context.newPage();
  await firstStaffSignIn(page, manager);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "IB network" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "IB network" })).toBeVisible();
  const applications = page.locator("section", { has: page.getByRole("heading", { exact: true, name: "Applications" }) });
  await applications.getByRole("button", { name: `Approve ${email}` }).click();
  await expect(applications.getByText(`${email} is an IB now.`)).toBeVisible();
  await expect(applications.getByRole("button", { name: `Approve ${email}` })).toHaveCount(0);
  await expectAccessible(page);

  // The new IB and a demo IB outside its downline (ids as the partners list shows them).
  const found = await staffApi(page, "StaffIbPartners", { search: email, first: 5 });
  const newIb: string = found.ibPartners.nodes.find((p: { email: string }) => p.email === email).ibId;
  const all = await staffApi(page, "StaffIbPartners", { first: 50 });
  const demoIb: string = all.ibPartners.nodes.find((p: { ibId: string; status: string }) => p.ibId !== newIb && p.status === "approved").ibId;

  const move = page.locator("section", { has: page.getByRole("heading", { exact: true, name: "Move an IB" }) });
  const ibField = move.getByLabel("IB id", { exact: true });
  const parentField = move.getByLabel(/^New parent IB id/);
  const reason = move.getByLabel("Reason");
  const from = move.getByLabel("From");
  // A move takes effect from an instant no earlier than the tree's last change (the approval a moment ago):
  // a few seconds ahead, to the second, in the browser's time zone (the field is datetime-local).
  const soon = () => page.evaluate(() => {
    const d = new Date(Date.now() + 3000);
    const p = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  });
  // The new IB under the demo IB.
  await from.fill(await soon());
  await ibField.fill(newIb);
  await parentField.fill(demoIb);
  await reason.fill("e2e: regional restructuring");
  await move.getByRole("button", { name: "Move with its downline" }).click();
  await expect(move.getByText(`IB ${newIb} moved.`)).toBeVisible();
  await expect.poll(async () => (await staffApi(page, "StaffIbPartners", { search: email, first: 5 }))
    .ibPartners.nodes.find((p: { email: string }) => p.email === email).parentIbId, { timeout: 20_000 }).toBe(demoIb);

  // The demo IB under its own new downline: a cycle, refused beside the New parent field; nothing moves.
  const demoBefore = (await staffApi(page, "StaffIbPartners", { first: 50 })).ibPartners.nodes.find((p: { ibId: string }) => p.ibId === demoIb);
  await from.fill(await soon());
  await ibField.fill(demoIb);
  await parentField.fill(newIb);
  await move.getByRole("button", { name: "Move with its downline" }).click();
  await expect(parentField).toHaveAttribute("aria-invalid", "true");
  await expect(move.locator(".field-error[data-code=IB_TREE_CYCLE]")).toContainText("downline");
  const demoAfter = (await staffApi(page, "StaffIbPartners", { first: 50 })).ibPartners.nodes.find((p: { ibId: string }) => p.ibId === demoIb);
  expect(demoAfter.parentIbId).toBe(demoBefore.parentIbId);
  await expectAccessible(page);
  await screenshot(page, "staff-ib-move", "Staff: an IB move refused as a cycle beside the new parent");
  await context.close();
});
