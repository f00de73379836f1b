// The shell: a hash router, who is signed in, the sync indicator, and notices. Each view is a
// module exporting functions that render into <main> from the node's API.
import { h, replace } from "/ui/dom.js";
import { me } from "/ui/api.js";
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

async function route() {
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
  if (!match) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, "There is no page here. ", h("a", { href: "#/people" }, "Go to the directory.")));
  } else {
    const [name, groups, view] = match;
    try {
      await view(main, ...groups.slice(1).map(decodeURIComponent));
    } catch (error) {
      replace(main, h("h1", {}, "Something went wrong"), h("p", {}, error.message), error.hint ? h("p", { class: "hint" }, error.hint) : null);
    }
    document.body.dataset.view = name;
  }
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

async function start() {
  const person = await me();
  const who = document.getElementById("who");
  if (person) {
    const name = (await people.nameOf(person)) || person;
    replace(who, "Signed in as ", h("a", { href: `#/people/${encodeURIComponent(person)}` }, name));
  } else {
    replace(who, h("span", { class: "readonly" }, "Not signed in: read-only"));
  }
  window.addEventListener("hashchange", route);
  await route();
  refreshStatus();
  setInterval(refreshStatus, STATUS_INTERVAL_MS);
}

start();
