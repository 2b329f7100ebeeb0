// Staff operations in a real browser, lean (after the IB portal's specs, so the demo IB network exists):
//   IB network: a client's IB application approved on the IB network page; the new IB moved under a demo IB
//     (with its downline, from now); the demo IB then moved under the new one: refused as a cycle
//     (IB_TREE_CYCLE) beside the New parent field, and nothing moves;
//   roles: a privileged role granted to a staff member waits for a second administrator (four eyes), who sees
//     who asked and approves it; the member's roles then show it.
// Every page visited passes an axe check.
import { expect, test, type Locator, type Page } from "@playwright/test";
import { register, uniqueEmail } from "./client-helpers";
import { expectAccessible, screenshot } from "./fixtures";
import { createStaff, firstStaffSignIn, staffApi, unique, withStepUp } from "./staff-helpers";

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

/** The Roles page's entry of staff member `name`: the list is oldest first, so the newest is on a later page. */
async function staffEntry(page: Page, name: string): Promise<Locator> {
  const entry = page.getByRole("listitem", { name: new RegExp(`^${name}\\b`) });
  const next = page.getByRole("navigation", { name: "Staff members" }).getByRole("button", { name: "Next" });
  await expect(async () => {
    if ((await entry.count()) === 0 && (await next.isEnabled())) await next.click();
    await expect(entry).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 60_000 });
  return entry;
}

test("roles: a privileged role granted to a staff member waits for a second administrator, who approves it", async ({ browser }) => {
  test.setTimeout(120_000);
  const ada = unique("ops-ada");
  const ben = unique("ops-ben");
  const carl = unique("ops-carl");
  const carlName = `Carl Grant ${Date.now().toString(36)}`;
  createStaff(ada, "Ada Grants", ["administrator"]);
  createStaff(ben, "Ben Grants", ["administrator"]);
  createStaff(carl, carlName, ["dealer"]);

  const adaContext = await browser.newContext();
  const a = await adaContext.newPage();
  const adaSecret = await firstStaffSignIn(a, ada);
  await a.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Roles", exact: true }).click();
  await expect(a.getByRole("heading", { exact: true, name: "Roles and permissions" })).toBeVisible();
  const member = await staffEntry(a, carlName);
  await member.getByLabel(`Grant a role to ${carlName}`).selectOption("finance");
  await member.getByRole("button", { name: "Grant", exact: true }).click();
  const recorded = member.getByText(/Recorded as request #\d+: it applies once a second staff member approves it\./);
  await withStepUp(a, adaSecret, recorded);
  const id = (await recorded.textContent())!.match(/#(\d+)/)![1];
  // Not granted yet.
  await expect(member.getByRole("list", { name: `Roles of ${carlName}` })).not.toContainText("finance");
  await expectAccessible(a);
  await adaContext.close();

  // A second administrator sees who asked and approves: the role applies.
  const benContext = await browser.newContext();
  const b = await benContext.newPage();
  const benSecret = await firstStaffSignIn(b, ben);
  await b.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Roles", exact: true }).click();
  const pending = b.getByTestId("pending-change").filter({ has: b.getByRole("heading", { name: new RegExp(`#${id}\\b`) }) });
  await expect(pending).toContainText("finance");
  await expect(pending.getByTestId("requested-by")).toContainText("Requested by Ada Grants");
  await pending.getByRole("button", { name: `Approve request #${id}` }).click();
  await withStepUp(b, benSecret, b.getByText("Approved: the change applies now."));
  const granted = await staffEntry(b, carlName);
  await expect(granted.getByRole("list", { name: `Roles of ${carlName}` })).toContainText("finance");
  await expectAccessible(b);
  await benContext.close();
});
