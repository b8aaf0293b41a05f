/**
 * Property-based fuzzing of the whole API from its own description: for every operation of /openapi.json,
 * fast-check generates requests from the operation's schemas (path parameters from their patterns, queries, bodies)
 * and breaks them (wrong types, missing and extra fields, huge and unicode strings, JSON nested up to 2,000 levels,
 * malformed JSON and YAML, wrong content types, tricky path segments, bad keys, unserved methods). Every answer must
 * be below 500, one of the statuses documented for the operation (405 with Allow for an unserved method), and an
 * error in the error format.
 *
 * Nothing leaves the machine: generated URLs are http://fuzz.invalid/..., every run config is forced to
 * api.mock_mode, and vitest.config.ts lets the worker reach loopback only.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { RUN_HEADER } from "../../src/target/egress.js";
import { call, KEY, THREE_ARMS } from "./helpers";

const SEED = 1_126_2026;
/** Generated requests per operation: valid ones, then broken ones. */
const VALID_RUNS = 24;
const INVALID_RUNS = 48;
/** Separates this file's per-address rate-limit bucket (unknown keys) from the other files'. */
const CLIENT_IP = "192.0.2.77";

interface Schema {
  $ref?: string;
  type?: string;
  enum?: unknown[];
  nullable?: boolean;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  exclusiveMaximum?: boolean | number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
}
interface Parameter {
  name: string;
  in: "path" | "query" | "header";
  required?: boolean;
  schema?: Schema;
}
interface RawOperation {
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: Schema }> };
  responses: Record<string, { content?: Record<string, unknown>; headers?: Record<string, unknown> }>;
}
interface Document {
  paths: Record<string, Record<string, RawOperation>>;
  components: { schemas: Record<string, Schema> };
}

interface Operation {
  method: string;
  template: string;
  params: Parameter[];
  query: Parameter[];
  body?: { content: Record<string, { schema?: Schema }> };
  statuses: Set<number>;
  /** The methods its path is served with (Allow). */
  allow: string[];
}

/** A request as sent: the path already encoded as it goes on the wire. */
interface Request {
  kind: string;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body?: string;
  /** The path as it was addressed before any dot segment was resolved: for checking which route it reached. */
  expected: string;
}

// ---------------------------------------------------------------------------------------------------------------
// What the fuzz knows as it goes: names that exist, so that generated requests reach past "unknown system".

const known: Record<string, string[]> = {
  system: ["fuzz", "fuzz_b"],
  user_id: ["u1", "u2", "user-3"],
  agent_type: ["default"],
  decision_id: [],
  run_id: [],
  key_id: [],
  candidate: [],
};
const ownKeyIds = new Set<string>();

function remember(name: string, value: unknown): void {
  const pool = known[name];
  if (
    !pool ||
    typeof value !== "string" ||
    !/^[\w.:~%-]{1,200}$/.test(value) ||
    pool.includes(value) ||
    (name === "key_id" && ownKeyIds.has(value))
  )
    return;
  pool.push(value);
  if (pool.length > 50) pool.splice(3, 1);
}

/** Ids the service gave out: a selection's decision, a started or listed run, a created key, a candidate. */
function learnFrom(body: unknown): void {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return;
  const record = body as Record<string, unknown>;
  const items = [
    record,
    ...[record.runs, record.keys, record.candidates, record.evaluations].flatMap((list) => (Array.isArray(list) ? list.slice(0, 5) : [])),
  ];
  for (const item of items as Record<string, unknown>[]) {
    if (item === null || typeof item !== "object") continue;
    remember("decision_id", item.decision_id);
    remember("run_id", item.run_id);
    remember("candidate", item.candidate);
    if (typeof item.id === "string" && item.id.startsWith("key_")) remember("key_id", item.id);
  }
}

/** A known value of this name, when there is one, else a generated one. */
function orKnown(name: string | undefined, generated: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  if (!name || !(name in known)) return generated;
  const fromPool = fc.nat().chain((i) => {
    const pool = known[name] ?? [];
    return pool.length > 0 ? fc.constant(pool[i % pool.length]) : generated;
  });
  return fc.oneof({ weight: 1, arbitrary: generated }, { weight: 3, arbitrary: fromPool });
}

// ---------------------------------------------------------------------------------------------------------------
// Keys: rotated so that the per-key limits (60 s windows) never turn the fuzz into a test of the rate limiter.

let adminKeys: string[] = [];
let keyUses = 0;
let runtimeKey = "";

async function newKey(scope: "admin" | "runtime", systems?: string[]): Promise<string> {
  const response = await call(
    "POST",
    "/v1/keys",
    { scope, name: "fuzz", ...(systems ? { systems } : {}) },
    { "cf-connecting-ip": CLIENT_IP },
  );
  if (response.status !== 201) return KEY;
  const created = (await response.json()) as { id: string; key: string };
  ownKeyIds.add(created.id);
  return created.key;
}

async function adminKey(): Promise<string> {
  if (adminKeys.length === 0 || ++keyUses % 300 === 0) adminKeys = [await newKey("admin")];
  return adminKeys[0] as string;
}

// ---------------------------------------------------------------------------------------------------------------
// Schema -> arbitrary (OpenAPI 3.0: $ref, allOf, oneOf/anyOf, nullable, enum, and the JSON types with their bounds).

let components: Record<string, Schema> = {};

function resolve(schema: Schema): Schema {
  let out = schema;
  for (let i = 0; out.$ref && i < 10; i++) out = components[out.$ref.split("/").at(-1) as string] ?? {};
  return out;
}

const safeKey = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9_]{0,11}$/),
  fc.string({ minLength: 1, maxLength: 8 }),
  fc.constantFrom("__proto__", "constructor", "toString", "é", "a.b", "[0]"),
);

function jsonScalar(): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -1000, max: 1000 }),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
    fc.string({ maxLength: 12 }),
  );
}

function anyJson(depth: number): fc.Arbitrary<unknown> {
  if (depth > 3) return jsonScalar();
  return fc.oneof(
    { weight: 3, arbitrary: jsonScalar() },
    { weight: 1, arbitrary: fc.array(anyJson(depth + 1), { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.dictionary(safeKey, anyJson(depth + 1), { maxKeys: 3 }) },
  );
}

/** Bounds of a number, from 3.0's boolean exclusive flags or 3.1's numbers. */
function bounds(schema: Schema, integer: boolean) {
  const min = typeof schema.exclusiveMinimum === "number" ? schema.exclusiveMinimum : schema.minimum;
  const max = typeof schema.exclusiveMaximum === "number" ? schema.exclusiveMaximum : schema.maximum;
  const minExcluded = schema.exclusiveMinimum === true || typeof schema.exclusiveMinimum === "number";
  const maxExcluded = schema.exclusiveMaximum === true || typeof schema.exclusiveMaximum === "number";
  const lo = min ?? (max !== undefined ? max - 1000 : -1000);
  const hi = max ?? lo + 2000;
  if (integer) return { min: Math.ceil(minExcluded ? lo + 1 : lo), max: Math.floor(maxExcluded ? hi - 1 : hi) };
  return { min: lo, max: hi, minExcluded, maxExcluded };
}

function stringArb(schema: Schema, name?: string): fc.Arbitrary<string> {
  const minLength = schema.minLength ?? 0;
  const maxLength = schema.maxLength ?? 10_000;
  const fits = (s: string) => s.length >= minLength && s.length <= maxLength;
  if (name && /url|endpoint/i.test(name)) return fc.webPath().map((p) => `http://fuzz.invalid/${p.replace(/^\//, "")}`);
  if (schema.pattern) return fc.stringMatching(new RegExp(schema.pattern), { maxLength: Math.min(maxLength, 40) }).filter(fits);
  const max = Math.max(minLength, Math.min(maxLength, 24));
  return fc.oneof(
    { weight: 3, arbitrary: fc.string({ minLength, maxLength: max }) },
    { weight: 1, arbitrary: fc.string({ minLength, maxLength: max, unit: "grapheme" }).filter(fits) },
  );
}

function fromSchema(input: Schema | undefined, depth = 0, name?: string): fc.Arbitrary<unknown> {
  if (!input) return anyJson(depth);
  let schema = resolve(input);
  if (schema.allOf) {
    const parts = schema.allOf.map(resolve);
    schema = Object.assign({}, ...parts, { nullable: parts.some((p) => p.nullable) || schema.nullable });
    delete schema.allOf;
  }
  let arb: fc.Arbitrary<unknown>;
  const choices = schema.oneOf ?? schema.anyOf;
  if (choices) {
    arb = depth > 3 ? fromSchema(choices[0], depth + 1, name) : fc.oneof(...choices.map((c) => fromSchema(c, depth + 1, name)));
  } else if (schema.enum) {
    arb = fc.constantFrom(...schema.enum);
  } else {
    switch (schema.type) {
      case "string":
        arb = stringArb(schema, name);
        break;
      case "integer":
        arb = fc.integer(bounds(schema, true));
        break;
      case "number":
        arb = fc.double({ ...bounds(schema, false), noNaN: true, noDefaultInfinity: true });
        break;
      case "boolean":
        arb = fc.boolean();
        break;
      case "array": {
        const maxLength = Math.min(schema.maxItems ?? 4, depth > 3 ? 1 : 4);
        arb = fc.array(fromSchema(schema.items, depth + 1), { minLength: Math.min(schema.minItems ?? 0, maxLength), maxLength });
        break;
      }
      case "object":
      case undefined: {
        if (!schema.properties && schema.additionalProperties === undefined && schema.type === undefined) {
          arb = anyJson(depth);
          break;
        }
        const properties = Object.fromEntries(
          Object.entries(schema.properties ?? {}).map(([key, value]) => [key, fromSchema(value, depth + 1, key)]),
        );
        const required = (schema.required ?? []).filter((key) => key in properties);
        const fixed = fc.record(properties, { requiredKeys: required });
        const extra = schema.additionalProperties;
        if (extra === false || extra === undefined || depth > 4) {
          arb = fixed;
          break;
        }
        const values = extra === true ? anyJson(depth + 1) : fromSchema(extra, depth + 1);
        arb = fc
          .tuple(fc.dictionary(safeKey, values, { maxKeys: 3 }), fixed)
          .map(([more, props]) => Object.assign(Object.create(null), more, props));
        break;
      }
      default:
        arb = anyJson(depth);
    }
  }
  if (schema.nullable) arb = fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(null) });
  return orKnown(name, arb);
}

// ---------------------------------------------------------------------------------------------------------------
// A run config the service accepts: the route's schema is any object (the body may also be YAML), so it is generated
// here, in mock mode, small enough to finish in a moment.

const runConfig = fc.record({
  api: fc.record({
    name: fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/),
    mock_mode: fc.constant(true),
    endpoint: fc.webPath().map((p) => `http://fuzz.invalid/v1${p}`),
    mock_latency_ms: fc.integer({ min: 0, max: 20 }),
  }),
  search_space: fc.record({
    parameters: fc.dictionary(
      fc.stringMatching(/^[a-z][a-z_]{0,11}$/),
      fc.oneof(
        fc
          .tuple(fc.double({ min: -5, max: 5, noNaN: true }), fc.double({ min: 0, max: 5, noNaN: true }))
          .map(([min, width]) => ({ type: "float", min, max: min + width })),
        fc.tuple(fc.integer({ min: -50, max: 50 }), fc.nat(20)).map(([min, width]) => ({ type: "int", min, max: min + width })),
        fc.record({ type: fc.constant("categorical"), values: fc.array(jsonScalar(), { minLength: 1, maxLength: 4 }) }),
      ),
      { minKeys: 1, maxKeys: 3 },
    ),
  }),
  evaluation: fc.record({
    test_cases: fc.record({
      inline: fc.array(
        fc.record({
          id: fc.stringMatching(/^[a-z0-9]{1,8}$/),
          input: fc.record({ prompt: fc.string({ maxLength: 40, unit: "grapheme" }) }),
          expected: fc.record({ contains: fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 2 }) }),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    }),
    metrics: fc.dictionary(
      fc.stringMatching(/^[a-z]{1,8}$/),
      fc.record({
        type: fc.constantFrom("contains", "length", "exact_match", "latency_penalty", "cost_normalized", "json_valid", "success_rate"),
        weight: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
      { minKeys: 1, maxKeys: 3 },
    ),
  }),
  optimization: fc.record(
    {
      algorithm: fc.constantFrom("evolution", "random", "tpe", "cmaes", "gp", "auto"),
      seed: fc.integer({ min: 0, max: 1000 }),
      evolution: fc.record({ population_size: fc.integer({ min: 1, max: 4 }), generations: fc.integer({ min: 1, max: 2 }) }),
      execution: fc.record({ parallel_workers: fc.integer({ min: 1, max: 4 }) }),
    },
    { requiredKeys: ["evolution"] },
  ),
});

/** Whatever a body became, a run it could start calls the mock target only. */
function forceMock(body: unknown): unknown {
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const config = body as Record<string, unknown>;
    const api = config.api && typeof config.api === "object" && !Array.isArray(config.api) ? config.api : {};
    return { ...config, api: { ...api, mock_mode: true, endpoint: "http://fuzz.invalid/v1" } };
  }
  return body;
}

// ---------------------------------------------------------------------------------------------------------------
// Requests.

const isRunStart = (op: Operation) => op.method === "POST" && op.template === "/v1/runs";

function bodyArb(op: Operation): fc.Arbitrary<{ type: string; value: unknown; text: string }> | null {
  if (!op.body) return null;
  const types = Object.keys(op.body.content);
  const value = isRunStart(op)
    ? fc.oneof(
        { weight: 4, arbitrary: runConfig as fc.Arbitrary<unknown> },
        { weight: 1, arbitrary: fromSchema(op.body.content["application/json"]?.schema) },
      )
    : fromSchema(op.body.content["application/json"]?.schema ?? op.body.content[types[0] as string]?.schema);
  return fc.tuple(fc.constantFrom(...types), value).map(([type, v]) => {
    const forced = isRunStart(op) ? forceMock(v) : v;
    return { type, value: forced, text: /yaml/.test(type) ? toYaml(forced) : JSON.stringify(forced) };
  });
}

/** encodeURIComponent, with lone surrogates (which it refuses) as U+FFFD, as a client's UTF-8 encoder sends them. */
const encode = (value: string) => encodeURIComponent(new TextDecoder().decode(new TextEncoder().encode(value)));

function encodeQuery(values: Record<string, unknown>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) if (value !== undefined) query.append(key, String(value));
  return query.toString();
}

const fill = (template: string, values: Record<string, string>) => template.replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "x");

/** Requests a client following the description would send. */
function validRequest(op: Operation): fc.Arbitrary<Request> {
  const dotSegment = (s: string) => /^\.{1,2}$/.test(s);
  const params = fc.record(
    Object.fromEntries(
      op.params.map((p) => [
        p.name,
        fromSchema(p.schema, 0, p.name)
          .map((v) => encode(String(v)))
          .filter((s) => !dotSegment(s)),
      ]),
    ),
  ) as fc.Arbitrary<Record<string, string>>;
  const query = fc.record(Object.fromEntries(op.query.map((p) => [p.name, fromSchema(p.schema, 0, p.name)])), {
    requiredKeys: op.query.filter((p) => p.required).map((p) => p.name),
  });
  const body = bodyArb(op) ?? fc.constant(null);
  const head = op.method === "GET" ? fc.boolean().map((b) => (b ? "HEAD" : "GET")) : fc.constant(op.method);
  return fc.record({ params, query, body, method: head }).map(({ params, query, body, method }): Request => {
    const path = fill(op.template, params);
    return {
      kind: "valid",
      method,
      path,
      query: encodeQuery(query as Record<string, unknown>),
      headers: body ? { "content-type": body.type } : ({} as Record<string, string>),
      ...(body ? { body: body.text } : {}),
      expected: path,
    };
  });
}

const hugeString = fc.constantFrom(5_000, 70_000, 300_000, 1_100_000).map((n) => "é".repeat(n / 2));
const oddString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\u0007\u001b[2J",
    "\ud800",
    "\u202e",
    "%s%n",
    "NaN",
    "Infinity",
    "1e999",
    "null",
    "<script>",
    "../../etc",
  ),
);
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, -0, 1.5, 1e308, -1e308, 2 ** 53 + 2, 4294967296, "", [], {}),
  fc.integer(),
  fc.double(),
  oddString,
  fc.array(jsonScalar(), { maxLength: 3 }),
  fc.dictionary(safeKey, jsonScalar(), { maxKeys: 3 }),
);

/** Every place in a JSON value, as paths of keys and indexes. */
function placesOf(value: unknown, path: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (out.length > 200) return out;
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([...path, i]);
      placesOf(v, [...path, i], out);
    });
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      out.push([...path, k]);
      placesOf(v, [...path, k], out);
    }
  }
  return out;
}

function setAt(value: unknown, path: (string | number)[], replace: (old: unknown) => unknown | typeof DELETE): unknown {
  if (path.length === 0) return replace(value);
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<string | number, unknown>;
  const next = setAt(copy[head], rest, replace);
  if (next === DELETE) {
    if (Array.isArray(copy)) (copy as unknown[]).splice(head as number, 1);
    else delete copy[head];
  } else copy[head] = next;
  return copy;
}
const DELETE = Symbol("delete");

function nested(depth: number, shape: "array" | "object"): string {
  return shape === "array" ? `${"[".repeat(depth)}1${"]".repeat(depth)}` : `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

const TRICKY_SEGMENTS = [
  "..",
  ".",
  "%2e%2e",
  "%2E",
  "%2F",
  "a%2Fb",
  "a%5Cb",
  "%00",
  "%",
  "%zz",
  "%C0%AE",
  "%F0%9F%98%80",
  "%EF%BF%BF",
  "%20",
  "a%3Fb",
  "a%23b",
  "a;b",
  "%25",
  "é",
  "%E2%80%AE",
  "x".repeat(300),
  "y".repeat(5000),
];
/** YAML aliases that expand to 9^6 strings. */
const BILLION_LAUGHS = ["a", "b", "c", "d", "e", "f"]
  .map(
    (name, i) =>
      `${name}: &${name} [${Array(9)
        .fill(i === 0 ? '"lol"' : `*${"abcdef"[i - 1]}`)
        .join(", ")}]`,
  )
  .concat([`g: [${Array(9).fill("*f").join(", ")}]`])
  .join("\n");

const CONTENT_TYPES = [
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "",
  "application/json; charset=utf-16",
  "application/yaml",
  "application/jsonx",
  "APPLICATION/JSON",
  "application/json, text/plain",
  "application/problem+json",
];
const METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];

/** Requests a client should not send, each a valid one broken in one way. */
function invalidRequest(op: Operation): fc.Arbitrary<Request> {
  const base = validRequest(op).filter((r) => r.method !== "HEAD");
  const breakers: fc.Arbitrary<Request>[] = [];

  // Who: no key, a wrong key, a runtime key (which may reach only its own system's runtime routes).
  breakers.push(
    fc
      .tuple(
        base,
        fc.oneof(
          fc.constantFrom("", "Bearer", "Bearer ", "Bearer wrong", "Basic dGVzdDp0ZXN0", `Bearer ${KEY}x`, `bearer  ${KEY}`),
          fc.string({ maxLength: 20 }).map((s) => `Bearer cvg_${s}`),
          fc.constant(`Bearer ${"k".repeat(10_000)}`),
          fc.constant("runtime"),
        ),
      )
      .map(([r, auth]) => ({
        ...r,
        kind: "auth",
        headers: { ...r.headers, authorization: auth === "runtime" ? `Bearer ${runtimeKey}` : auth },
      })),
  );

  // Headers a client may add: a run's own marker (a run may not start runs), odd addresses, odd accepts.
  breakers.push(
    fc
      .tuple(
        base,
        fc.dictionary(
          fc.constantFrom(
            RUN_HEADER,
            "accept",
            "accept-encoding",
            "cf-connecting-ip",
            "x-forwarded-for",
            "origin",
            "if-none-match",
            "range",
          ),
          fc.oneof(
            fc.constantFrom("1", "*/*", "text/html", "bytes=0-1", "::1", "1.1.1.1, 2.2.2.2", "null", '"x"'),
            fc.string({ maxLength: 20 }),
          ),
          { minKeys: 1, maxKeys: 3 },
        ),
      )
      .map(([r, extra]) => ({ ...r, kind: `headers ${Object.keys(extra).join(",")}`, headers: { ...r.headers, ...extra } })),
  );

  // Where: a path parameter or the query broken.
  if (op.params.length > 0) {
    breakers.push(
      fc
        .tuple(base, fc.constantFrom(...op.params.map((p) => p.name)), fc.oneof(fc.constantFrom(...TRICKY_SEGMENTS), oddString.map(encode)))
        .map(([r, name, segment]) => {
          const values = Object.fromEntries(op.params.map((p) => [p.name, known[p.name]?.[0] ?? "x1"]));
          values[name] = segment;
          const path = fill(op.template, values);
          return { ...r, kind: `path ${name}`, path, expected: path };
        }),
    );
  }
  breakers.push(
    fc
      .tuple(
        base,
        fc.array(
          fc.tuple(
            fc.oneof(fc.constantFrom(...op.query.map((p) => p.name), "limit", "offset", "seed"), safeKey),
            fc.oneof(
              oddString,
              fc.constantFrom("-1", "0", "1e309", "0x10", "1.5", "9007199254740993", "%", "%zz", "a&b=c"),
              hugeString.map((s) => s.slice(0, 20_000)),
            ),
          ),
          { minLength: 1, maxLength: 4 },
        ),
        fc.boolean(),
      )
      .map(([r, pairs, raw]) => {
        const extra = raw ? pairs.map(([k, v]) => `${k}=${v}`).join("&") : encodeQuery(Object.fromEntries(pairs));
        return { ...r, kind: "query", query: [r.query, extra].filter(Boolean).join("&") };
      }),
  );

  // How: a method the path does not serve.
  const unserved = METHODS.filter((m) => !op.allow.includes(m));
  if (unserved.length > 0) {
    breakers.push(
      fc.tuple(base, fc.constantFrom(...unserved)).map(([r, method]) => {
        const { body: _body, ...rest } = r;
        return { ...rest, kind: "method", method, ...(method === "GET" || method === "HEAD" ? {} : _body ? { body: _body } : {}) };
      }),
    );
  }

  // What: the body, broken.
  const body = bodyArb(op);
  if (body) {
    const withValue = fc.tuple(base, body).map(([r, b]) => ({ r, value: b.value }));
    // JSON text, sent as the type the request had (JSON is YAML too, for the routes that read YAML).
    const jsonOf = (r: Request, text: string, kind: string): Request => ({
      ...r,
      kind,
      body: text,
      headers: { ...r.headers, "content-type": r.headers["content-type"] ?? "application/json" },
    });
    breakers.push(
      // One field missing, of a wrong type, or extra.
      fc
        .tuple(withValue, fc.nat(), fc.constantFrom("delete", "replace", "extra"), wrongValue, safeKey)
        .map(([{ r, value }, pick, how, wrong, key]) => {
          const places = placesOf(value);
          const place = places[pick % Math.max(1, places.length)] ?? [];
          let broken: unknown;
          if (how === "extra" || places.length === 0) {
            broken = value && typeof value === "object" && !Array.isArray(value) ? { ...(value as object), [key]: wrong } : wrong;
          } else broken = setAt(value, place, () => (how === "delete" ? DELETE : wrong));
          return jsonOf(r, JSON.stringify(isRunStart(op) ? forceMock(broken) : broken), `body ${how} ${place.join(".")}`);
        }),
      // A huge or odd string in place of one.
      fc.tuple(withValue, fc.nat(), fc.oneof(hugeString, oddString)).map(([{ r, value }, pick, text]) => {
        const places = placesOf(value).filter((p) => typeof p.at(-1) === "string");
        const place = places[pick % Math.max(1, places.length)];
        const broken = place ? setAt(value, place, () => text) : text;
        return jsonOf(r, JSON.stringify(isRunStart(op) ? forceMock(broken) : broken), `body string (${text.length} chars)`);
      }),
      // Nested deep: the whole body or one field.
      fc
        .tuple(
          withValue,
          fc.constantFrom(16, 63, 64, 65, 100, 500, 1000, 2000),
          fc.constantFrom("array", "object") as fc.Arbitrary<"array" | "object">,
          fc.boolean(),
          fc.nat(),
        )
        .map(([{ r, value }, depth, shape, whole, pick]) => {
          const deep = nested(depth, shape);
          if (whole || !value || typeof value !== "object") return jsonOf(r, deep, `body nested ${depth} (${shape})`);
          const places = placesOf(value);
          const place = places[pick % Math.max(1, places.length)] ?? ["deep"];
          const marked = setAt(isRunStart(op) ? forceMock(value) : value, place, () => "\u0001deep\u0001");
          return jsonOf(
            r,
            JSON.stringify(marked).replace('"\\u0001deep\\u0001"', deep),
            `body ${place.join(".")} nested ${depth} (${shape})`,
          );
        }),
      // Not JSON at all, or not quite.
      fc
        .tuple(
          withValue,
          fc.oneof(
            fc.constantFrom(
              "",
              "{",
              "}",
              "[",
              "nul",
              "NaN",
              '{"a":1,}',
              "{'a':1}",
              '{"a":1}{"b":2}',
              "\ufeff{}",
              '{"a":1e999}',
              '"\\ud800"',
              "[1,]",
              "--- !!js/function x",
              "a: [1",
              "&a [*a]",
              BILLION_LAUGHS,
              "{a: 1}",
            ),
            fc.string({ unit: "binary", maxLength: 60 }),
          ),
          fc.nat(),
          fc.boolean(),
        )
        .map(([{ r, value }, junk, cut, truncate]) => {
          const text = JSON.stringify(value) ?? "";
          const body = truncate && text.length > 1 ? text.slice(0, cut % text.length) : junk;
          return {
            ...r,
            kind: "body malformed",
            body,
            headers: { ...r.headers, "content-type": r.headers["content-type"] ?? "application/json" },
          };
        }),
      // A content type the route does not read.
      fc
        .tuple(base, fc.constantFrom(...CONTENT_TYPES))
        .map(([r, type]) => ({ ...r, kind: `content-type '${type}'`, headers: { ...r.headers, "content-type": type } })),
    );
  }
  return fc.oneof(...breakers);
}

/** The worst of each kind, sent to every operation whatever the draw: fast-check runs them first. */
function mustTry(op: Operation): Request[] {
  const [base] = fc.sample(
    validRequest(op).filter((r) => r.method !== "HEAD"),
    { seed: SEED, numRuns: 1 },
  );
  if (!base) return [];
  const { body: _body, ...bare } = base;
  const out: Request[] = METHODS.filter((m) => !op.allow.includes(m)).map((method) => ({ ...bare, kind: "method", method }));
  for (const name of op.params.map((p) => p.name)) {
    for (const segment of ["..", "%2F", "%zz", "y".repeat(5000)]) {
      const values = Object.fromEntries(op.params.map((p) => [p.name, known[p.name]?.[0] ?? "x1"]));
      values[name] = segment;
      const path = fill(op.template, values);
      out.push({ ...base, kind: `path ${name}`, path, expected: path });
    }
  }
  for (const type of Object.keys(op.body?.content ?? {})) {
    const texts: [string, string][] = [
      ["body nested 2000 (array)", nested(2000, "array")],
      ["body nested 2000 (object)", nested(2000, "object")],
      ["body malformed", "{"],
      ["body string (1100000 chars)", JSON.stringify({ text: "x".repeat(1_100_000) })],
    ];
    if (/yaml/.test(type)) texts.push(["body yaml aliases", BILLION_LAUGHS], ["body yaml aliases", "&a [*a]"]);
    for (const [kind, text] of texts) out.push({ ...base, kind, body: text, headers: { ...base.headers, "content-type": type } });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Sending and judging.

function wireUrl(r: Request): string {
  return `${r.path}${r.query ? `?${r.query}` : ""}`;
}

async function send(r: Request): Promise<Response> {
  const headers = { "cf-connecting-ip": CLIENT_IP, ...r.headers };
  if (!("authorization" in headers)) (headers as Record<string, string>).authorization = `Bearer ${await adminKey()}`;
  const response = await call(r.method, wireUrl(r), r.body, headers);
  if (response.status === 429 && r.headers.authorization === undefined) {
    // This key's window is used up: the answer was checked like any other, the request goes again with a new key.
    keyUses = 299;
    return call(r.method, wireUrl(r), r.body, { ...headers, authorization: `Bearer ${await adminKey()}` });
  }
  return response;
}

let documentedAnywhere = new Set<number>();

function statusesFor(op: Operation, r: Request, reached: string): { statuses: Set<number>; why: string } {
  if (r.kind === "method") return { statuses: new Set([405, 401, 429]), why: "an unserved method" };
  // A dot segment (., .., %2e) is resolved by the URL: the request reached another path, and another route or none.
  if (reached !== r.expected) return { statuses: new Set([...documentedAnywhere, 404, 405]), why: `reached ${reached}` };
  return { statuses: op.statuses, why: `documented for ${op.method} ${op.template}` };
}

function problemsOf(op: Operation, r: Request, response: Response, text: string): string[] {
  const problems: string[] = [];
  const status = response.status;
  const reached = new URL(`http://x${r.path}`).pathname;
  const { statuses, why } = statusesFor(op, r, reached);
  if (status >= 500) problems.push(`${status} (a server error)`);
  else if (!statuses.has(status)) problems.push(`${status} is not ${why}`);
  const isHead = r.method === "HEAD";
  if (status === 405 && !response.headers.get("allow")) problems.push("405 without Allow");
  if (status === 405 && r.kind === "method" && reached === r.expected && response.headers.get("allow") !== op.allow.join(", "))
    problems.push(`Allow '${response.headers.get("allow")}' is not '${op.allow.join(", ")}'`);
  if (status === 429 && !/^\d+$/.test(response.headers.get("retry-after") ?? "")) problems.push("429 without Retry-After");
  if (status >= 400 && !isHead) {
    if (!/^application\/json/.test(response.headers.get("content-type") ?? ""))
      problems.push(`error as ${response.headers.get("content-type")}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      problems.push(`error body is not JSON: ${text.slice(0, 80)}`);
    }
    const error = (body as { error?: Record<string, unknown> } | undefined)?.error;
    const details = error?.details;
    const wellFormed =
      body !== null &&
      typeof body === "object" &&
      Object.keys(body).join() === "error" &&
      typeof error?.code === "string" &&
      /^[a-z_]+$/.test(error.code) &&
      typeof error.message === "string" &&
      error.message.length > 0 &&
      (details === undefined ||
        (Array.isArray(details) && details.every((d) => typeof d?.path === "string" && typeof d?.message === "string")));
    if (body !== undefined && !wellFormed) problems.push(`error not in the error format: ${text.slice(0, 120)}`);
    if (/\bat [\w.<>]+ \(|\.ts:\d+/.test(text)) problems.push("a stack trace in the answer");
  }
  if (status < 300 && !isHead && /json/.test(response.headers.get("content-type") ?? "")) {
    try {
      learnFrom(JSON.parse(text));
    } catch {
      problems.push(`a ${status} whose JSON does not parse`);
    }
  }
  if (isHead && text !== "") problems.push("HEAD with a body");
  return problems;
}

function describeRequest(r: Request): string {
  const body = r.body === undefined ? "" : ` body(${r.body.length}) ${JSON.stringify(r.body.slice(0, 160))}`;
  const type = r.headers["content-type"] === undefined ? "" : ` [${r.headers["content-type"]}]`;
  const auth = r.headers.authorization === undefined ? "" : ` [authorization ${JSON.stringify(r.headers.authorization.slice(0, 30))}]`;
  const url = wireUrl(r);
  return `${r.kind}: ${r.method} ${url.length > 200 ? `${url.slice(0, 200)}…(${url.length})` : url}${type}${auth}${body}`;
}

// ---------------------------------------------------------------------------------------------------------------

const doc = (await (await call("GET", "/openapi.json")).json()) as Document;
components = doc.components.schemas;
documentedAnywhere = new Set(
  Object.values(doc.paths).flatMap((ops) => Object.values(ops).flatMap((op) => Object.keys(op.responses).map(Number))),
);
const operations: Operation[] = Object.entries(doc.paths).flatMap(([template, ops]) => {
  const served = Object.keys(ops).map((m) => m.toUpperCase());
  const allow = [...served, ...(served.includes("GET") ? ["HEAD"] : [])].sort();
  return Object.entries(ops).map(([method, raw]) => ({
    method: method.toUpperCase(),
    template,
    params: (raw.parameters ?? []).filter((p) => p.in === "path"),
    query: (raw.parameters ?? []).filter((p) => p.in === "query"),
    ...(raw.requestBody ? { body: { content: raw.requestBody.content } } : {}),
    statuses: new Set(Object.keys(raw.responses).map(Number)),
    allow,
  }));
});

describe("fuzzing every operation of /openapi.json", () => {
  beforeAll(async () => {
    for (const system of known.system ?? []) await call("PUT", `/v1/systems/${system}`, THREE_ARMS);
    runtimeKey = await newKey("runtime", ["fuzz"]);
    for (const user of known.user_id ?? []) {
      const selected = await call("POST", "/v1/systems/fuzz/select", { user_id: user }, { authorization: `Bearer ${runtimeKey}` });
      if (selected.ok) learnFrom(await selected.json());
    }
  });

  afterAll(async () => {
    // Stop what the fuzz started, so that nothing is left running when the file ends.
    for (const run of known.run_id ?? []) await call("POST", `/v1/runs/${run}/cancel`);
  });

  it("covers every route the worker serves", () => {
    expect(operations.length).toBeGreaterThanOrEqual(20);
    expect(operations.map((o) => `${o.method} ${o.template}`)).toEqual(
      expect.arrayContaining(["GET /healthz", "POST /v1/runs", "POST /v1/systems/{system}/select", "PUT /v1/systems/{system}"]),
    );
  });

  for (const op of operations) {
    it(`${op.method} ${op.template}`, async () => {
      const problems = new Map<string, string>();
      const statuses = new Map<number, number>();
      const judge = async (r: Request) => {
        const response = await send(r);
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        for (const problem of problemsOf(op, r, response, text)) {
          const key = `${problem.replace(/\d+ chars/, "n chars")} | ${r.kind.replace(/[\d.]+/g, "#")}`;
          if (!problems.has(key)) problems.set(key, `${problem} <- ${describeRequest(r)} -> ${text.slice(0, 200)}`);
        }
        return true;
      };
      await fc.assert(fc.asyncProperty(validRequest(op), judge), { seed: SEED, numRuns: VALID_RUNS });
      await fc.assert(fc.asyncProperty(invalidRequest(op), judge), {
        seed: SEED + 1,
        numRuns: INVALID_RUNS,
        examples: mustTry(op).map((r) => [r] as [Request]),
      });
      expect([...problems.values()], `statuses seen: ${JSON.stringify(Object.fromEntries(statuses))}`).toEqual([]);
      // The fuzz got past the front door: some request was served or refused for its content, not for its key.
      expect([...statuses.keys()].some((s) => s < 300 || s === 400 || s === 404 || s === 409)).toBe(true);
    });
  }
});
