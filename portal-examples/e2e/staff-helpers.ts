// What the back office's browser tests share: staff members created with `forexcrm create-staff` (the
// documented way to add staff before any administrator can approve another), their first sign-in with
// the mandatory authenticator enrolment, a later sign-in with the code as a second step, and the
// step-up prompt answered when the API asks for a fresh code; a test's setup through the API as a
// signed-in staff member, with the back office's own trusted documents.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { expect, type Locator, type Page } from "@playwright/test";
import { expectAccessible, portalUrl } from "./fixtures";
import { freshCode } from "./totp";

export const STAFF_PASSWORD = "staff horse battery staple 42";

export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}@example.com`;
}

/** A staff member with these roles, through the CLI against the server under test. */
export function createStaff(email: string, name: string, roles: string[]): void {
  const dataDir = process.env.FOREXCRM_E2E_DATA_DIR!;
  const bin = process.env.FOREXCRM_BIN ?? resolve(import.meta.dirname, "..", "..", ".venv/bin/forexcrm");
  expect(existsSync(bin)).toBe(true);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== "DATABASE_URL" && k !== "REDIS_URL" && !k.startsWith("FOREXCRM_")));
  const result = spawnSync(bin, ["create-staff", "--email", email, "--password", STAFF_PASSWORD, "--display-name", name, ...roles.flatMap((r) => ["--role", r])],
    { env: { ...env, FOREXCRM_DATA_DIR: dataDir, FOREXCRM_LOG_LEVEL: "WARNING" }, cwd: dataDir, encoding: "utf8" });
  expect(result.status, `${result.stdout}\n${result.stderr}`).toBe(0);
}

/** Signs a new staff member in and enrols their authenticator (mandatory); returns the secret. */
export async function firstStaffSignIn(page: Page, email: string): Promise<string> {
  await page.goto(portalUrl("staff"));
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(STAFF_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { exact: true, name: "Two-factor authentication" })).toBeVisible();
  // No screen before 2FA: the navigation offers nothing.
  await expect(page.getByRole("navigation", { name: "Main" }).getByRole("link")).toHaveCount(0);
  await expectAccessible(page);
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  const secret = (await page.getByTestId("totp-secret").textContent())!.trim();
  await page.getByLabel("Code from the app").fill("000000");
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByLabel("Code from the app")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("Code from the app").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  await expect(page.getByTestId("recovery-codes").getByRole("listitem")).not.toHaveCount(0);
  await page.getByRole("button", { name: "Continue to the back office" }).click();
  return secret;
}

/** Signs a staff member in again with the authenticator code as the second step. */
export async function staffSignIn(page: Page, email: string, secret: string): Promise<void> {
  await page.goto(portalUrl("staff"));
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Password").fill(STAFF_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByLabel("Authenticator code").fill(await freshCode(secret));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible();
}

/** Waits for `outcome`, answering the step-up prompt with a fresh code if the API asks for one first. */
export async function withStepUp(page: Page, secret: string, outcome: Locator): Promise<void> {
  const dialog = page.getByRole("dialog", { name: "Confirm with your authenticator" });
  await expect(outcome.or(dialog).first()).toBeVisible();
  if (await dialog.isVisible()) {
    await dialog.getByLabel("Authenticator code").fill(await freshCode(secret));
    await dialog.getByRole("button", { name: "Confirm" }).click();
  }
  await expect(outcome).toBeVisible();
}

/**
 * One of the back office's operations sent as the staff member signed in on `page` (its cookies), the
 * way the portal sends it: by the hash of its trusted document (the build's manifest), with the
 * preflight header. Returns `data`; a GraphQL error fails the test.
 */
export async function staffApi(page: Page, operation: string, variables: Record<string, unknown>): Promise<any> {
  const manifest: Record<string, string> = JSON.parse(readFileSync(resolve(import.meta.dirname, "..", "staff", "dist", "trusted-documents.json"), "utf8"));
  const found = Object.entries(manifest).find(([, text]) => new RegExp(`\\b(query|mutation) ${operation}\\b`).test(text));
  expect(found, `${operation} is one of the back office's trusted documents`).toBeTruthy();
  const response = await page.request.post(`${portalUrl("staff")}/graphql`, {
    headers: { accept: "application/graphql-response+json, application/json", "content-type": "application/json", "X-Requested-With": "fetch" },
    data: { operationName: operation, variables, extensions: { persistedQuery: { version: 1, sha256Hash: found![0].replace(/^sha256:/, "") } } },
  });
  const body = await response.json();
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data;
}
