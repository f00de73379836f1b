// Quarterly objectives of people, teams and departments: public by default, browsable by anyone.
import { h, replace, field, routeQuery, foldName } from "/ui/dom.js";
import { api, peopleNames, all } from "/ui/api.js";

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

/** The id a typed owner names: a team by its name, else the one person of that name, else the text as an id. */
async function ownerID(typed) {
  const teams = await all("teams");
  const team = [...teams.values()].find((t) => foldName(t.name || "") === foldName(typed));
  if (team) return team.id;
  const found = await api(`/api/v1/people?q=${encodeURIComponent(typed)}&limit=20`).catch(() => ({ people: [] }));
  const named = found.people.filter((p) => foldName(p.name || "") === foldName(typed));
  return named.length === 1 ? named[0].id : typed;
}

/** #/objectives?quarter=&owner= */
export async function list(main) {
  const query = routeQuery();
  const quarters = recentQuarters();
  const quarter = query.get("quarter") || quarters[0];
  const owner = query.get("owner") || "";
  const quarterSelect = h("select", { name: "quarter" }, [...new Set([quarter, ...quarters])].map((q) => h("option", { value: q, selected: q === quarter }, q)));
  // The owner is named as people know it (a team's name, a person's), and suggested as typed;
  // an id still works.
  const ownerInput = h("input", { type: "text", name: "owner", value: owner, placeholder: "a team, or a person's name", maxlength: 200, list: "owner-list", autocomplete: "off" });
  const ownerList = h("datalist", { id: "owner-list" });
  const form = h("form", { class: "filters", onsubmit: async (event) => {
    event.preventDefault();
    const params = new URLSearchParams({ quarter: quarterSelect.value });
    const typed = ownerInput.value.trim();
    if (typed) params.set("owner", await ownerID(typed));
    location.hash = `#/objectives?${params}`;
  } }, field("Quarter", quarterSelect), field("Owner", ownerInput), ownerList, h("button", { type: "submit" }, "Show"));
  const ask = (extra) => {
    const params = new URLSearchParams({ quarter, ...extra });
    if (owner) params.set("owner", owner);
    return api(`/api/v1/objectives?${params}`);
  };
  const [departments, teamsOwned, people, teams] = await Promise.all([
    ask({ ownerKind: "department", limit: "101" }), ask({ ownerKind: "team", limit: "101" }), ask({ ownerKind: "person", limit: "101" }), all("teams")]);
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
        const results = Object.entries(o.keyResults || {}).sort(([a], [b]) => a.localeCompare(b));
        return h("li", { class: "card" },
          h("p", { class: "muted" }, ownerLink(o), o.status && o.status !== "published" ? ` · ${o.status}` : ""),
          h("h3", {}, o.title || o.id),
          h("div", { class: "progress-row" }, h("progress", { max: 100, value: progress, "aria-label": `Progress of ${o.title || o.id}` }), h("span", {}, `${progress}%`)),
          results.length ? h("ul", { class: "plain krs" }, results.map(([, kr]) => h("li", {}, kr.title || "",
            kr.target !== undefined ? h("small", { class: "muted" }, ` ${kr.current ?? 0} of ${kr.target}`) : null))) : null);
      })),
      items.length > 100 ? h("p", { class: "muted" }, "Showing the first 100; filter by owner to see one team's or person's.") : null);
  }).filter(Boolean);
  replace(main, h("h1", {}, `Objectives, ${quarter}`), form,
    sections.length ? sections : h("p", { class: "muted" }, "No published objectives for this quarter and owner."));
}
