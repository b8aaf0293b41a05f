/**
 * Scoped API keys: what an admin creates with POST /v1/keys, what GET /v1/keys lists, and what the CLI and the
 * client send and read. One zod definition each: the type, the validator and the API description.
 */
import { z } from "zod";
import { TimestampSchema } from "../json.js";
import { NextCursorSchema } from "../page.js";
import { SystemNameSchema } from "../runtime/schema.js";

/** admin: every route. runtime: select, update and reading a decision, on the key's systems only. */
const KeyScopeSchema = z.enum(["admin", "runtime"]);
export type KeyScope = z.infer<typeof KeyScopeSchema>;

export const ALL_SYSTEMS = "*";
const MAX_KEY_SYSTEMS = 100;

const KeySystemsSchema = z
  .array(z.union([z.literal(ALL_SYSTEMS), SystemNameSchema]))
  .min(1)
  .max(MAX_KEY_SYSTEMS)
  .refine((systems) => !systems.includes(ALL_SYSTEMS) || systems.length === 1, "'*' (every system) stands alone");

export const CreateKeyRequestSchema = z
  .strictObject({
    scope: KeyScopeSchema,
    /** The systems a runtime key may call (default: every system). Admin keys reach every system. */
    systems: KeySystemsSchema.optional(),
    /** What the key is for, shown in the list (say, the app that embeds it). */
    name: z.string().min(1).max(100).optional(),
  })
  .superRefine((request, ctx) => {
    if (request.scope === "admin" && request.systems && (request.systems.length !== 1 || request.systems[0] !== ALL_SYSTEMS)) {
      ctx.addIssue({ code: "custom", path: ["systems"], message: "an admin key reaches every system: systems applies to runtime keys" });
    }
  });
export type CreateKeyRequest = z.input<typeof CreateKeyRequestSchema>;

export const KeyIdSchema = z.string().regex(/^key_[0-9a-f]{16}$/, "a key id like key_0123456789abcdef");

/** A key as listed: never the key itself. */
export const ApiKeySchema = z.object({
  id: KeyIdSchema,
  scope: KeyScopeSchema,
  systems: z.array(z.string()),
  name: z.string().nullable(),
  created_at: TimestampSchema,
  revoked_at: TimestampSchema.nullable(),
});
export type ApiKey = z.infer<typeof ApiKeySchema>;

/** GET /v1/ping: the key is good (and nothing else happened). */
export const PingSchema = z.object({ ok: z.boolean() });

/** GET /v1/keys: a page of them, newest first. */
export const KeyListSchema = z.object({ keys: z.array(ApiKeySchema), next_cursor: NextCursorSchema });

/** The answer of POST /v1/keys: the only time the key is shown. */
export const CreatedKeySchema = ApiKeySchema.omit({ revoked_at: true }).extend({
  key: z.string().describe("the key: send it as Authorization: Bearer <key>; it is not shown again"),
});
export type CreatedKey = z.infer<typeof CreatedKeySchema>;
