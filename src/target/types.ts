import type { TestCase } from "../config/schema.js";
import type { JsonValue } from "../json.js";
import type { ParamConfig } from "../search/space.js";

export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
}

/** What one call to the team's API (or the mock, or a local function) gave. Failures are values, not throws. */
export interface TargetResponse {
  ok: boolean;
  status: number | null;
  /** The parsed JSON body, or the raw text when the body is not JSON. */
  body: JsonValue;
  /** The answer text extracted from the body ('' when there is none). */
  text: string;
  latency_ms: number;
  usage: TokenUsage | null;
  model: string | null;
  cost_usd: number;
  error: string | null;
  attempts: number;
}

/** Calls the team's API with one parameter set on one test case. Throws only when the run is cancelled. */
export type Target = (params: ParamConfig, testCase: TestCase, signal?: AbortSignal) => Promise<TargetResponse>;

/** The environment a target reads secrets from, at call time only (process.env in Node, the Worker's env). */
export type EnvSource = Readonly<Record<string, string | undefined>>;

export function failure(error: string, partial: Partial<TargetResponse> = {}): TargetResponse {
  return {
    ok: false,
    status: null,
    body: null,
    text: "",
    latency_ms: 0,
    usage: null,
    model: null,
    cost_usd: 0,
    error,
    attempts: 1,
    ...partial,
  };
}
