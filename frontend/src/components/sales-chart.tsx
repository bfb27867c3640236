import { useEffect, useRef } from "preact/hooks";
import type uPlot from "uplot";
// In the app's stylesheet: a CSS file imported on demand would leave an empty script chunk behind.
import "uplot/dist/uPlot.min.css";
import type { Sales } from "../organizer-api";

const HEIGHT = 220;

/** The chart's data: minutes as Unix seconds against orders in that minute. */
function series(points: Sales["orders_per_minute"]): uPlot.AlignedData {
  return [points.map((p) => Date.parse(p.minute) / 1000), points.map((p) => p.orders)];
}

/**
 * Orders per minute over the last hour as bars (uPlot, loaded with the dashboard only).
 * The figures are also said in words beside it, for those who cannot see the chart.
 */
export function SalesChart({ points }: { points: Sales["orders_per_minute"] }) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const latest = useRef(points);
  latest.current = points;

  useEffect(() => {
    let disposed = false;
    let resize: ResizeObserver | undefined;
    import("uplot").then(({ default: UPlot }) => {
      const target = box.current;
      if (disposed || !target) return;
      chart.current = new UPlot(
        {
          width: target.clientWidth || 600,
          height: HEIGHT,
          legend: { show: false },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(4, max + 1)] } },
          series: [
            {},
            {
              label: "Orders",
              stroke: "#1d3a8a",
              fill: "rgba(29, 58, 138, 0.35)",
              paths: UPlot.paths.bars?.({ size: [0.8, 40] }),
              points: { show: false },
            },
          ],
          axes: [{}, { label: "Orders per minute", size: 50 }],
        },
        series(latest.current),
        target,
      );
      resize = new ResizeObserver(() => chart.current?.setSize({ width: target.clientWidth, height: HEIGHT }));
      resize.observe(target);
    });
    return () => {
      disposed = true;
      resize?.disconnect();
      chart.current?.destroy();
      chart.current = null;
    };
  }, []);

  useEffect(() => chart.current?.setData(series(points)), [points]);

  const total = points.reduce((n, p) => n + p.orders, 0);
  const peak = points.reduce((n, p) => Math.max(n, p.orders), 0);
  return (
    <figure class="sales-chart">
      <div ref={box} aria-hidden="true" />
      <figcaption class="muted small">
        Orders per minute, last hour: {total} in all, at most {peak} in one minute.
      </figcaption>
    </figure>
  );
}
