// After the run (globalTeardown): the README's screenshots table from what the run took (scripts/screenshots-readme.mjs).
import { updateScreenshots } from "../scripts/screenshots-readme.mjs";

export default async function screenshotsTeardown(): Promise<void> {
  const result = updateScreenshots(process.env.FOREXCRM_E2E_SCREENSHOT_LOG);
  console.log(`screenshots: ${result.entries} in README.md (${result.taken} taken this run)${result.readmeChanged ? ", README rewritten" : ""}`);
}
