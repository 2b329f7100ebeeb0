// The IB portal in a real browser against the demo brokerage (an IB, its sub-IB on a hybrid plan, a
// client registered through the sub-IB's referral link whose trading account the simulator trades):
// the IB signs in and sees its tree, a referral link and a commission line with its explanation; a
// client id outside its tree typed into the URL shows nothing of that client.
import { expect, test, type Page } from "@playwright/test";
import { demoPassword, expectAccessible, portalUrl, screenshot } from "./fixtures";

test.describe.configure({ mode: "serial" });

const IB = "ib@demo.example.com";
const SUB_IB = "subib@demo.example.com";

async function signIn(page: Page, email: string): Promise<void> {
  await page.goto(portalUrl("ib"));
  await expect(page.getByRole("heading", { exact: true, name: "Sign in" })).toBeVisible();
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(demoPassword(email));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "My network" })).toBeVisible();
}

test("an IB sees its tree, a referral link and a commission line with its explanation", async ({ page }) => {
  await page.goto(portalUrl("ib"));
  await expect(page.getByRole("heading", { exact: true, name: "Sign in" })).toBeVisible();
  await expectAccessible(page);
  await signIn(page, IB);

  // The tree: the sub-IB at level 1, the sub-IB's client at depth 1, contact masked.
  await expect(page.getByTestId("visible-depth")).toContainText(/\d+ levels/);
  const subIbs = page.getByRole("list", { name: "Sub-IBs" });
  await expect(subIbs.getByRole("listitem")).toHaveCount(1);
  await expect(subIbs).toContainText("Level 1");
  const clientRow = page.getByRole("table").getByRole("row").nth(1);
  await expect(clientRow).toBeVisible();
  await expect(clientRow.getByRole("cell").nth(0)).not.toContainText("client@demo.example.com");
  await expectAccessible(page);
  await screenshot(page, "ib-tree", "IB: the network tree with masked client data");

  // Referral links with their counts.
  await page.getByRole("link", { name: "Referral links" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Referral links" })).toBeVisible();
  await expect(page.getByRole("table").getByRole("row")).not.toHaveCount(1);
  await expect(page.getByRole("table").getByRole("code").first()).toContainText("/r/");
  await expectAccessible(page);

  // A commission line (the simulator trades the client's account) and how it was computed.
  await page.getByRole("link", { name: "Commissions" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Commissions" })).toBeVisible();
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("commission-line").first()).toBeVisible({ timeout: 3_000 });
  }).toPass({ timeout: 90_000 });
  const line = page.getByTestId("commission-line").first();
  await line.getByRole("button", { name: "How was this computed?" }).click();
  await expect(line.getByText("Formula:")).toBeVisible();
  await expect(line.locator("code").first()).not.toBeEmpty();
  await expectAccessible(page);
  await screenshot(page, "ib-commissions", "IB: commission lines with how each was computed");

  // Spanish, then phone width without horizontal scrolling.
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { exact: true, name: "Comisiones" })).toBeVisible();
  await page.getByLabel("Idioma").selectOption("en");
  await page.setViewportSize({ width: 375, height: 800 });
  await page.getByRole("link", { name: "My network" }).click();
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
});

test("an IB cannot see a client outside its tree by editing the id in the URL", async ({ page }) => {
  // The sub-IB's own client page works.
  await signIn(page, SUB_IB);
  await page.getByRole("table").getByRole("link").first().click();
  await expect(page.getByTestId("client-facts")).toBeVisible();
  const id = decodeURIComponent(new URL(page.url()).pathname.split("/").pop()!);
  // Ids next to it (the IBs and staff are users too, none in this sub-IB's tree) show nothing.
  for (const other of [String(Number(id) - 1), String(Number(id) - 2), String(Number(id) + 1), "999999"]) {
    await page.goto(`${portalUrl("ib")}/clients/${other}`);
    await expect(page.getByRole("heading", { exact: true, name: "There is no such client in your network." })).toBeVisible();
    await expect(page.getByTestId("client-facts")).toHaveCount(0);
  }
  await expectAccessible(page);
});

test("a visitor follows an IB's new referral link, registers, and shows in the IB's tree and link counts", async ({ browser }) => {
  test.skip(!process.env.PORTAL_CLIENT_URL, "the client portal is not built");
  const ibContext = await browser.newContext();
  const ib = await ibContext.newPage();
  await signIn(ib, SUB_IB);
  await ib.getByRole("link", { name: "Referral links" }).click();
  const name = `Campaign ${Date.now().toString(36)}`;
  await ib.getByLabel("Name").fill(name);
  await ib.getByRole("button", { name: "Create link" }).click();
  const row = ib.getByRole("row").filter({ hasText: name });
  await expect(row).toBeVisible();
  const path = new URL((await row.getByRole("code").textContent())!).pathname;

  // The link on the API counts the click and redirects with the code; the client portal registers.
  const response = await fetch(`${process.env.FOREXCRM_API_URL}${path}`, { redirect: "manual" });
  expect(response.status).toBe(302);
  const landing = new URL(response.headers.get("location")!);
  expect(landing.searchParams.get("ib_code")).toBeTruthy();
  const visitorContext = await browser.newContext();
  const visitor = await visitorContext.newPage();
  await visitor.goto(`${portalUrl("client")}${landing.pathname}${landing.search}`);
  const email = `referred-${Date.now().toString(36)}@example.com`;
  await visitor.getByLabel("Your name").fill("Rita Referred");
  await visitor.getByLabel("E-mail").fill(email);
  await visitor.getByLabel("Password").fill("correct horse battery staple 42");
  await visitor.getByRole("button", { name: "Create account" }).click();
  await expect(visitor.getByRole("heading", { exact: true, name: "Your application" })).toBeVisible();
  await visitorContext.close();

  await ib.reload();
  const counted = ib.getByRole("row").filter({ hasText: name }).getByRole("cell");
  await expect(counted.nth(1)).toHaveText("1"); // clicks
  await expect(counted.nth(2)).toHaveText("1"); // registrations
  await ib.getByRole("link", { name: "My network" }).click();
  await expect(ib.getByRole("table").getByRole("row")).toHaveCount(3); // header, the demo client, the new one
  await expect(ib.getByRole("table")).not.toContainText(email); // contact masked
  await ibContext.close();
});
