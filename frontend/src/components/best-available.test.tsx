import { cleanup, fireEvent, render, screen } from "@testing-library/preact";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BestAvailable } from "./best-available";

const tiers = ["Pitch", "Lower"];
const sections = ["Pitch A", "Lower North"];
const button = () => screen.getByRole("button", { name: /^Hold the best|Holding/ });
const choose = (label: string, value: string) => fireEvent.change(screen.getByLabelText(label), { target: { value } });

describe("best available", () => {
  afterEach(cleanup);

  it("asks for the quantity alone when no tier or section is chosen", () => {
    const onHold = vi.fn();
    render(<BestAvailable tiers={tiers} sections={sections} busy={false} onHold={onHold} />);
    expect(button().textContent).toBe("Hold the best 2 seats");
    choose("Seats", "1");
    expect(button().textContent).toBe("Hold the best seat");
    fireEvent.click(button());
    expect(onHold).toHaveBeenCalledWith({ quantity: 1 });
  });

  it("offers 1 to 8 seats and the event's tiers and sections by name", () => {
    const onHold = vi.fn();
    render(<BestAvailable tiers={tiers} sections={sections} busy={false} onHold={onHold} />);
    const options = (label: string) => [...(screen.getByLabelText(label) as HTMLSelectElement).options].map((o) => o.text);
    expect(options("Seats")).toEqual(["1", "2", "3", "4", "5", "6", "7", "8"]);
    expect(options("Price")).toEqual(["Any price", "Pitch", "Lower"]);
    expect(options("Section")).toEqual(["Any section", "Pitch A", "Lower North"]);
    choose("Seats", "4");
    choose("Price", "Lower");
    choose("Section", "Lower North");
    fireEvent.click(button());
    expect(onHold).toHaveBeenCalledWith({ quantity: 4, tier: "Lower", section: "Lower North" });
  });

  it("asks nothing while a hold is on its way or offline", () => {
    const onHold = vi.fn();
    const { rerender } = render(<BestAvailable tiers={tiers} sections={sections} busy onHold={onHold} />);
    expect(button().textContent).toBe("Holding…");
    fireEvent.click(button());
    rerender(<BestAvailable tiers={tiers} sections={sections} busy={false} offlineHint="You are offline." onHold={onHold} />);
    expect(button().getAttribute("aria-disabled")).toBe("true");
    expect(button().title).toBe("You are offline.");
    fireEvent.click(button());
    expect(onHold).not.toHaveBeenCalled();
  });
});
