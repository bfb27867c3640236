import { memo } from "preact/compat";
import { useRef, useState } from "preact/hooks";
import { formatPrice, type Seat, type SeatMap } from "../api";
import { describeSeat, moveFrom, tierSlots, type Direction, type SeatIndex } from "../seat-selection";

const KEYS: Record<string, Direction> = {
  ArrowLeft: "left",
  ArrowRight: "right",
  ArrowUp: "up",
  ArrowDown: "down",
  Home: "home",
  End: "end",
};

interface Props {
  map: SeatMap;
  index: SeatIndex;
  selected: number[];
  mine: number[];
  onToggle: (seatId: number) => void;
  /** Colour slots of the price tiers, when the map shown is part of a larger one. */
  tiers?: Map<string, number>;
}

/**
 * Sections and rows of seats as buttons. One seat is in the tab order at a time and the
 * arrow keys move between seats (a roving tab index); Enter or Space selects.
 */
export function SeatMapView({ map, index, selected, mine, onToggle, tiers }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const firstFree = map.sections.flatMap((s) => s.rows.flatMap((r) => r.seats)).find((s) => s.status === "available");
  const [focused, setFocused] = useState<number | undefined>(undefined);
  const tabStop = focused ?? firstFree?.id ?? map.sections[0]?.rows[0]?.seats[0]?.id;
  const slots = tiers ?? tierSlots(map);

  function onKeyDown(e: KeyboardEvent) {
    const direction = KEYS[e.key];
    const target = e.target as HTMLElement;
    const from = Number(target.dataset.seat);
    if (!direction || !from) return;
    e.preventDefault();
    const to = moveFrom(map, index, from, direction);
    setFocused(to);
    container.current?.querySelector<HTMLButtonElement>(`[data-seat="${to}"]`)?.focus();
  }

  return (
    <div class="seat-map" ref={container} onKeyDown={onKeyDown} role="group" aria-label="Seat map">
      <div class="stage" aria-hidden="true">
        Stage
      </div>
      {map.sections.map((section) => (
        <section class="map-section" aria-label={section.name}>
          <h3>{section.name}</h3>
          {section.rows.map((row) => (
            <div class="seat-row" role="group" aria-label={`${section.name}, row ${row.name}`}>
              <span class="row-name" aria-hidden="true">
                {row.name}
              </span>
              {row.seats.map((seat) => (
                <SeatButton
                  seat={seat}
                  label={describeSeat(index.get(seat.id)!)}
                  currency={map.currency}
                  slot={slots.get(seat.tier) ?? 0}
                  selected={selected.includes(seat.id)}
                  mine={mine.includes(seat.id)}
                  tabbable={seat.id === tabStop}
                  onToggle={onToggle}
                  onFocus={setFocused}
                />
              ))}
            </div>
          ))}
        </section>
      ))}
    </div>
  );
}

interface SeatProps {
  seat: Seat;
  label: string;
  currency: string;
  slot: number;
  selected: boolean;
  mine: boolean;
  tabbable: boolean;
  onToggle: (seatId: number) => void;
  onFocus: (seatId: number) => void;
}

const SeatButton = memo(function SeatButton(p: SeatProps) {
  const state = p.mine ? "mine" : p.selected ? "selected" : p.seat.status === "available" ? `tier-${Math.min(p.slot, 5)}` : p.seat.status;
  const status = p.mine ? "held for you" : p.selected ? "selected" : p.seat.status;
  const description = `${p.label}, ${p.seat.tier}, ${formatPrice(p.seat.price_cents, p.currency)}, ${status}`;
  return (
    <button
      type="button"
      class={`seat ${state}`}
      data-seat={p.seat.id}
      data-status={p.seat.status}
      tabIndex={p.tabbable ? 0 : -1}
      aria-pressed={p.selected}
      aria-disabled={p.seat.status !== "available" && !p.selected}
      aria-label={description}
      title={description}
      onClick={() => p.onToggle(p.seat.id)}
      onFocus={() => p.onFocus(p.seat.id)}
    >
      {p.seat.number}
    </button>
  );
});
