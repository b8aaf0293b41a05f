import type { JsonValue } from "../json.js";

/** JSON with object keys sorted at every level, so two equal configs always give the same text. */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "null";
    return JSON.stringify(Object.is(value, -0) ? 0 : value);
  }
  if (typeof value === "string" || typeof value === "boolean") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return "null";
}

/**
 * 64-bit FNV-1a over UTF-16 code units, as 16 hex digits. Synchronous and identical in Node and Workers
 * (crypto.subtle is async); it names cache entries, it does not protect anything.
 */
export function fnv1a64(text: string): string {
  let h1 = 0x84222325;
  let h2 = 0xcbf29ce4;
  for (let i = 0; i < text.length; i++) {
    h1 ^= text.charCodeAt(i);
    // Multiply the 64-bit (h2:h1) by the FNV prime 0x100000001b3 using 16-bit limbs.
    const a0 = h1 & 0xffff;
    const a1 = h1 >>> 16;
    const a2 = h2 & 0xffff;
    const a3 = h2 >>> 16;
    const p0 = 0x01b3;
    const p2 = 0x0100;
    let c0 = a0 * p0;
    let c1 = a1 * p0 + (c0 >>> 16);
    let c2 = a2 * p0 + a0 * p2 + (c1 >>> 16);
    let c3 = a3 * p0 + a1 * p2 + (c2 >>> 16);
    c0 &= 0xffff;
    c1 &= 0xffff;
    c2 &= 0xffff;
    c3 &= 0xffff;
    h1 = ((c1 << 16) | c0) >>> 0;
    h2 = ((c3 << 16) | c2) >>> 0;
  }
  return h2.toString(16).padStart(8, "0") + h1.toString(16).padStart(8, "0");
}

/** The cache key of a parameter set: equal configs (whatever their key order) share it. */
export function hashConfig(config: Record<string, JsonValue>): string {
  return fnv1a64(canonicalJson(config));
}

/** A number in [0, 1) derived from a text: the mock target's deterministic "randomness". */
export function unitHash(text: string): number {
  return Number.parseInt(fnv1a64(text).slice(0, 13), 16) / 2 ** 52;
}
