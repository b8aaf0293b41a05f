/**
 * Decision ids that say where their decision lives: `{agent type}~{owner tag}~{key}`. The agent type routes an
 * update to the right arms without the app repeating it, the tag (a hash of system, agent type and user) tells
 * "a decision of another user" apart from "no such decision" without a lookup, and the key is the storage's own
 * (the Durable Object puts its row number there, so finding the decision needs no index).
 */
import { fnv1a64 } from "../search/hash.js";

export function ownerTag(system: string, agentType: string, userId: string): string {
  return fnv1a64(JSON.stringify([system, agentType, userId])).slice(0, 10);
}

export function randomToken(random: () => number = Math.random): string {
  return Array.from({ length: 3 }, () =>
    Math.floor(random() * 2 ** 32)
      .toString(36)
      .padStart(7, "0"),
  ).join("");
}

export function newDecisionId(system: string, agentType: string, userId: string, key: string = randomToken()): string {
  return `${encodeURIComponent(agentType)}~${ownerTag(system, agentType, userId)}~${key}`;
}

export function parseDecisionId(id: string): { agentType: string; tag: string; key: string } | null {
  const parts = id.split("~");
  if (parts.length !== 3 || !parts[0] || !parts[1] || !parts[2]) return null;
  try {
    return { agentType: decodeURIComponent(parts[0]), tag: parts[1], key: parts[2] };
  } catch {
    return null;
  }
}
