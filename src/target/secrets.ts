/**
 * Secrets are read from the environment at call time and never written anywhere: every text a run keeps or
 * prints (errors, answer excerpts, failure summaries, events) goes through `redact` with every secret the config
 * names, in each form a server could echo it (as sent, URL-encoded, in a basic-auth header).
 */
import type { Config } from "../config/schema.js";
import { isPlainObject } from "../json.js";
import type { EnvSource } from "./types.js";

const MIN_LENGTH = 4;

export function base64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

type Api = Config["api"];

function apiSecretNames(api: Api): (string | undefined)[] {
  return [api.auth.token_env, api.auth.password_env, api.auth.username_env];
}

/** The names of every environment variable the config reads a secret from. */
function secretNames(config: Config): string[] {
  const names = apiSecretNames(config.api);
  names.push(
    config.evaluation.judge?.token_env,
    config.evaluation.embeddings?.token_env,
    config.evaluation.custom_evaluator?.token_env,
    config.society?.llm?.token_env,
  );
  for (const metric of Object.values(config.evaluation.metrics)) {
    const judge = (metric as Record<string, unknown>).judge;
    if (isPlainObject(judge) && typeof judge.token_env === "string") names.push(judge.token_env);
  }
  return [...new Set(names.filter((n): n is string => typeof n === "string" && n !== ""))];
}

/** Every form of every secret the config names, longest first (so no part of a longer one survives). */
export function secretForms(config: Config, env: EnvSource): string[] {
  return formsOf(secretNames(config), config.api, env);
}

/** The forms of the target API's own secrets only (a target built without the whole config). */
export function apiSecretForms(api: Api, env: EnvSource): string[] {
  return formsOf(
    apiSecretNames(api).filter((n): n is string => typeof n === "string" && n !== ""),
    api,
    env,
  );
}

function formsOf(names: readonly string[], api: Api, env: EnvSource): string[] {
  const values = names.map((name) => env[name]).filter((v): v is string => typeof v === "string" && v.length >= MIN_LENGTH);
  const forms = new Set<string>();
  for (const value of values) {
    forms.add(value);
    forms.add(encodeURIComponent(value));
    forms.add(new URLSearchParams({ k: value }).toString().slice(2));
  }
  const auth = api.auth;
  if (auth.type === "basic") {
    const user = auth.username ?? (auth.username_env ? env[auth.username_env] : undefined);
    const password = auth.password_env ? env[auth.password_env] : undefined;
    if (user !== undefined && password !== undefined) forms.add(base64(`${user}:${password}`));
  }
  return [...forms].filter((f) => f.length >= MIN_LENGTH).sort((a, b) => b.length - a.length);
}

export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const value of secrets) if (out.includes(value)) out = out.split(value).join("[redacted]");
  return out;
}
