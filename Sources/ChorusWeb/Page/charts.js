// Charts drawn as SVG by our own code: horizontal bars, with a threshold line or a band, and
// paired bars. Every chart has a title and a description for screen readers, and the numbers
// are written beside the bars so nothing depends on colour alone.
import { h } from "/ui/dom.js";

const ROW = 22, LABEL = 190, VALUE = 56, WIDTH = 720;

function frame(title, description, rows, extraHeight = 0) {
  const height = rows * ROW + 28 + extraHeight;
  const id = `c-${Math.random().toString(36).slice(2, 8)}`;
  const svg = h("svg", { viewBox: `0 0 ${WIDTH} ${height}`, width: "100%", role: "img", "aria-labelledby": `${id}-t ${id}-d`, class: "chart" },
    h("title", { id: `${id}-t` }, title), h("desc", { id: `${id}-d` }, description));
  return { svg, height };
}

function clip(text, max = 28) { return text.length > max ? `${text.slice(0, max - 1)}…` : text; }

/**
 * Bars of `rows` [{label, value, flag}] scaled to `max`; `threshold` draws a dashed line
 * (e.g. 100 people: time to split), `band` [low, high] shades the healthy range.
 */
export function barChart({ title, description, rows, threshold, band, unit = "" }) {
  const max = Math.max(1, threshold || 0, band ? band[1] : 0, ...rows.map((r) => r.value)) * 1.08;
  const plot = WIDTH - LABEL - VALUE;
  const x = (v) => LABEL + (v / max) * plot;
  const { svg, height } = frame(title, description, rows.length);
  if (band) svg.append(h("rect", { x: x(band[0]), y: 0, width: x(band[1]) - x(band[0]), height: height - 20, class: "band" }));
  rows.forEach((row, i) => {
    const y = i * ROW + 4;
    svg.append(h("g", { class: row.flag ? "bar flagged" : "bar" },
      h("title", {}, `${row.label}: ${row.value}${unit}${row.flag ? ` (${row.flag})` : ""}`),
      h("text", { x: LABEL - 8, y: y + 14, "text-anchor": "end", class: "label" }, clip(row.label)),
      h("rect", { x: LABEL, y, width: Math.max(1, x(row.value) - LABEL), height: ROW - 6, rx: 3 }),
      h("text", { x: x(row.value) + 6, y: y + 14, class: "value" }, `${row.value}${unit}${row.flag ? " ⚑" : ""}`)));
  });
  if (threshold) {
    svg.append(h("line", { x1: x(threshold), x2: x(threshold), y1: 0, y2: height - 20, class: "threshold" }),
      h("text", { x: x(threshold), y: height - 6, "text-anchor": "middle", class: "axis" }, `${threshold}${unit}`));
  }
  if (band) {
    svg.append(h("text", { x: x(band[0]), y: height - 6, "text-anchor": "middle", class: "axis" }, String(band[0])),
      h("text", { x: x(band[1]), y: height - 6, "text-anchor": "middle", class: "axis" }, String(band[1])));
  }
  return svg;
}

/** Two bars per row (e.g. demand and supply of a skill), with a legend. */
export function pairedChart({ title, description, rows, names }) {
  const max = Math.max(1, ...rows.flatMap((r) => [r.a, r.b])) * 1.08;
  const plot = WIDTH - LABEL - VALUE;
  const x = (v) => LABEL + (v / max) * plot;
  const rowHeight = ROW * 1.6;
  const { svg } = frame(title, description, Math.ceil(rows.length * 1.6), 6);
  rows.forEach((row, i) => {
    const y = i * rowHeight + 4;
    svg.append(h("g", {},
      h("title", {}, `${row.label}: ${names[0]} ${row.a}, ${names[1]} ${row.b}`),
      h("text", { x: LABEL - 8, y: y + 16, "text-anchor": "end", class: "label" }, clip(row.label)),
      h("rect", { x: LABEL, y, width: Math.max(1, x(row.a) - LABEL), height: 10, rx: 2, class: "series-a" }),
      h("text", { x: x(row.a) + 6, y: y + 9, class: "value small" }, String(row.a)),
      h("rect", { x: LABEL, y: y + 12, width: Math.max(1, x(row.b) - LABEL), height: 10, rx: 2, class: "series-b" }),
      h("text", { x: x(row.b) + 6, y: y + 21, class: "value small" }, String(row.b))));
  });
  return h("figure", { class: "chart-figure" }, svg,
    h("figcaption", { class: "legend" }, h("span", { class: "key series-a" }, ""), ` ${names[0]} `, h("span", { class: "key series-b" }, ""), ` ${names[1]}`));
}
