/**
 * Listings page by position, not by offset: each answer holds a page of items and `next_cursor`, which the next
 * request passes back as `cursor` (null on the last page). A cursor names the last item's place in the listing's
 * order, so items added or removed meanwhile neither repeat an item nor hide one (workers/api/cursor.ts makes and
 * reads them; to a client they are opaque text).
 */
import { z } from "zod";

/** The most items one page holds: a page of decisions (params and context up to 8 KiB each) stays a few MiB. */
export const MAX_PAGE_LIMIT = 500;

/** The `limit` query parameter of a listing: 1 to MAX_PAGE_LIMIT items, `fallback` when absent. */
export const pageLimitSchema = (fallback: number) =>
  z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_LIMIT)
    .default(fallback)
    .describe(`items in this page, 1 to ${MAX_PAGE_LIMIT} (default ${fallback})`);

export const NextCursorSchema = z.string().nullable().describe("pass it as `cursor` for the next page, as it is; null on the last page");
