/** Lexical text measures: the no-provider fallbacks for similarity, cosine and diversity. */

export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export function normalizeText(text: string): string {
  return text
    .toLowerCase()
    .replace(/\s+/g, " ")
    .trim()
    .replace(/[.!?;:,]+$/, "");
}

/** Inverse document frequencies over a corpus (smoothed, so unseen terms get the highest weight). */
export class Corpus {
  private readonly df = new Map<string, number>();
  private readonly size: number;

  constructor(documents: readonly string[]) {
    this.size = documents.length;
    for (const doc of documents) for (const term of new Set(tokenize(doc))) this.df.set(term, (this.df.get(term) ?? 0) + 1);
  }

  idf(term: string): number {
    return Math.log((1 + this.size) / (1 + (this.df.get(term) ?? 0))) + 1;
  }

  vector(text: string): Map<string, number> {
    const counts = new Map<string, number>();
    for (const term of tokenize(text)) counts.set(term, (counts.get(term) ?? 0) + 1);
    const vec = new Map<string, number>();
    for (const [term, n] of counts) vec.set(term, (1 + Math.log(n)) * this.idf(term));
    return vec;
  }
}

export function cosine(a: Map<string, number>, b: Map<string, number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (const [term, v] of a) {
    na += v * v;
    const w = b.get(term);
    if (w !== undefined) dot += v * w;
  }
  for (const v of b.values()) nb += v * v;
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/** TF-IDF cosine between two texts, in [0, 1]. */
export function lexicalCosine(a: string, b: string, corpus: Corpus = new Corpus([a, b])): number {
  return cosine(corpus.vector(a), corpus.vector(b));
}

/** Distinct word bigrams over all bigrams: 1 for text that never repeats itself. */
export function distinctBigramRatio(text: string): number | null {
  const words = tokenize(text);
  if (words.length < 3) return null;
  const bigrams = new Set<string>();
  for (let i = 0; i + 1 < words.length; i++) bigrams.add(`${words[i]} ${words[i + 1]}`);
  return bigrams.size / (words.length - 1);
}

/**
 * Ratcliff/Obershelp similarity (what Python's difflib.SequenceMatcher.ratio computes, without its junk
 * heuristic): 2 * matched characters / total characters. Inputs are capped at 2,000 characters each.
 */
export function similarityRatio(a: string, b: string): number {
  const x = a.slice(0, 2000);
  const y = b.slice(0, 2000);
  if (x.length + y.length === 0) return 1;
  return (2 * matchedChars(x, y)) / (x.length + y.length);
}

function matchedChars(a: string, b: string): number {
  if (a.length === 0 || b.length === 0) return 0;
  // Longest common substring by dynamic programming over one row.
  let bestLen = 0;
  let bestA = 0;
  let bestB = 0;
  let prev = new Uint16Array(b.length + 1);
  let row = new Uint16Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      row[j] = a[i - 1] === b[j - 1] ? (prev[j - 1] as number) + 1 : 0;
      if ((row[j] as number) > bestLen) {
        bestLen = row[j] as number;
        bestA = i - bestLen;
        bestB = j - bestLen;
      }
    }
    [prev, row] = [row, prev];
    row.fill(0);
  }
  if (bestLen === 0) return 0;
  return bestLen + matchedChars(a.slice(0, bestA), b.slice(0, bestB)) + matchedChars(a.slice(bestA + bestLen), b.slice(bestB + bestLen));
}
