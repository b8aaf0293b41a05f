/**
 * The decision log as NDJSON-ready pages: D1's recent rows and the R2 archive's older ones, merged, oldest first,
 * forgotten users' decisions left out (workers/db/archive.ts). Admin only: it is not in auth.ts's runtime table.
 */
import { createRoute } from "@hono/zod-openapi";
import { ExportPageSchema, ExportQuerySchema } from "../../../src/runtime/export.js";
import { decodeCursor, encodeCursor, exportPage } from "../../db/archive";
import { logDatabaseOf } from "../../db/log-database";
import { ApiError, errorResponses, json } from "../errors";
import { routeGroup } from "./group";
import { requireSystem, SystemParams } from "./runtime";

const exportLog = createRoute({
  method: "get",
  path: "/v1/systems/{system}/export",
  summary: "Export the system's decision log, archived decisions included, oldest first, a page at a time",
  description:
    "Each decision whole (arms snapshot and selection probability included). Pass `next_cursor` as `cursor` until it is null; a page may hold fewer than `limit` decisions (the archive is read a bounded number of objects per page) without being the last.",
  request: { params: SystemParams, query: ExportQuerySchema },
  responses: { 200: json(ExportPageSchema.openapi("ExportPage"), "A page of decisions"), ...errorResponses },
});

export const exportApp = routeGroup().openapi(exportLog, async (c) => {
  const system = await requireSystem(c.env, c.req.valid("param").system);
  const { since, limit, cursor } = c.req.valid("query");
  let from: readonly [string, string];
  if (cursor !== undefined) {
    const position = decodeCursor(cursor);
    if (!position) {
      throw new ApiError(400, "invalid_request", "cursor is not one this service gave", [
        { path: "query.cursor", message: "pass a next_cursor from an earlier page" },
      ]);
    }
    from = position;
  } else {
    // A date means its UTC midnight; "" sorts before every decision id, so decisions made at `since` are included.
    from = [since === undefined ? "" : new Date(since.length === 10 ? `${since}T00:00:00.000Z` : since).toISOString(), ""];
  }
  const page = await exportPage(c.env, logDatabaseOf(c.env, system), system.name, from, limit);
  return c.json({ system: system.name, decisions: page.decisions, next_cursor: page.next ? encodeCursor(page.next) : null }, 200);
});
