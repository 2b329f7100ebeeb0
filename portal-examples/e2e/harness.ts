// Starts what the browser tests run against: a real `forexcrm run` on its embedded defaults (its own
// PostgreSQL, Redis, simulator and providers' stand-ins under a fresh data directory), an SMTP sink
// the worker mails to, each portal's manifest registered as trusted documents (and the API told to run
// nothing else for anonymous, client, IB and staff callers), and each built portal under `vite preview`
// with /graphql proxied to the API. Tests read the addresses from process.env (set here, inherited by
// the workers).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { SmtpSink } from "./smtp-sink";

export const ROOT = resolve(import.meta.dirname, "..");
const REPO = resolve(ROOT, "..");
/** How long a step-up lasts on the server under test (seconds). */
export const STEP_UP_TTL_S = 15;
/** How long an exchange quote stands on the server under test (seconds): short, so a test sees one expire
 * without a long wait, yet long enough to accept a fresh one at once. */
export const QUOTE_TTL_S = 5;
/** The portals under test: the apps that are built (dist/) take part. */
export const APPS = ["client", "ib", "staff"] as const;

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const server = createServer();
    server.once("error", () => res(false));
    server.listen(port, "127.0.0.1", () => server.close(() => res(true)));
  });
}

/** A run of `count` consecutive free ports. */
async function freePorts(count: number): Promise<number> {
  for (;;) {
    // Below the kernel's ephemeral range (32768+), where outgoing connections would take ports meanwhile.
    const base = 11_000 + Math.floor(Math.random() * 20_000);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
}

async function waitFor(url: string, what: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`${what} exited early (${proc.exitCode})`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} did not become ready at ${url}`);
}

function forexcrm(): string {
  const bin = process.env.FOREXCRM_BIN ?? resolve(REPO, ".venv/bin/forexcrm");
  if (!existsSync(bin)) throw new Error(`${bin} not found: install the API first (python3 -m venv .venv && .venv/bin/pip install -e '.[dev]')`);
  return bin;
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const apps = APPS.filter((app) => existsSync(resolve(ROOT, app, "dist/index.html")));
  if (apps.length === 0) throw new Error("no portal is built: run `npm run build` first");
  const base = await freePorts(40);
  const ports = { api: base, simulator: base + 1, smtp: base + 2, mailHttp: base + 3, standIns: base + 10, portal: base + 30 };
  const appPort = Object.fromEntries(apps.map((app, i) => [app, ports.portal + i])) as Record<string, number>;
  const origins = apps.map((app) => `http://127.0.0.1:${appPort[app]}`);
  const dataDir = resolve(ROOT, ".tmp", `data-${process.pid}`);
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });

  const sink = new SmtpSink();
  await sink.start(ports.smtp, ports.mailHttp);

  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => k !== "DATABASE_URL" && k !== "REDIS_URL" && !k.startsWith("FOREXCRM_")),
  );
  Object.assign(env, {
    FOREXCRM_DATA_DIR: dataDir,
    FOREXCRM_PORT: String(ports.api),
    FOREXCRM_SIMULATOR_PORT: String(ports.simulator),
    FOREXCRM_STAND_IN_PORT: String(ports.standIns),
    FOREXCRM_SMTP_URL: `smtp://127.0.0.1:${ports.smtp}`,
    FOREXCRM_PORTAL_URL: apps.includes("client") ? `http://127.0.0.1:${appPort.client}` : "",
    // IB referral links (`/r/<code>`) land on the client portal's registration page.
    ...(apps.includes("client") ? { FOREXCRM_IB_REFERRAL_REGISTRATION_URL: `http://127.0.0.1:${appPort.client}/register` } : {}),
    FOREXCRM_ALLOWED_WS_ORIGINS: JSON.stringify(origins),
    FOREXCRM_TRUSTED_DOCUMENTS_REQUIRED: JSON.stringify(["anonymous", "client", "ib", "staff"]),
    FOREXCRM_LOG_LEVEL: "WARNING",
    FOREXCRM_HEARTBEAT_INTERVAL_S: "1",
    // A step-up (a TOTP code at sign-in or in the prompt) lasts this long: short, so a test sees the prompt.
    FOREXCRM_STEP_UP_TTL_S: String(STEP_UP_TTL_S),
    FOREXCRM_FX_QUOTE_TTL_S: String(QUOTE_TTL_S),
    // Outbound webhooks may reach a receiver on loopback (the staff-finance spec's; never in production).
    FOREXCRM_WEBHOOK_ALLOW_PRIVATE_NETWORKS: "true",
  });
  const children: ChildProcess[] = [];
  const api = spawn(forexcrm(), ["run"], { env, cwd: dataDir, stdio: ["ignore", "ignore", "inherit"], detached: true });
  children.push(api);
  const apiUrl = `http://127.0.0.1:${ports.api}`;

  const teardown = async () => {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
      const exited = new Promise((r) => child.once("exit", r));
      try {
        process.kill(-child.pid, "SIGINT"); // its process group: `forexcrm run` stops its own children
      } catch {
        /* gone */
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }
    await sink.stop();
    if (!process.env.KEEP_E2E_DATA) rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    await waitFor(`${apiUrl}/ready`, "forexcrm run", api, 240_000);
    for (const app of apps) {
      const added = spawnSync(forexcrm(), ["documents", "add", resolve(ROOT, app, "dist/trusted-documents.json"), "--client", `${app}-portal`],
        { env, cwd: dataDir, encoding: "utf8" });
      if (added.status !== 0) throw new Error(`registering ${app}'s manifest failed:\n${added.stdout}\n${added.stderr}`);
    }
    for (const app of apps) {
      const vite = resolve(ROOT, "node_modules/.bin/vite");
      const preview = spawn(vite, ["preview", "--host", "127.0.0.1", "--port", String(appPort[app]), "--strictPort"], {
        cwd: resolve(ROOT, app), env: { ...process.env, FOREXCRM_API_URL: apiUrl }, stdio: "ignore", detached: true,
      });
      children.push(preview);
      await waitFor(`http://127.0.0.1:${appPort[app]}/`, `${app} preview`, preview, 30_000);
      process.env[`PORTAL_${app.toUpperCase()}_URL`] = `http://127.0.0.1:${appPort[app]}`;
    }
  } catch (error) {
    await teardown();
    throw error;
  }
  process.env.FOREXCRM_API_URL = apiUrl;
  process.env.FOREXCRM_E2E_DATA_DIR = dataDir;
  // The screenshots this run takes (e2e/fixtures.ts `screenshot`), read at its end by e2e/screenshots-teardown.ts.
  const screenshotLog = resolve(ROOT, ".tmp", `screenshots-${process.pid}.jsonl`);
  rmSync(screenshotLog, { force: true });
  process.env.FOREXCRM_E2E_SCREENSHOT_LOG = screenshotLog;
  process.env.MAIL_SINK_URL = `http://127.0.0.1:${ports.mailHttp}`;
  process.env.SIMULATOR_URL = `http://127.0.0.1:${ports.simulator}`;
  process.env.STRIPE_URL = `http://127.0.0.1:${ports.standIns}`; // the Stripe stand-in (offset 0 in sandbox/launcher.py)
  process.env.COINSPAID_URL = `http://127.0.0.1:${ports.standIns + 2}`; // the CoinsPaid stand-in, the chain's too (offset 2)
  return teardown;
}
