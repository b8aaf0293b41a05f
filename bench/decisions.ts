/**
 * npm run bench:decisions [-- --users 2000 --decisions 5 --concurrency 32 --seed 1 --wait 180]
 *
 * The decision log's capacity, measured on the local service (wrangler dev, loopback only): N users make M
 * decisions each (select, then update with a reward of 0, 0.5 or 1 drawn from a seeded generator; one in ten gets
 * none), a bounded number of users at a time. Then it waits (at most --wait seconds) until the log shards hold no
 * row (GET /v1/systems/{system}/log) and D1 has every decision and reward, and prints:
 *
 * - decisions sent; D1 rows, distinct decision ids, lost, unknown, doubled, rewards that differ;
 * - D1 write calls (the shards' batch calls: nothing else writes decisions) per decision, and rows per call;
 * - rollup exactness: per arm, selections, rewarded and reward sum from the summary route (which reads the
 *   rollups) against what was sent;
 * - flush latency p50/p99 (the shards' histogram);
 * - D1 bytes per retained decision: the local D1 database's growth over the run (its pages times the page size,
 *   read from the SQLite file and its WAL; and the files on disk, database plus WAL), over decisions;
 * - R2 bytes per archived decision: the D1 rows as the archive's lines (workers/db/archive.ts: every column, the
 *   JSON ones parsed), gzipped per system and day, over decisions. Computed here rather than read from the local
 *   bucket: the archive runs from the cron, which the local service cannot be sent on demand (issue 16). The
 *   archive gzips at most 5,000 lines per object, which changes the ratio by a few per cent at most.
 *
 * Exits 1 when D1 write calls per decision exceed 0.02, a decision is lost or doubled, a reward differs, or a
 * rollup is not exactly what was sent. Figures come from a local workerd on a shared machine; D1's and R2's
 * sizes are SQLite's and gzip's, which is what Cloudflare bills, but the timings say nothing about production.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import type { ArmSummary, DecisionLogStats } from "../src/runtime/schema.js";
import { Rng } from "../src/search/rng.js";
import { startLocalService } from "./service.js";
import { table } from "./table.js";

const TARGET_CALLS_PER_DECISION = 0.02;
const REWARDS = [0, 0.5, 1];
const ARMS = [
  { arm_id: "low", params: { rate: 0.3 } },
  { arm_id: "mid", params: { rate: 0.5 } },
  { arm_id: "high", params: { rate: 0.7 } },
];

const { values: args } = parseArgs({
  options: {
    users: { type: "string", default: "2000" },
    decisions: { type: "string", default: "5" },
    concurrency: { type: "string", default: "32" },
    seed: { type: "string", default: "1" },
    wait: { type: "string", default: "180" },
  },
});
const USERS = Number(args.users);
const PER_USER = Number(args.decisions);
const CONCURRENCY = Number(args.concurrency);
const SEED = Number(args.seed);
const WAIT_S = Number(args.wait);
for (const [name, value] of Object.entries({ USERS, PER_USER, CONCURRENCY, WAIT_S })) {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name.toLowerCase()}: a positive integer, not ${value}`);
}

const SYSTEM = "bench_decisions";
const ROOT = new URL("..", import.meta.url).pathname;
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");

interface Sent {
  arm: string;
  reward: number | null;
}

/** Rows of a query on the local D1 (wrangler d1 execute --local, on the service's own state folder). */
function d1<T>(stateDir: string, sql: string): T[] {
  const result = spawnSync(
    process.execPath,
    [WRANGLER, "d1", "execute", "DB", "--local", "--persist-to", stateDir, "--json", "--command", sql],
    {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
      encoding: "utf8",
      maxBuffer: 1 << 30,
    },
  );
  if (result.status !== 0) throw new Error(`wrangler d1 execute: ${result.stderr}${result.stdout}`);
  return (JSON.parse(result.stdout) as { results: T[] }[])[0]?.results ?? [];
}

/** The local D1 database's SQLite file: the largest in miniflare's D1 folder but its metadata. */
function d1File(stateDir: string): string {
  const dir = join(stateDir, "v3/d1/miniflare-D1DatabaseObject");
  const files = readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");
  const size = (f: string) => statSync(join(dir, f)).size + (existsSync(join(dir, `${f}-wal`)) ? statSync(join(dir, `${f}-wal`)).size : 0);
  const file = files.sort((a, b) => size(b) - size(a))[0];
  if (!file) throw new Error(`no D1 database file in ${dir}`);
  return join(dir, file);
}

/**
 * Bytes of a SQLite database as it stands: its page count times its page size, read from the file formats
 * (https://www.sqlite.org/fileformat2.html): the main file's header, then the last commit frame of the WAL that
 * belongs to the WAL's current generation (its salts), which carries the database's size in pages after that
 * commit. workerd keeps D1 in WAL mode and does not checkpoint it, so the files' sizes say little.
 */
function databaseBytes(file: string): { pages: number; disk: number } {
  const main = readFileSync(file);
  const rawPageSize = main.readUInt16BE(16);
  let pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  let pages = main.readUInt32BE(28);
  let disk = main.length;
  const walPath = `${file}-wal`;
  if (existsSync(walPath)) {
    const wal = readFileSync(walPath);
    disk += wal.length;
    if (wal.length >= 32) {
      const walPageSize = wal.readUInt32BE(8);
      const [salt1, salt2] = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
      for (let at = 32; at + 24 + walPageSize <= wal.length; at += 24 + walPageSize) {
        if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
        const sizeAfterCommit = wal.readUInt32BE(at + 4);
        if (sizeAfterCommit > 0) [pages, pageSize] = [sizeAfterCommit, walPageSize];
      }
    }
  }
  return { pages: pages * pageSize, disk };
}

/** Run `work` over items, at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

const service = await startLocalService();
let failed = false;
try {
  const headers = { authorization: `Bearer ${service.key}`, "content-type": "application/json" };
  const api = async <T>(method: string, path: string, body?: unknown, tries = 5): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const response = await fetch(`${service.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      if (response.ok) return (await response.json()) as T;
      const text = await response.text();
      // Only answers that say nothing was done are retried: 429 and 503 (an update is idempotent anyway).
      if (attempt >= tries || (response.status !== 429 && response.status !== 503)) {
        throw new Error(`${method} ${path}: ${response.status} ${text}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  };

  await api("PUT", `/v1/systems/${SYSTEM}`, { default_arms: ARMS });
  const file = d1File(service.stateDir);
  const before = databaseBytes(file);

  // What each user sends, drawn before any request, so the run's order does not change it.
  const rng = Rng.uniform(SEED);
  const plan = Array.from({ length: USERS }, (_, u) => ({
    user: `user_${u}`,
    rewards: Array.from({ length: PER_USER }, () => (rng() < 0.1 ? null : (REWARDS[Math.floor(rng() * REWARDS.length)] as number))),
  }));
  const sent = new Map<string, Sent>();
  let errors = 0;
  const started = performance.now();
  await pool(plan, CONCURRENCY, async ({ user, rewards }) => {
    for (const reward of rewards) {
      try {
        const selection = await api<{ decision_id: string; arm_id: string }>("POST", `/v1/systems/${SYSTEM}/select`, { user_id: user });
        sent.set(selection.decision_id, { arm: selection.arm_id, reward: null });
        if (reward === null) continue;
        await api("POST", `/v1/systems/${SYSTEM}/update`, { user_id: user, decision_id: selection.decision_id, reward });
        sent.set(selection.decision_id, { arm: selection.arm_id, reward });
      } catch (error) {
        errors++;
        if (errors <= 5) console.error(String(error));
      }
    }
  });
  const driveS = (performance.now() - started) / 1000;
  const rewardedSent = [...sent.values()].filter((s) => s.reward !== null).length;
  console.log(
    `drove ${USERS} users x ${PER_USER} decisions (${CONCURRENCY} users at a time) in ${driveS.toFixed(1)} s: ` +
      `${sent.size} decisions, ${rewardedSent} rewards, ${errors} failed requests; ${((sent.size + rewardedSent) / driveS).toFixed(0)} requests/s`,
  );

  // Until the shards are empty and D1 has every decision and reward (users' objects hand over after ~2 s, shards
  // write after at most 5 s or at once per 200 rows).
  const waitStarted = performance.now();
  let stats = await api<DecisionLogStats>("GET", `/v1/systems/${SYSTEM}/log`);
  let inD1 = { n: 0, rewarded: 0 };
  for (;;) {
    stats = await api<DecisionLogStats>("GET", `/v1/systems/${SYSTEM}/log`);
    inD1 = d1<{ n: number; rewarded: number }>(
      service.stateDir,
      `SELECT COUNT(*) AS n, COUNT(reward) AS rewarded FROM decisions WHERE system = '${SYSTEM}'`,
    )[0] ?? { n: 0, rewarded: 0 };
    if (stats.pending === 0 && inD1.n >= sent.size && inD1.rewarded >= rewardedSent) break;
    if ((performance.now() - waitStarted) / 1000 > WAIT_S) {
      console.log(
        `gave up waiting after ${WAIT_S} s: shards hold ${stats.pending} rows, D1 has ${inD1.n} decisions, ${inD1.rewarded} rewards`,
      );
      failed = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const waitS = (performance.now() - waitStarted) / 1000;
  // A last look a moment later: nothing more should arrive.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  stats = await api<DecisionLogStats>("GET", `/v1/systems/${SYSTEM}/log`);
  const after = databaseBytes(file);

  // Every row, for lost / doubled / rewards, and as the archive would write it.
  const rows = d1<Record<string, unknown> & { decision_id: string; reward: number | null; created_at: string }>(
    service.stateDir,
    `SELECT * FROM decisions WHERE system = '${SYSTEM}'`,
  );
  const ids = new Set(rows.map((r) => r.decision_id));
  const lost = [...sent.keys()].filter((id) => !ids.has(id)).length;
  const unknown = [...ids].filter((id) => !sent.has(id)).length;
  const doubled = rows.length - ids.size;
  const rewardsDiffer = rows.filter((r) => sent.has(r.decision_id) && sent.get(r.decision_id)?.reward !== r.reward).length;

  // Rollups, through the summary route (which reads decision_rollups), against what was sent.
  const summary = await api<{ arms: ArmSummary[] }>("GET", `/v1/systems/${SYSTEM}/summary`);
  const rollupRows: (string | number)[][] = [["arm", "selections sent", "rollup", "rewarded sent", "rollup", "reward sum sent", "rollup"]];
  let exact = true;
  for (const arm of summary.arms) {
    const mine = [...sent.values()].filter((s) => s.arm === arm.arm_id);
    const rewarded = mine.filter((s) => s.reward !== null);
    const rewardSum = rewarded.reduce((total, s) => total + (s.reward as number), 0);
    if (arm.pulls !== mine.length || arm.rewarded !== rewarded.length || arm.reward_sum !== rewardSum) exact = false;
    rollupRows.push([arm.arm_id, mine.length, arm.pulls, rewarded.length, arm.rewarded, rewardSum, arm.reward_sum]);
  }

  // The archive's bytes: the rows as the archive's lines (every column, JSON columns parsed), gzipped per day.
  const byDay = new Map<string, string[]>();
  for (const row of rows) {
    const line = JSON.stringify({
      ...row,
      params: JSON.parse(String(row.params)),
      context: JSON.parse(String(row.context)),
      arms_snapshot: row.arms_snapshot === null ? null : JSON.parse(String(row.arms_snapshot)),
      update_metadata: row.update_metadata === null ? null : JSON.parse(String(row.update_metadata)),
    });
    const day = row.created_at.slice(0, 10);
    const lines = byDay.get(day) ?? [];
    lines.push(line);
    byDay.set(day, lines);
  }
  let ndjsonBytes = 0;
  let gzipBytes = 0;
  for (const lines of byDay.values()) {
    const text = `${lines.join("\n")}\n`;
    ndjsonBytes += Buffer.byteLength(text);
    gzipBytes += gzipSync(text).length;
  }

  const decisions = sent.size;
  // A failed batch call is a write call too (its rows go again in another).
  const callsPerDecision = (stats.d1_batches + stats.d1_failed_batches) / decisions;
  const perDecision = (bytes: number) => `${(bytes / decisions).toFixed(0)} B`;
  console.log(
    `\nwaited ${waitS.toFixed(1)} s after the last request for the log to reach D1\n\n${table([
      ["figure", "value"],
      ["decisions sent (rewarded)", `${decisions} (${rewardedSent})`],
      ["D1 rows / distinct decision ids", `${rows.length} / ${ids.size}`],
      ["lost / unknown / doubled / reward differs", `${lost} / ${unknown} / ${doubled} / ${rewardsDiffer}`],
      ["D1 write calls (shard batch calls; failed)", `${stats.d1_batches} (${stats.d1_failed_batches} failed)`],
      ["D1 write calls per decision", `${callsPerDecision.toFixed(4)} (target <= ${TARGET_CALLS_PER_DECISION})`],
      ["rows written / rows per call", `${stats.rows_written} / ${(stats.rows_written / Math.max(1, stats.d1_batches)).toFixed(1)}`],
      ["decisions per call", (decisions / Math.max(1, stats.d1_batches)).toFixed(1)],
      ["decisions/s offered (while driving)", (decisions / driveS).toFixed(0)],
      [
        "D1 time per call / per row (local SQLite)",
        `${(stats.d1_write_ms / Math.max(1, stats.d1_batches)).toFixed(1)} ms / ${(stats.d1_write_ms / Math.max(1, stats.rows_written)).toFixed(2)} ms`,
      ],
      ["flush latency p50 / p99 (ms, within 10%)", `${stats.flush_latency_ms.p50} / ${stats.flush_latency_ms.p99}`],
      ["rollups equal to what was sent", exact ? "yes" : "NO"],
      ["D1 bytes per retained decision (pages in use)", perDecision(after.pages - before.pages)],
      ["D1 bytes per retained decision (files on disk: db + WAL)", perDecision(after.disk - before.disk)],
      [
        "R2 bytes per archived decision (gzip NDJSON, computed)",
        `${(gzipBytes / decisions).toFixed(0)} B (NDJSON ${(ndjsonBytes / decisions).toFixed(0)} B)`,
      ],
    ])}\n\n${table(rollupRows)}`,
  );
  if (callsPerDecision > TARGET_CALLS_PER_DECISION) {
    console.log(`FAIL: ${callsPerDecision.toFixed(4)} D1 write calls per decision, more than ${TARGET_CALLS_PER_DECISION}`);
    failed = true;
  }
  if (lost + unknown + doubled + rewardsDiffer > 0 || !exact || errors > 0) {
    console.log("FAIL: the log is not exactly what was sent");
    failed = true;
  }
} finally {
  await service.stop();
}
process.exit(failed ? 1 : 0);
