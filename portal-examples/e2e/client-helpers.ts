// What the client portal's browser tests share: a new client's onboarding, step by step or all at
// once (register, the e-mailed link, 2FA, profile, documents, questionnaire, submit); the demo client's
// sign-in with 2FA (enrolled by the first spec that needs it, the secret kept for the later ones); and
// a card deposit through the provider's hosted-checkout stand-in, back in the portal once it succeeded.
import { expect, type Browser, type Page } from "@playwright/test";
import { demoPassword, knownSecret, mailLink, portalUrl, rememberSecret } from "./fixtures";
import { freshCode } from "./totp";

export const DEMO = "client@demo.example.com";
export const CLIENT_PASSWORD = "correct horse battery staple 42";
export const PNG = Buffer.concat([Buffer.from("89504e470d0a1a0a0000000d49484452", "hex"), Buffer.alloc(64)]);
export const PDF = Buffer.from("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n");

export function uniqueEmail(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.com`;
}

/** The sign-in form filled and sent (a second step, if any, is the caller's). */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto(portalUrl("client"));
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** A visitor registers (signed in at once by cookie) and lands on the application. */
export async function register(page: Page, email: string, name = "Ana Example"): Promise<void> {
  await page.goto(`${portalUrl("client")}/register`);
  await expect(page.getByRole("heading", { exact: true, name: "Open an account" })).toBeVisible();
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(CLIENT_PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Your application" })).toBeVisible();
}

/** The e-mailed confirmation link (read from the SMTP sink) opened (`onConfirmed` runs on that page), then back to the application. */
export async function confirmEmail(page: Page, email: string, onConfirmed?: (page: Page) => Promise<void>): Promise<void> {
  await page.goto(await mailLink(email, /https?:\/\/[^\s]+\/verify-email\?token=[A-Za-z0-9_-]+/));
  await expect(page.getByText("Your e-mail address is confirmed.")).toBeVisible();
  await onConfirmed?.(page);
  await page.getByRole("link", { name: "Continue" }).click();
}

/** An authenticator enrolled on the Security page; returns its secret. */
export async function enrolTotp(page: Page): Promise<string> {
  await page.getByRole("link", { name: "Security" }).click();
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await page.getByLabel("Code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByTestId("recovery-codes").getByRole("listitem")).not.toHaveCount(0);
  return secret;
}

export type Profile = { first: string; last: string; birth: string; phone: string; street: string; taxId: string };

/** The profile form on the application page filled (a German resident) and saved, unless `save` is false. */
export async function fillProfile(page: Page, p: Profile, save = true): Promise<void> {
  const profile = page.locator("form", { has: page.getByRole("button", { name: "Save profile" }) });
  await profile.getByLabel("First name").fill(p.first);
  await profile.getByLabel("Last name").fill(p.last);
  await profile.getByLabel("Date of birth").fill(p.birth);
  await profile.getByLabel("Country of residence").selectOption("DE");
  await profile.getByLabel("Phone").fill(p.phone);
  await profile.getByLabel("Street and number").fill(p.street);
  await profile.getByLabel("City").fill("Berlin");
  await profile.getByLabel("Postal code").fill("10117");
  await profile.getByLabel("Tax identification number").fill(p.taxId);
  await profile.getByLabel("Employment").selectOption("employed");
  await profile.getByLabel("Source of funds").selectOption("salary");
  if (!save) return;
  await profile.getByRole("button", { name: "Save profile" }).click();
  await expect(page.getByText("Profile saved.")).toBeVisible();
}

/** Proof of identity and of address uploaded (multipart). */
export async function uploadDocuments(page: Page): Promise<void> {
  const identity = page.locator("form", { has: page.getByRole("heading", { exact: true, name: "Proof of identity" }) });
  await identity.getByLabel("File").setInputFiles({ name: "passport.png", mimeType: "image/png", buffer: PNG });
  await identity.getByLabel("Expires on").fill(`${new Date().getFullYear() + 5}-01-01`);
  await identity.getByRole("button", { name: "Upload" }).click();
  await expect(identity.getByText("Uploaded passport.png.")).toBeVisible();
  const address = page.locator("form", { has: page.getByRole("heading", { exact: true, name: "Proof of address" }) });
  await address.getByLabel("File").setInputFiles({ name: "bill.pdf", mimeType: "application/pdf", buffer: PDF });
  await address.getByRole("button", { name: "Upload" }).click();
  await expect(address.getByText("Uploaded bill.pdf.")).toBeVisible();
}

/** The appropriateness questionnaire answered (an experienced trader) and sent. */
export async function answerQuestionnaire(page: Page): Promise<void> {
  for (const [question, option] of [["experience", "often"], ["stop_out", "closed"], ["leverage", "thirty"], ["loss_capacity", "yes"]]) {
    await page.locator(`input[name="q-${question}"][value="${option}"]`).check();
  }
  await page.getByRole("button", { name: "Send answers" }).click();
  await expect(page.getByText(/Your risk category/)).toBeVisible();
}

/**
 * A new client's whole onboarding in its own browser context: registers, confirms the e-mail, enrols
 * 2FA, completes the profile, uploads both documents, answers the questionnaire and submits the
 * application (then under review). Returns the context's page (signed in) and the authenticator secret.
 */
export async function onboardClient(browser: Browser, email: string, p: Profile & { name: string }): Promise<{ page: Page; secret: string }> {
  const page = await (await browser.newContext()).newPage();
  await register(page, email, p.name);
  await confirmEmail(page, email);
  const secret = await enrolTotp(page);
  await page.getByRole("link", { name: "Application" }).click();
  await fillProfile(page, p);
  await uploadDocuments(page);
  await answerQuestionnaire(page);
  await page.getByRole("button", { name: "Submit for review" }).click();
  await expect(page.getByTestId("application-status")).toHaveText("Under review");
  return { page, secret };
}

/** The demo client signed in with 2FA (enrolled here when no earlier spec did); returns its secret. */
export async function clientSignIn(page: Page): Promise<string> {
  await signIn(page, DEMO, demoPassword(DEMO));
  let secret = knownSecret(DEMO);
  if (secret) {
    await page.getByLabel("Authenticator code").fill(await freshCode(secret));
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByRole("heading", { exact: true, name: "Dashboard" })).toBeVisible();
    return secret;
  }
  await expect(page.getByRole("heading", { exact: true, name: "Dashboard" })).toBeVisible();
  secret = await enrolTotp(page);
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
