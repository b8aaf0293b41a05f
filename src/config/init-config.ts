/**
 * `convergence init`: a starting config for the user's API, from a sample request and the fields of its body to
 * tune. Platform-neutral (the CLI asks the questions, reads files and writes the result): answers in, YAML out.
 * Keys stay in the environment: a request that holds one literally is refused, never written.
 */
import { Document, isCollection, isMap, isScalar, type Pair, type YAMLMap } from "yaml";
import { copyJson, isPlainObject, type JsonValue, utf8Length } from "../json.js";
import { MAX_TEXT_VALUE_BYTES } from "./schema.js";

/** Input init cannot use (a body that is not JSON, a field not in it, a pasted key): its message, exit 2. */
export class InitError extends Error {}

export type InitAuth =
  | { type: "none" }
  | { type: "bearer"; tokenEnv: string }
  | { type: "api_key"; tokenEnv: string; header: string }
  | { type: "query"; tokenEnv: string; param: string };

export interface InitAnswers {
  name: string;
  endpoint: string;
  method: string;
  auth: InitAuth;
  /** Headers sent as they are: none of them holds a secret. */
  headers: Record<string, string>;
  body: Record<string, JsonValue>;
  /** Fields of the body to tune, by dotted path (`temperature`, `generationConfig.topP`, `messages[0].content`). */
  tune: readonly string[];
  /** Where the config goes, for the commands its header comment shows. */
  output: string;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** `$VAR` or `${VAR}`, the whole value: how a shell command names a key without holding it. */
const ENV_REFERENCE = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))$/;
/** Header names that carry credentials: their value must come from the environment. */
const SECRET_HEADER = /auth|key|token|secret|cookie|session|signature|password|credential/i;
/** Query parameters that carry a key (Gemini's ?key=, signed URLs). */
const SECRET_QUERY = /^(key|api[-_]?key|token|access[-_]?token|secret|sig|signature)$/i;
const METHODS = ["POST", "PUT", "PATCH", "GET", "DELETE"] as const;

function envReference(value: string): string | null {
  const m = value.trim().match(ENV_REFERENCE);
  return m ? ((m[1] ?? m[2]) as string) : null;
}

/** The environment variable a key is read from: a name (OPENAI_API_KEY, or $OPENAI_API_KEY), never the key. */
export function envVarName(text: string, what: string): string {
  const name = envReference(text) ?? text.trim();
  if (!ENV_NAME.test(name)) {
    // Not echoed: what was typed may be the key itself.
    throw new InitError(
      `${what} is not the name of an environment variable (like OPENAI_API_KEY): the key stays in that variable, read when a run calls, and is never written to the config`,
    );
  }
  return name;
}

const KNOWN_KEY_VARS: [RegExp, string][] = [
  [/(^|\.)openai\.com$/, "OPENAI_API_KEY"],
  [/(^|\.)openai\.azure\.com$/, "AZURE_OPENAI_API_KEY"],
  [/(^|\.)anthropic\.com$/, "ANTHROPIC_API_KEY"],
  [/^generativelanguage\.googleapis\.com$/, "GEMINI_API_KEY"],
  [/(^|\.)openrouter\.ai$/, "OPENROUTER_API_KEY"],
];

/** The host's own name: api.openai.com is openai, localhost is localhost. */
function hostLabel(endpoint: string): string | null {
  let host: string;
  try {
    host = new URL(endpoint).hostname;
  } catch {
    return null;
  }
  if (/^[\d.]+$/.test(host) || host.includes(":")) return null;
  const labels = host.split(".").filter((l) => l !== "");
  if (labels.length > 1) labels.pop();
  const own = labels.filter((l) => !/^(api|www)$/i.test(l));
  return own.at(-1) ?? labels.at(-1) ?? null;
}

/** The variable a key for this endpoint usually lives in, as a default to offer. */
export function defaultTokenEnv(endpoint: string): string {
  let host = "";
  try {
    host = new URL(endpoint).hostname;
  } catch {}
  const known = KNOWN_KEY_VARS.find(([re]) => re.test(host));
  if (known) return known[1];
  const label = hostLabel(endpoint);
  return label && label !== "localhost" ? `${label.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_API_KEY` : "API_KEY";
}

/** A name for the config (it starts every run id): the endpoint's host. */
export function defaultName(endpoint: string): string {
  return (
    hostLabel(endpoint)
      ?.toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-") || "my-api"
  );
}

/** The environment init runs in: to tell a key the shell expanded from one pasted. */
type Env = Readonly<Record<string, string | undefined>>;

const SHELL_QUOTING =
  "quote the curl command with single quotes, or give it on stdin (--from-curl - <<'EOF' ... EOF), so that the variable's name reaches init";

/** A key where a variable's name should be: refused, with why it may have got there. Its value is never repeated. */
function refuseSecret(where: string, value: string, example: string, env: Env): never {
  if (value.trim() === "") {
    throw new InitError(
      `${where} has no key: a variable named inside double quotes is replaced by the shell (with nothing, when it is not set) before init sees it; ${SHELL_QUOTING}`,
    );
  }
  const expanded = value.length >= 8 ? Object.keys(env).find((name) => env[name] === value) : undefined;
  if (expanded) {
    throw new InitError(
      `${where} holds the value of $${expanded}, which the shell put there before init saw it: ${SHELL_QUOTING}. convergence init never writes a key into a file`,
    );
  }
  throw new InitError(
    `${where} holds a key written out: convergence init never writes a key into a file. Put it in an environment variable and name that instead, as in ${example}`,
  );
}

/**
 * The endpoint, checked, with a key in its query string taken out: `?key=$VAR` becomes query auth, a key written
 * out is refused.
 */
export function endpointOf(text: string, env: Env = {}): { endpoint: string; auth: InitAuth | null } {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new InitError(`the endpoint '${text.trim()}' is not a URL (like https://api.example.com/v1/chat/completions)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new InitError(`the endpoint must be an http(s) URL, not ${url.protocol}`);
  if (url.username || url.password) {
    refuseSecret("the endpoint's user:password@", url.password || url.username, "a header -H 'Authorization: Bearer $API_KEY'", env);
  }
  let auth: InitAuth | null = null;
  for (const [param, value] of [...url.searchParams]) {
    if (!SECRET_QUERY.test(param)) continue;
    const name = envReference(value);
    if (!name) refuseSecret(`the endpoint's ?${param}=`, value, `?${param}=$${defaultTokenEnv(text)}`, env);
    if (auth) throw new InitError("the endpoint's query string names two keys: Convergence sends one (api.auth)");
    auth = { type: "query", tokenEnv: name, param };
    url.searchParams.delete(param);
  }
  return { endpoint: auth ? url.toString() : text.trim(), auth };
}

/**
 * A curl command's headers as a config has them: the one that carries the key becomes api.auth (bearer, or
 * api_key with its header name), what every JSON call sends anyway is dropped, and the rest are kept as written.
 */
export function headersOf(
  headers: readonly [string, string][],
  endpoint: string,
  env: Env = {},
): { auth: InitAuth | null; headers: Record<string, string> } {
  let auth: InitAuth | null = null;
  let authHeader = "";
  const kept: Record<string, string> = {};
  const setAuth = (name: string, value: InitAuth) => {
    if (auth)
      throw new InitError(`both ${authHeader} and ${name} carry a key: Convergence sends one (api.auth); keep the one the API needs`);
    auth = value;
    authHeader = name;
  };
  const example = defaultTokenEnv(endpoint);
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if ((lower === "content-type" || lower === "accept") && /^application\/json\b/i.test(value)) continue;
    if (lower === "content-length" || lower === "host") continue;
    if (lower === "authorization") {
      const bearer = value.match(/^Bearer(?:\s+(\S*))?$/i);
      const key = bearer ? (bearer[1] ?? "") : value;
      const variable = envReference(key);
      if (!variable) refuseSecret(`the ${name} header`, key, `-H '${name}: Bearer $${example}'`, env);
      setAuth(name, bearer ? { type: "bearer", tokenEnv: variable } : { type: "api_key", tokenEnv: variable, header: name });
    } else if (SECRET_HEADER.test(lower)) {
      const variable = envReference(value);
      if (!variable) refuseSecret(`the ${name} header`, value, `-H '${name}: $${example}'`, env);
      setAuth(name, { type: "api_key", tokenEnv: variable, header: name });
    } else if (/\$\{?[A-Za-z_]/.test(value)) {
      throw new InitError(
        `the ${name} header reads an environment variable: a config's headers are sent as written, and only the key (api.auth) is read from the environment; write this header's value`,
      );
    } else kept[name] = value;
  }
  return { auth, headers: kept };
}

/** The sample body: a JSON object, whose fields are what can be tuned. */
export function parseSampleBody(text: string): Record<string, JsonValue> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InitError(`the sample body is not JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(value)) throw new InitError("the sample body must be a JSON object ({...}), whose fields init tunes");
  return value as Record<string, JsonValue>;
}

type Segment = string | number;

function parsePath(path: string): Segment[] {
  const text = path.trim();
  if (!/^[^.[\]]+(\.[^.[\]]+|\[\d+\])*$/.test(text)) {
    throw new InitError(`'${path}' is not a field path (like temperature, generationConfig.topP or messages[0].content)`);
  }
  return [...text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] as string)));
}

function showPath(segments: readonly Segment[]): string {
  return segments.map((s, i) => (typeof s === "number" ? `[${s}]` : i === 0 ? s : `.${s}`)).join("");
}

/** The value at a path of the body, with numeric segments as list indexes (messages.0.content too). */
function resolve(body: Record<string, JsonValue>, path: string): { segments: Segment[]; value: JsonValue } {
  const segments = parsePath(path);
  let current: JsonValue = body;
  const walked: Segment[] = [];
  for (const raw of segments) {
    const index: number | null = typeof raw === "number" ? raw : /^\d+$/.test(raw) && Array.isArray(current) ? Number(raw) : null;
    let next: JsonValue | undefined;
    if (Array.isArray(current) && index !== null) next = current[index];
    else if (isPlainObject(current) && typeof raw === "string" && Object.hasOwn(current, raw)) next = current[raw] as JsonValue;
    if (next === undefined) {
      const where = walked.length === 0 ? "the sample body" : showPath(walked);
      const has = isPlainObject(current)
        ? `its fields: ${Object.keys(current).join(", ") || "none"}`
        : Array.isArray(current)
          ? `a list of ${current.length}`
          : "a single value";
      throw new InitError(`cannot tune '${path}': ${where} has no ${typeof raw === "number" ? `[${raw}]` : raw} (${has})`);
    }
    walked.push(index ?? raw);
    current = next;
  }
  return { segments: walked, value: current };
}

/** Fields worth tuning in almost any LLM API, in the spellings of OpenAI, Anthropic and Gemini. */
const TUNABLE = new Set(
  [
    "model",
    "temperature",
    "top_p",
    "topP",
    "top_k",
    "topK",
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "maxOutputTokens",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
  ].map((k) => k.toLowerCase()),
);

/** The fields of a body init offers to tune by default: the usual knobs, at the top or one object down. */
export function suggestedTunes(body: Record<string, JsonValue>): string[] {
  const found: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (TUNABLE.has(key.toLowerCase()) && value !== null) found.push(key);
    else if (isPlainObject(value)) {
      for (const [inner, v] of Object.entries(value)) if (TUNABLE.has(inner.toLowerCase()) && v !== null) found.push(`${key}.${inner}`);
    }
  }
  return found;
}

/** A parameter as the config writes it, and a comment to put before it. */
interface ParameterSpec {
  spec: Record<string, JsonValue>;
  note?: string;
}

const round = (x: number) => Number.parseFloat(x.toPrecision(10));
/** 1, 2 or 5 times a power of ten, near span / 20: grids of about twenty points. */
function niceStep(span: number): number {
  const raw = span / 20;
  const power = 10 ** Math.floor(Math.log10(raw));
  const f = raw / power;
  return round((f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * power);
}
const floorTo = (x: number, step: number) => round(Math.floor(round(x / step)) * step);
const ceilTo = (x: number, step: number) => round(Math.ceil(round(x / step)) * step);

/** Fields that are fractions whatever the sample holds (a temperature of 1 is not an integer setting). */
const FLOAT_KEY = /temperature|(^|_)(top|min)_?p$|penalty|alpha|ratio|threshold|rate$|weight|scale|probability/i;

function numberParameter(key: string, v: number): ParameterSpec {
  if (/temperature/i.test(key)) return { spec: { type: "float", min: 0, max: Math.max(1.5, Math.ceil(v * 2) / 2), step: 0.05 } };
  if (/(^|_)top_?p$/i.test(key) && v >= 0 && v <= 1)
    return { spec: { type: "float", min: Math.min(0.5, floorTo(v, 0.05)), max: 1, step: 0.05 } };
  if (!Number.isInteger(v) || FLOAT_KEY.test(key)) {
    if (v >= 0 && v < 1) return { spec: { type: "float", min: 0, max: 1, step: 0.05 } };
    const [low, high] = v > 0 ? [v / 2, v * 2] : [v * 2, -v * 2];
    const step = niceStep(high - low);
    return { spec: { type: "float", min: floorTo(low, step), max: ceilTo(high, step), step } };
  }
  // Token limits and other sizes matter by their order of magnitude: a few values a factor of two apart.
  if (v >= 16) {
    const values = [...new Set([v / 4, v / 2, v, v * 2, v * 4].map(Math.round))].filter((x) => x > 0 && Number.isSafeInteger(x));
    return { spec: { type: "discrete", values } };
  }
  if (v >= 1) return { spec: { type: "int", min: 1, max: Math.max(2 * v, v + 4), step: 1 } };
  if (v === 0) return { spec: { type: "int", min: 0, max: 10, step: 1 } };
  return { spec: { type: "int", min: 2 * v, max: -2 * v, step: 1 } };
}

function parameterFor(key: string, path: string, value: JsonValue): ParameterSpec {
  if (typeof value === "number") {
    // JSON.parse reads 1e400 as Infinity: no range can be built around it.
    if (!Number.isFinite(value)) throw new InitError(`cannot tune '${path}': ${value} is not a finite number`);
    return numberParameter(key, value);
  }
  if (typeof value === "boolean") return { spec: { type: "categorical", values: [value, !value] } };
  if (value === null) throw new InitError(`cannot tune '${path}': it is null in the sample body; give it the value to start from`);
  if (typeof value === "string") {
    // Names (a model, an effort level) are chosen among; prose (a prompt) is text the society may rewrite.
    if (/model|engine|deployment/i.test(key) || (value.length <= 64 && !/\s/.test(value))) {
      return { spec: { type: "categorical", values: [value] }, note: `The sample's ${path}: add the other values to compare.` };
    }
    if (utf8Length(value) > MAX_TEXT_VALUE_BYTES) {
      throw new InitError(`cannot tune '${path}': it is longer than ${MAX_TEXT_VALUE_BYTES / 1024} KiB, the most a text parameter holds`);
    }
    return { spec: { type: "text", values: [value] }, note: `The sample's ${path}: add other versions of the text to try.` };
  }
  return { spec: { type: "categorical", values: [value] }, note: `The sample's ${path}: add the other values to compare.` };
}

const safeName = (text: string) => text.replace(/[^A-Za-z0-9_]+/g, "_").replace(/^_+|_+$/g, "") || "field";

/**
 * Parameter names: each field's own key (a parameter name is a placeholder's path, so it has no dots), the whole
 * path when two tuned fields share a key. A chat message's content is named by its role.
 */
function parameterNames(body: Record<string, JsonValue>, paths: readonly Segment[][]): string[] {
  const own = paths.map((segments) => {
    const parent = segments.length >= 2 ? segments.slice(0, -1) : null;
    const last = segments.at(-1);
    if (parent && last === "content" && typeof parent.at(-1) === "number") {
      const message = resolve(body, showPath(parent)).value;
      if (isPlainObject(message) && typeof message.role === "string") return safeName(`${message.role}_prompt`);
    }
    const key = [...segments].reverse().find((s): s is string => typeof s === "string");
    // Gemini's systemInstruction.parts[0].text: "text" alone would say nothing of which text.
    if (key && /^(text|content|value)$/i.test(key) && segments.length > 1) return safeName(`${segments[0]}_${key}`);
    return safeName(key ?? segments.join("_"));
  });
  const names = own.map((name, i) => (own.indexOf(name) !== own.lastIndexOf(name) ? safeName((paths[i] as Segment[]).join("_")) : name));
  return names.map((name, i) => (names.indexOf(name) < i ? `${name}_${i + 1}` : name));
}

function setAt(target: JsonValue, segments: readonly Segment[], value: JsonValue): void {
  let current = target as Record<string, JsonValue> | JsonValue[];
  for (const s of segments.slice(0, -1)) current = (current as Record<string, JsonValue>)[s as string] as Record<string, JsonValue>;
  (current as Record<string, JsonValue>)[segments.at(-1) as string] = value;
}

/** Top-level fields that hold what a request is about: each test case gives its own, through {{input.x}}. */
const INPUT_FIELDS = new Set(["messages", "prompt", "input", "inputs", "contents", "query", "question", "text"]);

/**
 * A chat whose system prompt is tuned still asks each test case's own question: the user messages not tuned
 * become {{input.user_message}} (the system and few-shot messages stay as the sample has them).
 */
function fillUserMessages(
  body: Record<string, JsonValue>,
  key: string,
  tuned: readonly { segments: Segment[] }[],
  template: JsonValue,
  input: Record<string, JsonValue>,
): void {
  const messages = body[key];
  if (!Array.isArray(messages)) return;
  for (const [i, message] of messages.entries()) {
    if (!isPlainObject(message) || message.role !== "user" || typeof message.content !== "string") continue;
    if (tuned.some((r) => r.segments[0] === key && r.segments[1] === i)) continue;
    let name = "user_message";
    for (let n = 2; Object.hasOwn(input, name); n++) name = `user_message_${n}`;
    setAt(template, [key, i, "content"], `{{input.${name}}}`);
    input[name] = message.content;
  }
}

export interface InitConfig {
  yaml: string;
  parameters: string[];
  /** The body's fields each test case fills ({{input.x}}); the rest of the body is sent as the sample has it. */
  inputFields: string[];
}

/** The HTTP method a config of init's sends: one of METHODS, in capitals. */
export function methodOf(text: string): string {
  const upper = text.trim().toUpperCase();
  if (!(METHODS as readonly string[]).includes(upper))
    throw new InitError(`the method must be one of ${METHODS.join(", ")}, not '${text}'`);
  return upper;
}

/** GET and DELETE send no body: the body's top-level fields go in the query string. */
const sendsBody = (method: string) => method !== "GET" && method !== "DELETE";

/** A field of the body to tune: where it is, its value in the sample, and the parameter it becomes. */
interface TunedField {
  path: string;
  segments: Segment[];
  value: JsonValue;
  name: string;
  parameter: ParameterSpec;
}

/**
 * The fields to tune (dotted paths) checked against the sample body and the method (`methodOf`'s): each is in the
 * body, none is inside another, each can be sent and holds a value to start a parameter from. Refused with an
 * InitError naming the path, so a question can ask again.
 */
export function checkTunes(body: Record<string, JsonValue>, tune: readonly string[], method: string): TunedField[] {
  if (tune.length === 0) throw new InitError("name at least one field of the body to tune");
  const resolved = [...new Set(tune.map((path) => path.trim()))].map((path) => ({ path, ...resolve(body, path) }));
  for (const a of resolved) {
    for (const b of resolved) {
      if (a === b) continue;
      const prefix = b.segments.length >= a.segments.length && a.segments.every((s, i) => s === b.segments[i]);
      if (prefix) throw new InitError(`'${a.path}' and '${b.path}' overlap: tune a field or the fields inside it, not both`);
    }
  }
  const withBody = sendsBody(method);
  if (!withBody) {
    const nested = resolved.find((r) => r.segments.length > 1);
    if (nested) throw new InitError(`${method} sends the body's top-level fields as a query string: '${nested.path}' is not one of them`);
  }
  // Without a body template the body is {...input, ...params}: each parameter must be named as its field.
  const names = withBody
    ? parameterNames(
        body,
        resolved.map((r) => r.segments),
      )
    : resolved.map((r) => r.segments[0] as string);
  return resolved.map((r, i) => {
    const key = [...r.segments].reverse().find((s): s is string => typeof s === "string") ?? r.path;
    return { ...r, name: names[i] as string, parameter: parameterFor(key, r.path, r.value) };
  });
}

/** The config's YAML: the sample request as a template, the tuned fields as parameters, one example case. */
export function buildInitConfig(answers: InitAnswers): InitConfig {
  const { body } = answers;
  const method = methodOf(answers.method);
  const resolved = checkTunes(body, answers.tune, method);
  const withBody = sendsBody(method);
  const parameters: Record<string, ParameterSpec> = Object.fromEntries(resolved.map((r) => [r.name, r.parameter]));
  const tunedTop = new Set(resolved.map((r) => r.segments[0]));
  let template: JsonValue | undefined;
  const input: Record<string, JsonValue> = {};
  if (withBody) {
    template = copyJson(body);
    for (const r of resolved) setAt(template, r.segments, `{{params.${r.name}}}`);
    for (const key of Object.keys(body)) {
      if (!INPUT_FIELDS.has(key.toLowerCase()) || !/^[A-Za-z0-9_-]+$/.test(key)) continue;
      if (!tunedTop.has(key)) {
        (template as Record<string, JsonValue>)[key] = `{{input.${key}}}`;
        input[key] = body[key] as JsonValue;
      } else fillUserMessages(body, key, resolved, template, input);
    }
  } else {
    for (const [key, value] of Object.entries(body)) if (!tunedTop.has(key)) input[key] = value;
  }
  const auth: Record<string, JsonValue> = { type: answers.auth.type };
  if (answers.auth.type === "api_key") auth.header_name = answers.auth.header;
  if (answers.auth.type === "query") auth.query_param = answers.auth.param;
  if (answers.auth.type !== "none") auth.token_env = answers.auth.tokenEnv;
  const request: Record<string, JsonValue> = { method };
  if (Object.keys(answers.headers).length > 0) request.headers = answers.headers;
  if (template !== undefined) request.body_template = template;
  const config = {
    api: { name: answers.name, endpoint: answers.endpoint, auth, request },
    search_space: { parameters: Object.fromEntries(Object.entries(parameters).map(([name, p]) => [name, p.spec])) },
    evaluation: {
      test_cases: { inline: [{ id: "example", input, expected: {} }] },
      metrics: {
        quality: { type: "llm_judge", weight: 0.8 },
        latency: { type: "latency_penalty", weight: 0.2, threshold: 5000 },
      },
    },
    optimization: {
      algorithm: "auto",
      evolution: { population_size: 10, generations: 10 },
      execution: { parallel_workers: 4, max_target_calls: 200 },
    },
  };
  const inputFields = Object.keys(input);
  return { yaml: render(config, answers, parameters, inputFields, withBody), parameters: Object.keys(parameters), inputFields };
}

function pairAt(doc: Document, path: readonly string[]): Pair {
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  if (!isMap(parent)) throw new Error(`no mapping at ${path.slice(0, -1).join(".")}`);
  const pair = (parent as YAMLMap).items.find((p) => isScalar(p.key) && p.key.value === path.at(-1));
  if (!pair) throw new Error(`no ${path.join(".")}`);
  return pair as Pair;
}

function comment(doc: Document, path: readonly string[], text: string, spaceBefore = false): void {
  const key = pairAt(doc, path).key;
  if (!isScalar(key)) return;
  if (text !== "") {
    key.commentBefore = text
      .split("\n")
      .map((line) => ` ${line}`)
      .join("\n");
  }
  if (spaceBefore) key.spaceBefore = true;
}

function flow(doc: Document, path: readonly string[]): void {
  const node = doc.getIn(path, true);
  if (isCollection(node)) node.flow = true;
}

function render(
  config: Record<string, unknown>,
  answers: InitAnswers,
  parameters: Record<string, ParameterSpec>,
  inputFields: readonly string[],
  withBody: boolean,
): string {
  const doc = new Document(config);
  const file = answers.output;
  const auth = answers.auth;
  const keyLines =
    auth.type === "none"
      ? ["The API is called without a key (api.auth.type: none)."]
      : [`The key is read from the environment variable ${auth.tokenEnv} when a run calls the API: it is never`, "stored in this file."];

  if (withBody) {
    const from =
      inputFields.length > 0
        ? [`{{input.x}} is filled from each test case's input (${inputFields.join(", ")}).`]
        : [
            "Nothing in it comes from the test cases yet: put {{input.x}} where a case's own content goes, and give",
            "each case that input.",
          ];
    comment(
      doc,
      ["api", "request", "body_template"],
      [
        "The sample body. {{params.x}} is where each tried value of parameter x goes (a string that is only the",
        "placeholder takes the value's type, a number stays a number).",
        ...from,
      ].join("\n"),
    );
  }
  comment(doc, ["search_space"], "The tuned fields, with ranges around the sample's values: widen or narrow them.", true);
  for (const [name, p] of Object.entries(parameters)) {
    if (p.note) comment(doc, ["search_space", "parameters", name], p.note);
    if (Array.isArray(p.spec.values)) flow(doc, ["search_space", "parameters", name, "values"]);
  }
  comment(doc, ["evaluation"], "", true);
  const sends = inputFields.length > 0 ? `the sample's ${inputFields.join(", ")}` : "the sample request";
  comment(
    doc,
    ["evaluation", "test_cases"],
    [
      `The example case sends ${sends}. Add one case for each kind of request to tune for (a handful at`,
      `least), each with its own input${inputFields.length > 0 ? ` (${inputFields.join(", ")})` : ""} and, under expected, what a good answer holds:`,
      "contains: [words it must have], min_length / max_length (characters), answer (the exact answer).",
    ].join("\n"),
  );
  flow(doc, ["evaluation", "test_cases", "inline", "0", "expected"]);
  comment(
    doc,
    ["evaluation", "metrics"],
    [
      "llm_judge grades each answer against its case's expected. With no evaluation.judge (an OpenAI-compatible",
      "model: endpoint, model, token_env) it checks expected's rules itself; latency_penalty prefers faster calls.",
    ].join("\n"),
  );
  flow(doc, ["evaluation", "metrics", "quality"]);
  flow(doc, ["evaluation", "metrics", "latency"]);
  comment(doc, ["optimization"], "", true);
  const header = [
    `Convergence config for ${answers.method.toUpperCase()} ${answers.endpoint}, written by \`convergence init\`.`,
    "",
    `  convergence validate ${file}`,
    `  convergence optimize ${file}`,
    "",
    ...keyLines,
    "Every call of a run is a real call to the API, paid like any other: optimization.execution.max_target_calls",
    "bounds how many one run makes.",
  ];
  return `${header.map((line) => (line === "" ? "#" : `# ${line}`)).join("\n")}\n\n${doc.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
}
