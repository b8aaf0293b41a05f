/**
 * Records per agent type, per arm (the population's statistics, the context model's cells and posteriors). Agent
 * types and arm ids are the users' (`__proto__` is a valid agent type), so they are read and written as own
 * properties only, and parsed from stored JSON by hand around the records: zod's record drops a `__proto__` key.
 */
import { isPlainObject, own, setOwn } from "../json.js";

export type ByAgentAndArm<T> = Record<string, Record<string, T>>;

export function recordOf<T>(records: ByAgentAndArm<T> | undefined, agentType: string, armId: string): T | undefined {
  return own(own(records, agentType), armId);
}

export function setRecord<T>(records: ByAgentAndArm<T>, agentType: string, armId: string, value: T): T {
  return setOwn(own(records, agentType) ?? setOwn(records, agentType, {}), armId, value);
}

/** The records of one agent type only (what one user's object ever reads). */
export function ofAgentType<T>(records: ByAgentAndArm<T>, agentType: string): ByAgentAndArm<T> {
  const kept: ByAgentAndArm<T> = {};
  const arms = own(records, agentType);
  if (arms) setOwn(kept, agentType, arms);
  return kept;
}

/** Records from stored JSON, each leaf read by `leaf` (null: not in that form); null when any is not. */
export function parseByAgentAndArm<T>(raw: unknown, leaf: (value: unknown) => T | null): ByAgentAndArm<T> | null {
  if (!isPlainObject(raw)) return null;
  const records: ByAgentAndArm<T> = {};
  for (const [agentType, arms] of Object.entries(raw)) {
    if (!isPlainObject(arms)) return null;
    for (const [armId, value] of Object.entries(arms)) {
      const parsed = leaf(value);
      if (parsed === null) return null;
      setRecord(records, agentType, armId, parsed);
    }
  }
  return records;
}
