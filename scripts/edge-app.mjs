#!/usr/bin/env node
// npm run edge-app: Convergence and the example edge app (examples/edge-app) together on this machine, offline.
// Convergence as `npm start` runs it, the app by `wrangler dev` in a second process, bound to it by the service
// binding CONVERGENCE (wrangler's dev registry connects the two). Creates the app's system when missing, gives the
// app a runtime key of that system only, and prints both URLs.
//   node scripts/edge-app.mjs [--port 8787] [--app-port 8788] [--persist-to DIR] [--app-var NAME:VALUE ...]
// --app-var overrides the app's [vars], like SELECT_TIMEOUT_MS:1000.
// With --persist-to, the app's key is kept in DIR (else in examples/edge-app/.dev.vars, where wrangler dev looks).
// The functions exported here are what tests and bench/runtime.ts start the app with.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { freePort } from "./free-port.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const wrangler = join(root, "node_modules/wrangler/bin/wrangler.js");
export const APP_DIR = join(root, "examples/edge-app");
/** The system the app tunes: its wrangler.toml's SYSTEM. */
export const SYSTEM = "edge-demo";
const KEY_LINE = /^\s*CONVERGENCE_API_KEY\s*=\s*"?([^"#\s,]+)/m;

async function call(url, key, method, path, body) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Create the app's system (examples/edge-app/system.json) on Convergence at `url` unless it exists: true when created. */
export async function ensureSystem(url, adminKey) {
  const found = await call(url, adminKey, "GET", `/v1/systems/${SYSTEM}`);
  if (found.status === 200) return false;
  if (found.status !== 404) throw new Error(`reading system ${SYSTEM}: HTTP ${found.status} ${JSON.stringify(found.body)}`);
  const config = JSON.parse(readFileSync(join(APP_DIR, "system.json"), "utf8"));
  const made = await call(url, adminKey, "PUT", `/v1/systems/${SYSTEM}`, config);
  if (made.status !== 200) throw new Error(`creating system ${SYSTEM}: HTTP ${made.status} ${JSON.stringify(made.body)}`);
  return true;
}

/** A runtime key of the app's system only: `current` while Convergence still takes it, else a new one. */
export async function runtimeKey(url, adminKey, current) {
  if (current) {
    const ping = await call(url, current, "GET", "/v1/ping");
    if (ping.status === 200) return current;
  }
  const made = await call(url, adminKey, "POST", "/v1/keys", { scope: "runtime", systems: [SYSTEM], name: "examples/edge-app" });
  if (made.status !== 201 && made.status !== 200)
    throw new Error(`creating the app's key: HTTP ${made.status} ${JSON.stringify(made.body)}`);
  return made.body.key;
}

/** The key of a vars file (KEY=value lines), or null. */
export const keyInFile = (file) => (existsSync(file) ? (readFileSync(file, "utf8").match(KEY_LINE)?.[1] ?? null) : null);

/** Write `key` as the app's CONVERGENCE_API_KEY in `file`, readable by this user only. */
export function writeKeyFile(file, key) {
  writeFileSync(file, `# The edge app's runtime key (scripts/edge-app.mjs); never commit it.\nCONVERGENCE_API_KEY=${key}\n`, {
    mode: 0o600,
  });
  // The mode above applies to a new file only: one that was there keeps its own.
  chmodSync(file, 0o600);
}

/** The last 64 KiB of what a child printed: enough to read its messages, bounded however long it runs. */
const OUTPUT_KEPT = 64 * 1024;
const keepTail = (text) => (text.length > OUTPUT_KEPT ? text.slice(-OUTPUT_KEPT) : text);

/**
 * Start the app with `wrangler dev` on 127.0.0.1:`port`, once GET /healthz answers. `envFile`: its secrets (default:
 * examples/edge-app/.dev.vars); `vars`: NAME:VALUE pairs over wrangler.toml's [vars]; `env`: the process's
 * environment (WRANGLER_REGISTRY_PATH picks the dev registry, and so which local Convergence the binding reaches).
 */
export async function startEdgeApp({ port, envFile, vars = [], env = process.env }) {
  const inspectorPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      wrangler,
      "dev",
      "-c",
      join(APP_DIR, "wrangler.toml"),
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--inspector-port",
      String(inspectorPort),
      "--show-interactive-dev-session=false",
      "--log-level",
      "warn",
      ...(envFile ? ["--env-file", envFile] : []),
      ...vars.flatMap((v) => ["--var", v]),
    ],
    { cwd: root, env: { ...env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => (output = keepTail(output + chunk)));
  child.stderr.setEncoding("utf8").on("data", (chunk) => (output = keepTail(output + chunk)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the edge app did not start:\n${output}`);
    if (Date.now() - started > 60_000) {
      await stop();
      throw new Error(`the edge app did not answer within 60 s:\n${output}`);
    }
    try {
      if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) })).ok) break;
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return { url, child, output: () => output, stop };
}

/** Start `npm start` (scripts/start.mjs) and wait until it says where it runs: its URL and admin key. */
function startConvergence(port, persistTo) {
  const child = spawn(
    process.execPath,
    [join(root, "scripts/start.mjs"), "--port", String(port), ...(persistTo ? ["--persist-to", persistTo] : [])],
    { cwd: root, stdio: ["ignore", "pipe", "inherit"] },
  );
  return new Promise((resolve, reject) => {
    let output = "";
    let started = false;
    const deadline = setTimeout(() => {
      child.kill("SIGTERM");
      reject(new Error("Convergence did not start within 90 s"));
    }, 90_000);
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      process.stdout.write(chunk);
      if (started) return;
      output = keepTail(output + chunk);
      const url = output.match(/Convergence is running at (\S+)/)?.[1];
      const key = output.match(/API key \(from \.dev\.vars\): (\S+)/)?.[1];
      if (url && key) {
        started = true;
        clearTimeout(deadline);
        resolve({ child, url, key });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(deadline);
      reject(new Error(`Convergence exited (${code}) before it started`));
    });
  });
}

/** Whether dist/ is missing or older than a file of src/. */
function packageIsStale() {
  const built = join(root, "dist/src/index.js");
  if (!existsSync(built)) return true;
  const builtAt = statSync(built).mtimeMs;
  return readdirSync(join(root, "src"), { recursive: true }).some((file) => statSync(join(root, "src", String(file))).mtimeMs > builtAt);
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: "string", default: "8787" },
      "app-port": { type: "string", default: "8788" },
      "persist-to": { type: "string" },
      "app-var": { type: "string", multiple: true, default: [] },
    },
  });
  // The app imports the package by name, which resolves to the built dist/: build it when src/ changed since.
  if (packageIsStale()) {
    const build = spawn(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"], {
      cwd: root,
      stdio: "inherit",
    });
    if ((await new Promise((resolve) => build.once("exit", resolve))) !== 0) {
      process.stderr.write("could not build the package (npm run build)\n");
      process.exit(1);
    }
  }
  const convergence = await startConvergence(values.port, values["persist-to"]).catch((error) => {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  });
  const children = [convergence.child];
  const stopAll = () => {
    for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
  };
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, stopAll);
  try {
    const created = await ensureSystem(convergence.url, convergence.key);
    const keyFile = values["persist-to"] ? join(values["persist-to"], "edge-app.dev.vars") : join(APP_DIR, ".dev.vars");
    const current = keyInFile(keyFile);
    const key = await runtimeKey(convergence.url, convergence.key, current);
    if (key !== current) writeKeyFile(keyFile, key);
    const app = await startEdgeApp({
      port: values["app-port"],
      vars: values["app-var"],
      ...(values["persist-to"] ? { envFile: keyFile } : {}),
    });
    children.push(app.child);
    app.child.stdout.pipe(process.stdout);
    app.child.stderr.pipe(process.stderr);
    process.stdout.write(
      `\nConvergence: ${convergence.url} (dashboard: ${convergence.url}/)\n` +
        `Edge app:    ${app.url} (system ${SYSTEM}${created ? ", just created" : ""}; Convergence reached by the service binding CONVERGENCE)\n\n` +
        `Try it:\n  curl -s -H 'x-user-id: alice' ${app.url}/\n` +
        `  curl -s -X POST -H 'x-user-id: alice' -H 'content-type: application/json' -d '{"decision_id": "<decision_id>", "reward": 1}' ${app.url}/feedback\n`,
    );
    // Either one ending (by itself, or by a signal) ends both; one that failed makes this command fail.
    for (const child of children)
      child.once("exit", (code) => {
        if (code) process.exitCode = code;
        stopAll();
      });
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    stopAll();
    process.exitCode = 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
