/**
 * createClient: the runtime functions over HTTP, against a Convergence service. camelCase methods, snake_case data,
 * as the OpenAI SDK does. Errors the service answers become ConvergenceApiError, with the service's code and
 * message. Defaults: CONVERGENCE_URL (else the local service, http://127.0.0.1:8787) and CONVERGENCE_API_KEY
 * (else the caller's fallback: convergence/node reads the key of .dev.vars for the local service, as `npm start`
 * writes it). Either kind of key works: a runtime key for select, update and reading decisions; an admin key for all.
 * Platform-neutral: no file access here, so a Worker can bundle it. For a Worker's request path (README, "Calling
 * Convergence from your Worker"): `fetch` takes a service binding's, `timeoutMs` bounds each call (update has a longer bound of its own), `fallback` makes
 * select answer default params instead of failing, and update is sent again after failures that may pass.
 */

import type { z } from "zod";
import type { EvaluateRequest, OfflinePolicyInput, PolicyEvaluationSchema } from "../bandit/offline.js";
import type { ConfigIssue } from "../config/issues.js";
import type { ConfigInput } from "../config/schema.js";
import type { JsonValue } from "../json.js";
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
import { mayPassOnRetry, retryAfterMs } from "../target/fetch-retry.js";
import { sleep } from "../target/sleep.js";
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
    /** How long the service asked to wait before calling again (its Retry-After), when it said. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = "ConvergenceApiError";
  }
}

/** Sends a request: the global fetch, or a service binding's (`env.CONVERGENCE.fetch.bind(env.CONVERGENCE)`). */
export type FetchFunction = (url: string, init: RequestInit) => Promise<Response>;

/** An arm's params, as select answers them. */
type Params = Record<string, JsonValue>;

/** Why select could not answer an arm: given to a `fallback` function. */
export interface SelectFailure {
  system: string;
  userId: string;
  agentType?: string;
  error: ConvergenceApiError;
}

/** The params select answers when Convergence fails or is too slow: fixed, or chosen per failure. */
export type Fallback = Params | ((failure: SelectFailure) => Params);

/** select's answer from the service (`fallback: false` added, so either answer says which it is). */
export type ArmSelection = Answer<typeof SelectionSchema> & { fallback: false };

/**
 * select's answer when it fell back: the fallback's params, no arm and no decision (so there is nothing to reward),
 * and what went wrong, for the app's log.
 */
export interface FallbackSelection {
  fallback: true;
  decision_id: null;
  arm_id: null;
  params: Params;
  error: { status: number; code: string; message: string };
}

export interface ClientOptions {
  baseUrl?: string;
  apiKey?: string;
  /**
   * How requests are sent (default: the global fetch). Through a service binding the request reaches the bound
   * Worker directly, whatever baseUrl's host says.
   */
  fetch?: FetchFunction;
  /**
   * Each call's limit in milliseconds, its answer's body included (update's: updateTimeoutMs). A call past it fails
   * with code "timeout" (and select falls back, when there is a fallback). Default: no limit.
   */
  timeoutMs?: number;
  /**
   * When set, select never fails (unless a fallback function throws): past the timeout, or on any error, it answers
   * these params (a FallbackSelection).
   */
  fallback?: Fallback;
  /**
   * How many more times update is sent after a failure that may pass: no answer, a timeout, 429 or a 5xx (default
   * 2, after 100 ms then 200 ms). Safe: a decision is rewarded at most once, and a repeat answers `duplicate: true`.
   */
  updateRetries?: number;
  /**
   * Each update attempt's limit in milliseconds (default 10,000, whatever timeoutMs says): an update runs in the
   * background (ctx.waitUntil), where the request path's tight bound would only lose rewards.
   */
  updateTimeoutMs?: number;
}

const MAX_TIMER_MS = 2_147_483_647;
const MAX_UPDATE_RETRIES = 10;
const DEFAULT_UPDATE_TIMEOUT_MS = 10_000;

/** The options' numbers, refused with a message naming the option when they could not work as documented. */
function checkedOptions(options: ClientOptions): ClientOptions {
  const integerIn = (name: keyof ClientOptions, min: number, max: number) => {
    const value = options[name];
    if (value !== undefined && !(Number.isInteger(value) && (value as number) >= min && (value as number) <= max))
      throw new RangeError(`createClient: ${name} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  };
  integerIn("timeoutMs", 1, MAX_TIMER_MS);
  integerIn("updateTimeoutMs", 1, MAX_TIMER_MS);
  integerIn("updateRetries", 0, MAX_UPDATE_RETRIES);
  return options;
}

/** What select answers: a FallbackSelection only from a client that may have a fallback. */
type SelectAnswer<MayFallBack extends boolean> = MayFallBack extends false ? ArmSelection : ArmSelection | FallbackSelection;

const DEFAULT_UPDATE_RETRIES = 2;
const RETRY_DELAY_MS = 100;
/**
 * The longest Retry-After an update waits out. Longer (a rate limit's period is 10 or 60 s) outlasts the background
 * time a Worker has after its answer: the update fails at once instead, with the service's 429.
 */
const MAX_RETRY_AFTER_MS = 2_000;

/** Whether the same request may succeed if sent again: nothing came back (status 0), or the service was busy or failing. */
const worthRetrying = (error: unknown) => error instanceof ConvergenceApiError && (error.status === 0 || mayPassOnRetry(error.status));

/**
 * `work` given `timeoutMs` (when set): past it, the answer is a "timeout" error and `work`'s request is aborted, even
 * when the fetch in use does not heed the signal.
 */
async function withinTimeout<T>(timeoutMs: number | undefined, what: string, work: (signal?: AbortSignal) => Promise<T>): Promise<T> {
  if (timeoutMs === undefined) return work();
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new ConvergenceApiError(0, "timeout", `Convergence did not answer ${what} within ${timeoutMs} ms`));
      controller.abort();
    }, timeoutMs);
  });
  try {
    return await Promise.race([work(controller.signal), timedOut]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
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
function makeClient<MayFallBack extends boolean>(
  unchecked: ClientOptions,
  fallbackKey: KeyFallback,
  missingKeyHint: (baseUrl: string) => string,
) {
  const options = checkedOptions(unchecked);
  const env = processEnv();
  const baseUrl = (options.baseUrl ?? env.CONVERGENCE_URL ?? LOCAL_URL).replace(/\/+$/, "");
  const doFetch = options.fetch ?? fetch;
  let key: Promise<string | null> | null = null;
  const apiKey = () => {
    key ??= Promise.resolve(options.apiKey ?? env.CONVERGENCE_API_KEY ?? null).then((k) => k ?? fallbackKey(baseUrl));
    return key;
  };

  async function request<T>(method: string, path: string, body?: unknown, timeoutMs = options.timeoutMs): Promise<T> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (typeof body === "string") headers["content-type"] = "application/yaml";
    const { response, text, token } = await withinTimeout(timeoutMs, `${method} ${path.split("?")[0]}`, async (signal) => {
      const token = await apiKey();
      if (token) headers.authorization = `Bearer ${token}`;
      try {
        const payload = typeof body === "string" ? body : JSON.stringify(body);
        const response = await doFetch(`${baseUrl}${path}`, {
          method,
          headers,
          ...(body !== undefined ? { body: payload } : {}),
          ...(signal ? { signal } : {}),
        });
        return { response, text: await response.text(), token };
      } catch (error) {
        // No answer, or the connection ended in the middle of it.
        throw new ConvergenceApiError(
          0,
          "unreachable",
          `cannot reach Convergence at ${baseUrl}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    });
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
        retryAfterMs(response.headers.get("retry-after")),
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
    /** An arm for this user; with a `fallback`, the fallback's params instead of any failure (see FallbackSelection). */
    select: async (name: string, args: RuntimeSelectOptions): Promise<SelectAnswer<MayFallBack>> => {
      try {
        const selection = await request<Answer<typeof SelectionSchema>>("POST", `${system(name)}/select`, selectRequest(args));
        return { ...selection, fallback: false } satisfies ArmSelection;
      } catch (caught) {
        const fallback = options.fallback;
        if (fallback === undefined) throw caught;
        const error = caught instanceof ConvergenceApiError ? caught : new ConvergenceApiError(0, "client_error", String(caught));
        const failure: SelectFailure = {
          system: name,
          userId: args.userId,
          error,
          ...(args.agentType ? { agentType: args.agentType } : {}),
        };
        const params = typeof fallback === "function" ? fallback(failure) : fallback;
        const answer: FallbackSelection = {
          fallback: true,
          decision_id: null,
          arm_id: null,
          params,
          error: { status: error.status, code: error.code, message: error.message },
        };
        // There is a fallback, so createClient's overloads made MayFallBack true (or boolean).
        return answer as SelectAnswer<MayFallBack>;
      }
    },
    /** Reward a decision; sent again after a failure that may pass (see `updateRetries`). */
    update: async (name: string, args: RuntimeUpdateOptions) => {
      const body = updateRequest(args);
      const retries = options.updateRetries ?? DEFAULT_UPDATE_RETRIES;
      for (let attempt = 0; ; attempt++) {
        try {
          return await request<Answer<typeof UpdateResultSchema>>(
            "POST",
            `${system(name)}/update`,
            body,
            options.updateTimeoutMs ?? DEFAULT_UPDATE_TIMEOUT_MS,
          );
        } catch (error) {
          if (attempt >= retries || !worthRetrying(error)) throw error;
          const asked = (error as ConvergenceApiError).retryAfterMs ?? 0;
          if (asked > MAX_RETRY_AFTER_MS) throw error;
          await sleep(Math.max(asked, RETRY_DELAY_MS * 2 ** attempt));
        }
      }
    },
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

/** A client; MayFallBack: whether it was given a fallback (then select may answer a FallbackSelection). */
export type ConvergenceClient<MayFallBack extends boolean = false> = ReturnType<typeof makeClient<MayFallBack>>;

/** createClient's overloads: select's answer type follows from whether the options give a fallback. */
export interface CreateClient {
  (options: ClientOptions & { fallback: Fallback }): ConvergenceClient<true>;
  (options?: ClientOptions & { fallback?: undefined }): ConvergenceClient<false>;
  (options: ClientOptions): ConvergenceClient<boolean>;
}

/** createClient for a host that knows where else a key may be, and what to say when none was found. */
export const clientFactory = (
  fallbackKey: KeyFallback = async () => null,
  missingKeyHint: (baseUrl: string) => string = () => "",
): CreateClient =>
  // One implementation serves the three overloads: they differ only in the type of select's answer.
  ((options: ClientOptions = {}) => makeClient(options, fallbackKey, missingKeyHint)) as CreateClient;

export const createClient: CreateClient = clientFactory();
