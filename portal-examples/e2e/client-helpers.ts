// What the browser tests that act as the demo client share: its sign-in with 2FA (enrolled by the
// first spec that needs it, the secret kept for the later ones) and a card deposit through the
// provider's hosted-checkout stand-in, back in the portal once it succeeded.
import { expect, type Page } from "@playwright/test";
import { demoPassword, knownSecret, portalUrl, rememberSecret } from "./fixtures";
import { freshCode } from "./totp";

export const DEMO = "client@demo.example.com";

/** The demo client signed in with 2FA (enrolled here when no earlier spec did); returns its secret. */
export async function clientSignIn(page: Page): Promise<string> {
  await page.goto(portalUrl("client"));
  await page.getByLabel("E-mail").fill(DEMO);
  await page.getByLabel("Password").fill(demoPassword(DEMO));
  await page.getByRole("button", { name: "Sign in" }).click();
  let secret = knownSecret(DEMO);
  if (secret) {
    await page.getByLabel("Authenticator code").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { exact: true, name: "Dashboard" })).toBeVisible();
    return secret;
  }
  await expect(page.getByRole("heading", { exact: true, name: "Dashboard" })).toBeVisible();
  await page.getByRole("link", { name: "Security" }).click();
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await page.getByLabel("Code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByTestId("recovery-codes").getByRole("listitem")).not.toHaveCount(0);
  rememberSecret(DEMO, secret);
  await page.getByRole("link", { name: "Dashboard" }).click();
  return secret;
}

/** A USD card deposit of `amount` (whole dollars) paid on the hosted checkout; waits until it succeeded. */
export async function cardDeposit(page: Page, amount: string): Promise<void> {
  await page.getByRole("link", { name: "Funds" }).click();
  const deposit = page.locator("form", { has: page.getByRole("heading", { name: "Deposit" }) });
  await deposit.getByLabel("Method").selectOption({ label: "Card (USD)" });
  await deposit.getByLabel("Amount").fill(amount);
  await deposit.getByRole("button", { name: "Continue" }).click();
  await page.waitForURL((url) => !url.href.startsWith(portalUrl("client")));
  await page.getByRole("button", { name: "Pay" }).click();
  await page.waitForURL((url) => url.href.startsWith(portalUrl("client")));
  const shown = `\\$${Number(amount).toLocaleString("en-US")}\\.00`;
  await expect(page.getByRole("row", { name: new RegExp(`Deposit.*card.*${shown}`) }).first()).toContainText("Succeeded", { timeout: 30_000 });
}

/** A USD wire withdrawal of `amount` to the demo IBAN, answering the step-up prompt if the API asks; returns its reference. */
export async function wireWithdrawal(page: Page, secret: string, amount: string): Promise<string> {
  await page.getByRole("link", { name: "Funds" }).click();
  const withdraw = page.locator("form", { has: page.getByRole("heading", { name: "Withdraw" }) });
  const wire = withdraw.getByLabel("Method").locator("option", { hasText: /wire/i }).first();
  await withdraw.getByLabel("Method").selectOption({ label: (await wire.textContent())! });
  await withdraw.getByLabel("Amount").fill(amount);
  await withdraw.getByLabel("IBAN to pay to").fill("DE89370400440532013000");
  await withdraw.getByRole("button", { name: "Request withdrawal" }).click();
  const heading = page.getByRole("heading", { name: /^Payment / });
  const dialog = page.getByRole("dialog", { name: "Confirm with your authenticator" });
  await expect(heading.or(dialog).first()).toBeVisible();
  if (await dialog.isVisible()) {
    await dialog.getByLabel("Authenticator code").fill(await freshCode(secret));
    await dialog.getByRole("button", { name: "Confirm" }).click();
  }
  await expect(heading).toBeVisible();
  return (await heading.textContent())!.replace(/^Payment /, "").trim();
}
