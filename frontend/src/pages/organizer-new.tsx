import type { ComponentChildren } from "preact";
import { useMemo, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { CATEGORIES, messageOf, type Category } from "../api";
import { SeatMapView } from "../components/seat-map";
import {
  addRows,
  emptyDraft,
  fieldFor,
  PREVIEW_SEATS,
  previewMap,
  requestBody,
  seatCount,
  type EventDraft,
} from "../layout";
import { errorPath, organizerApi, type LayoutSection } from "../organizer-api";
import { indexSeats } from "../seat-selection";
import { OrganizerOnly } from "./organizer-events";

/** The currency the preview prices in; the API sets the event's own. */
const PREVIEW_CURRENCY = "EUR";

/** `/organizer/new`: an event from a layout, with the seat map previewed as it is built. */
export function NewEventPage() {
  return (
    <OrganizerOnly>
      <NewEventForm />
    </OrganizerOnly>
  );
}

interface FormError {
  /** The form field it belongs to; none for an error about the whole request. */
  field?: string;
  message: string;
}

/** Every path on the form an API error may name. */
function formFields(draft: EventDraft): Set<string> {
  const fields = [
    "title",
    "category",
    "description",
    "venue",
    "city",
    "starts_at",
    "ends_at",
    "sales_start",
    "sales_end",
    "max_tickets_per_account",
    "tiers",
    "sections",
  ];
  draft.tiers.forEach((_, i) => fields.push(`tiers[${i}]`, `tiers[${i}].name`, `tiers[${i}].price_cents`));
  draft.sections.forEach((s, i) => {
    fields.push(`sections[${i}]`, `sections[${i}].name`, `sections[${i}].rows`);
    s.rows.forEach((_, j) =>
      ["", ".name", ".seats", ".tier"].forEach((part) => fields.push(`sections[${i}].rows[${j}]${part}`)),
    );
  });
  return new Set(fields);
}

function fieldId(path: string): string {
  return `field-${path.replace(/[^a-z0-9]+/gi, "-")}`;
}

function NewEventForm() {
  const { route } = useLocation();
  const [draft, setDraft] = useState<EventDraft>(() => emptyDraft(new Date()));
  const [error, setError] = useState<FormError | null>(null);
  const [busy, setBusy] = useState(false);
  const map = useMemo(() => previewMap(draft, PREVIEW_CURRENCY), [draft]);
  const index = useMemo(() => indexSeats(map), [map]);
  const seats = seatCount(draft.sections);

  const set = (change: Partial<EventDraft>) => setDraft((d) => ({ ...d, ...change }));
  const setSection = (i: number, section: LayoutSection) =>
    setDraft((d) => ({ ...d, sections: d.sections.map((s, k) => (k === i ? section : s)) }));

  /** Props of an input for `path`: its id, and the error it is described by. */
  const field = (path: string) => ({
    id: fieldId(path),
    "aria-invalid": error?.field === path ? true : undefined,
    "aria-describedby": error?.field === path ? `${fieldId(path)}-error` : undefined,
  });
  const errorAt = (path: string) =>
    error?.field === path && (
      <span class="field-error error" id={`${fieldId(path)}-error`} role="alert">
        {error.message}
      </span>
    );

  async function submit(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const event = await organizerApi.create(requestBody(draft));
      route(`/organizer/events/${event.id}`);
    } catch (err) {
      const path = errorPath(err);
      const at = path ? fieldFor(path, formFields(draft)) : undefined;
      // The API's message starts with the path, which the form already shows by placing it.
      const message = messageOf(err);
      setError({ field: at, message: at && path ? message.replace(`${path}: `, "") : message });
      if (at) document.getElementById(fieldId(at))?.focus();
    } finally {
      setBusy(false);
    }
  }

  const text = (label: string, path: keyof EventDraft & string, extra: Record<string, unknown> = {}) => (
    <Labelled label={label} error={errorAt(path)}>
      <input
        {...field(path)}
        {...extra}
        value={draft[path] as string}
        onInput={(e) => set({ [path]: e.currentTarget.value } as Partial<EventDraft>)}
      />
    </Labelled>
  );

  return (
    <section>
      <h1>New event</h1>
      <form class="form organizer-form" onSubmit={submit} noValidate>
        <fieldset>
          <legend>The event</legend>
          {text("Title", "title", { required: true, maxLength: 200 })}
          <Labelled label="Category" error={errorAt("category")}>
            <select
              {...field("category")}
              value={draft.category}
              onChange={(e) => set({ category: e.currentTarget.value as Category })}
            >
              {CATEGORIES.map((c) => (
                <option value={c}>{c}</option>
              ))}
            </select>
          </Labelled>
          <Labelled label="Description" error={errorAt("description")}>
            <textarea
              {...field("description")}
              rows={3}
              value={draft.description}
              onInput={(e) => set({ description: e.currentTarget.value })}
            />
          </Labelled>
          <div class="form-row">
            {text("Venue", "venue", { required: true })}
            {text("City", "city", { required: true })}
          </div>
          <div class="form-row">
            {text("Starts", "starts_at", { type: "datetime-local", required: true })}
            {text("Ends (optional)", "ends_at", { type: "datetime-local" })}
          </div>
        </fieldset>

        <fieldset>
          <legend>Sales window</legend>
          <div class="form-row">
            {text("Sales open", "sales_start", { type: "datetime-local", required: true })}
            {text("Sales close (optional)", "sales_end", { type: "datetime-local" })}
          </div>
          {text("Most tickets per account (optional)", "max_tickets_per_account", { type: "number", min: 1 })}
        </fieldset>

        <fieldset>
          <legend>Price tiers</legend>
          {errorAt("tiers")}
          {draft.tiers.map((tier, i) => (
            <div class="form-row" role="group" aria-label={`Tier ${i + 1}`}>
              <Labelled label="Tier name" error={errorAt(`tiers[${i}].name`) || errorAt(`tiers[${i}]`)}>
                <input
                  {...field(`tiers[${i}].name`)}
                  value={tier.name}
                  onInput={(e) => {
                    const name = e.currentTarget.value;
                    setDraft((d) => {
                      const old = d.tiers[i].name;
                      return {
                        ...d,
                        tiers: d.tiers.map((t, k) => (k === i ? { ...t, name } : t)),
                        // Rows follow their tier's new name.
                        sections: d.sections.map((s) => ({
                          ...s,
                          rows: s.rows.map((r) => (r.tier === old ? { ...r, tier: name } : r)),
                        })),
                      };
                    });
                  }}
                />
              </Labelled>
              <Labelled label="Price" error={errorAt(`tiers[${i}].price_cents`)}>
                <input
                  {...field(`tiers[${i}].price_cents`)}
                  type="number"
                  min="0.01"
                  step="0.01"
                  inputMode="decimal"
                  value={tier.price}
                  onInput={(e) => {
                    const price = e.currentTarget.value;
                    setDraft((d) => ({ ...d, tiers: d.tiers.map((t, k) => (k === i ? { ...t, price } : t)) }));
                  }}
                />
              </Labelled>
              {draft.tiers.length > 1 && (
                <button
                  type="button"
                  class="secondary"
                  onClick={() => set({ tiers: draft.tiers.filter((_, k) => k !== i) })}
                >
                  Remove tier
                </button>
              )}
            </div>
          ))}
          <button
            type="button"
            class="secondary"
            onClick={() => set({ tiers: [...draft.tiers, { name: `Tier ${draft.tiers.length + 1}`, price: "" }] })}
          >
            Add a tier
          </button>
        </fieldset>

        <fieldset>
          <legend>Seating</legend>
          {errorAt("sections")}
          {draft.sections.map((section, i) => (
            <SectionEditor
              section={section}
              index={i}
              tiers={draft.tiers.map((t) => t.name)}
              field={field}
              errorAt={errorAt}
              onChange={(s) => setSection(i, s)}
              onRemove={
                draft.sections.length > 1
                  ? () => set({ sections: draft.sections.filter((_, k) => k !== i) })
                  : undefined
              }
            />
          ))}
          <button
            type="button"
            class="secondary"
            onClick={() =>
              set({ sections: [...draft.sections, { name: `Section ${draft.sections.length + 1}`, rows: [] }] })
            }
          >
            Add a section
          </button>
        </fieldset>

        <section class="preview" aria-labelledby="preview-title">
          <h2 id="preview-title">Preview</h2>
          <p data-testid="seat-count">
            {seats} {seats === 1 ? "seat" : "seats"}
            {seats > PREVIEW_SEATS && <span class="muted"> (the preview shows the first {PREVIEW_SEATS})</span>}
          </p>
          {seats > 0 ? (
            <SeatMapView map={map} index={index} selected={[]} mine={[]} onToggle={() => undefined} />
          ) : (
            <p class="muted">Add rows to a section to see the seat map.</p>
          )}
        </section>

        {error && !error.field && (
          <p class="error" role="alert">
            {error.message}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? "Creating…" : "Create the event"}
        </button>
      </form>
    </section>
  );
}

function Labelled({ label, error, children }: { label: string; error: ComponentChildren; children: ComponentChildren }) {
  return (
    <div class="field">
      <label>
        {label}
        {children}
      </label>
      {error}
    </div>
  );
}

interface SectionProps {
  section: LayoutSection;
  index: number;
  tiers: string[];
  field: (path: string) => Record<string, unknown>;
  errorAt: (path: string) => ComponentChildren;
  onChange: (section: LayoutSection) => void;
  onRemove?: () => void;
}

/** A section's name and rows, with "add N rows of M seats" for building it quickly. */
function SectionEditor({ section, index, tiers, field, errorAt, onChange, onRemove }: SectionProps) {
  const [count, setCount] = useState(5);
  const [seats, setSeats] = useState(10);
  const [tier, setTier] = useState("");
  const path = `sections[${index}]`;
  const chosenTier = tiers.includes(tier) ? tier : tiers[0] ?? "";
  const setRow = (j: number, change: Partial<LayoutSection["rows"][number]>) =>
    onChange({ ...section, rows: section.rows.map((r, k) => (k === j ? { ...r, ...change } : r)) });

  return (
    <div class="section-editor" role="group" aria-label={`Section ${index + 1}`}>
      {errorAt(path)}
      <div class="form-row">
        <Labelled label="Section name" error={errorAt(`${path}.name`)}>
          <input
            {...field(`${path}.name`)}
            value={section.name}
            onInput={(e) => onChange({ ...section, name: e.currentTarget.value })}
          />
        </Labelled>
        {onRemove && (
          <button type="button" class="secondary" onClick={onRemove}>
            Remove section
          </button>
        )}
      </div>
      <div class="form-row quick-rows" role="group" aria-label={`Add rows to section ${index + 1}`}>
        <label>
          Rows
          <input type="number" min={1} max={200} value={count} onInput={(e) => setCount(e.currentTarget.valueAsNumber)} />
        </label>
        <label>
          Seats per row
          <input type="number" min={1} max={500} value={seats} onInput={(e) => setSeats(e.currentTarget.valueAsNumber)} />
        </label>
        <label>
          Tier
          <select value={chosenTier} onChange={(e) => setTier(e.currentTarget.value)}>
            {tiers.map((t) => (
              <option value={t}>{t}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          class="secondary"
          disabled={!(count > 0 && seats > 0)}
          onClick={() => onChange(addRows(section, count, seats, chosenTier))}
        >
          Add rows
        </button>
      </div>
      {errorAt(`${path}.rows`)}
      {section.rows.length > 0 && (
        <table class="rows-table">
          <thead>
            <tr>
              <th scope="col">Row</th>
              <th scope="col">Seats</th>
              <th scope="col">Tier</th>
              <th scope="col">
                <span class="sr-only">Remove</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {section.rows.map((row, j) => {
              const rowPath = `${path}.rows[${j}]`;
              return (
                <tr>
                  <td>
                    <input
                      {...field(`${rowPath}.name`)}
                      aria-label={`Section ${index + 1}, row ${j + 1} name`}
                      value={row.name}
                      size={4}
                      onInput={(e) => setRow(j, { name: e.currentTarget.value })}
                    />
                    {errorAt(`${rowPath}.name`)}
                    {errorAt(rowPath)}
                  </td>
                  <td>
                    <input
                      {...field(`${rowPath}.seats`)}
                      aria-label={`Row ${row.name} seats`}
                      type="number"
                      min={1}
                      value={row.seats}
                      onInput={(e) => setRow(j, { seats: e.currentTarget.valueAsNumber || 0 })}
                    />
                    {errorAt(`${rowPath}.seats`)}
                  </td>
                  <td>
                    <select
                      {...field(`${rowPath}.tier`)}
                      aria-label={`Row ${row.name} tier`}
                      value={row.tier}
                      onChange={(e) => setRow(j, { tier: e.currentTarget.value })}
                    >
                      {!tiers.includes(row.tier) && <option value={row.tier}>{row.tier || "(none)"}</option>}
                      {tiers.map((t) => (
                        <option value={t}>{t}</option>
                      ))}
                    </select>
                    {errorAt(`${rowPath}.tier`)}
                  </td>
                  <td>
                    <button
                      type="button"
                      class="link"
                      onClick={() => onChange({ ...section, rows: section.rows.filter((_, k) => k !== j) })}
                    >
                      Remove<span class="sr-only"> row {row.name}</span>
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
