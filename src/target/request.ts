import type { ApiConfig, TestCase } from "../config/schema.js";
import { isPlainObject, type JsonValue, own } from "../json.js";
import type { ParamConfig } from "../search/space.js";
import { getPath } from "./extract.js";
import { base64 } from "./secrets.js";
import type { EnvSource } from "./types.js";

/** A problem with the request itself (missing secret, no endpoint): retrying cannot help. */
export class RequestError extends Error {}

/** The seed's body rule: the test case's input, then the parameters (a parameter wins a key clash). */
function requestPayload(params: ParamConfig, testCase: TestCase): Record<string, JsonValue> {
  return { ...testCase.input, ...params };
}

function endpointFor(api: ApiConfig, params: ParamConfig): string {
  const model = params.model;
  const registered = typeof model === "string" ? own(api.models, model) : undefined;
  if (registered) return registered.endpoint;
  if (api.endpoint) return api.endpoint;
  if (api.models) throw new RequestError(`no endpoint for model '${String(model)}' in api.models`);
  throw new RequestError("api.endpoint is not set");
}

function secret(env: EnvSource, name: string, setting: string): string {
  const value = env[name];
  if (value === undefined || value === "") {
    throw new RequestError(`environment variable ${name} is not set (named by ${setting})`);
  }
  // A header cannot carry control characters; fetch's own error would quote the value, so refuse it here.
  if ([...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw new RequestError(`environment variable ${name} (named by ${setting}) holds a control character such as a newline`);
  }
  return value;
}

/** Auth headers, read from the environment now: secrets are never stored in configs, results or logs. */
export function authHeaders(api: ApiConfig, env: EnvSource): Record<string, string> {
  const auth = api.auth;
  switch (auth.type) {
    case "query":
      // Checked here so a missing key fails before any call; the key itself goes into the URL.
      secret(env, auth.token_env ?? "", "api.auth.token_env");
      return {};
    case "bearer":
      return { authorization: `Bearer ${secret(env, auth.token_env ?? "", "api.auth.token_env")}` };
    case "api_key": {
      const header = auth.header_name ?? auth.api_key_header ?? "x-api-key";
      return { [header.toLowerCase()]: secret(env, auth.token_env ?? "", "api.auth.token_env") };
    }
    case "basic": {
      const user = auth.username ?? secret(env, auth.username_env ?? "", "api.auth.username_env");
      const password = secret(env, auth.password_env ?? "", "api.auth.password_env");
      return { authorization: `Basic ${base64(`${user}:${password}`)}` };
    }
    default:
      return {};
  }
}

function queryValue(value: JsonValue): string | null {
  if (value === null) return null;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const PLACEHOLDER = /\{\{\s*(params|input)\.([A-Za-z0-9_.[\]-]+)\s*\}\}/g;
const WHOLE = /^\{\{\s*(params|input)\.([A-Za-z0-9_.[\]-]+)\s*\}\}$/;

/** Every `{{params.x}}` / `{{input.x}}` a template names, as [source, path]. */
export function templatePlaceholders(template: JsonValue): ["params" | "input", string][] {
  const found: ["params" | "input", string][] = [];
  const visit = (node: JsonValue): void => {
    if (typeof node === "string") for (const m of node.matchAll(PLACEHOLDER)) found.push([m[1] as "params" | "input", m[2] as string]);
    else if (Array.isArray(node)) for (const item of node) visit(item);
    else if (isPlainObject(node)) for (const item of Object.values(node)) visit(item as JsonValue);
  };
  visit(template);
  return found;
}

function lookup(source: Record<string, JsonValue>, path: string, where: string): JsonValue {
  const value = getPath(source, path);
  if (value === undefined) throw new RequestError(`api.request.body_template: ${where}.${path} is not set`);
  return value as JsonValue;
}

/**
 * Fill a body template: a string that is exactly one placeholder becomes that value with its type (a number
 * stays a number, a list a list); placeholders inside longer strings are replaced by their text.
 */
function renderTemplate(template: JsonValue, params: ParamConfig, testCase: TestCase): JsonValue {
  const sources = { params, input: testCase.input } as const;
  const render = (node: JsonValue): JsonValue => {
    if (typeof node === "string") {
      const whole = node.match(WHOLE);
      if (whole) return lookup(sources[whole[1] as "params" | "input"], whole[2] as string, whole[1] as string);
      return node.replace(PLACEHOLDER, (_, where: "params" | "input", path: string) => {
        const value = lookup(sources[where], path, where);
        return typeof value === "string" ? value : JSON.stringify(value);
      });
    }
    if (Array.isArray(node)) return node.map(render);
    if (isPlainObject(node)) return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, render(v as JsonValue)]));
    return node;
  };
  return render(template);
}

export interface BuiltRequest {
  url: string;
  init: { method: string; headers: Record<string, string>; body?: string };
}

/** The HTTP request for one (parameters, test case): JSON body, or a query string for GET. */
export function buildRequest(api: ApiConfig, params: ParamConfig, testCase: TestCase, env: EnvSource): BuiltRequest {
  const payload =
    api.request.body_template === undefined
      ? requestPayload(params, testCase)
      : renderTemplate(api.request.body_template, params, testCase);
  const url = new URL(endpointFor(api, params));
  if (api.auth.type === "query") url.searchParams.set(api.auth.query_param, secret(env, api.auth.token_env ?? "", "api.auth.token_env"));
  const headers: Record<string, string> = { accept: "application/json" };
  for (const [name, value] of Object.entries(api.request.headers)) headers[name.toLowerCase()] = value;
  Object.assign(headers, authHeaders(api, env));
  const method = api.request.method;
  if (method === "GET" || method === "DELETE") {
    for (const [key, value] of Object.entries(isPlainObject(payload) ? payload : {})) {
      const text = queryValue(value);
      if (text !== null) url.searchParams.set(key, text);
    }
    return { url: url.toString(), init: { method, headers } };
  }
  headers["content-type"] ??= "application/json";
  return { url: url.toString(), init: { method, headers, body: JSON.stringify(payload) } };
}
