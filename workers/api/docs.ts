/**
 * GET /docs: the API description as a page, rendered here from /openapi.json (no script, no CDN: works offline),
 * and links to the guides (docs/*.md, served as /guide/*.html by the static assets: scripts/build-assets.mjs).
 */
import { html, raw } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import guides from "../../docs/guides.json";

/**
 * The security headers of /docs, the same as the dashboard's (workers/dashboard/public/_headers, a static file the
 * assets serve: test/workers/headers.test.ts keeps the two equal). The page has no script and one inline style
 * element, which style-src 'unsafe-inline' allows; it loads nothing.
 */
export const DOCS_PAGE_HEADERS = {
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
} as const;

type Schema = Record<string, unknown>;
interface Operation {
  summary?: string;
  description?: string;
  parameters?: { name: string; in: string; required?: boolean; schema?: Schema; description?: string }[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}
interface Document {
  info: { title: string; version: string; description?: string };
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

const METHODS = ["get", "put", "post", "delete", "patch"];

function schemaBlock(schema: Schema | undefined): HtmlEscapedString | Promise<HtmlEscapedString> | string {
  if (!schema) return "";
  const ref = typeof schema.$ref === "string" ? schema.$ref.split("/").at(-1) : null;
  if (ref) return html`<a href="#schema-${ref}"><code>${ref}</code></a>`;
  return html`<details><summary>schema</summary><pre>${JSON.stringify(schema, null, 2)}</pre></details>`;
}

function operation(method: string, path: string, op: Operation) {
  const params = op.parameters ?? [];
  const body = Object.entries(op.requestBody?.content ?? {});
  return html`<section class="op" id="${method}-${path}">
    <h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${path}</code></h3>
    ${op.summary ? html`<p>${op.summary}</p>` : ""} ${op.description ? html`<p class="muted">${op.description}</p>` : ""}
    ${
      params.length > 0
        ? html`<table>
            <tr><th>parameter</th><th>in</th><th>type</th><th></th></tr>
            ${params.map(
              (p) =>
                html`<tr><td><code>${p.name}</code>${p.required ? " *" : ""}</td><td>${p.in}</td><td>${String(
                  p.schema?.type ?? "",
                )}</td><td>${p.description ?? ""}</td></tr>`,
            )}
          </table>`
        : ""
    }
    ${body.map(([type, media]) => html`<p>Body <code>${type}</code> ${schemaBlock(media.schema)}</p>`)}
    <ul class="responses">
      ${Object.entries(op.responses ?? {}).map(
        ([status, r]) =>
          html`<li><code>${status}</code> ${r.description ?? ""} ${schemaBlock(r.content?.["application/json"]?.schema)}</li>`,
      )}
    </ul>
  </section>`;
}

export function docsPage(document: unknown) {
  const doc = document as Document;
  const paths = Object.entries(doc.paths ?? {});
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${doc.info.title} API ${doc.info.version}</title>
    <style>
      ${raw(STYLE)}
    </style>
  </head>
  <body>
    <header><a href="/">Convergence</a> · API ${doc.info.version} · <a href="/openapi.json">openapi.json</a></header>
    <main>
      <h1>${doc.info.title} API</h1>
      <p>${doc.info.description ?? ""}</p>
      <h2>Guides</h2>
      <ul class="guides">
        ${guides.map((g) => html`<li><a href="/guide/${g.page}.html">${g.page.replaceAll("-", " ")}</a>: ${g.about}</li>`)}
      </ul>
      <h2>Routes</h2>
      <nav>
        ${paths.flatMap(([path, ops]) =>
          METHODS.filter((m) => ops[m]).map(
            (m) => html`<a href="#${m}-${path}"><span class="method ${m}">${m.toUpperCase()}</span> ${path}</a>`,
          ),
        )}
      </nav>
      ${paths.flatMap(([path, ops]) => METHODS.filter((m) => ops[m]).map((m) => operation(m, path, ops[m] as Operation)))}
      <h2>Schemas</h2>
      ${Object.entries(doc.components?.schemas ?? {}).map(
        ([name, schema]) =>
          html`<section id="schema-${name}"><h3><code>${name}</code></h3><pre>${JSON.stringify(schema, null, 2)}</pre></section>`,
      )}
    </main>
  </body>
</html>`;
}

const STYLE = `
body { font: 15px/1.5 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f7f8fa; }
header { background: #1d2330; color: #fff; padding: 10px 24px; } header a { color: #fff; }
main { max-width: 980px; margin: 0 auto; padding: 8px 24px 48px; overflow-wrap: anywhere; }
@media (max-width: 600px) { main { padding: 8px 12px 32px; } header { padding: 10px 12px; } }
nav { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(420px, 100%), 1fr)); gap: 2px 16px; margin: 16px 0 24px; }
nav a { color: inherit; text-decoration: none; font-family: ui-monospace, monospace; font-size: 13px; }
.op { background: #fff; border: 1px solid #e2e5ea; border-radius: 8px; padding: 4px 16px 8px; margin: 12px 0; }
.method { display: inline-block; min-width: 48px; text-align: center; border-radius: 4px; color: #fff; font-size: 12px; padding: 1px 4px; }
.get { background: #2f7d4f; } .post { background: #2f5fa7; } .put { background: #a46a1f; } .delete { background: #a7322f; }
pre { background: #f0f2f5; padding: 8px; border-radius: 6px; overflow: auto; font-size: 12px; }
table { border-collapse: collapse; display: block; overflow-x: auto; } td, th { text-align: left; padding: 2px 12px 2px 0; }
details { min-width: 0; } pre { max-width: 100%; }
.muted { color: #5b6472; }
`;
