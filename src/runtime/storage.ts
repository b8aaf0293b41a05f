/**
 * The seed's RuntimeStorageProtocol, five methods, in TypeScript's spelling. An app that keeps arms in its own
 * database implements this; MemoryRuntimeStorage and the Workers service's Durable Object are two
 * implementations. Data stays snake_case, as on the wire.
 */
import type { ContextStats, FeatureEntry } from "../bandit/contextual.js";
import type { Population } from "../bandit/pooling.js";
import type { StoredUpdate } from "../bandit/update.js";
import type { JsonValue } from "../json.js";
import type { ParamConfig } from "../search/space.js";
import type { ArmSnapshot, ArmTemplate, RuntimeDecision } from "./schema.js";

export interface StoredArm {
  arm_id: string;
  name: string | null;
  params: ParamConfig;
  alpha: number;
  beta: number;
  total_pulls: number;
  total_reward: number;
  avg_reward: number | null;
  mean_estimate: number | null;
  metadata: Record<string, JsonValue>;
}

/** An arm as a user first meets it: the template's identity and params, and the uniform prior. */
export function priorArm(template: Pick<ArmTemplate, "arm_id" | "params"> & { name?: string | null | undefined }): StoredArm {
  return {
    arm_id: template.arm_id,
    name: template.name ?? null,
    params: template.params,
    alpha: 1,
    beta: 1,
    total_pulls: 0,
    total_reward: 0,
    avg_reward: null,
    mean_estimate: null,
    metadata: {},
  };
}

/** A user's updates so far: every update adds one pull to one of its arms. */
export function updatesOf(arms: readonly StoredArm[]): number {
  return arms.reduce((n, a) => n + a.total_pulls, 0);
}

/** Write a computed update onto an arm, as every storage keeps it (the interval in its metadata). */
export function applyUpdate(arm: StoredArm, u: StoredUpdate): void {
  Object.assign(arm, {
    alpha: u.alpha,
    beta: u.beta,
    total_pulls: u.total_pulls,
    total_reward: u.total_reward,
    avg_reward: u.avg_reward,
    mean_estimate: u.mean_estimate,
    metadata: { ...arm.metadata, confidence_interval: u.confidence_interval, ...(u.learning ? { learning: u.learning as never } : {}) },
  });
}

export interface RuntimeStorage {
  getArms(args: { userId: string; agentType: string }): Promise<StoredArm[]>;
  /** Add these arms with a uniform prior; arms that already exist (by arm_id) are left as they are. */
  initializeArms(args: { userId: string; agentType: string; arms: ArmTemplate[] }): Promise<void>;
  /** Record a decision; returns its id. */
  createDecision(args: {
    userId: string;
    agentType: string;
    armPulled: string;
    strategyParams: ParamConfig;
    armsSnapshot: ArmSnapshot[];
    metadata: Record<string, JsonValue>;
    selectionProbability: number;
    /**
     * The context as the system's declared features encode it (absent without context_features): what the
     * context model learns from once the decision is rewarded. A storage without contextStats may ignore it.
     */
    features?: FeatureEntry[];
  }): Promise<string | null>;
  /**
   * Store the reward on the decision (so getDecision shows it and a repeat is recognised) and write
   * `computedUpdate` verbatim onto the decision's arm.
   */
  updatePerformance(args: {
    userId: string;
    agentType: string;
    decisionId: string;
    reward: number;
    engagement: number;
    grading: number | null;
    metadata: Record<string, JsonValue>;
    computedUpdate: StoredUpdate;
    source: "update" | "default";
  }): Promise<{ success?: boolean } | undefined>;
  getDecision(args: { userId: string; decisionId: string }): Promise<RuntimeDecision | null>;
  /**
   * Optional: every user's evidence per (agent type, arm), for pooled priors. A storage that has it (the
   * in-memory one) lets the in-process runtime pool across users by itself.
   */
  populationStats?(): Promise<Population>;
  /**
   * Optional: the context model's sufficient statistics over every rewarded decision (src/bandit/contextual.ts),
   * for a system with context_features. A storage that has it lets the in-process runtime fit the model itself.
   */
  contextStats?(): Promise<ContextStats>;
}

type Loose = Record<string, unknown>;
const num = (v: unknown, fallback: number) => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
const numOrNull = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const obj = (v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, JsonValue>) : {});

/** Accept an app's arm rows in snake_case or camelCase, as the seed does. */
export function coerceArm(raw: Loose): StoredArm {
  const armId = raw.arm_id ?? raw.armId;
  if (typeof armId !== "string" || armId === "") throw new Error("Arm payload missing 'arm_id' field");
  const name = raw.name ?? raw.armName;
  return {
    arm_id: armId,
    name: typeof name === "string" ? name : null,
    params: obj(raw.params ?? raw.strategy_params ?? raw.strategyParams),
    alpha: num(raw.alpha, 1),
    beta: num(raw.beta, 1),
    total_pulls: num(raw.total_pulls ?? raw.totalPulls, 0),
    total_reward: num(raw.total_reward ?? raw.totalReward, 0),
    avg_reward: numOrNull(raw.avg_reward ?? raw.avgReward),
    mean_estimate: numOrNull(raw.mean_estimate ?? raw.meanEstimate),
    metadata: obj(raw.metadata),
  };
}
