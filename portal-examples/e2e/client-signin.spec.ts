// The demo client turns on 2FA, signs out and signs in again with an authenticator code; the dashboard
// shows the wallets and trading accounts, in English and in Spanish.
import { expect, test } from "@playwright/test";
import { demoPassword, expectAccessible, portalUrl } from "./fixtures";
import { freshCode } from "./totp";

const EMAIL = "client@demo.example.com";

test("a client enrols 2FA, signs in with it and sees the dashboard", async ({ page }) => {
  await page.goto(portalUrl("client"));
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await expectAccessible(page);

  // A wrong password is shown beside the form, not a blank screen.
  await page.getByLabel("E-mail").fill(EMAIL);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText(/password|credentials/i);

  await page.getByLabel("Password").fill(demoPassword(EMAIL));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();

  // Enrol 2FA: the secret shown is what an authenticator app would be given.
  await page.getByRole("link", { name: "Security" }).click();
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await expectAccessible(page);
  await page.getByLabel("Code from the app").fill("000000");
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.locator(".field-error")).toBeVisible(); // TOTP_INVALID beside the code field
  await page.getByLabel("Code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByTestId("recovery-codes").getByRole("listitem")).not.toHaveCount(0);

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByText("You have signed out.")).toBeVisible();

  // Signing in now asks for the authenticator code as a second step.
  await page.getByLabel("E-mail").fill(EMAIL);
  await page.getByLabel("Password").fill(demoPassword(EMAIL));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByLabel("Authenticator code")).toBeFocused();
  await page.getByLabel("Authenticator code").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Sign in" }).click();

  // Signing in returns to the page the user was on; 2FA now shows as on.
  await expect(page.getByRole("heading", { name: "Security" })).toBeVisible();
  await expect(page.getByText("Two-factor authentication is on.")).toBeVisible();
  await page.getByRole("link", { name: "Dashboard" }).click();
  await expect(page.getByRole("heading", { name: "Dashboard" })).toBeVisible();
  const usd = page.getByTestId("wallet-USD");
  await expect(usd).toContainText("$");
  await expect(page.getByRole("heading", { name: "Trading accounts" })).toBeVisible();
  await expect(page.getByRole("table").getByRole("row")).not.toHaveCount(1);
  await expectAccessible(page);

  // A reload keeps the session (httpOnly cookies), and the language choice is kept too.
  await page.getByLabel("Language").selectOption("es");
  await expect(page.getByRole("heading", { name: "Panel" })).toBeVisible();
  await page.reload();
  await expect(page.getByRole("heading", { name: "Panel" })).toBeVisible();
  await expect(page.getByTestId("wallet-USD")).toContainText(/\d,\d{2}/); // Spanish decimal comma
  await expectAccessible(page);
});
