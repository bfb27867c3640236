// WCAG AA contrast (4.5:1 for text) of every text colour on the background it is used on, as
// styles.css pairs them. The stylesheet is parsed (postcss), so the pairs rated are the pairs
// used, not a list that drifts from it. A rule's text colour and background are its own;
// failing that, those of the rule it refines (`.seat` for `.seat.tier-0`), then of the rule
// it sits inside (`.topbar` for `.topbar .muted`), then the page's (`:root`). A background of
// `none` or `transparent` shows what the element sits inside.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import postcss, { type AtRule, type Rule } from "postcss";
import { describe, expect, it } from "vitest";

/** Rules that set a colour but are no text on a background, and why. */
const NOT_TEXT: Record<string, string> = {
  ".seat": "never alone: every seat also has a tier or a state class that sets its background",
  ".camera video": "a camera picture, with no text on it",
  ".dialog::backdrop": "the dimmed page behind a dialog, with no text on it",
};

type Declarations = { color?: string; background?: string };

const root = postcss.parse(readFileSync(join(__dirname, "styles.css"), "utf8"));

// The custom properties of :root, for var(--name).
const properties = new Map<string, string>();
root.walkDecls(/^--/, (decl) => {
  properties.set(decl.prop, decl.value);
});
const resolve = (value: string) =>
  value.replace(/var\((--[\w-]+)\)/g, (_, name: string) => {
    const defined = properties.get(name);
    if (defined === undefined) throw new Error(`styles.css uses ${name} without defining it`);
    return defined;
  });

// Every selector's colour and background, across @media blocks; @keyframes are no rules.
const bySelector = new Map<string, Declarations>();
root.walkRules((rule: Rule) => {
  if (rule.parent?.type === "atrule" && (rule.parent as AtRule).name.endsWith("keyframes")) return;
  for (const selector of rule.selectors) {
    const found = bySelector.get(selector) ?? {};
    rule.each((node) => {
      if (node.type !== "decl") return;
      if (node.prop === "color" && node.value !== "inherit") found.color = resolve(node.value).toLowerCase();
      if (node.prop === "background" || node.prop === "background-color") {
        found.background = resolve(node.value).toLowerCase();
      }
    });
    bySelector.set(selector, found);
  }
});

/** The colours in a value: `#rgb` and `#rrggbb`; any other colour notation is refused. */
function coloursIn(value: string): string[] {
  if (/\b(rgba?|hsla?|hwb|lab|lch|oklab|oklch|color)\(/.test(value)) {
    throw new Error(`rate ${value}: only #rrggbb colours are rated here`);
  }
  return (value.match(/#[0-9a-f]{3}\b|#[0-9a-f]{6}\b/g) ?? []).map((hex) =>
    hex.length === 4 ? `#${[...hex.slice(1)].map((c) => c + c).join("")}` : hex,
  );
}

/** A selector's compounds: `.chips button[aria-pressed="true"]` is `.chips` and `button[…]`. */
const compounds = (selector: string) => selector.trim().split(/\s*[\s>+~]\s*/);

/** `.seat.tier-0` refines `.seat`; `.chips button[aria-pressed="true"]` refines `.chips button`. */
function refined(selector: string): string | undefined {
  const last = compounds(selector).at(-1) ?? "";
  const simple = last.match(/^(?:[\w-]+|\*)|\.[\w-]+|#[\w-]+|\[[^\]]*\]|::?[\w-]+(?:\([^)]*\))?/g) ?? [];
  if (simple.length < 2) return undefined;
  return selector.trim().slice(0, -last.length) + simple.slice(0, -1).join("");
}

/** `.topbar .muted` sits inside `.topbar`. */
function container(selector: string): string | undefined {
  const parts = compounds(selector);
  return parts.length > 1 ? parts.slice(0, -1).join(" ") : undefined;
}

function colourOf(selector: string | undefined): string | undefined {
  if (selector === undefined) return undefined;
  return bySelector.get(selector)?.color ?? colourOf(refined(selector)) ?? colourOf(container(selector));
}

function backgroundOf(selector: string | undefined): string[] | undefined {
  if (selector === undefined) return undefined;
  const own = bySelector.get(selector)?.background;
  if (own === "none" || own === "transparent") return backgroundOf(container(selector));
  if (own !== undefined) return coloursIn(own);
  return backgroundOf(refined(selector)) ?? backgroundOf(container(selector));
}

const page = { color: colourOf(":root"), background: backgroundOf(":root") };

// [text colour, background, the rules that pair them]
const pairs = new Map<string, [string, string, string[]]>();
for (const [selector, declared] of bySelector) {
  if (declared.color === undefined && declared.background === undefined) continue;
  if (selector in NOT_TEXT) continue;
  const [text] = coloursIn(colourOf(selector) ?? page.color ?? "");
  for (const background of new Set(backgroundOf(selector) ?? page.background ?? [])) {
    const key = `${text} on ${background}`;
    const pair = pairs.get(key) ?? [text, background, []];
    pair[2].push(selector);
    pairs.set(key, pair);
  }
}

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

describe("colour contrast", () => {
  it("reads the page's colours and the rules that pair colours", () => {
    expect(page).toEqual({ color: "#0f172a", background: ["#f8fafc"] });
    expect(pairs.size).toBeGreaterThan(20);
    for (const selector of Object.keys(NOT_TEXT)) expect(bySelector.has(selector), selector).toBe(true);
  });

  it("takes colours from the rule refined or sat inside, and sees through a transparent background", () => {
    const ratedFor = (selector: string) =>
      [...pairs.values()].filter(([, , selectors]) => selectors.includes(selector)).map(([text, bg]) => [text, bg]);
    const declared = (selector: string) => bySelector.get(selector) ?? {};
    expect(ratedFor(".seat.tier-0")).toEqual([[declared(".seat").color, declared(".seat.tier-0").background]]);
    expect(ratedFor(".topbar .muted")).toEqual([[declared(".topbar .muted").color, declared(".topbar").background]]);
    expect(ratedFor("button.link")).toEqual([[declared("button.link").color, ...(page.background ?? [])]]);
    expect(ratedFor(".seat.held")).toHaveLength(2);
  });

  it.each([...pairs.values()])("%s on %s (%j) is at least 4.5:1", (text, background) => {
    expect(contrast(text, background)).toBeGreaterThanOrEqual(4.5);
  });
});
