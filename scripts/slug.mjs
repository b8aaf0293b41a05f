// GitHub's anchor of a heading (its markdown: backticks and other marks are dropped), what the pages link to:
// scripts/build-assets.mjs gives the served pages' headings these ids, and test/core/doc-snippets.test.ts checks
// the pages' links to sections against them. Typed for the tests by slug.d.mts.
export const slug = (heading) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
