// The shell: a hash router, who is signed in, the sync indicator, and notices. Each view is a
// module exporting functions that render into <main> from the node's API.
import { h, replace } from "/ui/dom.js";
import { api } from "/ui/api.js";
import { ageNotice, refreshStatus, STATUS_INTERVAL_MS } from "/ui/shell.js";
import * as people from "/ui/people.js";
import * as recognition from "/ui/recognition.js";
import * as objectives from "/ui/objectives.js";
import * as market from "/ui/market.js";
import * as insights from "/ui/insights.js";
import * as admin from "/ui/admin.js";

const routes = [
  ["people", /^people$/, people.directory],
  ["profile", /^people\/([^/]+)$/, people.profile],
  ["edit", /^me\/edit$/, people.edit],
  ["give", /^give$/, recognition.give],
  ["feed", /^feed$/, recognition.feed],
  ["objectives", /^objectives$/, objectives.list],
  ["objective-new", /^objectives\/new$/, objectives.create],
  ["objective-edit", /^objectives\/([^/]+)\/edit$/, objectives.edit],
  ["opportunities", /^opportunities$/, market.list],
  ["post", /^opportunities\/new$/, market.post],
  ["matches", /^matches$/, market.matches],
  ["insights", /^insights$/, insights.view],
  ["admin", /^admin$/, admin.view],
  ["conflict", /^admin\/conflicts\/([^/]+)$/, admin.conflict],
];

/** Render timings, read by the browser tests and reported in Docs/performance.md. */
window.chorusTimings = [];
let renderCount = 0;
/** The route call now showing: a slower earlier one that ends later must not replace it. */
let current = 0;

async function route() {
  const token = ++current;
  const hash = (location.hash || "#/people").slice(2);
  const path = hash.split("?")[0] || "people";
  const main = document.getElementById("main");
  const match = routes.map(([name, pattern, view]) => [name, path.match(pattern), view]).find(([, m]) => m);
  const started = performance.now();
  document.body.dataset.ready = "false";
  ageNotice();
  const section = path.split("/")[0] === "me" || path === "give" || path === "matches" ? "" : path.split("/")[0];
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.section === section) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  // Each view renders into a root of its own, in place at once (charts measure their room), and
  // a newer route replaces it: a slower earlier view then renders into a root no longer shown. A
  // profile still loading replaced the page clicked to after it, and a half-written message
  // with it (a read-only audit).
  const root = h("div", { class: "view" }, h("p", { class: "muted" }, "Loading…"));
  replace(main, root);
  main.setAttribute("aria-busy", "true");
  let name = "notFound";
  if (!match) {
    replace(root, h("h1", {}, "Not found"), h("p", {}, "There is no page here. ", h("a", { href: "#/people" }, "Go to the directory.")));
  } else {
    const [routeName, groups, view] = match;
    name = routeName;
    try {
      await view(root, ...groups.slice(1).map(decodeURIComponent));
    } catch (error) {
      replace(root, h("h1", {}, "Something went wrong"), h("p", {}, error.message), error.hint ? h("p", { class: "hint" }, error.hint) : null);
    }
  }
  if (token !== current) return;
  main.removeAttribute("aria-busy");
  if (match) document.body.dataset.view = name;
  const ms = performance.now() - started;
  window.chorusTimings.push({ view: document.body.dataset.view, path, ms });
  renderCount += 1;
  document.body.dataset.renders = String(renderCount);
  document.body.dataset.ready = "true";
  // After a route change (not the first load, where Tab should start at the skip link), move focus
  // to the new heading so a screen reader announces the page.
  const heading = main.querySelector("h1");
  if (renderCount > 1 && heading && (document.activeElement === document.body || !main.contains(document.activeElement))) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

/** Who is signed in, in the header; asked again while the node does not answer. */
async function showWho() {
  const who = document.getElementById("who");
  let person;
  try {
    person = (await api("/api/v1/me", { timeoutMs: 5000 })).person;
  } catch {
    replace(who, h("span", { class: "readonly" }, "Chorus is not answering: read-only for now"));
    setTimeout(showWho, STATUS_INTERVAL_MS);
    return;
  }
  if (person) {
    let name = person;
    try { name = (await people.nameOf(person)) || person; } catch { /* the id stands for the name */ }
    replace(who, "Signed in as ", h("a", { href: `#/people/${encodeURIComponent(person)}` }, h("bdi", {}, name)));
  } else {
    replace(who, h("span", { class: "readonly" }, "Not signed in: read-only"));
  }
}

/** The sync indicator, asked again once each answer is in (or timed out): never two at once. */
async function pollStatus() {
  await refreshStatus();
  setTimeout(pollStatus, document.hidden ? STATUS_INTERVAL_MS * 5 : STATUS_INTERVAL_MS);
}

async function start() {
  // Routing and polling start whatever the header's question gets: a failure there once left
  // the page on "Loading…" for good.
  await showWho();
  window.addEventListener("hashchange", route);
  await route();
  pollStatus();
}

start();
