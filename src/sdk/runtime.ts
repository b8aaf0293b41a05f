/**
 * The seed's runtime functions, in-process: configureRuntime, runtimeSelect, runtimeUpdate, runtimeGetDecision,
 * runtimeEvolveArms (plus runtimeArms). One RuntimeManager per system, over the storage the app provides.
 */
import { evolveArms } from "../bandit/evolve.js";
import { describeIssues, fromZodIssues } from "../config/issues.js";
import { RuntimeManager } from "../runtime/manager.js";
import {
  type ArmTemplate,
  type ArmView,
  type RuntimeConfigInput,
  RuntimeConfigSchema,
  type RuntimeDecision,
  type RuntimeSelection,
  type UpdateResult,
} from "../runtime/schema.js";
import { coerceArm, type RuntimeStorage } from "../runtime/storage.js";
import { Rng } from "../search/rng.js";
import type { SearchSpace } from "../search/space.js";
import { type RuntimeSelectOptions, type RuntimeUpdateOptions, selectRequest, updateRequest } from "./runtime-requests.js";

export type { RuntimeSelectOptions, RuntimeUpdateOptions } from "./runtime-requests.js";

const managers = new Map<string, RuntimeManager>();

function manager(system: string): RuntimeManager {
  const found = managers.get(system);
  if (!found) {
    throw new Error(
      `Runtime storage is not configured for system '${system}'. Provide a RuntimeStorage implementation via configureRuntime('${system}', { config, storage }).`,
    );
  }
  return found;
}

export interface ConfigureRuntimeOptions {
  config: RuntimeConfigInput;
  storage: RuntimeStorage;
  /**
   * Seed the system's draws (Thompson samples, probability-best estimates) with the project's seeded generator, so
   * the same selects and updates choose the same arms: for tests and simulations. Without it, Math.random.
   */
  seed?: number;
}

/** Register (or replace) a system's runtime config and storage. A bad config or seed throws, naming each problem. */
export async function configureRuntime(system: string, options: ConfigureRuntimeOptions): Promise<void> {
  const parsed = RuntimeConfigSchema.safeParse(options.config);
  if (!parsed.success) throw new Error(`Invalid runtime config for '${system}': ${describeIssues(fromZodIssues(parsed.error.issues))}`);
  if (!options.storage) throw new Error("configureRuntime needs a storage (for example new MemoryRuntimeStorage())");
  const { seed } = options;
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw new Error(`configureRuntime's seed must be an integer, got ${seed}`);
  const random = seed === undefined ? {} : { random: Rng.uniform(seed) };
  managers.set(system, new RuntimeManager(system, parsed.data, options.storage, random));
}

export async function runtimeSelect(system: string, options: RuntimeSelectOptions): Promise<RuntimeSelection> {
  return manager(system).select(selectRequest(options));
}

export async function runtimeUpdate(system: string, options: RuntimeUpdateOptions): Promise<UpdateResult> {
  return manager(system).update(updateRequest(options));
}

export async function runtimeGetDecision(system: string, options: { userId: string; decisionId: string }): Promise<RuntimeDecision | null> {
  return manager(system).getDecision(options);
}

export async function runtimeArms(system: string, options: { userId: string; agentType?: string }): Promise<ArmView[]> {
  return manager(system).arms(options);
}

/** New arm templates bred from a user's best arms (not added: pass them to the system's default arms to use them). */
export async function runtimeEvolveArms(
  system: string,
  options: { userId: string; agentType?: string; topN?: number; searchSpace?: SearchSpace; storage?: RuntimeStorage; seed?: number },
): Promise<ArmTemplate[]> {
  const m = manager(system);
  const storage = options.storage ?? m.storage;
  const raw = await storage.getArms({ userId: options.userId, agentType: m.agentTypeOf(options.agentType) });
  const arms = raw.map((a) => coerceArm(a as unknown as Record<string, unknown>));
  return evolveArms(arms, {
    ...(options.topN !== undefined ? { topN: options.topN } : {}),
    ...(options.searchSpace ? { searchSpace: options.searchSpace } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
}
