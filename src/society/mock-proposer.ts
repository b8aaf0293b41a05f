/**
 * The proposer of mock mode: no model and no network. It edits the best candidate's text parameters the way a
 * model would, deterministically from the brief: each candidate adds one instruction the text does not hold yet,
 * from a list that holds what the mock target rewards (MOCK_TEXT_INSTRUCTIONS) among others it does not. Which
 * ones pay is for the run to find out, as with a real model.
 */
import { canonicalJson, unitHash } from "../search/hash.js";
import { MOCK_TEXT_INSTRUCTIONS } from "../target/mock.js";
import type { Brief } from "./brief.js";
import type { Proposer } from "./proposer.js";

const INSTRUCTIONS = [...MOCK_TEXT_INSTRUCTIONS, "use bullet points", "be friendly", "avoid jargon", "ask a clarifying question"];

export const mockProposer: Proposer = {
  async propose(brief: Brief) {
    const best = brief.best[0];
    if (!best) return { candidates: [], cost_usd: 0, malformed: false };
    const textNames = Object.entries(brief.parameters)
      .filter(([, description]) => description.startsWith("text"))
      .map(([name]) => name);
    const candidates: Record<string, unknown>[] = [];
    for (const name of textNames) {
      const text = String(best.config[name] ?? "");
      const missing = INSTRUCTIONS.filter((i) => !text.toLowerCase().includes(i));
      const order = missing.sort(
        (a, b) => unitHash(`${brief.generation}:${a}:${canonicalJson(text)}`) - unitHash(`${brief.generation}:${b}:${canonicalJson(text)}`),
      );
      for (const instruction of order.slice(0, brief.wanted)) {
        candidates.push({
          ...best.config,
          [name]: `${text.trim().replace(/\.?$/, ".")} ${instruction[0]?.toUpperCase()}${instruction.slice(1)}.`,
        });
      }
    }
    return { candidates: candidates.slice(0, brief.wanted), cost_usd: 0, malformed: false };
  },
};
