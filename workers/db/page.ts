/**
 * A page of a keyset listing. Each listing reads one row more than the page holds: whether it came tells whether
 * another page follows, so the last page says so (next: null) rather than the client asking for an empty one.
 */
export interface Page<T, P> {
  items: T[];
  /** The position of the last item, to read the next page from; null on the last page. */
  next: P | null;
}

export function pageOf<T, P>(rows: readonly T[], limit: number, positionOf: (row: T) => P): Page<T, P> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return { items, next: rows.length > limit && last !== undefined ? positionOf(last) : null };
}
