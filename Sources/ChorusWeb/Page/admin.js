// For admins: conflicts side by side with one-click resolution, and replica health. The admin
// token (from `chorus replicas add NAME --role admin`) stays in this tab's session storage only.
import { h, replace, field, ago, when, show } from "/ui/dom.js";
import { api, adminToken, peopleNames } from "/ui/api.js";
import { act, notify } from "/ui/shell.js";

/** A sibling's value; for an edit made while the record was deleted, with what it changed. */
function edit(s) {
  if (!s.field) return show(s.value);
  switch (s.kind) {
    case "map": return `${s.field}[${s.key}] = ${show(s.value)}`;
    case "set": return `${s.field} + ${s.key}`;
    case "log": return `${s.field}: appended ${show(s.value)}`;
    case "register": return `${s.field} = ${show(s.value)}`;
    default: // a node from before `kind` was sent: told by the key alone
      if (s.key === undefined) return `${s.field} = ${show(s.value)}`;
      return s.value === null ? `${s.field} + ${s.key}` : `${s.field}[${s.key}] = ${show(s.value)}`;
  }
}

/** What a conflict is, in words (the node's kinds are for code). */
const KIND_WORDS = {
  register: "Two values written at once",
  map: "Two values of one entry written at once",
  editedWhileDeleted: "Edited while deleted",
  duplicateEmail: "Two people with one email",
};
/** Which value shows meanwhile, in words, where the node's rule is written for code. */
const LATER_SHOWS = "The later write shows meanwhile (by time; by replica when two are at the same instant). The others are kept until you choose.";
const SHOWS_WORDS = { register: LATER_SHOWS, map: LATER_SHOWS };
function kindText(c) { return `${KIND_WORDS[c.kind] || c.kind}${c.invariant ? ` (${c.invariant})` : ""}`; }

function tokenForm(main, message) {
  const input = h("input", { type: "password", autocomplete: "off", required: true, id: "admin-token" });
  replace(main, h("h1", {}, "Admin"),
    // A message (a refused token, a sign-out) stands alone, announced; only the first visit explains.
    message ? h("p", { role: "alert" }, message)
      : h("p", {}, "Conflicts and replica health need an admin token. Ask the node's operator for one (", h("code", {}, "chorus replicas add NAME --role admin"), ")."),
    h("form", { class: "stack narrow", onsubmit: (event) => {
      event.preventDefault();
      adminToken.set(input.value.trim());
      // Focus follows the page that comes: the heading when signed in, the token field when refused.
      view(main).then(() => {
        const next = adminToken.get() ? main.querySelector("h1") : main.querySelector("#admin-token");
        if (next) { if (next.tagName === "H1") next.tabIndex = -1; next.focus(); }
      });
    } }, field("Admin token", input, "Kept in this browser tab only, until you close it or sign out."),
      h("div", { class: "actions" }, h("button", { type: "submit", id: "admin-sign-in" }, "Open admin"))));
}

function target(c) {
  return `${c.collection}/${c.record}${c.field ? ` · ${c.field}` : ""}${c.key ? `[${c.key}]` : ""}`;
}

/** #/admin: open conflicts and replica health. */
export async function view(main) {
  if (!adminToken.get()) { tokenForm(main); return; }
  let conflicts, replicas;
  try {
    [conflicts, replicas] = await Promise.all([api("/admin/v1/conflicts?limit=200", { admin: true }), api("/admin/v1/replicas", { admin: true })]);
  } catch (error) {
    if (error.status === 401 || error.status === 403) { adminToken.clear(); tokenForm(main, `That token was refused: ${error.message}.`); return; }
    throw error;
  }
  // Every open conflict is reachable: pages of 200 follow one another on request (the page
  // showed the first 200 and a "+", with no way to the rest until those were resolved).
  const row = (c) => {
    const displayed = c.siblings.find((s) => s.operation === c.displayed);
    return h("tr", { dataset: { id: c.id } },
      h("th", { scope: "row" }, h("a", { href: `#/admin/conflicts/${encodeURIComponent(c.id)}` }, target(c))),
      h("td", {}, kindText(c)),
      h("td", {}, String(c.siblings.length)),
      h("td", {}, displayed ? (displayed.delete ? "(deleted the record)" : edit(displayed)) : ""));
  };
  let shown = conflicts.conflicts.length, after = conflicts.next;
  // All of them counted, when the node says (an older one does not): "200 of 230 shown".
  const count = () => conflicts.total && after ? `${conflicts.total}, ${shown} shown` : `${shown}${after ? "+" : ""}`;
  const heading = h("h2", { id: "conflicts-h" }, `Open conflicts (${count()})`);
  const rows = h("tbody", {}, conflicts.conflicts.map(row));
  let loading = false;
  const more = h("button", { type: "button", class: "secondary", id: "more-conflicts", hidden: !after, onclick: async () => {
    if (loading || !after) return;
    loading = true;
    more.disabled = true;
    try {
      const page = await act(() => api(`/admin/v1/conflicts?limit=200&after=${encodeURIComponent(after)}`, { admin: true }));
      if (!page) return;
      for (const c of page.conflicts) rows.append(row(c));
      shown += page.conflicts.length;
      after = page.next;
      heading.textContent = `Open conflicts (${count()})`;
      more.hidden = !after;
    } finally {
      loading = false;
      more.disabled = false;
    }
  } }, "Show more conflicts");
  replace(main,
    h("div", { class: "title-row" }, h("h1", {}, "Admin"),
      h("button", { type: "button", class: "secondary", onclick: () => { adminToken.clear(); tokenForm(main, "Signed out of admin."); } }, "Sign out of admin")),
    h("section", { "aria-labelledby": "conflicts-h" }, heading,
      conflicts.conflicts.length ? h("div", { class: "table-scroll" }, h("table", { id: "conflicts" },
        h("thead", {}, h("tr", {}, ["Record and field", "Kind", "Competing values", "Displays now"].map((t) => h("th", { scope: "col" }, t)))),
        rows)) : h("p", { class: "ok-text" }, "No open conflicts: every replica that synced agrees."),
      more),
    h("section", { "aria-labelledby": "replicas-h" }, h("h2", { id: "replicas-h" }, "Replicas"),
      h("div", { class: "table-scroll" }, h("table", { id: "replicas" },
        h("thead", {}, h("tr", {}, ["Replica", "Role", "Last seen", "Last sync", "Waiting up", "Waiting down", "Lag", "Clock skew", "Flags"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, replicas.replicas.map((r) => h("tr", { class: r.flags.length ? "flagged" : "" },
          h("th", { scope: "row" }, r.name), h("td", {}, r.person ? `${r.role}, ${r.person}'s laptop` : r.role), h("td", {}, ago(r.lastSeen)), h("td", {}, ago(r.lastSync)),
          h("td", {}, r.waitingUp ?? "–"), h("td", {}, r.waitingDown ?? "–"),
          h("td", {}, r.lagMilliseconds === null ? "–" : `${Math.round(r.lagMilliseconds / 1000)} s`),
          h("td", {}, r.skewMilliseconds === null ? "–" : `${r.skewMilliseconds} ms`),
          h("td", {}, r.flags.length ? r.flags.join(", ") : "✓"))))))));
}

/** #/admin/conflicts/:id: the competing values side by side; resolve with one click. */
export async function conflict(main, id) {
  if (!adminToken.get()) { tokenForm(main); return; }
  const resolvedView = () => replace(main, h("h1", {}, "Conflict resolved"),
    h("p", {}, "This conflict is no longer open: it was resolved here or on another node. ", h("a", { href: "#/admin" }, "Back to conflicts")));
  // A token revoked or expired since sign-in brings the form back, as on the list (it was a dead end here).
  const refusedToken = (error) => { adminToken.clear(); tokenForm(main, `That token was refused: ${error.message}.`); };
  let c;
  try {
    c = await api(`/admin/v1/conflicts/${encodeURIComponent(id)}`, { admin: true });
  } catch (error) {
    if (error.status === 404) { resolvedView(); return; }
    if (error.status === 401 || error.status === 403) { refusedToken(error); return; }
    throw error;
  }
  // The values shown go with the choice: if the conflict changed since (resolved elsewhere and
  // formed again by new writes, under the same id), the node refuses and nothing is written.
  // One choice at a time: a second press meanwhile was refused ("no open conflict"), and its
  // error replaced the notice that the first had resolved it.
  let resolving = false;
  async function resolve(choice, what) {
    if (resolving) return;
    resolving = true;
    try {
      const body = { ...choice, siblings: c.siblings.map((s) => s.operation) };
      let done;
      try {
        done = await api(`/admin/v1/conflicts/${encodeURIComponent(id)}/resolve`, { method: "POST", body, admin: true });
      } catch (error) {
        // Resolved meanwhile by another admin: said by the page, not by a hint for the command line.
        if (error.status === 404) { resolvedView(); notify("Nothing was written: another admin resolved it meanwhile.", "error"); return; }
        if (error.status === 401 || error.status === 403) { refusedToken(error); return; }
        notify(error.message, "error", error.hint);
        return;
      }
      if (done) { notify(`Resolved: ${what}. It syncs to every replica like any other change.`); location.hash = "#/admin"; }
    } finally {
      resolving = false;
    }
  }
  const deletion = c.kind === "editedWhileDeleted";
  const textual = c.siblings.some((s) => typeof s.value === "string") && c.siblings.every((s) => s.value === null || typeof s.value === "string");
  const custom = h("input", { type: "text", id: "custom-value", maxlength: 2000 });
  const name = await peopleNames(c.siblings.map((s) => s.author).filter(Boolean));
  replace(main, h("p", {}, h("a", { href: "#/admin" }, "← All conflicts")),
    h("h1", {}, target(c)),
    h("p", {}, `${kindText(c)}. `, h("span", { class: "muted" }, SHOWS_WORDS[c.kind] || c.rule || "")),
    h("ul", { class: "siblings", id: "siblings" }, c.siblings.map((s) => h("li", { class: s.displayed ? "card sibling displayed" : "card sibling", dataset: { operation: s.operation } },
      // Two people with one email both show it until it is resolved: neither is hidden.
      c.kind === "duplicateEmail" ? h("p", { class: "tag ok" }, s.displayed ? "Shows it; written first" : "Shows it too")
        : s.displayed ? h("p", { class: "tag ok" }, "Displays now") : h("p", { class: "tag" }, "Hidden until resolved"),
      h("p", { class: "value", dir: "auto" }, s.delete ? "(deleted the record)" : edit(s)),
      h("dl", { class: "facts small" },
        h("dt", {}, "Who"), h("dd", {}, s.author ? `${name(s.author)} (${s.author})` : "not recorded"),
        h("dt", {}, "Where"), h("dd", {}, s.replicaName || `replica ${(s.replica || "").slice(0, 8)}`),
        h("dt", {}, "When"), h("dd", {}, when(s.timestamp, { seconds: true }))),
      deletion ? null : h("button", { type: "button", class: "keep", onclick: () => resolve({ keep: s.operation }, `kept ${show(s.value)}`) }, "Keep this value")))),
    // Two people with one email are settled by keeping one person's: the other's is cleared.
    c.kind === "duplicateEmail"
      ? h("p", { class: "muted" }, "Keep one person's email; the others' is cleared, for them to give another.")
      : deletion
      ? h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => resolve({ action: "restore" }, "restored the record") }, "Restore the record"),
        h("button", { type: "button", class: "secondary", onclick: () => resolve({ action: "delete" }, "kept it deleted") }, "Keep it deleted"))
      : h("form", { class: "row", onsubmit: (event) => {
        event.preventDefault();
        // A field whose values are text takes the input as text ("2024" is a title, not a
        // number); any other is read as JSON, or as text when it is not JSON.
        let value = custom.value;
        if (!textual) { try { value = JSON.parse(custom.value); } catch { /* plain text */ } }
        resolve({ value }, `wrote ${show(value)}`);
      } }, field("Or write another value", custom, textual ? "Text" : "JSON for numbers, lists and objects; anything else is text"),
      h("button", { type: "submit", class: "secondary" }, "Write it")));
}
