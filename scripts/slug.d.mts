/** GitHub's anchor of a heading (scripts/slug.mjs). */
export declare const slug: (heading: string) => string;
