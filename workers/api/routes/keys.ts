/** Scoped API keys (admin only, like every route outside the runtime operations of workers/api/auth.ts). */
import { createRoute, z } from "@hono/zod-openapi";
import { TimestampSchema } from "../../../src/json.js";
import { ApiKeySchema, CreatedKeySchema, CreateKeyRequestSchema, KeyIdSchema, KeyListSchema } from "../../../src/keys/schema.js";
import { pageLimitSchema } from "../../../src/page.js";
import { createKey, listKeys, revokeKey } from "../../db/keys";
import { listingCursor } from "../cursor";
import { ApiError, errorResponses, json } from "../errors";
import { routeGroup } from "./group";

const KeyId = KeyIdSchema.openapi({ param: { name: "key_id", in: "path" } });
const Key = ApiKeySchema.openapi("ApiKey");
const keysCursor = listingCursor("keys", z.tuple([TimestampSchema, KeyIdSchema]));

const routes = {
  create: createRoute({
    method: "post",
    path: "/v1/keys",
    summary: "Create an API key (the key is in this answer only)",
    request: { body: { required: true, content: { "application/json": { schema: CreateKeyRequestSchema.openapi("CreateKeyRequest") } } } },
    responses: { 201: json(CreatedKeySchema.openapi("CreatedKey"), "The key, shown once"), ...errorResponses },
  }),
  list: createRoute({
    method: "get",
    path: "/v1/keys",
    summary: "A page of the keys made with POST /v1/keys, newest first, revoked ones included (never the keys themselves)",
    description: "Pass `next_cursor` back as `cursor` for the next page.",
    request: { query: z.object({ limit: pageLimitSchema(100), cursor: keysCursor.query.optional() }) },
    responses: { 200: json(KeyListSchema, "Keys"), ...errorResponses },
  }),
  revoke: createRoute({
    method: "delete",
    path: "/v1/keys/{key_id}",
    summary: "Revoke a key: refused from the next request on (other worker isolates within 30 s)",
    request: { params: z.object({ key_id: KeyId }) },
    responses: { 200: json(Key, "The revoked key"), ...errorResponses },
  }),
};

export const keysApp = routeGroup()
  .openapi(routes.create, async (c) => c.json(await createKey(c.env.DB, c.req.valid("json")), 201))
  .openapi(routes.list, async (c) => {
    const { limit, cursor } = c.req.valid("query");
    const page = await listKeys(c.env.DB, { limit, after: cursor });
    return c.json({ keys: page.items, next_cursor: page.next && keysCursor.encode(page.next) }, 200);
  })
  .openapi(routes.revoke, async (c) => {
    const { key_id } = c.req.valid("param");
    const revoked = await revokeKey(c.env.DB, key_id);
    if (!revoked) throw new ApiError(404, "unknown_key", `no key '${key_id}'`);
    return c.json(revoked, 200);
  });
