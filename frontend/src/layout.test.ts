import { describe, expect, it } from "vitest";
import {
  addRows,
  emptyDraft,
  fieldFor,
  instant,
  localInput,
  PREVIEW_SEATS,
  previewMap,
  priceCents,
  requestBody,
  rowName,
  seatCount,
  type EventDraft,
} from "./layout";

function concert(): EventDraft {
  const draft = emptyDraft(new Date(2026, 10, 1, 9, 30));
  const stalls = addRows(addRows(draft.sections[0], 2, 10, "Front"), 3, 12, "Back");
  return {
    ...draft,
    title: "  Night Concert ",
    venue: "Hall",
    city: "Lisbon",
    description: "Loud.",
    starts_at: "2026-12-01T20:00",
    tiers: [
      { name: "Front", price: "45.50" },
      { name: "Back", price: "20" },
    ],
    sections: [stalls, addRows({ name: "Balcony", rows: [] }, 1, 8, "Back")],
  };
}

describe("requestBody", () => {
  it("turns the form into the API's body: cents, instants, rows with their tiers", () => {
    const body = requestBody(concert());
    expect(body).toEqual({
      title: "Night Concert",
      category: "concert",
      description: "Loud.",
      venue: "Hall",
      city: "Lisbon",
      starts_at: new Date(2026, 11, 1, 20, 0).toISOString(),
      sales_start: new Date(2026, 10, 1, 9, 30).toISOString(),
      tiers: [
        { name: "Front", price_cents: 4550 },
        { name: "Back", price_cents: 2000 },
      ],
      sections: [
        {
          name: "Stalls",
          rows: [
            { name: "A", seats: 10, tier: "Front" },
            { name: "B", seats: 10, tier: "Front" },
            { name: "C", seats: 12, tier: "Back" },
            { name: "D", seats: 12, tier: "Back" },
            { name: "E", seats: 12, tier: "Back" },
          ],
        },
        { name: "Balcony", rows: [{ name: "A", seats: 8, tier: "Back" }] },
      ],
    });
  });

  it("adds the optional fields only when filled in", () => {
    const body = requestBody({
      ...concert(),
      ends_at: "2026-12-01T23:00",
      sales_end: "2026-12-01T19:00",
      max_tickets_per_account: "4",
    });
    expect(body.ends_at).toBe(new Date(2026, 11, 1, 23, 0).toISOString());
    expect(body.sales_end).toBe(new Date(2026, 11, 1, 19, 0).toISOString());
    expect(body.max_tickets_per_account).toBe(4);
    expect(Object.keys(requestBody(concert()))).not.toContain("ends_at");
  });

  it("leaves an unreadable date as typed, for the API to name", () => {
    expect(instant("")).toBe("");
    expect(instant("soon")).toBe("soon");
  });
});

describe("building rows", () => {
  it("names rows A to Z, then AA", () => {
    expect([0, 1, 25, 26, 27, 51, 52].map(rowName)).toEqual(["A", "B", "Z", "AA", "AB", "AZ", "BA"]);
  });

  it("appends rows after the names already taken, skipping ones typed by hand", () => {
    const section = addRows({ name: "S", rows: [{ name: "B", seats: 4, tier: "T" }] }, 3, 6, "T");
    expect(section.rows.map((r) => r.name)).toEqual(["B", "A", "C", "D"]);
    expect(section.rows.slice(1).every((r) => r.seats === 6 && r.tier === "T")).toBe(true);
  });

  it("counts the seats", () => {
    expect(seatCount(concert().sections)).toBe(10 + 10 + 36 + 8);
  });
});

describe("priceCents", () => {
  it("reads the main unit with a dot or a comma and rounds to the cent", () => {
    expect(priceCents("12.5")).toBe(1250);
    expect(priceCents("12,50")).toBe(1250);
    expect(priceCents(" 0.1 ")).toBe(10);
    expect(priceCents("19.999")).toBe(2000);
  });

  it("gives 0 for what is not a price, which the API refuses", () => {
    expect(priceCents("free")).toBe(0);
  });
});

describe("previewMap", () => {
  it("shows every seat available at its tier's price, numbered from 1 in each row", () => {
    const map = previewMap(concert(), "EUR");
    const stallsA = map.sections[0].rows[0];
    expect(stallsA.seats.map((s) => s.number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(stallsA.seats[0]).toMatchObject({ status: "available", tier: "Front", price_cents: 4550 });
    expect(map.sections[1].rows[0].seats[0]).toMatchObject({ tier: "Back", price_cents: 2000 });
    const ids = map.sections.flatMap((s) => s.rows.flatMap((r) => r.seats.map((seat) => seat.id)));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("draws at most the preview's share of a big venue", () => {
    const draft = concert();
    draft.sections = [addRows({ name: "Arena", rows: [] }, 50, 100, "Back")];
    const shown = previewMap(draft, "EUR").sections[0].rows.reduce((n, r) => n + r.seats.length, 0);
    expect(shown).toBe(PREVIEW_SEATS);
  });
});

describe("fieldFor", () => {
  const fields = new Set(["title", "sections", "sections[1]", "sections[1].rows", "sections[1].rows[0].tier"]);

  it("finds the field an error path names", () => {
    expect(fieldFor("sections[1].rows[0].tier", fields)).toBe("sections[1].rows[0].tier");
    expect(fieldFor("title", fields)).toBe("title");
  });

  it("falls back to the nearest enclosing field", () => {
    expect(fieldFor("sections[1].rows[3].seats", fields)).toBe("sections[1].rows");
    expect(fieldFor("sections[4].name", fields)).toBe("sections");
  });

  it("gives nothing for a path the form does not show", () => {
    expect(fieldFor("currency", fields)).toBeUndefined();
  });
});

describe("localInput", () => {
  it("writes the browser's local time to the minute", () => {
    expect(localInput(new Date(2026, 0, 5, 7, 3, 59))).toBe("2026-01-05T07:03");
  });
});
