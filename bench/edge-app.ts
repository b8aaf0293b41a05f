/**
 * The edge app (examples/edge-app) calling select, for `npm run bench:runtime`: GET / of the app bound to Convergence
 * by its service binding, beside the same app calling Convergence's public route over HTTP (CONVERGENCE_URL), and
 * beside Node calling select directly. Sequential requests from one client, in alternating rounds so a change in the
 * machine's load hits each; medians per round and the ratio binding / HTTP.
 * Then the fallback: the app's answer time with Convergence stopped, and with a stand-in that answers after the
 * app's timeout, against the promise "within the timeout plus 50 ms".
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ensureSystem, runtimeKey, SYSTEM, startEdgeApp, writeKeyFile } from "../scripts/edge-app.mjs";
import { freePort } from "../scripts/free-port.mjs";
import { median } from "../src/optimize/stats.js";
import { startLateServer } from "../test/helpers/server.js";
import { startLocalService } from "./service.js";
import { ratioLine } from "./table.js";

const ROUNDS = 3;
const REQUESTS = 300;
const USERS = 50;
const FALLBACK_REQUESTS = 100;
const TIMEOUT_MS = 250;

/**
 * Milliseconds each of `count` sequential requests took, request n made by `send(n)`. `fallback`: whether the app's
 * answers must be fallbacks (a run that measured fallbacks as selects, or the reverse, measured nothing).
 */
async function latencies(count: number, send: (n: number) => Promise<Response>, fallback?: boolean): Promise<number[]> {
  const took: number[] = [];
  for (let n = 0; n < count; n++) {
    const started = performance.now();
    const response = await send(n);
    const text = await response.text();
    took.push(performance.now() - started);
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.slice(0, 200)}`);
    if (fallback !== undefined && (JSON.parse(text) as { fallback: boolean }).fallback !== fallback)
      throw new Error(`expected ${fallback ? "a fallback" : "an arm"}, got ${text.slice(0, 200)}`);
  }
  return took;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] as number;
const ms = (x: number) => x.toFixed(2).padStart(7);

export async function edgeAppLatency(stateDir: string): Promise<void> {
  const registry = mkdtempSync(join(stateDir, "convergence-registry-"));
  const env = { ...process.env, WRANGLER_REGISTRY_PATH: registry };
  const service = await startLocalService({ stateDir, env: { WRANGLER_REGISTRY_PATH: registry } });
  const stops: (() => Promise<void>)[] = [() => service.stop()];
  try {
    await ensureSystem(service.url, service.key);
    const envFile = join(registry, "edge-app.dev.vars");
    writeKeyFile(envFile, await runtimeKey(service.url, service.key, null));
    // Timeouts far above any select here: these rounds measure selects, and a fallback among them stops the bench.
    const patient = `SELECT_TIMEOUT_MS:${40 * TIMEOUT_MS}`;
    const bound = await startEdgeApp({ port: await freePort(), envFile, env, vars: [patient] });
    stops.push(bound.stop);
    const direct = await startEdgeApp({ port: await freePort(), envFile, env, vars: [patient, `CONVERGENCE_URL:${service.url}`] });
    stops.push(direct.stop);
    const page = (url: string) => (n: number) => fetch(`${url}/`, { headers: { "x-user-id": `edge_${n % USERS}` } });
    const select = (n: number) =>
      fetch(`${service.url}/v1/systems/${SYSTEM}/select`, {
        method: "POST",
        headers: { authorization: `Bearer ${service.key}`, "content-type": "application/json" },
        body: JSON.stringify({ user_id: `edge_${n % USERS}` }),
      });
    // Every user's object once through each path, so the rounds measure steady state.
    await latencies(USERS, page(bound.url));
    await latencies(USERS, page(direct.url));

    const rounds: { binding: number[]; http: number[]; node: number[] }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      rounds.push({
        binding: await latencies(REQUESTS, page(bound.url), false),
        http: await latencies(REQUESTS, page(direct.url), false),
        node: await latencies(REQUESTS, select),
      });
    }
    console.log(`\nThe edge app's GET / (select inside it), ${REQUESTS} sequential requests per round, ${USERS} users; ms\n`);
    console.log("round  path                                          p50      p99");
    rounds.forEach((r, i) => {
      for (const [label, xs] of [
        ["app -> Convergence, service binding", r.binding],
        ["app -> Convergence, public URL over HTTP", r.http],
        ["Node -> POST select directly (no app)", r.node],
      ] as const)
        console.log(`${String(i + 1).padEnd(6)} ${label.padEnd(42)} ${ms(median(xs))}  ${ms(quantile(xs, 0.99))}`);
    });
    const ratios = rounds.map((r) => median(r.binding) / median(r.http));
    console.log(ratioLine("binding / HTTP median latency", ratios));

    // Convergence stopped: the binding has no Worker behind it.
    await service.stop();
    stops.shift();
    const stopped = await latencies(FALLBACK_REQUESTS, page(bound.url), true);
    // A stand-in that answers after the app's timeout.
    const slow = await startLateServer(10 * TIMEOUT_MS);
    stops.push(slow.close);
    const late = await startEdgeApp({
      port: await freePort(),
      envFile,
      env,
      vars: [`CONVERGENCE_URL:${slow.url}`, `SELECT_TIMEOUT_MS:${TIMEOUT_MS}`],
    });
    stops.push(late.stop);
    const timedOut = await latencies(FALLBACK_REQUESTS, page(late.url), true);
    const bound50 = TIMEOUT_MS + 50;
    console.log(
      `\nFallback answers (timeout ${TIMEOUT_MS} ms; promised within ${bound50} ms), ${FALLBACK_REQUESTS} sequential requests; ms\n`,
    );
    console.log("case                                   p50      p99      max  within");
    for (const [label, xs] of [
      ["Convergence stopped", stopped],
      [`Convergence answering after ${(10 * TIMEOUT_MS) / 1000} s`, timedOut],
    ] as const)
      console.log(
        `${label.padEnd(36)} ${ms(median(xs))}  ${ms(quantile(xs, 0.99))}  ${ms(Math.max(...xs))}  ${xs.filter((x) => x <= bound50).length}/${xs.length}`,
      );
  } finally {
    for (const stop of stops.reverse()) await stop();
    rmSync(registry, { recursive: true, force: true });
  }
}
