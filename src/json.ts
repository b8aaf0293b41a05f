import { z } from "zod";

/** A value that survives JSON.stringify / JSON.parse unchanged: what configs, results and optimizer state are made of. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Any JSON value: one instance, so the API description can name it once (recursive schemas need a name). */
export const JsonSchema = z.json() as z.ZodType<JsonValue>;

declare const holds: unique symbol;
/** JSON text known to hold a T: written where the value is, sent on as it is, never parsed in between. */
export type JsonText<T> = string & { readonly [holds]: T };
export const toJsonText = <T>(value: T): JsonText<T> => JSON.stringify(value) as JsonText<T>;

/**
 * Every point in time on the wire: ISO 8601 in UTC, as Date.prototype.toISOString writes it (D1 keeps them so),
 * from the HTTP API and the SDK alike; storages that keep epoch milliseconds convert when they answer.
 */
export const TimestampSchema = z.iso.datetime();

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A deep copy of a value made of JSON (plain objects, arrays, primitives; undefined fields stay undefined): what
 * structuredClone gives for one, without its serializer, which costs more than the runtime's small records.
 */
export function copyJson<T>(value: T): T {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(copyJson) as T;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const item = copyJson((value as Record<string, unknown>)[key]);
    // JSON.parse makes `__proto__` an own key; assigning it would set the copy's prototype instead.
    if (key === "__proto__") setOwn(copy, key, item);
    else copy[key] = item;
  }
  return copy as T;
}

/** record[key] when it is the record's own entry: user-chosen keys (`constructor`, `toString`) never reach Object.prototype. */
export function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}

/** Set record[key] as the record's own entry: a user-chosen `__proto__` key must not set the record's prototype. */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): T {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  return value;
}

/**
 * Lists and objects nest at most this deep in any body or config: real configs use a handful of levels, and
 * the recursive code that reads values (validation, hashing, serialization) stays far from the stack's end.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * How deeply JSON text nests lists and objects, counted over the text once, without parsing it: the check runs
 * before JSON.parse and any recursive reader. Stops counting past `limit`. Malformed text gets some number;
 * JSON.parse reports what is wrong with it.
 */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: brackets inside it do not count; skip to its closing quote, past escaped characters.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

/** The length of a text in UTF-8, as it is stored and sent, without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    if (code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      // A surrogate pair: two UTF-16 units, four bytes.
      bytes += 2;
      i++;
    } else if (code >= 0x800) bytes += 2;
    else if (code >= 0x80) bytes += 1;
  }
  return bytes;
}
