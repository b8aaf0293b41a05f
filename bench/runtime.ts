/**
 * npm run bench:runtime
 *
 * Starts the local service (wrangler dev, loopback only) and drives it with autocannon: requests/s and p50/p99
 * latency for select and for an authenticated no-op route, alternating in rounds so a change in the machine's
 * load hits both, with the ratio select / no-op per round and its median; then update. Select runs twice per
 * round: on a context-free system and on one with selection_policy: contextual (3 context features, its model
 * fitted by the cron from 1,000 rewarded decisions first), both sent the same contexts, with the ratio
 * contextual / context-free per round and its median. Then in-process selects per second (10 arms,
 * MemoryRuntimeStorage). Last, the edge app (bench/edge-app.ts): select's latency through a service binding beside
 * the public route over HTTP, and the app's fallback answers. RUNTIME_ONLY=service|in-process|edge runs one part.
 *
 * It runs twice: with the local service's state (SQLite files of D1 and the Durable Objects) in memory (/dev/shm),
 * which measures the service's own work, and on disk, where every decision's commit also pays for this machine's
 * disk. In production that storage is Cloudflare's, so neither disk figure says anything about it.
 * Figures from a local workerd on a shared machine: compare them with each other, not with production.
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import autocannon from "autocannon";
import { MemoryRuntimeStorage } from "../src/runtime/memory-storage.js";
import { configureRuntime, runtimeSelect } from "../src/sdk/runtime.js";
import { edgeAppLatency } from "./edge-app.js";
import { startLocalService } from "./service.js";
import { ratioLine } from "./table.js";

const CONNECTIONS = 10;
const DURATION_S = 5;
const ROUNDS = 3;
const USERS = 100;
const ARMS = Array.from({ length: 10 }, (_, i) => ({ arm_id: `arm_${i}`, params: { threshold: i / 10, limit: 5 + i } }));
const PAGES = ["search", "chat", "home"];
const CONTEXTUAL = {
  default_arms: ARMS,
  context_features: {
    page: { type: "categorical", values: PAGES },
    device: { type: "categorical" },
    query_length: { type: "numeric", min: 0, max: 200 },
  },
  selection_policy: "contextual",
};
/** The context of request n of a user: pages and lengths vary per request, the device per user. */
const contextOf = (user: number, n: number) => ({
  page: PAGES[n % 3],
  device: user % 3 === 0 ? "desktop" : "mobile",
  query_length: n % 200,
});

interface Row {
  route: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
}

async function cannon(route: string, options: autocannon.Options): Promise<Row> {
  const result = await autocannon({ connections: CONNECTIONS, ...(options.amount ? {} : { duration: DURATION_S }), ...options });
  return {
    route,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors,
    non2xx: result.non2xx,
  };
}

function line(round: string, r: Row): void {
  const cells = [
    r.rps.toFixed(0).padStart(6),
    String(r.p50).padStart(6),
    String(r.p99).padStart(6),
    String(r.errors).padStart(6),
    String(r.non2xx).padStart(7),
  ];
  console.log(`${round.padEnd(6)} ${r.route.padEnd(24)} ${cells.join("  ")}`);
}

/**
 * Give the contextual system a model: 1,000 rewarded decisions (arm i rewarded more on page i % 3), the log flushed
 * to D1, then the cron fired (`npm start` serves /__scheduled) until the system's summary shows a fitted model.
 */
async function fitContextModel(url: string, headers: Record<string, string>): Promise<void> {
  const post = (path: string, body: unknown) => fetch(`${url}${path}`, { method: "POST", headers, body: JSON.stringify(body) });
  for (let u = 0; u < USERS; u++) {
    await Promise.all(
      Array.from({ length: 10 }, async (_, n) => {
        const context = contextOf(u, n);
        const s = (await (await post("/v1/systems/bench_ctx/select", { user_id: `user_${u}`, context })).json()) as {
          decision_id: string;
          arm_id: string;
        };
        const arm = Number(s.arm_id.slice(4));
        const reward = arm % 3 === PAGES.indexOf(context.page as string) ? 1 : (u + n) % 4 === 0 ? 1 : 0;
        await post("/v1/systems/bench_ctx/update", { user_id: `user_${u}`, decision_id: s.decision_id, reward });
      }),
    );
  }
  const started = Date.now();
  for (;;) {
    if (Date.now() - started > 120_000) throw new Error("the context model was not fitted within 2 minutes");
    const summary = (await (await fetch(`${url}/v1/systems/bench_ctx/summary`, { headers })).json()) as {
      context: { rewarded: number; model_computed_at: string | null } | null;
    };
    if (summary.context?.model_computed_at) return;
    // The log reaches D1 within about 10 s; the cron then fits the model from it.
    if ((summary.context?.rewarded ?? 0) >= USERS * 10) await fetch(`${url}/__scheduled`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function pass(stateDir: string, label: string): Promise<void> {
  const service = await startLocalService({ stateDir });
  const headers = { authorization: `Bearer ${service.key}`, "content-type": "application/json" };
  try {
    const put = await fetch(`${service.url}/v1/systems/bench`, { method: "PUT", headers, body: JSON.stringify({ default_arms: ARMS }) });
    if (!put.ok) throw new Error(`configure: ${put.status} ${await put.text()}`);
    const putContextual = await fetch(`${service.url}/v1/systems/bench_ctx`, { method: "PUT", headers, body: JSON.stringify(CONTEXTUAL) });
    if (!putContextual.ok) throw new Error(`configure: ${putContextual.status} ${await putContextual.text()}`);
    await fitContextModel(service.url, headers);
    // Warm every user's object once, so the runs measure steady state, not first use.
    await Promise.all(
      Array.from({ length: USERS }, (_, u) =>
        fetch(`${service.url}/v1/systems/bench/select`, { method: "POST", headers, body: JSON.stringify({ user_id: `user_${u}` }) }).then(
          (r) => r.text(),
        ),
      ),
    );

    let n = 0;
    const decisions: { user: string; id: string }[] = [];
    const rounds: { noop: Row; select: Row; contextual: Row }[] = [];
    const selectOn = (system: string, route: string) =>
      cannon(route, {
        url: `${service.url}/v1/systems/${system}/select`,
        method: "POST",
        headers,
        requests: [
          {
            setupRequest: (request, context) => {
              const u = n++ % USERS;
              const user = `user_${u}`;
              (context as { user?: string }).user = user;
              return { ...request, body: JSON.stringify({ user_id: user, context: contextOf(u, Math.floor(n / USERS)) }) };
            },
            onResponse: (status, body, context) => {
              const user = (context as { user?: string }).user as string;
              if (status === 200 && system === "bench")
                decisions.push({ id: (JSON.parse(body) as { decision_id: string }).decision_id, user });
            },
          },
        ],
      });
    for (let round = 0; round < ROUNDS; round++) {
      const noop = await cannon("GET /v1/ping (no-op)", { url: `${service.url}/v1/ping`, headers });
      const select = await selectOn("bench", "POST select");
      const contextual = await selectOn("bench_ctx", "POST select, contextual");
      rounds.push({ noop, select, contextual });
    }
    let m = 0;
    const update = await cannon("POST update", {
      url: `${service.url}/v1/systems/bench/update`,
      method: "POST",
      headers,
      amount: Math.min(decisions.length, 10_000),
      requests: [
        {
          setupRequest: (request) => {
            const d = decisions[m++ % decisions.length] as { user: string; id: string };
            return { ...request, body: JSON.stringify({ user_id: d.user, decision_id: d.id, reward: m % 2 }) };
          },
        },
      ],
    });

    console.log(
      `\nLocal service, state ${label} (${stateDir}); wrangler dev --log-level warn, ${CONNECTIONS} connections, ${USERS} users, ${ARMS.length} arms\n`,
    );
    console.log("round  route                     req/s  p50 ms  p99 ms  errors  non-2xx");
    rounds.forEach((r, i) => {
      line(String(i + 1), r.noop);
      line(String(i + 1), r.select);
      line(String(i + 1), r.contextual);
    });
    line("", update);
    const ratios = rounds.map((r) => r.select.rps / r.noop.rps);
    console.log(`\n${ratioLine("select / no-op throughput", ratios)}`);
    const contextual = rounds.map((r) => r.contextual.rps / r.select.rps);
    console.log(ratioLine("contextual / context-free select throughput", contextual));
  } finally {
    await service.stop();
  }
}

async function inProcess(): Promise<void> {
  await configureRuntime("bench", { config: { default_arms: ARMS }, storage: new MemoryRuntimeStorage() });
  const started = performance.now();
  let selects = 0;
  while (performance.now() - started < 3000) {
    await runtimeSelect("bench", { userId: `user_${selects % USERS}` });
    selects++;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`\nIn-process: ${(selects / seconds).toFixed(0)} selects/s (10 arms, MemoryRuntimeStorage, one caller)`);
}

const only = process.env.RUNTIME_ONLY;
if (!only || only === "service") {
  if (existsSync("/dev/shm")) await pass("/dev/shm", "in memory");
  await pass(tmpdir(), "on disk");
}
if (!only || only === "in-process") await inProcess();
if (!only || only === "edge") await edgeAppLatency(existsSync("/dev/shm") ? "/dev/shm" : tmpdir());
