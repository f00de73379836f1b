// Quarterly objectives of people, teams and departments: public by default, browsable by anyone.
import { h, replace, field, routeQuery, foldName, bounded } from "/ui/dom.js";
import { api, me, peopleNames, peopleNamed, all } from "/ui/api.js";
import { act, notify, oneAtATime } from "/ui/shell.js";
import { nameOf } from "/ui/people.js";

/** The current quarter and the three before it, e.g. 2026-Q4. */
export function recentQuarters(now = new Date()) {
  const quarters = [];
  let year = now.getUTCFullYear(), quarter = Math.floor(now.getUTCMonth() / 3) + 1;
  for (let i = 0; i < 4; i++) {
    quarters.push(`${year}-Q${quarter}`);
    quarter -= 1;
    if (quarter === 0) { quarter = 4; year -= 1; }
  }
  return quarters;
}

const GROUPS = [["department", "Departments"], ["team", "Teams"], ["person", "People"]];

/** The next quarter after `quarter` ("2026-Q4" -> "2027-Q1"). */
function nextQuarter(quarter) {
  const [year, q] = [Number(quarter.slice(0, 4)), Number(quarter.slice(-1))];
  return q === 4 ? `${year + 1}-Q1` : `${year}-Q${q + 1}`;
}

/**
 * Whether the list offers `viewer` Update on objective `o`: their own or a report's (`reports`,
 * the owners who report to them), or one of their teams'. (A team's objective is anyone's to
 * update but for its status, and its update page takes anyone's; the list offers it to members,
 * not on every card of the company.)
 */
function editable(o, viewer, myTeams, reports) {
  if (!viewer) return false;
  return (o.ownerKind || "person") === "person" ? o.owner === viewer || reports.has(o.owner) : myTeams.has(o.owner);
}

/**
 * The teams a person belongs to, as {id, name, kind}: the squad, tribe and chapter their profile
 * names, the guilds they joined, and their tribe's department (as the node counts members).
 */
async function teamsOf(viewer) {
  if (!viewer) return [];
  const [person, teams] = await Promise.all([api(`/api/v1/people/${encodeURIComponent(viewer)}`).catch(() => ({})), all("teams")]);
  const ids = [person.squad, person.tribe, person.chapter, ...(Array.isArray(person.guilds) ? person.guilds : [])].filter((id) => typeof id === "string");
  const department = teams.get(person.tribe)?.parent;
  if (department && teams.get(department)?.kind === "department") ids.push(department);
  return [...new Set(ids)].filter((id) => teams.has(id)).map((id) => ({ id, name: teams.get(id).name || id, kind: teams.get(id).kind }));
}

/**
 * Which of `ids` report to `viewer` (whose objectives a manager writes too), asked in pieces the
 * node takes: at most 100 ids and 4,000 characters of them (PeopleAPI.idsMax, idsCharactersMax).
 */
async function reportsAmong(ids, viewer) {
  const reports = new Set();
  if (!viewer) return reports;
  const chunks = [[]];
  let length = 0;
  for (const id of new Set(ids)) {
    if (!id || id === viewer) continue;
    const encoded = encodeURIComponent(id);
    if (chunks[chunks.length - 1].length === 100 || length + encoded.length + 1 > 3900) { chunks.push([]); length = 0; }
    chunks[chunks.length - 1].push(encoded);
    length += encoded.length + 1;
  }
  for (const chunk of chunks.filter((c) => c.length)) {
    const result = await api(`/api/v1/people?ids=${chunk.join(",")}`);
    for (const person of result.people) if (person.manager === viewer) reports.add(person.id);
  }
  return reports;
}

const STATUS = [["draft", "Draft (not listed for others)"], ["published", "Published"], ["done", "Done"], ["dropped", "Dropped"]];

/**
 * A new key result's id: the time, then a random part. Two offices (or two tabs) adding one to
 * the same objective wrote the same next number, and one key result hid the other as a conflict;
 * the time first keeps them in the order they were added (ids are listed in order). The random
 * part comes from `getRandomValues`, which a page served over plain HTTP has (`randomUUID` is
 * only given to secure pages, and an office node is reached by http://NAME:7420).
 */
function newKeyResultID() {
  const random = [...crypto.getRandomValues(new Uint8Array(3))].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `kr-${Date.now().toString(36)}${random}`;
}

/** Rows of key results: title and target, and (when editing) where it stands now; each row has its own Remove. */
function keyResultRows(entries, { current, onChange = () => {} }) {
  const list = h("ul", { class: "plain", id: "key-results", oninput: () => onChange() });
  const rows = [];
  const add = (id, kr = {}, fromRecord = false) => {
    const n = rows.length + 1;
    const title = h("input", { type: "text", value: kr.title || "", dataset: { part: "title" } });
    const titleCounter = bounded(title, 2000);
    const target = h("input", { type: "number", step: "any", value: kr.target ?? "", class: "short", dataset: { part: "target" } });
    const now = h("input", { type: "number", step: "any", value: kr.current ?? "", class: "short", dataset: { part: "now" } });
    const row = { id, kr, title, target, now, removed: false, fromRecord };
    const remove = h("button", { type: "button", class: "link", "aria-label": `Remove key result ${n}`, onclick: () => { row.removed = true; item.remove(); renumber(); more.focus(); onChange(); } }, "Remove");
    const item = h("li", { class: "row kr-edit" }, field(`Key result ${n}`, title), titleCounter, field(`Target ${n}`, target), current ? field(`Now ${n}`, now) : null, remove);
    row.item = item;
    row.remove = remove;
    rows.push(row);
    list.append(item);
  };
  // The rows left are numbered 1, 2, 3 again, labels and Remove alike (a removal left "1, 3").
  const renumber = () => rows.filter((r) => !r.removed).forEach((r, i) => {
    const labels = r.item.querySelectorAll("label");
    ["Key result", "Target", "Now"].forEach((word, k) => { if (labels[k]) labels[k].textContent = `${word} ${i + 1}`; });
    r.remove.setAttribute("aria-label", `Remove key result ${i + 1}`);
  });
  const more = h("button", { type: "button", class: "secondary", id: "add-key-result", onclick: () => { add(newKeyResultID()); renumber(); rows[rows.length - 1].title.focus(); } }, "Add a key result");
  for (const [id, kr] of entries) add(id, kr, true);
  /**
   * The keyResults change: entries added or changed, and null for those removed. A row with a
   * target and no title is a mistake, not a removal: it is said, and nothing is sent.
   */
  const changes = () => {
    const result = {};
    const shape = (title, target, now) => JSON.stringify([title, target ?? null, now ?? null]);
    for (const row of rows) {
      const title = row.title.value.trim();
      if (row.removed) { if (row.fromRecord) result[row.id] = null; continue; }
      if (!title) {
        if (row.target.value !== "" || row.fromRecord) { row.title.focus(); throw new Error("Give each key result a title, or remove it"); }
        continue;
      }
      const value = { title };
      if (row.target.value !== "") value.target = Number(row.target.value);
      if (current && row.now.value !== "") value.current = Number(row.now.value);
      if (shape(value.title, value.target, value.current) !== shape(row.kr.title, row.kr.target, row.kr.current)) result[row.id] = value;
    }
    return result;
  };
  if (!entries.length) add(newKeyResultID());
  /**
   * Where the key results stand, as a whole percentage: the mean of each one's share of its target
   * (now / target, within 0 and 1), over those with a positive target; null when none has one.
   * The objective's progress is the owner's to say; this is offered, never set for them.
   */
  const share = () => {
    const shares = rows.filter((r) => !r.removed && r.title.value.trim() && Number(r.target.value) > 0)
      .map((r) => Math.min(1, Math.max(0, (Number(r.now.value) || 0) / Number(r.target.value))));
    return shares.length ? Math.round(100 * shares.reduce((a, b) => a + b, 0) / shares.length) : null;
  };
  return { node: h("fieldset", {}, h("legend", {}, "Key results"), list, more), changes, share };
}

/**
 * #/objectives/new: an objective of the signed-in person's, of one of their teams (a guild's or
 * their department's too), or, with `?for=ID`, of someone who reports to them.
 */
export async function create(main) {
  const viewer = await me();
  if (!viewer) { replace(main, h("h1", {}, "New objective"), h("p", {}, "Sign in to write objectives.")); return; }
  const forID = routeQuery().get("for");
  const [myTeams, report] = await Promise.all([teamsOf(viewer),
    forID && forID !== viewer ? api(`/api/v1/people/${encodeURIComponent(forID)}`).catch(() => null) : null]);
  const isReport = report && report.manager === viewer;
  const forNote = !forID || forID === viewer || isReport ? null
    : h("p", { class: "muted", id: "not-your-report" }, report
      ? `Only ${report.name || forID}'s manager writes their objectives; this one would be yours or a team's.`
      : `There is nobody here with the id ${forID}; this objective would be yours or a team's.`);
  // Each choice says whose it is and of which kind; the select's values are their places.
  const choices = [{ label: "Me", ownerKind: "person", owner: viewer },
    ...(isReport ? [{ label: `${report.name || forID} (reports to you)`, ownerKind: "person", owner: forID }] : []),
    ...myTeams.map((t) => ({ label: `${t.name} (${t.kind || "team"})`, ownerKind: t.kind === "department" ? "department" : "team", owner: t.id }))];
  const quarters = recentQuarters();
  const title = h("input", { id: "objective-title", type: "text", required: true });
  const titleField = field("Objective", title);
  titleField.append(bounded(title, 2000));
  const description = h("textarea", { id: "objective-description", rows: 3 });
  const descriptionField = field("Details (optional)", description);
  descriptionField.append(bounded(description, 2000));
  const quarter = h("select", { id: "objective-quarter" }, [nextQuarter(quarters[0]), ...quarters.slice(0, 2)].sort().reverse()
    .map((q) => h("option", { value: q, selected: q === quarters[0] }, q)));
  const owner = h("select", { id: "objective-owner" }, choices.map((c, i) => h("option", { value: String(i), selected: isReport && i === 1, dir: "auto" }, c.label)));
  // Who reads a private one depends on whose it is: the words follow the choice.
  const privately = h("option", { value: "private" });
  const visibility = h("select", { id: "objective-visibility" }, h("option", { value: "public" }, "Everyone"), privately);
  const sayWhoReads = () => {
    const whose = choices[Number(owner.value)] || choices[0];
    privately.textContent = whose.ownerKind !== "person" ? "Private (the team's members)"
      : whose.owner === viewer ? "Private (you and your manager)" : "Private (them and you, their manager)";
  };
  owner.addEventListener("change", sayWhoReads);
  sayWhoReads();
  const status = h("select", { id: "objective-status" }, STATUS.slice(0, 2).map(([v, t]) => h("option", { value: v, selected: v === "published" }, t)));
  const results = keyResultRows([], { current: false });
  const form = h("form", { class: "stack", onsubmit: oneAtATime(async (event) => {
    event.preventDefault();
    if (!title.value.trim()) { notify("Write the objective first", "error"); title.focus(); return; }
    const body = { title: title.value.trim(), quarter: quarter.value, visibility: visibility.value, status: status.value, progress: 0 };
    if (description.value.trim()) body.description = description.value.trim();
    const whose = choices[Number(owner.value)] || choices[0];
    if (whose.owner !== viewer) { body.ownerKind = whose.ownerKind; body.owner = whose.owner; }
    let changed;
    try { changed = results.changes(); } catch (error) { notify(error.message, "error"); return; }
    const keyResults = Object.fromEntries(Object.entries(changed).filter(([, v]) => v));
    if (Object.keys(keyResults).length) body.keyResults = keyResults;
    const created = await act(() => api("/api/v1/objectives", { method: "POST", body }), "Objective saved");
    if (created) location.hash = `#/objectives?quarter=${encodeURIComponent(created.quarter)}&owner=${encodeURIComponent(created.owner)}`;
  }) },
    titleField, descriptionField, h("div", { class: "row" }, field("Quarter", quarter), field("Whose", owner), field("Who can see it", visibility), field("Status", status)),
    results.node,
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-objective" }, "Save")));
  replace(main, h("h1", {}, "New objective"), forNote, form);
}

/** #/objectives/:id/edit: progress, key results and status of an objective one may change. */
export async function edit(main, id) {
  const [objective, viewer] = await Promise.all([api(`/api/v1/objectives/${encodeURIComponent(id)}`), me()]);
  const back = `#/objectives?quarter=${encodeURIComponent(objective.quarter || "")}&owner=${encodeURIComponent(objective.owner || "")}`;
  const title = h("input", { id: "objective-title", type: "text", value: objective.title || "", required: true });
  const titleField = field("Objective", title);
  titleField.append(bounded(title, 2000));
  const progress = h("input", { id: "objective-progress", type: "number", min: 0, max: 100, step: 1, value: Math.round(Number(objective.progress) || 0) });
  const status = h("select", { id: "objective-status" }, STATUS.map(([v, t]) => h("option", { value: v, selected: v === (objective.status || "published") }, t)));
  // Progress is the owner's judgement, kept apart from the key results; what they add up to is
  // said beside it and taken with one click.
  const suggested = h("p", { class: "muted", id: "kr-progress", "aria-live": "polite" });
  const suggest = () => {
    const share = results?.share();
    if (share === null || share === undefined) { replace(suggested); return; }
    replace(suggested, `The key results stand at ${share}% of their targets on average. `,
      Number(progress.value) === share ? null : h("button", { type: "button", class: "link", id: "use-kr-progress", onclick: () => { progress.value = share; suggest(); progress.focus(); } }, `Set progress to ${share}%`));
  };
  const results = keyResultRows(Object.entries(objective.keyResults || {}).sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true })), { current: true, onChange: suggest });
  progress.addEventListener("input", suggest);
  suggest();
  const form = h("form", { class: "stack", onsubmit: oneAtATime(async (event) => {
    event.preventDefault();
    if (!title.value.trim()) { notify("Write the objective first", "error"); title.focus(); return; }
    const body = {};
    if (title.value.trim() !== (objective.title || "")) body.title = title.value.trim();
    if (progress.value !== "" && Number(progress.value) !== Math.round(Number(objective.progress) || 0)) body.progress = Number(progress.value);
    if (status.value !== (objective.status || "published")) body.status = status.value;
    let keyResults;
    try { keyResults = results.changes(); } catch (error) { notify(error.message, "error"); return; }
    if (Object.keys(keyResults).length) body.keyResults = keyResults;
    if (!Object.keys(body).length) { location.hash = back; return; }
    const saved = await act(() => api(`/api/v1/objectives/${encodeURIComponent(id)}`, { method: "PATCH", body }), "Objective saved");
    if (saved) location.hash = back;
  }) },
    titleField, h("div", { class: "row" }, field("Progress (%)", progress), field("Status", status)), suggested, results.node,
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-objective" }, "Save"), h("a", { href: back }, "Cancel")));
  // As the node decides (WritePolicy): a person's objective is the person's or their manager's to
  // update, and anyone else is told so rather than refused at Save; a team's is anyone's, but its
  // status (a draft is read as private) only its members', so for others that field is fixed.
  const personal = (objective.ownerKind || "person") === "person";
  const [mine, reports] = await Promise.all([personal ? [] : teamsOf(viewer), personal ? reportsAmong([objective.owner], viewer) : new Set()]);
  const member = new Set(mine.map((t) => t.id)).has(objective.owner);
  const whose = personal ? await nameOf(objective.owner) : (await all("teams")).get(objective.owner)?.name || objective.owner;
  if (!personal && !member) {
    status.disabled = true;
    status.setAttribute("aria-describedby", "status-members");
    status.after(h("small", { class: "help", id: "status-members" }, `Only the members of ${whose} change its status.`));
  }
  const mayEdit = !personal || objective.owner === viewer || reports.has(objective.owner);
  replace(main, h("h1", {}, "Update objective: ", h("bdi", {}, objective.title || objective.id)),
    !viewer ? h("p", {}, "Sign in to update objectives.")
      : mayEdit ? form
      : h("p", { id: "not-yours" }, `Only ${whose} or their manager updates this objective. `, h("a", { href: back }, "Back to the objectives")));
}

/** The id a typed owner names: a team by its name, else the one person of that name, else the text as an id. */
async function ownerID(typed) {
  const teams = await all("teams");
  const team = [...teams.values()].find((t) => foldName(t.name || "") === foldName(typed));
  if (team) return team.id;
  const named = await peopleNamed(typed).catch(() => []);
  return named.length === 1 ? named[0].id : typed;
}

/** #/objectives?quarter=&owner= */
export async function list(main) {
  const query = routeQuery();
  const quarters = recentQuarters();
  const quarter = query.get("quarter") || quarters[0];
  const owner = query.get("owner") || "";
  // The next quarter too: objectives are written ahead of it.
  const quarterSelect = h("select", { name: "quarter" }, [...new Set([nextQuarter(quarters[0]), quarter, ...quarters])].sort().reverse()
    .map((q) => h("option", { value: q, selected: q === quarter }, q)));
  // The owner is named as people know it (a team's name, a person's), and suggested as typed;
  // an id still works.
  const ownerInput = h("input", { type: "text", name: "owner", value: owner, placeholder: "a team, or a person's name", maxlength: 200, list: "owner-list", autocomplete: "off" });
  const ownerList = h("datalist", { id: "owner-list" });
  const form = h("form", { class: "filters", onsubmit: oneAtATime(async (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ quarter: quarterSelect.value });
    const typed = ownerInput.value.trim();
    if (typed) params.set("owner", await ownerID(typed));
    location.hash = `#/objectives?${params}`;
  }) }, field("Quarter", quarterSelect), field("Owner", ownerInput), ownerList, h("button", { type: "submit" }, "Show"));
  const ask = (extra) => {
    const params = new URLSearchParams({ quarter, ...extra });
    if (owner) params.set("owner", owner);
    return api(`/api/v1/objectives?${params}`);
  };
  const [departments, teamsOwned, people, teams, viewer] = await Promise.all([
    ask({ ownerKind: "department", limit: "101" }), ask({ ownerKind: "team", limit: "101" }), ask({ ownerKind: "person", limit: "101" }), all("teams"), me()]);
  const [mine, reports] = await Promise.all([teamsOf(viewer), reportsAmong(people.objectives.map((o) => o.owner), viewer)]);
  const myTeams = new Set(mine.map((t) => t.id));
  const result = { objectives: [...departments.objectives, ...teamsOwned.objectives, ...people.objectives] };
  const name = await peopleNames(result.objectives.filter((o) => (o.ownerKind || "person") === "person").map((o) => o.owner));
  const ownerName = (o) => (o.ownerKind || "person") === "person" ? name(o.owner) : (teams.get(o.owner)?.name || o.owner);
  replace(ownerList, [...teams.values()].map((t) => t.name).filter(Boolean).sort().map((n) => h("option", { value: n })));
  if (owner) ownerInput.value = teams.get(owner)?.name || (await peopleNames([owner]))(owner);
  const ownerLink = (o) => (o.ownerKind || "person") === "person"
    ? h("a", { href: `#/people/${encodeURIComponent(o.owner)}` }, ownerName(o))
    : h("a", { href: `#/objectives?quarter=${quarter}&owner=${encodeURIComponent(o.owner)}` }, ownerName(o));
  const sections = GROUPS.map(([kind, title]) => {
    const items = result.objectives.filter((o) => (o.ownerKind || "person") === kind);
    if (!items.length) return null;
    return h("section", { "aria-labelledby": `obj-${kind}` }, h("h2", { id: `obj-${kind}` }, `${title} (${items.length > 100 ? "100+" : items.length})`),
      h("ul", { class: "cards objectives" }, items.slice(0, 100).map((o) => {
        const progress = Math.round(Number(o.progress) || 0);
        const results = Object.entries(o.keyResults || {}).sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }));
        return h("li", { class: "card" },
          h("p", { class: "muted" }, ownerLink(o), o.status && o.status !== "published" ? ` · ${o.status}` : "",
            o.visibility === "private" ? " · private" : ""),
          h("h3", { dir: "auto" }, o.title || o.id),
          h("div", { class: "progress-row" }, h("progress", { max: 100, value: progress, "aria-label": `Progress of ${o.title || o.id}` }), h("span", {}, `${progress}%`)),
          results.length ? h("ul", { class: "plain krs" }, results.map(([, kr]) => h("li", {}, kr.title || "",
            kr.target !== undefined ? h("small", { class: "muted" }, ` ${kr.current ?? 0} of ${kr.target}`) : null))) : null,
          editable(o, viewer, myTeams, reports) ? h("div", { class: "actions" }, h("a", { class: "button secondary", href: `#/objectives/${encodeURIComponent(o.id)}/edit`,
            "aria-label": `Update ${o.title || o.id}` }, "Update")) : null);
      })),
      items.length > 100 ? h("p", { class: "muted" }, "Showing the first 100; filter by owner to see one team's or person's.") : null);
  }).filter(Boolean);
  replace(main, h("div", { class: "title-row" }, h("h1", {}, `Objectives, ${quarter}`),
    viewer ? h("div", { class: "actions" }, h("a", { class: "button secondary", href: `#/objectives?quarter=${encodeURIComponent(quarter)}&owner=${encodeURIComponent(viewer)}` }, "Mine"),
      h("a", { class: "button", href: "#/objectives/new", id: "new-objective" }, "New objective")) : null), form,
    sections.length ? sections : h("p", { class: "muted" }, owner && owner === viewer ? "You have no objectives for this quarter yet."
      : "No published objectives for this quarter and owner."));
}
