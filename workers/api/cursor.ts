/**
 * The cursors of the listings (src/page.ts): base64url of `{"listing": ..., "after": position}`, where the position
 * is the last item's sort key in the listing's order (a timestamp and an id). Nothing secret is in one, and a
 * cursor edited by hand can only name another position of the same listing: each is read back through its
 * listing's zod schema, so anything else (not base64url, not JSON, another listing's, a position of the wrong shape)
 * is a 400 naming `cursor`, never a 500.
 */
import { z } from "@hono/zod-openapi";

/** A position is a timestamp and an id of at most a few hundred characters: a cursor is far shorter than this. */
const MAX_CURSOR_CHARS = 1024;

function toBase64Url(text: string): string {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The text a base64url cursor holds; null when it is not base64url of UTF-8. */
function fromBase64Url(cursor: string): string | null {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) return null;
  try {
    const binary = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
}

function parseJson(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The cursor of one listing. `encode` makes `next_cursor` from the position of a page's last item; `query` is the
 * `cursor` query parameter, which reads it back into that position.
 */
export function listingCursor<P extends z.ZodType>(listing: string, position: P) {
  const Cursor = z.strictObject({ listing: z.literal(listing), after: position });
  const refusal = `not a cursor of this listing (${listing}): pass the next_cursor of the previous page as it is`;
  return {
    encode: (after: z.output<P>): string => toBase64Url(JSON.stringify({ listing, after })),
    query: z
      .string()
      .max(MAX_CURSOR_CHARS, refusal)
      .transform((text, ctx): z.output<P> => {
        const parsed = Cursor.safeParse(parseJson(fromBase64Url(text)));
        if (parsed.success) return (parsed.data as { after: z.output<P> }).after;
        ctx.addIssue({ code: "custom", message: refusal });
        return z.NEVER;
      })
      .openapi({
        type: "string",
        maxLength: MAX_CURSOR_CHARS,
        description: "the `next_cursor` of the previous page, as it is (opaque); absent for the first page",
      }),
  };
}
