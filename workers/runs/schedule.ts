/**
 * Scheduled re-optimization. The cron handler enqueues the systems whose `reoptimize.every` has passed since their
 * last scheduled run; the control consumer starts each run, warm-started from the last run's best configs and
 * the system's best runtime arms, to promote its winners when it succeeds.
 */

import type { ParamConfig } from "../../src/search/space.js";
import { armTallies } from "../db/decisions";
import { logDatabaseOf } from "../db/log-database";
import { bestConfigs } from "../db/runs";
import { readSystem, StoredConfigInvalid, type SystemSnapshot, scheduledSystems } from "../db/systems";
import type { ControlMessage, Env } from "../env";
import { startRun } from "./start";

function durationMs(every: string): number {
  const match = every.match(/^(\d+)(m|h|d)$/);
  if (!match) throw new Error(`not a duration: ${every}`);
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as "m" | "h" | "d"];
  return Number(match[1]) * unit;
}

async function lastScheduledRun(db: D1Database, system: string): Promise<{ run_id: string; created_at: string; status: string } | null> {
  return db
    .prepare("SELECT run_id, created_at, status FROM runs WHERE system = ? AND trigger = 'schedule' ORDER BY created_at DESC LIMIT 1")
    .bind(system)
    .first();
}

/**
 * Re-optimization runs once per period of `every`, counted from the Unix epoch (1h: once per clock hour), so the
 * run of a period has a name of its own and cannot start twice.
 */
function periodOf(every: string, time: number): number {
  return Math.floor(time / durationMs(every));
}

function due(system: SystemSnapshot, last: { created_at: string } | null, now: number): boolean {
  const every = system.config.reoptimize?.every;
  if (!every) return false;
  return last === null || periodOf(every, Date.parse(last.created_at)) < periodOf(every, now);
}

/** The cron trigger: enqueue every system whose re-optimization is due. */
export async function enqueueDue(env: Env, now = Date.now()): Promise<string[]> {
  const systems = await scheduledSystems(env.DB);
  const last = await Promise.all(systems.map((system) => lastScheduledRun(env.DB, system.name)));
  const names = systems.filter((system, i) => due(system, last[i] ?? null, now)).map((system) => system.name);
  if (names.length > 0) {
    await env.CONTROL.sendBatch(names.map((system) => ({ body: { kind: "reoptimize" as const, system, scheduled_time: now } })));
  }
  return names;
}

/** The params of the system's arms with the best mean reward (at least 5 rewards), from the log's rollups. */
async function bestArms(env: Env, system: SystemSnapshot, limit: number): Promise<ParamConfig[]> {
  const tallies = await armTallies(logDatabaseOf(env, system), system.name);
  return [...tallies]
    .filter(([, t]) => t.rewarded >= 5)
    .sort(([, a], [, b]) => b.reward_sum / b.rewarded - a.reward_sum / a.rewarded)
    .slice(0, limit)
    .map(([armId]) => system.config.default_arms.find((a) => a.arm_id === armId)?.params)
    .filter((p): p is ParamConfig => p !== undefined);
}

/**
 * The control consumer: start the scheduled run of a system, unless one started within the period already or
 * the last one is still going. The run is named by the system and the period, so two messages for the same
 * period (a redelivery, two cron ticks) start one run.
 */
export async function startScheduled(env: Env, message: ControlMessage, now = message.scheduled_time): Promise<string | null> {
  const system = await readSystem(env.DB, message.system);
  if (!system?.config.reoptimize) return null;
  const last = await lastScheduledRun(env.DB, system.name);
  if (!due(system, last, now) || last?.status === "running" || last?.status === "queued") return null;
  const period = periodOf(system.config.reoptimize.every, now);
  const previous = last ? await bestConfigs(env.DB, last.run_id, 5) : [];
  const arms = await bestArms(env, system, 3);
  const started = await startRun(env, system.config.reoptimize.config, {
    runId: `${system.name.replace(/[^A-Za-z0-9_.-]/g, "-")}.scheduled.${period}`,
    trigger: "schedule",
    system: system.name,
    // No request starts it: the host its config was written through stands for the service's own.
    ownHosts: system.written_host ? [system.written_host] : [],
    initialConfigs: [...previous.map((c) => c.params as ParamConfig), ...arms],
    promote: {
      system: system.name,
      ...(system.config.agent_type ? { agent_type: system.config.agent_type } : {}),
      top_k: system.config.reoptimize.promote.top_k,
      // Each scheduled run's winners replace the last one's, so the system does not grow without end.
      replace_promoted: true,
    },
  });
  if (!started.ok) {
    console.error(`scheduled re-optimization of ${system.name}: invalid config`, started.errors);
    return null;
  }
  return started.started ? (started.view?.run_id ?? null) : null;
}

export async function consumeControl(batch: MessageBatch<ControlMessage>, env: Env): Promise<void> {
  for (const message of batch.messages) {
    try {
      await startScheduled(env, message.body);
      message.ack();
    } catch (error) {
      if (error instanceof StoredConfigInvalid) {
        // Retrying cannot help until the system is written again; its next period tries anew.
        console.error(`scheduled run not started: ${error.message}`);
        message.ack();
        continue;
      }
      console.error("scheduled run failed to start, will retry", error instanceof Error ? error.message : String(error));
      message.retry();
    }
  }
}
