/**
 * Retention (workers/db/archive.ts): the clock is moved past a system's decision_retention_days and the cron's
 * archive step run; what it must keep (totals, population, offline estimates) and what it must refuse (late writes,
 * duplicates, forgotten users' lines).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { PolicyEvaluation } from "../../src/bandit/offline.js";
import type { ExportedDecision, ExportPage } from "../../src/runtime/export.js";
import { archiveDecisions, readArchiveObject } from "../../workers/db/archive";
import { type DecisionRow, writeDecisions } from "../../workers/db/decisions";
import { refreshPopulations } from "../../workers/db/population";
import { callJson, flushLog, putSystem, THREE_ARMS, withSeededRandom } from "./helpers";

const DAY = 86_400_000;

/** Each user's `rounds` selects (with the request context `contextOf(i)`, when given), two of three rewarded. */
async function play(system: string, users: string[], rounds: number, contextOf?: (i: number) => Record<string, string>): Promise<void> {
  for (const user of users) {
    for (let i = 0; i < rounds; i++) {
      const selected = await callJson<{ decision_id: string; arm_id: string }>("POST", `/v1/systems/${system}/select`, {
        user_id: user,
        ...(contextOf ? { context: contextOf(i) } : {}),
      });
      expect(selected.status).toBe(200);
      // Every third decision left without a reward: those are archived too.
      if (i % 3 === 2) continue;
      const updated = await callJson("POST", `/v1/systems/${system}/update`, {
        user_id: user,
        decision_id: selected.body.decision_id,
        reward: selected.body.arm_id === "high" ? 1 : 0,
      });
      expect(updated.status).toBe(200);
    }
  }
  await flushLog(system, users);
}

async function archivedLines(system: string): Promise<{ keys: string[]; lines: ExportedDecision[] }> {
  const { objects } = await env.ARCHIVE.list({ prefix: `decisions/${system}/` });
  const lines: ExportedDecision[] = [];
  for (const object of objects) lines.push(...(await readArchiveObject(env.ARCHIVE, object.key)));
  return { keys: objects.map((o) => o.key), lines };
}

async function exportAll(system: string, limit: number): Promise<ExportedDecision[]> {
  const all: ExportedDecision[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const query: string = `limit=${limit}&since=2000-01-01${cursor ? `&cursor=${cursor}` : ""}`;
    const page = await callJson<ExportPage>("GET", `/v1/systems/${system}/export?${query}`);
    expect(page.status).toBe(200);
    all.push(...page.body.decisions);
    cursor = page.body.next_cursor;
    if (cursor === null) return all;
  }
  throw new Error("export did not end");
}

const d1Count = async (system: string) =>
  (await env.DB.prepare("SELECT COUNT(*) AS n FROM decisions WHERE system = ?").bind(system).first<{ n: number }>())?.n;

describe("archiving decisions past retention", () => {
  it("moves the clock past retention: old decisions go to R2, totals and estimates stay", async () => {
    await putSystem("retained", THREE_ARMS);
    await withSeededRandom(7, () => play("retained", ["ann", "bob", "cid"], 9));
    expect(await d1Count("retained")).toBe(27);

    const now = Date.now();
    const policy = { policy: { type: "static", weights: { high: 2, mid: 1 } } };
    const estimateBefore = await callJson<PolicyEvaluation>("POST", "/v1/systems/retained/evaluate", policy);
    expect(estimateBefore.body.n).toBe(18);
    const summaryBefore = await callJson<{ arms: unknown }>("GET", "/v1/systems/retained/summary");
    await refreshPopulations(env, now);
    const populationBefore = await env.DB.prepare("SELECT population FROM systems WHERE name = 'retained'").first();
    const rollupsBefore = (await env.DB.prepare("SELECT * FROM decision_rollups WHERE system = 'retained' ORDER BY hour, arm_id").all())
      .results;

    const later = now + (14 + 2) * DAY;
    const moved = await archiveDecisions(env, later);
    expect(moved.retained).toBe(27);
    expect(await d1Count("retained")).toBe(0);
    const { keys, lines } = await archivedLines("retained");
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => /^decisions\/retained\/\d{4}-\d{2}-\d{2}\/.+\.ndjson\.gz$/.test(key))).toBe(true);
    expect(lines).toHaveLength(27);
    expect(new Set(lines.map((l) => l.decision_id)).size).toBe(27);
    // Whole decisions: offline evaluation needs the snapshot and the probability.
    expect(lines.every((l) => Array.isArray(l.arms_snapshot) && typeof l.selection_probability === "number")).toBe(true);

    // Rollups, summary and population are as they were.
    expect((await env.DB.prepare("SELECT * FROM decision_rollups WHERE system = 'retained' ORDER BY hour, arm_id").all()).results).toEqual(
      rollupsBefore,
    );
    expect((await callJson<{ arms: unknown }>("GET", "/v1/systems/retained/summary")).body.arms).toEqual(summaryBefore.body.arms);
    expect(await refreshPopulations(env, now)).not.toContain("retained");
    expect(await env.DB.prepare("SELECT population FROM systems WHERE name = 'retained'").first()).toEqual(populationBefore);

    // Offline evaluation over the archived window: the same estimate.
    const estimateAfter = await callJson<PolicyEvaluation>("POST", "/v1/systems/retained/evaluate", policy);
    expect(estimateAfter.status).toBe(200);
    expect(estimateAfter.body.n).toBe(estimateBefore.body.n);
    expect(estimateAfter.body.window).toEqual(estimateBefore.body.window);
    expect(estimateAfter.body.ips?.value).toBeCloseTo(estimateBefore.body.ips?.value as number, 12);
    expect(estimateAfter.body.snips?.value).toBeCloseTo(estimateBefore.body.snips?.value as number, 12);

    // A late write of an archived decision is refused by the mark.
    const line = lines[0] as ExportedDecision;
    const row: DecisionRow = {
      ...line,
      params: JSON.stringify(line.params),
      context: JSON.stringify(line.context),
      update_metadata: line.update_metadata === null ? null : JSON.stringify(line.update_metadata),
      arms_snapshot: JSON.stringify(line.arms_snapshot),
      features: line.features === undefined || line.features === null ? null : JSON.stringify(line.features),
    };
    await writeDecisions(env.DB, [row]);
    expect(await d1Count("retained")).toBe(0);

    // Running again (a retry, the next cron) writes nothing twice.
    expect((await archiveDecisions(env, later)).retained).toBe(0);
    const again = await archivedLines("retained");
    expect(again.keys).toEqual(keys);
    expect(again.lines).toHaveLength(27);

    // The export pages through the archive without gaps or repeats.
    const exported = await exportAll("retained", 4);
    expect(exported.map((l) => l.decision_id).sort()).toEqual(lines.map((l) => l.decision_id).sort());
  });

  it("keeps each decision's context for offline evaluation: a rule's estimates are the same from the archive", async () => {
    await putSystem("retained_context", { ...THREE_ARMS, context_features: { page: { type: "categorical", values: ["search", "chat"] } } });
    await withSeededRandom(11, () => play("retained_context", ["ann", "bob"], 9, (i) => ({ page: i % 2 === 0 ? "search" : "chat" })));
    // No otherwise: the chat decisions are skipped, which only their contexts can tell.
    const policy = { policy: { type: "rule", rules: [{ when: { page: "search" }, arm: "high" }] } };
    const before = await callJson<PolicyEvaluation>("POST", "/v1/systems/retained_context/evaluate", policy);
    expect(before.body).toMatchObject({ decisions: 12, n: 6, skipped: { no_matching_rule: 6 } });

    await archiveDecisions(env, Date.now() + (14 + 2) * DAY);
    expect(await d1Count("retained_context")).toBe(0);
    const after = await callJson<PolicyEvaluation>("POST", "/v1/systems/retained_context/evaluate", policy);
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({
      decisions: 12,
      n: before.body.n,
      skipped: before.body.skipped,
      outcome_model: before.body.outcome_model,
    });
    // The same decisions in the same order: the same halves, the same outcome model, the same DR.
    expect(after.body.dr?.value).toBeCloseTo(before.body.dr?.value as number, 12);
    expect(after.body.ips?.value).toBeCloseTo(before.body.ips?.value as number, 12);
  });

  it("pages an export and an evaluation across many objects, a step at a time", async () => {
    await putSystem("chunked", THREE_ARMS);
    await withSeededRandom(11, () => play("chunked", ["ann", "bob", "cid"], 9));
    const policy = { policy: { type: "greedy" } };
    const before = await callJson<PolicyEvaluation>("POST", "/v1/systems/chunked/evaluate", policy);
    const later = Date.now() + 16 * DAY;
    // A budget of 10 a step: three steps move 27 rows in chunks of at most 4.
    expect((await archiveDecisions(env, later, { budget: 10, chunkRows: 4 })).chunked).toBe(10);
    expect(await d1Count("chunked")).toBe(17);
    // Half archived, half in D1: the export still sees each decision once.
    expect(new Set((await exportAll("chunked", 5)).map((l) => l.decision_id)).size).toBe(27);
    await archiveDecisions(env, later, { budget: 10, chunkRows: 4 });
    await archiveDecisions(env, later, { budget: 10, chunkRows: 4 });
    expect(await d1Count("chunked")).toBe(0);
    const { keys, lines } = await archivedLines("chunked");
    expect(keys.length).toBeGreaterThanOrEqual(7);
    expect(lines).toHaveLength(27);
    const exported = await exportAll("chunked", 5);
    expect(exported.map((l) => l.decision_id)).toEqual(
      [...lines]
        .sort((a, b) => (a.created_at === b.created_at ? (a.decision_id < b.decision_id ? -1 : 1) : a.created_at < b.created_at ? -1 : 1))
        .map((l) => l.decision_id),
    );
    const after = await callJson<PolicyEvaluation>("POST", "/v1/systems/chunked/evaluate", policy);
    expect(after.body.n).toBe(before.body.n);
    expect(after.body.ips?.value).toBeCloseTo(before.body.ips?.value as number, 12);
    const fewer = await callJson<PolicyEvaluation>("POST", "/v1/systems/chunked/evaluate", { ...policy, limit: 5 });
    expect(fewer.body.decisions).toBe(5);
  });

  it("rewrites the same object when its rows were not deleted, and D1 and archive merge without duplicates", async () => {
    await putSystem("retry", THREE_ARMS);
    await withSeededRandom(3, () => play("retry", ["ann", "bob"], 4));
    const later = Date.now() + 16 * DAY;
    await archiveDecisions(env, later);
    const first = await archivedLines("retry");
    // As if the delete had failed: the rows are back in D1 (the mark refuses writes, so put them straight in).
    for (const line of first.lines) {
      await env.DB.prepare(
        "INSERT INTO decisions (decision_id, system, agent_type, user_id, arm_id, params, selection_probability, context, created_at, reward, arms_snapshot) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      )
        .bind(
          line.decision_id,
          line.system,
          line.agent_type,
          line.user_id,
          line.arm_id,
          JSON.stringify(line.params),
          line.selection_probability,
          JSON.stringify(line.context),
          line.created_at,
          line.reward,
          JSON.stringify(line.arms_snapshot),
        )
        .run();
    }
    expect((await exportAll("retry", 3)).length).toBe(8);
    await archiveDecisions(env, later);
    const second = await archivedLines("retry");
    expect(second.keys).toEqual(first.keys);
    expect(second.lines.map((l) => l.decision_id)).toEqual(first.lines.map((l) => l.decision_id));
    expect(await d1Count("retry")).toBe(0);
  });

  it("never returns a forgotten user's archived decisions", async () => {
    await putSystem("forgetful", THREE_ARMS);
    await withSeededRandom(5, () => play("forgetful", ["ann", "bob"], 6));
    const before = await callJson<PolicyEvaluation>("POST", "/v1/systems/forgetful/evaluate", { policy: { type: "greedy" } });
    expect(before.body.n).toBe(8);
    await archiveDecisions(env, Date.now() + 16 * DAY);
    await env.DB.prepare("INSERT INTO forgotten_users (system, user_id, forgotten_at) VALUES ('forgetful', 'ann', ?)")
      .bind(new Date().toISOString())
      .run();
    const exported = await exportAll("forgetful", 5);
    expect(exported).toHaveLength(6);
    expect(exported.every((l) => l.user_id === "bob")).toBe(true);
    const after = await callJson<PolicyEvaluation>("POST", "/v1/systems/forgetful/evaluate", { policy: { type: "greedy" } });
    expect(after.body.n).toBe(4);
  });

  it("refuses a since or a cursor it cannot read, naming the field", async () => {
    await putSystem("exported", THREE_ARMS);
    const since = await callJson<{ error: { code: string; details: { path: string }[] } }>(
      "GET",
      "/v1/systems/exported/export?since=yesterday",
    );
    expect(since.status).toBe(400);
    expect(since.body.error.details[0]?.path).toBe("query.since");
    const cursor = await callJson<{ error: { details: { path: string }[] } }>("GET", "/v1/systems/exported/export?cursor=nope");
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.details[0]?.path).toBe("query.cursor");
    expect((await callJson("GET", "/v1/systems/nowhere/export")).status).toBe(404);
  });
});
