import { median } from "../src/optimize/stats.js";

/** Rows as aligned text columns, the first row the header. */
export function table(rows: (string | number)[][]): string {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length))) ?? [];
  return cells.map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ")).join("\n");
}

/** "label by round: 91%, 89%, 86%; median 89%": one ratio per alternating round, and their median. */
export function ratioLine(label: string, ratios: number[]): string {
  const percent = (x: number) => `${(x * 100).toFixed(0)}%`;
  return `${label} by round: ${ratios.map(percent).join(", ")}; median ${percent(median(ratios))}`;
}
