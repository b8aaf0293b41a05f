#!/usr/bin/env node
// Builds what the worker serves as static files beside the code, into workers/dashboard/public (git-ignored):
// the dashboard's chart library (uPlot, copied from node_modules: no CDN, works offline), and the guides under
// /guide/ (docs/*.md rendered to HTML, so a deployment carries its own documentation). Run by `npm ci` (the
// `dependencies` script), `npm start` and `npm run deploy`.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Marked } from "marked";
import { slug } from "./slug.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const publicDir = join(root, "workers/dashboard/public");

const vendor = join(publicDir, "vendor");
mkdirSync(vendor, { recursive: true });
for (const file of ["uPlot.iife.min.js", "uPlot.min.css"]) copyFileSync(join(root, "node_modules/uplot/dist", file), join(vendor, file));

const docs = join(root, "docs");
const guide = join(publicDir, "guide");
rmSync(guide, { recursive: true, force: true });
mkdirSync(guide, { recursive: true });

const escapeHtml = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
// Links between the pages name their .md files (as GitHub shows them); served, they are the pages beside this one.
// Headings get GitHub's anchors (slug), so the pages' links to each other's sections work served as they do in the
// repository.
const marked = new Marked({
  gfm: true,
  renderer: {
    heading({ tokens, depth, text }) {
      return `<h${depth} id="${slug(text)}">${this.parser.parseInline(tokens)}</h${depth}>\n`;
    },
  },
  walkTokens(token) {
    if (token.type === "link" && /^[\w-]+\.md(#|$)/.test(token.href)) token.href = token.href.replace(/\.md(#|$)/, ".html$1");
  },
});

const page = (title, body) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Convergence</title>
<link rel="icon" href="/favicon.ico">
<link rel="stylesheet" href="/guide.css">
</head>
<body>
<nav><a href="/">Dashboard</a> <a href="/docs">API reference</a> <a href="/guide/">Guides</a></nav>
<main>
${body}
</main>
</body>
</html>
`;

// docs/guides.json orders the pages (the worker's /docs links them from it too).
const guides = JSON.parse(readFileSync(join(docs, "guides.json"), "utf8"));
const titles = {};
for (const file of readdirSync(docs)) {
  if (file.endsWith(".png")) copyFileSync(join(docs, file), join(guide, file));
  if (!file.endsWith(".md")) continue;
  const markdown = readFileSync(join(docs, file), "utf8");
  const name = basename(file, ".md");
  titles[name] = markdown.match(/^# (.+)$/m)?.[1] ?? name;
  writeFileSync(join(guide, `${name}.html`), page(titles[name], marked.parse(markdown)));
}
const list = guides
  .map((g) => `<li><a href="${g.page}.html">${escapeHtml(titles[g.page] ?? g.page)}</a>: ${escapeHtml(g.about)}</li>`)
  .join("\n");
writeFileSync(join(guide, "index.html"), page("Guides", `<h1>Guides</h1>\n<ul>\n${list}\n</ul>`));
