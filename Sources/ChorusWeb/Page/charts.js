// Charts drawn as SVG by our own code: horizontal bars, with a threshold line or a band, and
// paired bars. Every chart has a title and a description for screen readers, and the numbers
// are written beside the bars so nothing depends on colour alone.
//
// A chart is drawn at the width it is shown at (`chartWidth`), so its 12 px text stays 12 px:
// drawn 720 wide and shrunk to a phone's 340, labels were 6 px. Below `STACKED_BELOW` each
// label takes its own line above its bar, so a phone has room for the label and the bar both.
import { h } from "/ui/dom.js";

const ROW = 22, VALUE = 56, WIDTH_MIN = 280, WIDTH_MAX = 1200, STACKED_BELOW = 560;

/** How wide a label draws at the charts' 12 px, measured with the page's own font. */
let measure = null;
function labelWidth(text) {
  if (!measure) {
    measure = document.createElement("canvas").getContext("2d");
    measure.font = `12px ${getComputedStyle(document.body).fontFamily}`;
  }
  return measure.measureText(text).width;
}

/** The width, in CSS pixels, a chart placed in `container` is shown at. */
export function chartWidth(container) {
  const style = getComputedStyle(container);
  const inner = container.clientWidth - parseFloat(style.paddingLeft || "0") - parseFloat(style.paddingRight || "0");
  return Math.max(WIDTH_MIN, Math.min(WIDTH_MAX, Math.floor(inner || 720) - 2));
}

/** Where things go in a chart `width` wide: labels beside the bars, or above them when narrow. */
function geometry(width) {
  const stacked = width < STACKED_BELOW;
  const left = stacked ? 4 : Math.min(320, Math.round(width * 0.3));
  return {
    width, stacked, left, plot: width - left - VALUE,
    labelAttributes: (y) => (stacked ? { x: 4, y: y + 13, "text-anchor": "start" } : { x: left - 8, y: y + 15, "text-anchor": "end" }),
    labelRoom: stacked ? width - 8 : left - 12,
  };
}

function frame(title, description, width, height) {
  const id = `c-${Math.random().toString(36).slice(2, 8)}`;
  return h("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-labelledby": `${id}-t ${id}-d`, class: "chart",
    dataset: { layout: width < STACKED_BELOW ? "stacked" : "beside" } },
  h("title", { id: `${id}-t` }, title), h("desc", { id: `${id}-d` }, description));
}

/**
 * The label cut to the room it has, measured as drawn (CJK and emoji are wider than Latin
 * letters: cut by a letter count they ran off the chart's edge), at whole characters (cut by
 * UTF-16 units, an emoji split into a lone surrogate); the bar's tooltip holds it whole.
 */
function clip(text, room) {
  if (labelWidth(text) <= room) return text;
  const characters = [...new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)].map((s) => s.segment);
  let low = 0, high = characters.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (labelWidth(`${characters.slice(0, middle).join("")}…`) <= room) low = middle; else high = middle - 1;
  }
  return `${characters.slice(0, low).join("")}…`;
}

/**
 * Bars of `rows` [{label, value, flag}] scaled to `max`; `threshold` draws a dashed line
 * (e.g. 100 people: time to split), `band` [low, high] shades the healthy range.
 */
export function barChart({ title, description, rows, threshold, band, unit = "", width = 720 }) {
  const g = geometry(width);
  const rowHeight = g.stacked ? 40 : ROW, barTop = g.stacked ? 18 : 4, barHeight = g.stacked ? 16 : ROW - 6;
  const height = rows.length * rowHeight + 28;
  const max = Math.max(1, threshold || 0, band ? band[1] : 0, ...rows.map((r) => r.value)) * 1.08;
  const x = (v) => g.left + (v / max) * g.plot;
  const svg = frame(title, description, width, height);
  if (band) svg.append(h("rect", { x: x(band[0]), y: 0, width: x(band[1]) - x(band[0]), height: height - 20, class: "band" }));
  rows.forEach((row, i) => {
    const y = i * rowHeight;
    svg.append(h("g", { class: row.flag ? "bar flagged" : "bar" },
      h("title", {}, `${row.label}: ${row.value}${unit}${row.flag ? ` (${row.flag})` : ""}`),
      h("text", { ...g.labelAttributes(y), class: "label" }, clip(row.label, g.labelRoom)),
      h("rect", { x: g.left, y: y + barTop, width: Math.max(1, x(row.value) - g.left), height: barHeight, rx: 3 }),
      h("text", { x: x(row.value) + 6, y: y + barTop + barHeight - 4, class: "value" }, `${row.value}${unit}${row.flag ? " ⚑" : ""}`)));
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
export function pairedChart({ title, description, rows, names, width = 720 }) {
  const g = geometry(width);
  const rowHeight = g.stacked ? 50 : 36, barTop = g.stacked ? 18 : 4;
  const height = rows.length * rowHeight + 8;
  const max = Math.max(1, ...rows.flatMap((r) => [r.a, r.b])) * 1.08;
  const x = (v) => g.left + (v / max) * g.plot;
  const svg = frame(title, description, width, height);
  rows.forEach((row, i) => {
    const y = i * rowHeight, top = y + barTop;
    svg.append(h("g", {},
      h("title", {}, `${row.label}: ${names[0]} ${row.a}, ${names[1]} ${row.b}`),
      h("text", { ...g.labelAttributes(y + (g.stacked ? 0 : 2)), class: "label" }, clip(row.label, g.labelRoom)),
      h("rect", { x: g.left, y: top, width: Math.max(1, x(row.a) - g.left), height: 12, rx: 2, class: "series-a" }),
      h("text", { x: x(row.a) + 6, y: top + 10, class: "value small" }, String(row.a)),
      h("rect", { x: g.left, y: top + 14, width: Math.max(1, x(row.b) - g.left), height: 12, rx: 2, class: "series-b" }),
      h("text", { x: x(row.b) + 6, y: top + 24, class: "value small" }, String(row.b))));
  });
  return h("figure", { class: "chart-figure" }, svg,
    h("figcaption", { class: "legend" }, h("span", { class: "key series-a" }, ""), ` ${names[0]} `, h("span", { class: "key series-b" }, ""), ` ${names[1]}`));
}
