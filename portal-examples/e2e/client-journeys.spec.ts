// The client portal in a real browser, in order (one server, one demo brokerage):
//   journey 6: a client cannot reach another client's data by editing an id in the URL;
//   sign-in with 2FA: the demo client enrols an authenticator, signs out and in again, sees the dashboard;
//   journey 1: a visitor registers, opens the e-mailed link, enrols 2FA, completes profile, documents
//   and questionnaire, and submits the application.
// Every page visited passes an axe check; the main pages are captured for portal-examples/README.md.
import { expect, test } from "@playwright/test";
import { demoPassword, expectAccessible, portalUrl, rememberSecret, screenshot } from "./fixtures";
import { freshCode } from "./totp";
import { STEP_UP_TTL_S } from "./harness";
import { DEMO, answerQuestionnaire, confirmEmail, enrolTotp, fillProfile, register, signIn, uniqueEmail, uploadDocuments } from "./client-helpers";

test.describe.configure({ mode: "serial" });

/** The demo client's authenticator secret, once the 2FA test has enrolled it. */
let demoSecret = "";

test("journey 6: another client's account is not reachable by editing the URL", async ({ browser }) => {
  const ownerContext = await browser.newContext();
  const owner = await ownerContext.newPage();
  await signIn(owner, DEMO, demoPassword(DEMO));
  await expect(owner.getByRole("heading", { exact: true, name: "Dashboard" })).toBeVisible();
  const firstAccount = owner.getByRole("table").getByRole("link").first();
  await firstAccount.click();
  await expect(owner.getByRole("heading", { name: /^Trading account \d+$/ })).toBeVisible();
  await expect(owner.getByTestId("equity")).toContainText("$");
  await expectAccessible(owner);
  await screenshot(owner, "client-account", "Trading account");
  const ownersUrl = new URL(owner.url());
  await ownerContext.close();

  const otherContext = await browser.newContext();
  const other = await otherContext.newPage();
  await register(other, uniqueEmail("intruder"));
  await other.goto(`${portalUrl("client")}${ownersUrl.pathname}`);
  await expect(other.getByRole("heading", { exact: true, name: "There is no such account." })).toBeVisible();
  await expect(other.getByTestId("equity")).toHaveCount(0);
  // A bare database id (still accepted by the API) fares no better.
  const bare = atob(decodeURIComponent(ownersUrl.pathname.split("/").pop()!)).split(":").pop();
  await other.goto(`${portalUrl("client")}/accounts/${bare}`);
  await expect(other.getByRole("heading", { exact: true, name: "There is no such account." })).toBeVisible();
  await expectAccessible(other);
  await otherContext.close();
});

test("a client enrols 2FA, signs in with it and sees the dashboard", async ({ page }) => {
  await page.goto(portalUrl("client"));
  await expect(page.getByRole("heading", { exact: true, name: "Sign in" })).toBeVisible();
  await expectAccessible(page);
  await screenshot(page, "client-sign-in", "Sign-in");

  // Keyboard only: Tab to the e-mail field, type, Tab, type, Enter. A wrong password is shown in the
  // form, not a blank screen.
  for (let i = 0; i < 6 && !(await page.getByLabel("E-mail").evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(page.getByLabel("E-mail")).toBeFocused();
  await page.keyboard.type(DEMO);
  await page.keyboard.press("Tab");
  await expect(page.getByLabel("Password")).toBeFocused();
  await page.keyboard.type("not-the-password");
  await page.keyboard.press("Enter");
  await expect(page.getByRole("alert")).toContainText(/password|credentials/i);

  await page.getByLabel("Password").fill(demoPassword(DEMO));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Dashboard" })).toBeVisible();

  // Enrol 2FA: a wrong code is refused beside the code field, then the right one turns it on.
  await page.getByRole("link", { name: "Security" }).click();
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await expectAccessible(page);
  await page.getByLabel("Code from the app").fill("000000");
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  // The API names the mutation's argument (`code`); the error is shown under that very input.
  await expect(page.getByLabel("Code from the app")).toHaveAttribute("aria-invalid", "true");
  await expect(page.locator(".field-error")).toBeVisible();
  await page.getByLabel("Code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByTestId("recovery-codes").getByRole("listitem")).not.toHaveCount(0);
  demoSecret = secret;
  rememberSecret(DEMO, secret);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByText("You have signed out.")).toBeVisible();

  // Signing in now asks for the authenticator code as a second step.
  await page.getByLabel("E-mail").fill(DEMO);
  await page.getByLabel("Password").fill(demoPassword(DEMO));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByLabel("Authenticator code")).toBeFocused();
  await page.getByLabel("Authenticator code").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Sign in" }).click();

  // Signing in returns to the page the user was on; 2FA now shows as on.
  await expect(page.getByRole("heading", { exact: true, name: "Security" })).toBeVisible();
  await expect(page.getByText("Two-factor authentication is on.")).toBeVisible();
  await page.getByRole("link", { name: "Dashboard" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Dashboard" })).toBeVisible();
  await expect(page.getByTestId("wallet-USD")).toContainText("$");
  await expect(page.getByRole("heading", { exact: true, name: "Trading accounts" })).toBeVisible();
  await expect(page.getByRole("table").getByRole("row")).not.toHaveCount(1);
  await expectAccessible(page);
  await screenshot(page, "client-dashboard", "Dashboard");

  // A reload keeps the session (httpOnly cookies), and the language choice is kept too.
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { exact: true, name: "Panel" })).toBeVisible();
  await page.reload();
  await expect(page.getByRole("heading", { exact: true, name: "Panel" })).toBeVisible();
  await expect(page.getByTestId("wallet-USD")).toContainText(/\d,\d{2}/); // Spanish decimal comma
  await expectAccessible(page);
  await page.getByLabel("Idioma").selectOption("en");
});

test("journey 1: register, confirm the e-mail, enrol 2FA, profile, documents, questionnaire, submit", async ({ page }) => {
  const email = uniqueEmail("ana");
  await register(page, email);
  await expect(page.getByTestId("application-status")).toHaveText("Registered");
  await expectAccessible(page);

  // The e-mailed link (read from the SMTP sink) opens the portal and confirms the address.
  await confirmEmail(page, email, expectAccessible);
  await expect(page.getByTestId("application-status")).toHaveText("E-mail confirmed");

  await enrolTotp(page);
  await page.getByRole("link", { name: "Application" }).click();
  await expect(page.getByText("Two-factor authentication is on.")).toBeVisible();

  // Profile: a field the API refuses is marked beside that field; then a valid profile.
  const profile = page.locator("form", { has: page.getByRole("button", { name: "Save profile" }) });
  await fillProfile(page, { first: "Ana", last: "Example", birth: "1985-04-12", phone: "12", street: "Unter den Linden 1", taxId: "12345678901" }, false);
  await profile.getByRole("button", { name: "Save profile" }).click();
  await expect(profile.getByLabel("Phone")).toHaveAttribute("aria-invalid", "true");
  await expectAccessible(page);
  await profile.getByLabel("Phone").fill("+49 30 901820");
  await profile.getByRole("button", { name: "Save profile" }).click();
  await expect(page.getByText("Profile saved.")).toBeVisible();
  await expect(page.getByTestId("application-status")).toHaveText("Profile complete");

  // Documents: multipart uploads.
  await uploadDocuments(page);
  // The documents sent so far (myDocuments), each waiting for review.
  const sent = page.getByTestId("my-documents");
  await expect(sent.getByRole("row", { name: /Proof of identity passport\.png .* Waiting for review/ })).toBeVisible();
  await expect(sent.getByRole("row", { name: /Proof of address bill\.pdf .* Waiting for review/ })).toBeVisible();

  // Questionnaire.
  await answerQuestionnaire(page);
  await expectAccessible(page);

  await page.getByRole("button", { name: "Submit for review" }).click();
  await expect(page.getByTestId("application-status")).toHaveText(/Under review|Documents submitted/);
  await screenshot(page, "client-application", "Application");

  // Phone width: the page reflows without horizontal scrolling.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.reload();
  await expect(page.getByTestId("application-status")).toBeVisible();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await expectAccessible(page);
  await screenshot(page, "client-application-phone", "Application at phone width");
});

test("money: transfer, exchange on a quote, wire deposit reference, withdrawal with step-up, history, API token", async ({ page }) => {
  test.setTimeout(240_000);
  expect(demoSecret, "the 2FA test enrolled the demo client").not.toBe("");
  await signIn(page, DEMO, demoPassword(DEMO));
  await page.getByLabel("Authenticator code").fill(await freshCode(demoSecret));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Dashboard" })).toBeVisible();
  const signedInAt = Date.now(); // signing in with a code counts as a step-up for STEP_UP_TTL_S

  await page.getByRole("link", { name: "Funds" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Funds" })).toBeVisible();
  await expectAccessible(page);

  // Transfer wallet -> trading account; an amount beyond the currency's scale is refused beside the field.
  const transfer = page.locator("form", { has: page.getByRole("heading", { name: "Transfer" }) });
  await transfer.getByLabel("Wallet", { exact: true }).selectOption({ label: "USD" });
  await transfer.getByLabel("Amount").fill("10.001");
  await transfer.getByRole("button", { name: "Transfer" }).click();
  await expect(transfer.getByLabel("Amount")).toHaveAttribute("aria-invalid", "true");
  await transfer.getByLabel("Amount").fill("100");
  await transfer.getByRole("button", { name: "Transfer" }).click();
  await expect(transfer.getByText(/Moved \$100\.00/)).toBeVisible();

  // Exchange on a quote that expires.
  const exchange = page.locator("form", { has: page.getByRole("heading", { name: "Exchange" }) });
  await exchange.getByLabel("Sell", { exact: true }).selectOption("USD");
  await exchange.getByLabel("Buy", { exact: true }).selectOption("EUR");
  await exchange.getByLabel("Amount to sell").fill("50");
  await exchange.getByRole("button", { name: "Get a quote" }).click();
  await expect(exchange.getByText(/This quote is valid for \d+ s/)).toBeVisible();
  await exchange.getByRole("button", { name: "Accept quote" }).click();
  await expect(exchange.getByText(/Exchanged \$50\.00 for €/)).toBeVisible();

  // Wire deposit: the payment reference to quote.
  const deposit = page.locator("form", { has: page.getByRole("heading", { name: "Deposit" }) });
  const wireOption = deposit.getByLabel("Method").locator("option", { hasText: /wire/i }).first();
  await deposit.getByLabel("Method").selectOption({ label: (await wireOption.textContent())! });
  await deposit.getByLabel("Amount").fill("1000");
  await deposit.getByRole("button", { name: "Continue" }).click();
  await expect(deposit.getByTestId("wire-reference")).not.toBeEmpty();
  // The account to pay into, as staff configured it for the method (the demo's), beside the reference.
  await expect(deposit.getByTestId("wire-iban")).toHaveText("DE89 3704 0044 0532 0130 00");
  await expect(deposit.getByTestId("wire-account")).toContainText("Demo Brokerage Ltd");
  await expect(deposit.getByTestId("wire-account")).toContainText("COBADEFFXXX");
  await expectAccessible(page);
  await screenshot(page, "client-funds", "Funds");

  // Withdrawal: once the sign-in's step-up has lapsed, the API answers STEP_UP_REQUIRED, the portal
  // asks for a code, then sends the request again (same idempotency key).
  await page.waitForTimeout(Math.max(0, (STEP_UP_TTL_S + 1) * 1000 - (Date.now() - signedInAt)));
  const withdraw = page.locator("form", { has: page.getByRole("heading", { name: "Withdraw" }) });
  const wireOut = withdraw.getByLabel("Method").locator("option", { hasText: /wire/i }).first();
  await withdraw.getByLabel("Method").selectOption({ label: (await wireOut.textContent())! });
  await withdraw.getByLabel("Amount").fill("150");
  await withdraw.getByLabel("IBAN to pay to").fill("DE89370400440532013000");
  await withdraw.getByRole("button", { name: "Request withdrawal" }).click();
  const dialog = page.getByRole("dialog", { name: "Confirm with your authenticator" });
  await expect(dialog).toBeVisible();
  await expectAccessible(page);
  // A wrong code is refused beside the dialog's code input (stepUp's `code` argument), the dialog stays.
  await dialog.getByLabel("Authenticator code").fill("000000");
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expect(dialog.getByLabel("Authenticator code")).toHaveAttribute("aria-invalid", "true");
  await dialog.getByLabel("Authenticator code").fill(await freshCode(demoSecret));
  await dialog.getByRole("button", { name: "Confirm" }).click();
  await expect(page.getByRole("heading", { name: /^Payment / })).toBeVisible();
  await expect(page.getByTestId("payment-status")).toHaveText(/Pending|Created/);
  await expectAccessible(page);
  const withdrawalUrl = new URL(page.url());

  await page.getByRole("link", { name: "Payments" }).first().click();
  await expect(page.getByRole("table")).toContainText("Withdrawal");
  await expectAccessible(page);

  // History: filters and a CSV export with the amounts as the API wrote them.
  await page.getByRole("link", { name: "History" }).click();
  await page.getByLabel("Wallet").selectOption({ label: "USD" });
  await page.getByLabel("Kind").selectOption("transfer");
  await expect(page.getByRole("table")).toContainText("transfer");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export CSV" }).click()]);
  const csv = await (await import("node:fs/promises")).readFile((await download.path())!, "utf8");
  expect(csv.split("\r\n")[0]).toBe("time,kind,amount,currency,reference,description");
  expect(csv).toMatch(/,transfer,-100\.00,USD,/);
  await expectAccessible(page);
  await screenshot(page, "client-history", "History");

  // An API token: the step-up made for the withdrawal is still fresh, so it is created at once or after a code.
  await page.getByRole("link", { name: "Sessions & tokens" }).click();
  await page.getByLabel("Name").fill("my script");
  await page.getByRole("button", { name: "Create token" }).click();
  if (await dialog.isVisible()) {
    await dialog.getByLabel("Authenticator code").fill(await freshCode(demoSecret));
    await dialog.getByRole("button", { name: "Confirm" }).click();
  }
  await expect(page.getByTestId("api-token")).toContainText("fxc_");
  await expect(page.getByRole("cell", { name: "profile.read" })).toBeVisible();
  await expectAccessible(page);

  // Card deposit through the provider's hosted checkout (the Stripe stand-in's page), back to the
  // portal, where the payment's status follows the provider's webhook live.
  await page.getByRole("link", { name: "Funds" }).click();
  const card = page.locator("form", { has: page.getByRole("heading", { name: "Deposit" }) });
  await card.getByLabel("Method").selectOption({ label: "Card (USD)" });
  await card.getByLabel("Amount").fill("200");
  await card.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL((url) => !url.href.startsWith(portalUrl("client")));
  await page.getByRole("button", { name: "Pay" }).click();
  await page.waitForURL((url) => url.href.startsWith(portalUrl("client")));
  await expect(page.getByRole("heading", { exact: true, name: "Payments" })).toBeVisible();
  const row = page.getByRole("row", { name: /Deposit.*card.*\$200\.00/ }).first();
  await expect(row).toContainText("Succeeded", { timeout: 30_000 });
  await expectAccessible(page);
  await screenshot(page, "client-payments", "Payments");

  // Journey 6 again: another client cannot open this withdrawal by its URL.
  const otherContext = await page.context().browser()!.newContext();
  const other = await otherContext.newPage();
  await register(other, uniqueEmail("intruder2"));
  await other.goto(`${portalUrl("client")}${withdrawalUrl.pathname}`);
  await expect(other.getByRole("heading", { exact: true, name: "There is no such payment." })).toBeVisible();
  await expect(other.getByTestId("payment-status")).toHaveCount(0);
  await otherContext.close();
});
