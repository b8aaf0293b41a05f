import { z } from "zod";
import { isPlainObject } from "../json.js";
import { joinPath } from "./issues.js";

type AnySchema = z.core.$ZodType;

function def(schema: AnySchema): Record<string, unknown> & { type: string } {
  return schema._zod.def as unknown as Record<string, unknown> & { type: string };
}

/** Strip optional/default/pipe wrappers down to the schema that describes the input's shape. */
function unwrap(schema: AnySchema): AnySchema {
  let current = schema;
  for (let i = 0; i < 20; i++) {
    const d = def(current);
    if (["optional", "default", "prefault", "nullable", "readonly", "catch"].includes(d.type)) {
      current = d.innerType as AnySchema;
    } else if (d.type === "pipe") {
      current = d.in as AnySchema;
    } else {
      return current;
    }
  }
  return current;
}

/**
 * Keys the schema does not know, such as a misspelt `temprature` or `populaton_size`: zod drops them silently,
 * so they are reported as warnings. Loose objects (metric options, test-case fields) accept anything.
 */
export function unknownKeys(schema: AnySchema, value: unknown, path = ""): string[] {
  const s = unwrap(schema);
  const d = def(s);
  if (d.type === "object" && isPlainObject(value)) {
    const shape = d.shape as Record<string, AnySchema>;
    const out: string[] = [];
    for (const [key, child] of Object.entries(value)) {
      // Own entries only: a config key named `constructor` or `toString` is unknown, not Object.prototype's member.
      const childSchema = Object.hasOwn(shape, key) ? shape[key] : undefined;
      if (childSchema) out.push(...unknownKeys(childSchema, child, joinPath(path, key)));
      else if (!d.catchall) out.push(joinPath(path, key));
    }
    return out;
  }
  if (d.type === "record" && isPlainObject(value)) {
    return Object.entries(value).flatMap(([key, child]) => unknownKeys(d.valueType as AnySchema, child, joinPath(path, key)));
  }
  if (d.type === "array" && Array.isArray(value)) {
    return value.flatMap((item, i) => unknownKeys(d.element as AnySchema, item, `${path}[${i}]`));
  }
  return [];
}

/** Edits (insert, delete, replace, swap two neighbours) that turn a into b. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (rows[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i] as number[];
      const up = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j] as number, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
    }
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The known key a misspelt one was most likely meant to be (a few edits away), or null. */
function closestKey(key: string, known: readonly string[]): string | null {
  // Keys longer than any setting are not misspellings of one, and must not cost a large table.
  if (key.length > 64) return null;
  const allowed = Math.max(1, Math.floor(key.length / 3));
  let best: { name: string; distance: number } | null = null;
  // A shortened setting (cache_ttl for cache_ttl_seconds) is as likely as a misspelt one.
  if (key.length >= 4) {
    const longer = known.find((name) => name.toLowerCase().startsWith(key.toLowerCase()));
    if (longer) return longer;
  }
  for (const name of known) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (distance <= allowed && (best === null || distance < best.distance)) best = { name, distance };
  }
  return best?.name ?? null;
}

/** "unknown key 'parms' (did you mean params?)": names every key a strict object refused. */
function unknownKeyMessage(keys: readonly string[], known: readonly string[]): string {
  const guesses = keys.map((key) => closestKey(key, known));
  const named = keys.map((key, i) => `'${key}'${guesses[i] ? ` (did you mean ${guesses[i]}?)` : ""}`);
  // Without a likely meaning, the keys that exist are the useful answer.
  const list = guesses.every((g) => g !== null) ? "" : `; known keys: ${known.join(", ")}`;
  return `unknown key${keys.length > 1 ? "s" : ""} ${named.join(", ")}${list}`;
}

/**
 * An object schema that refuses keys it does not know, with a message naming each (zod's own says only
 * "Unrecognized key"). For configs where a misspelt setting must not pass silently as its default.
 */
export function strictObject<T extends z.core.$ZodLooseShape>(shape: T) {
  const known = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => (issue.code === "unrecognized_keys" ? unknownKeyMessage(issue.keys, known) : undefined),
  });
}
