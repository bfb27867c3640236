import { useState } from "preact/hooks";
import type { BestAvailableRequest } from "../api";
import { MAX_SEATS } from "../seat-selection";

export interface BestAvailableProps {
  /** The event's tiers, best first, and its sections, by the names the seat map shows. */
  tiers: string[];
  sections: string[];
  /** A hold is being asked for. */
  busy: boolean;
  /** Why it cannot be asked for now (offline), if so. */
  offlineHint?: string;
  onHold: (request: BestAvailableRequest) => void;
}

/** "Best available": the server picks adjacent seats in one row, of a tier and section if chosen. */
export function BestAvailable({ tiers, sections, busy, offlineHint, onHold }: BestAvailableProps) {
  const [quantity, setQuantity] = useState(2);
  const [tier, setTier] = useState("");
  const [section, setSection] = useState("");
  const blocked = busy || !!offlineHint;
  const submit = (e: Event) => {
    e.preventDefault();
    if (!blocked) onHold({ quantity, ...(tier && { tier }), ...(section && { section }) });
  };
  return (
    <form class="best-available" aria-labelledby="best-available-title" onSubmit={submit}>
      <h3 id="best-available-title">Best available</h3>
      <p class="muted small">We pick seats together in one row, as near the stage and the centre as we can.</p>
      <label>
        Seats
        <select value={quantity} onChange={(e) => setQuantity(Number(e.currentTarget.value))}>
          {Array.from({ length: MAX_SEATS }, (_, i) => (
            <option value={i + 1}>{i + 1}</option>
          ))}
        </select>
      </label>
      <Choice label="Price" any="Any price" names={tiers} value={tier} onChange={setTier} />
      <Choice label="Section" any="Any section" names={sections} value={section} onChange={setSection} />
      <button type="submit" aria-disabled={blocked} title={offlineHint}>
        {busy ? "Holding…" : `Hold the best ${quantity === 1 ? "seat" : `${quantity} seats`}`}
      </button>
    </form>
  );
}

function Choice(props: { label: string; any: string; names: string[]; value: string; onChange: (name: string) => void }) {
  return (
    <label>
      {props.label}
      <select value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">{props.any}</option>
        {props.names.map((name) => (
          <option value={name}>{name}</option>
        ))}
      </select>
    </label>
  );
}
