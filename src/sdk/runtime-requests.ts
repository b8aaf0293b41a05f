/**
 * The runtime calls in the SDK's camelCase, and the snake_case requests they become: one mapping for the
 * in-process functions (runtimeSelect, runtimeUpdate) and the HTTP client (createClient).
 */
import type { JsonValue } from "../json.js";
import type { SelectRequest, UpdateRequest } from "../runtime/schema.js";

export interface RuntimeSelectOptions {
  userId: string;
  agentType?: string;
  context?: Record<string, JsonValue>;
}

export interface RuntimeUpdateOptions {
  userId: string;
  decisionId: string;
  agentType?: string;
  reward?: number;
  signals?: Record<string, number>;
  engagementScore?: number;
  gradingScore?: number;
  metadata?: Record<string, JsonValue>;
}

export function selectRequest(options: RuntimeSelectOptions): SelectRequest {
  return {
    user_id: options.userId,
    ...(options.agentType !== undefined ? { agent_type: options.agentType } : {}),
    ...(options.context !== undefined ? { context: options.context } : {}),
  };
}

export function updateRequest(options: RuntimeUpdateOptions): UpdateRequest {
  const { userId, decisionId, agentType, reward, signals, engagementScore, gradingScore, metadata } = options;
  return {
    user_id: userId,
    decision_id: decisionId,
    ...(agentType !== undefined ? { agent_type: agentType } : {}),
    ...(reward !== undefined ? { reward } : {}),
    ...(signals !== undefined ? { signals } : {}),
    ...(engagementScore !== undefined ? { engagement_score: engagementScore } : {}),
    ...(gradingScore !== undefined ? { grading_score: gradingScore } : {}),
    ...(metadata !== undefined ? { metadata } : {}),
  };
}
