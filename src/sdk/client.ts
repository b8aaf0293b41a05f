/**
 * createClient: the runtime functions over HTTP, against a Convergence service. camelCase methods, snake_case data,
 * as the OpenAI SDK does. Errors the service answers become ConvergenceApiError, with the service's code and
 * message. Defaults: CONVERGENCE_URL (else the local service, http://127.0.0.1:8787) and CONVERGENCE_API_KEY
 * (else, in Node and for the local service only, the key of .dev.vars in the working directory, which `npm start`
 * uses). Either kind of key works: a runtime key for select, update and reading decisions; an admin key for all.
 */

import type { OfflinePolicyInput, PolicyEvaluation } from "../bandit/offline.js";
import type { JsonValue } from "../json.js";
import type { ApiKey, CreatedKey, CreateKeyRequest } from "../keys/schema.js";
import type { Candidate } from "../optimize/schema.js";
import type { PromoteRequest, PromoteResult, RunEvaluation, RunSummary, RunView } from "../run/schema.js";
import type {
  ArmView,
  RuntimeConfigInput,
  RuntimeDecision,
  RuntimeSelection,
  SystemListItem,
  SystemSummary,
  UpdateResult,
} from "../runtime/schema.js";
import { type RuntimeSelectOptions, type RuntimeUpdateOptions, selectRequest, updateRequest } from "./runtime-requests.js";

export const LOCAL_URL = "http://127.0.0.1:8787";

export class ConvergenceApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.name = "ConvergenceApiError";
  }
}

export interface ClientOptions {
  baseUrl?: string;
  apiKey?: string;
  fetch?: typeof fetch;
}

export interface SystemRecord {
  system: string;
  version: number;
  updated_at: string;
  config: Record<string, JsonValue>;
}

type Env = Record<string, string | undefined>;
const processEnv = (): Env => (globalThis as { process?: { env?: Env } }).process?.env ?? {};

/** The API key from a .dev.vars file (KEY=value lines), or null. */
export function keyFromDevVars(text: string): string | null {
  for (const line of text.split(/\r?\n/)) {
    const match = line.match(/^\s*CONVERGENCE_API_KEY\s*=\s*"?([^"#\s]+)"?/);
    if (match?.[1]) return (match[1].split(",")[0] as string).trim();
  }
  return null;
}

async function devVarsKey(): Promise<string | null> {
  try {
    const { readFile } = await import("node:fs/promises");
    return keyFromDevVars(await readFile(".dev.vars", "utf8"));
  } catch {
    return null;
  }
}

export function createClient(options: ClientOptions = {}) {
  const env = processEnv();
  const baseUrl = (options.baseUrl ?? env.CONVERGENCE_URL ?? LOCAL_URL).replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  let key: Promise<string | null> | null = null;
  // The dev key of .dev.vars is for the local service only: it is never sent anywhere else.
  const local = /^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(baseUrl);
  const apiKey = () => {
    key ??= Promise.resolve(options.apiKey ?? env.CONVERGENCE_API_KEY ?? null).then((k) => k ?? (local ? devVarsKey() : null));
    return key;
  };

  async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = await apiKey();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    if (typeof body === "string") headers["content-type"] = "application/yaml";
    let response: Response;
    try {
      const payload = typeof body === "string" ? body : JSON.stringify(body);
      response = await doFetch(`${baseUrl}${path}`, { method, headers, ...(body !== undefined ? { body: payload } : {}) });
    } catch (error) {
      throw new ConvergenceApiError(
        0,
        "unreachable",
        `cannot reach Convergence at ${baseUrl}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const text = await response.text();
    let payload: unknown;
    try {
      payload = text ? JSON.parse(text) : null;
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const error = (payload as { error?: { code?: string; message?: string; details?: { path: string; message: string }[] } } | null)
        ?.error;
      throw new ConvergenceApiError(
        response.status,
        error?.code ?? "http_error",
        error?.message ?? `HTTP ${response.status}: ${text.slice(0, 200)}`,
        error?.details ?? [],
      );
    }
    return payload as T;
  }

  const system = (name: string) => `/v1/systems/${encodeURIComponent(name)}`;
  const run = (runId: string) => `/v1/runs/${encodeURIComponent(runId)}`;
  const query = (params: Record<string, string | undefined>) =>
    new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined)).toString();

  return {
    baseUrl,
    configureSystem: (name: string, config: RuntimeConfigInput) => request<SystemRecord>("PUT", system(name), config),
    getSystem: (name: string) => request<SystemRecord>("GET", system(name)),
    listSystems: async () => (await request<{ systems: SystemListItem[] }>("GET", "/v1/systems")).systems,
    /** Each arm across all users (posterior, interval, P(best), pulls), recent decisions, the runs its arms came from. */
    systemSummary: (name: string) => request<SystemSummary>("GET", `${system(name)}/summary`),
    select: (name: string, args: RuntimeSelectOptions) => request<RuntimeSelection>("POST", `${system(name)}/select`, selectRequest(args)),
    update: (name: string, args: RuntimeUpdateOptions) => request<UpdateResult>("POST", `${system(name)}/update`, updateRequest(args)),
    getDecision: (name: string, args: { userId: string; decisionId: string }) =>
      request<RuntimeDecision>(
        "GET",
        `${system(name)}/decisions/${encodeURIComponent(args.decisionId)}?${query({ user_id: args.userId })}`,
      ),
    arms: async (name: string, args: { userId: string; agentType?: string }) =>
      (await request<{ arms: ArmView[] }>("GET", `${system(name)}/arms?${query({ user_id: args.userId, agent_type: args.agentType })}`))
        .arms,
    /**
     * Estimate what `policy` would have earned on the system's newest `limit` (default 10,000) rewarded decisions,
     * off-policy (IPS and SNIPS, 95% intervals), without running it.
     */
    evaluatePolicy: (name: string, args: { policy: OfflinePolicyInput; limit?: number; agentType?: string }) =>
      request<PolicyEvaluation>("POST", `${system(name)}/evaluate`, {
        policy: args.policy,
        ...(args.limit !== undefined ? { limit: args.limit } : {}),
        ...(args.agentType !== undefined ? { agent_type: args.agentType } : {}),
      }),
    ping: () => request<{ ok: boolean }>("GET", "/v1/ping"),
    /** Start an optimization run: the config as an object, or as YAML text. */
    startRun: (config: Record<string, unknown> | string, args: { seed?: number } = {}) =>
      request<RunView>("POST", `/v1/runs${args.seed === undefined ? "" : `?${query({ seed: String(args.seed) })}`}`, config),
    getRun: (runId: string) => request<RunView>("GET", run(runId)),
    listRuns: async (args: { limit?: number; system?: string } = {}) =>
      (await request<{ runs: RunSummary[] }>("GET", `/v1/runs?${query({ limit: args.limit?.toString(), system: args.system })}`)).runs,
    /** A page of a run's evaluations (each (candidate, test case) once). */
    runEvaluations: async (runId: string, args: { limit?: number; offset?: number } = {}) =>
      (
        await request<{ evaluations: RunEvaluation[] }>(
          "GET",
          `${run(runId)}/evaluations?${query({ limit: args.limit?.toString(), offset: args.offset?.toString() })}`,
        )
      ).evaluations,
    runCandidates: async (runId: string) => (await request<{ candidates: Candidate[] }>("GET", `${run(runId)}/candidates`)).candidates,
    cancelRun: (runId: string) => request<RunView>("POST", `${run(runId)}/cancel`, {}),
    promoteRun: (runId: string, args: PromoteRequest) => request<PromoteResult>("POST", `${run(runId)}/promote`, args),
    /** Make a scoped key (admin key needed): the answer holds the key, which is never shown again. */
    createKey: (args: CreateKeyRequest) => request<CreatedKey>("POST", "/v1/keys", args),
    listKeys: async () => (await request<{ keys: ApiKey[] }>("GET", "/v1/keys")).keys,
    revokeKey: (keyId: string) => request<ApiKey>("DELETE", `/v1/keys/${encodeURIComponent(keyId)}`),
  };
}

export type ConvergenceClient = ReturnType<typeof createClient>;
