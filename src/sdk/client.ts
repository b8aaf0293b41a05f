/**
 * createClient: the runtime functions over HTTP, against a Convergence service. camelCase methods, snake_case data,
 * as the OpenAI SDK does. Errors the service answers become ConvergenceApiError, with the service's code and
 * message. Defaults: CONVERGENCE_URL (else the local service, http://127.0.0.1:8787) and CONVERGENCE_API_KEY
 * (else the caller's fallback: convergence/node reads the key of .dev.vars for the local service, as `npm start`
 * writes it). Either kind of key works: a runtime key for select, update and reading decisions; an admin key for all.
 * Platform-neutral: no file access here, so a Worker can bundle it.
 */

import type { z } from "zod";
import type { EvaluateRequest, OfflinePolicyInput, PolicyEvaluationSchema } from "../bandit/offline.js";
import type { ConfigIssue } from "../config/issues.js";
import type { ConfigInput } from "../config/schema.js";
import type { ApiKeySchema, CreatedKeySchema, CreateKeyRequest, KeyListSchema, PingSchema } from "../keys/schema.js";
import type {
  CandidateListSchema,
  ConfigCheck,
  EvaluationPageSchema,
  PromoteRequest,
  PromoteResultSchema,
  RunListSchema,
  RunView,
} from "../run/schema.js";
import type { ExportPageSchema } from "../runtime/export.js";
import type {
  ArmListSchema,
  DecisionListSchema,
  DecisionSchema,
  ForgetResultSchema,
  RuntimeConfigInput,
  SelectionSchema,
  SystemListSchema,
  SystemRecordSchema,
  SystemSummarySchema,
  UpdateResultSchema,
} from "../runtime/schema.js";
import { type RuntimeSelectOptions, type RuntimeUpdateOptions, selectRequest, updateRequest } from "./runtime-requests.js";

/**
 * What a route answers, typed by the zod schema the route declares (the service's validator and API description
 * alike), so the client cannot disagree with the service on a field's name or type. Not parsed again here: the
 * service answers them.
 */
type Answer<S extends z.ZodType> = z.output<S>;

/** Which page of a listing to read: `limit` items (the route's default when absent), from `cursor` (the first page when absent). */
export interface PageOptions {
  limit?: number;
  /** The `next_cursor` of the page before, as the service gave it. */
  cursor?: string | null;
}

/**
 * A listing call. Awaited, it is the page asked for: its items and `next_cursor` (null on the last page).
 * Iterated with `for await`, it is every item from that page on, the next page read when one is used up (stopping
 * the loop reads no more). As the OpenAI SDK's lists.
 */
export type Listing<P, T> = Promise<P> & AsyncIterable<T>;

function listing<P extends { next_cursor: string | null }, T>(
  first: PageOptions,
  read: (page: PageOptions) => Promise<P>,
  itemsOf: (page: P) => T[],
): Listing<P, T> {
  const firstPage = read(first);
  // The first page's failure is the iteration's when it is iterated: not also an unhandled rejection.
  firstPage.catch(() => {});
  return Object.assign(firstPage, {
    async *[Symbol.asyncIterator]() {
      let page = await firstPage;
      for (;;) {
        yield* itemsOf(page);
        if (page.next_cursor === null) return;
        page = await read({ ...first, cursor: page.next_cursor });
      }
    },
  });
}

const LOCAL_URL = "http://127.0.0.1:8787";

export class ConvergenceApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: ConfigIssue[] = [],
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

type Env = Record<string, string | undefined>;
/** process.env where there is one (Node, a Worker with nodejs_compat), else nothing. */
export const processEnv = (): Env => (globalThis as { process?: { env?: Env } }).process?.env ?? {};

/** Where a client finds its key when neither `apiKey` nor CONVERGENCE_API_KEY gives one. */
export type KeyFallback = (baseUrl: string) => Promise<string | null>;

/**
 * `missingKeyHint`: what to add when the service refuses a request sent without a key (where the host would
 * have found one).
 */
export function createClient(
  options: ClientOptions = {},
  fallbackKey: KeyFallback = async () => null,
  missingKeyHint: (baseUrl: string) => string = () => "",
) {
  const env = processEnv();
  const baseUrl = (options.baseUrl ?? env.CONVERGENCE_URL ?? LOCAL_URL).replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  let key: Promise<string | null> | null = null;
  const apiKey = () => {
    key ??= Promise.resolve(options.apiKey ?? env.CONVERGENCE_API_KEY ?? null).then((k) => k ?? fallbackKey(baseUrl));
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
    if (response.status === 401 && !token) {
      throw new ConvergenceApiError(
        401,
        "unauthorized",
        `no API key was sent: set CONVERGENCE_API_KEY (or pass apiKey to createClient)${missingKeyHint(baseUrl)}`,
      );
    }
    if (!response.ok) {
      const error = (payload as { error?: { code?: string; message?: string; details?: ConfigIssue[] } } | null)?.error;
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
  const pageQuery = ({ limit, cursor }: PageOptions) => ({ limit: limit?.toString(), cursor: cursor ?? undefined });

  return {
    baseUrl,
    configureSystem: (name: string, config: RuntimeConfigInput) => request<Answer<typeof SystemRecordSchema>>("PUT", system(name), config),
    getSystem: (name: string) => request<Answer<typeof SystemRecordSchema>>("GET", system(name)),
    /** Systems, most recently changed first: awaited, a page; iterated, every one (see Listing). */
    listSystems: (args: PageOptions = {}) =>
      listing(
        args,
        (page) => request<Answer<typeof SystemListSchema>>("GET", `/v1/systems?${query(pageQuery(page))}`),
        (page) => page.systems,
      ),
    /** Each arm across all users (posterior, interval, P(best), pulls), recent decisions, the runs its arms came from. */
    systemSummary: (name: string) => request<Answer<typeof SystemSummarySchema>>("GET", `${system(name)}/summary`),
    select: (name: string, args: RuntimeSelectOptions) =>
      request<Answer<typeof SelectionSchema>>("POST", `${system(name)}/select`, selectRequest(args)),
    update: (name: string, args: RuntimeUpdateOptions) =>
      request<Answer<typeof UpdateResultSchema>>("POST", `${system(name)}/update`, updateRequest(args)),
    getDecision: (name: string, args: { userId: string; decisionId: string }) =>
      request<Answer<typeof DecisionSchema>>(
        "GET",
        `${system(name)}/decisions/${encodeURIComponent(args.decisionId)}?${query({ user_id: args.userId })}`,
      ),
    /** The system's decision log, every user's or `userId`'s, newest first (admin key): awaited, a page; iterated, every one. */
    listDecisions: (name: string, args: PageOptions & { userId?: string } = {}) =>
      listing(
        args,
        (page) =>
          request<Answer<typeof DecisionListSchema>>(
            "GET",
            `${system(name)}/decisions?${query({ ...pageQuery(page), user_id: args.userId })}`,
          ),
        (page) => page.decisions,
      ),
    arms: async (name: string, args: { userId: string; agentType?: string }) =>
      (
        await request<Answer<typeof ArmListSchema>>(
          "GET",
          `${system(name)}/arms?${query({ user_id: args.userId, agent_type: args.agentType })}`,
        )
      ).arms,
    /**
     * Forget a user of a system (admin key): their arms and decisions for every agent type, in the service's objects,
     * its log and (by a tombstone) its archive. Answers what was removed; all zeros when nothing was left.
     */
    forgetUser: (name: string, args: { userId: string }) =>
      request<Answer<typeof ForgetResultSchema>>("DELETE", `${system(name)}/users/${encodeURIComponent(args.userId)}`),
    /**
     * Estimate what `policy` would have earned on the system's newest `limit` (default 5,000) rewarded decisions,
     * off-policy (IPS and SNIPS, 95% intervals), without running it.
     */
    evaluatePolicy: (name: string, args: { policy: OfflinePolicyInput; limit?: number; agentType?: string }) => {
      const body: EvaluateRequest = {
        policy: args.policy,
        ...(args.limit !== undefined ? { limit: args.limit } : {}),
        ...(args.agentType !== undefined ? { agent_type: args.agentType } : {}),
      };
      return request<Answer<typeof PolicyEvaluationSchema>>("POST", `${system(name)}/evaluate`, body);
    },
    /**
     * The system's decision log since `since` (ISO date or timestamp), archived decisions included, oldest first:
     * pages of `limit` fetched as the iteration goes.
     */
    exportDecisions: async function* (name: string, args: { since?: string; limit?: number } = {}) {
      let cursor: string | undefined;
      do {
        const page: Answer<typeof ExportPageSchema> = await request<Answer<typeof ExportPageSchema>>(
          "GET",
          `${system(name)}/export?${query({ since: args.since, limit: args.limit?.toString(), cursor })}`,
        );
        yield* page.decisions;
        cursor = page.next_cursor ?? undefined;
      } while (cursor !== undefined);
    },
    ping: () => request<Answer<typeof PingSchema>>("GET", "/v1/ping"),
    /** Start an optimization run: the config as an object (as a file holds it), or as YAML text. */
    startRun: (config: ConfigInput | Record<string, unknown> | string, args: { seed?: number } = {}) =>
      request<RunView>("POST", `/v1/runs${args.seed === undefined ? "" : `?${query({ seed: String(args.seed) })}`}`, config),
    /** Every check starting `config` would make on this service, without starting it. */
    validateRun: (config: ConfigInput | Record<string, unknown> | string) => request<ConfigCheck>("POST", "/v1/validate", config),
    getRun: (runId: string) => request<RunView>("GET", run(runId)),
    /** Runs (of one system, when given), newest first: awaited, a page; iterated, every one (see Listing). */
    listRuns: (args: PageOptions & { system?: string } = {}) =>
      listing(
        args,
        (page) => request<Answer<typeof RunListSchema>>("GET", `/v1/runs?${query({ ...pageQuery(page), system: args.system })}`),
        (page) => page.runs,
      ),
    /** A page of a run's evaluations (each (candidate, test case) once). */
    runEvaluations: async (runId: string, args: { limit?: number; offset?: number } = {}) =>
      (
        await request<Answer<typeof EvaluationPageSchema>>(
          "GET",
          `${run(runId)}/evaluations?${query({ limit: args.limit?.toString(), offset: args.offset?.toString() })}`,
        )
      ).evaluations,
    runCandidates: async (runId: string) =>
      (await request<Answer<typeof CandidateListSchema>>("GET", `${run(runId)}/candidates`)).candidates,
    cancelRun: (runId: string) => request<RunView>("POST", `${run(runId)}/cancel`, {}),
    promoteRun: (runId: string, args: PromoteRequest) => request<Answer<typeof PromoteResultSchema>>("POST", `${run(runId)}/promote`, args),
    /** Make a scoped key (admin key needed): the answer holds the key, which is never shown again. */
    createKey: (args: CreateKeyRequest) => request<Answer<typeof CreatedKeySchema>>("POST", "/v1/keys", args),
    /** Keys made with createKey, newest first, revoked ones included: awaited, a page; iterated, every one (see Listing). */
    listKeys: (args: PageOptions = {}) =>
      listing(
        args,
        (page) => request<Answer<typeof KeyListSchema>>("GET", `/v1/keys?${query(pageQuery(page))}`),
        (page) => page.keys,
      ),
    revokeKey: (keyId: string) => request<Answer<typeof ApiKeySchema>>("DELETE", `/v1/keys/${encodeURIComponent(keyId)}`),
  };
}

export type ConvergenceClient = ReturnType<typeof createClient>;
