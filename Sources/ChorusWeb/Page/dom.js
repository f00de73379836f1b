// Building the page from data without ever parsing data as HTML: every text goes in as a text
// node, so a name like "<img onerror>" shows as written and runs nothing.

/** Creates an element: h("a", {href: "#/x", class: "y"}, "text", childElement, [more]). */
export function h(tag, attributes = {}, ...children) {
  const element = tag === "svg" || SVG_TAGS.has(tag)
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

const SVG_TAGS = new Set(["g", "rect", "line", "text", "title", "path", "circle", "desc"]);

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces everything in `element` with `children`. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

/** "3 minutes ago", "yesterday", or a date, for Unix milliseconds. */
export function ago(milliseconds, now = Date.now()) {
  if (milliseconds === null || milliseconds === undefined) return "never";
  const seconds = Math.round((now - milliseconds) / 1000);
  if (seconds < 0) return "just now";
  if (seconds < 45) return "just now";
  if (seconds < 90) return "a minute ago";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} minutes ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return hours === 1 ? "an hour ago" : `${hours} hours ago`;
  const days = Math.round(hours / 24);
  if (days === 1) return "yesterday";
  if (days < 30) return `${days} days ago`;
  // The reader's own calendar day, as `when` gives times (an ISO date is UTC's: a day off east or west).
  return new Date(milliseconds).toLocaleDateString(undefined, { dateStyle: "medium" });
}

/** A timestamp "wall.logical" or Unix milliseconds as a readable local time. */
export function when(value, { seconds = false } = {}) {
  const wall = typeof value === "string" ? Number(value.split(".")[0]) : value;
  if (!Number.isFinite(wall)) return "";
  return new Date(wall).toLocaleString(undefined, { dateStyle: "medium", timeStyle: seconds ? "medium" : "short" });
}

/** A JSON value shown to a person: strings as they are, the rest compact. */
export function show(value) {
  if (value === null || value === undefined) return "(none)";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

/** Query parameters of the current hash route. */
export function routeQuery() {
  const hash = location.hash || "#/";
  const index = hash.indexOf("?");
  return new URLSearchParams(index < 0 ? "" : hash.slice(index + 1));
}

/** A labelled form field: label, then the control, then optional help. */
export function field(labelText, control, help) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const helpNode = help ? h("small", { id: `${id}-help`, class: "help" }, help) : null;
  if (helpNode) control.setAttribute("aria-describedby", helpNode.id);
  return h("div", { class: "field" }, h("label", { for: id }, labelText), control, helpNode);
}

/**
 * Holds `control` to `max` characters, counted as the node counts them (code points, ends
 * trimmed), without cutting what is pasted: `maxlength` dropped the end of a long paste unsaid.
 * Returns a counter shown past 80% of the bound; past the bound the field is invalid, so the
 * form does not send, and the browser says why.
 */
export function bounded(control, max) {
  const counter = h("small", { class: "counter", "aria-live": "polite" });
  const update = () => {
    const n = [...control.value.trim()].length;
    control.setCustomValidity(n > max ? `This is ${n.toLocaleString("en")} characters; the most is ${max.toLocaleString("en")}. Shorten it to send.` : "");
    counter.textContent = n > max * 0.8 ? `${n.toLocaleString("en")} of ${max.toLocaleString("en")} characters` : "";
    counter.classList.toggle("over", n > max);
  };
  control.addEventListener("input", update);
  update();
  return counter;
}

/**
 * A name as people compare them: without accents (typed or stored as separate marks), case or
 * extra spaces, so "Zoe Amelie Nguyen" is "Zoë Amélie Nguyễn".
 */
export function foldName(name) {
  return String(name).normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().replace(/\s+/g, " ").trim();
}

/** A level 1-5 as five pips with a text equivalent for screen readers. */
export function pips(level, max = 5, label = "level") {
  const value = Math.max(0, Math.min(max, Number(level) || 0));
  return h("span", { class: "pips", role: "img", "aria-label": `${label} ${value} of ${max}` },
    Array.from({ length: max }, (_, i) => h("span", { class: i < value ? "pip on" : "pip", "aria-hidden": "true" })));
}
