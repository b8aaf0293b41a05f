#!/usr/bin/env node
// npm start: the Convergence service on this machine, offline. Applies the D1 migrations, runs `wrangler dev` on
// 127.0.0.1, and prints the URL and the dev key (from .dev.vars, created from .dev.vars.example when missing).
//   node scripts/start.mjs [--port 8787] [--persist-to DIR] [--inspector-port PORT] [--var NAME:VALUE ...]
// The inspector (for a debugger) listens on a free port unless --inspector-port names one: a second service, or a
// debugger already on 9229, must not stop this one from starting.
// The cron trigger does not fire by itself under wrangler dev: GET /__scheduled fires it (see --test-scheduled below).
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "./free-port.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules/wrangler/bin/wrangler.js");
const { values } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT ?? "8787" },
    "persist-to": { type: "string" },
    "inspector-port": { type: "string" },
    // Worker vars for this session, like RUN_WATCHDOG_SECONDS:5 (passed to wrangler dev as --var).
    var: { type: "string", multiple: true, default: [] },
  },
});
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
const persist = values["persist-to"] ? ["--persist-to", values["persist-to"]] : [];

// The static assets (scripts/build-assets.mjs): uPlot for the dashboard, in case `npm install` ran before it was
// vendored, and the guides rendered again from docs/*.md, so the service serves the pages as they are now.
spawnSync(process.execPath, [join(root, "scripts/build-assets.mjs")], { cwd: root, stdio: "inherit" });

const devVars = join(root, ".dev.vars");
if (!existsSync(devVars)) copyFileSync(join(root, ".dev.vars.example"), devVars);
const key = readFileSync(devVars, "utf8").match(/^\s*CONVERGENCE_API_KEY\s*=\s*"?([^"#\s,]+)/m)?.[1];

const migrated = spawnSync(process.execPath, [wrangler, "d1", "migrations", "apply", "DB", "--local", ...persist], {
  cwd: root,
  env,
  stdio: ["ignore", "pipe", "pipe"],
  encoding: "utf8",
});
if (migrated.status !== 0) {
  process.stderr.write(`could not apply the D1 migrations:\n${migrated.stdout}${migrated.stderr}`);
  process.exit(1);
}

const inspectorPort = values["inspector-port"] ?? String(await freePort());

const url = `http://127.0.0.1:${values.port}`;
const dev = spawn(
  process.execPath,
  [
    wrangler,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    values.port,
    "--inspector-port",
    inspectorPort,
    "--show-interactive-dev-session=false",
    "--log-level",
    "warn",
    // Cron: `GET /__scheduled` runs the Worker's scheduled() (wrangler adds this route only to `wrangler dev`'s bundle,
    // never to a deployed one). Miniflare's own /cdn-cgi/handler/scheduled answers 500 under the pinned wrangler 4.86
    // for any Worker with [assets]: it hands the ScheduledController to the assets proxy by RPC, which cannot
    // serialize it (DataCloneError; workers-sdk#9882, fixed in miniflare 4.20260609.0, which needs Node 22).
    "--test-scheduled",
    ...persist,
    ...values.var.flatMap((v) => ["--var", v]),
  ],
  { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill("SIGTERM"));
dev.on("exit", (code) => process.exit(code ?? 0));

// Announce the service once it answers.
const started = Date.now();
while (Date.now() - started < 60_000) {
  try {
    const response = await fetch(`${url}/healthz`);
    if (response.ok) {
      process.stdout.write(
        `Convergence is running at ${url}\nAPI key (from .dev.vars): ${key ?? "(none: set CONVERGENCE_API_KEY in .dev.vars)"}\n` +
          `Cron trigger (not fired by itself locally): curl "${url}/__scheduled"\n`,
      );
      break;
    }
  } catch {}
  await new Promise((resolve) => setTimeout(resolve, 200));
}
