import { z } from "zod";

/** A value that survives JSON.stringify / JSON.parse unchanged: what configs, results and optimizer state are made of. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Any JSON value: one instance, so the API description can name it once (recursive schemas need a name). */
export const JsonSchema = z.json() as z.ZodType<JsonValue>;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** record[key] when it is the record's own entry: user-chosen keys (`constructor`, `toString`) never reach Object.prototype. */
export function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
