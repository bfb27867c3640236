// WCAG AA contrast of the app's text colours on their backgrounds (4.5:1 for text). The
// pairs are the ones styles.css uses; each colour is checked to still be in it.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const css = readFileSync(join(__dirname, "styles.css"), "utf8").toLowerCase();

function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

const PAIRS: [string, string, string][] = [
  ["body text", "#0f172a", "#f8fafc"],
  ["muted text", "#475569", "#f8fafc"],
  ["muted text on cards", "#475569", "#ffffff"],
  ["top bar", "#ffffff", "#1d3a8a"],
  ["top bar name", "#dbeafe", "#1d3a8a"],
  ["links and secondary buttons", "#1d3a8a", "#ffffff"],
  ["errors", "#b91c1c", "#f8fafc"],
  ["disabled buttons", "#334155", "#e2e8f0"],
  ["offline banner", "#78350f", "#fef3c7"],
  ["seats left", "#166534", "#ffffff"],
  ["seat, dearest tier", "#ffffff", "#7c2d12"],
  ["seat, tier 2", "#ffffff", "#1d4ed8"],
  ["seat, tier 3", "#ffffff", "#047857"],
  ["seat, tier 4", "#ffffff", "#6d28d9"],
  ["seat, tier 5", "#ffffff", "#0e7490"],
  ["seat, tier 6", "#ffffff", "#a21caf"],
  ["selected seat", "#0f172a", "#facc15"],
  ["seat held for you", "#0f172a", "#f59e0b"],
  ["seat held by someone (light stripe)", "#374151", "#e5e7eb"],
  ["seat held by someone (dark stripe)", "#374151", "#cbd5e1"],
  ["sold seat", "#e5e7eb", "#374151"],
  ["stage", "#334155", "#e2e8f0"],
  ["concert badge", "#831843", "#fce7f3"],
  ["theater badge", "#4c1d95", "#ede9fe"],
  ["sports badge", "#14532d", "#dcfce7"],
  ["festival badge", "#7c2d12", "#ffedd5"],
  ["conference badge", "#0c4a6e", "#e0f2fe"],
  ["draft status", "#334155", "#e2e8f0"],
  ["published status", "#14532d", "#dcfce7"],
  ["cancelled status", "#7f1d1d", "#fee2e2"],
  ["danger button", "#ffffff", "#b91c1c"],
  ["gate: admit", "#ffffff", "#166534"],
  ["gate: refuse", "#ffffff", "#b91c1c"],
  ["gate: scan next", "#0f172a", "#ffffff"],
];

describe("colour contrast", () => {
  it.each(PAIRS)("%s is at least 4.5:1", (_name, text, background) => {
    expect(css).toContain(text);
    expect(css).toContain(background);
    expect(contrast(text, background)).toBeGreaterThanOrEqual(4.5);
  });
});
