// Insights for the people team, computed by this node from its own replica.
import { h, replace, ago } from "/ui/dom.js";
import { api } from "/ui/api.js";
import { barChart, pairedChart, chartWidth } from "/ui/charts.js";

// Charts are drawn at the width shown (charts.js): drawn again, in place, when that changes
// enough, as when a phone turns, a window narrows or the page is zoomed (a chart drawn 958 wide
// and shrunk to a phone had 5 px text). Only the charts: the rest of the page, an open
// <details>, the focus and a notice stay as they were.
const REDRAW_PX = 24;
let redraw = null, resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (document.body.dataset.view === "insights" && redraw) redraw(); }, 200);
});

/** What the tribe sizes say, in a sentence: those to split, those empty, or that all are well. */
function tribeSummary(tribes) {
  const over = tribes.filter((t) => t.people > 100).length, empty = tribes.filter((t) => t.people === 0).length;
  const parts = [over ? `${over} tribe${over === 1 ? "" : "s"} over 100 people: time to split.` : null,
    empty ? `${empty} tribe${empty === 1 ? " has" : "s have"} nobody in it.` : null].filter(Boolean);
  return parts.length ? parts.join(" ") : "Every tribe has people, and none is over 100.";
}

/** The people the sizes leave out (no team of the kind, or one deleted or unknown), said when any are. */
function unassigned(count, kind) {
  if (!count) return null;
  return h("p", { class: "muted", id: `without-${kind}` }, `${count} ${count === 1 ? "person is" : "people are"} in no ${kind} listed here (none named, or one deleted or unknown), so not counted above.`);
}

export async function view(main) {
  const insights = await api("/api/v1/insights");
  const byName = (a, b) => (a.name || a.team).localeCompare(b.name || b.team, undefined, { numeric: true });
  const tribes = [...insights.tribes].sort((a, b) => b.people - a.people || byName(a, b));
  const squads = [...insights.squads].sort((a, b) => b.people - a.people || byName(a, b));
  const outOfRange = squads.filter((s) => s.flag);
  const skills = [...insights.skills].sort((a, b) => b.demand - a.demand || a.supply - b.supply).slice(0, 15);
  // Supply by tribe is keyed by the tribe's id: shown by its name, as the chart shows it.
  const tribeName = new Map(insights.tribes.map((t) => [t.team, t.name || t.team]));
  const shown = squads.length > 40 ? [...outOfRange, ...squads.filter((s) => !s.flag)].slice(0, 40) : squads;
  const draw = {
    tribes: (width) => barChart({ title: "People per tribe", description: "Tribe sizes; the dashed line marks 100 people, where a tribe should split.",
      rows: tribes.map((t) => ({ label: t.name || t.team, value: t.people, flag: t.flag })), threshold: 100, width }),
    squads: (width) => barChart({ title: "People per squad", description: "Squad sizes; the shaded band is the healthy range of 5 to 10 people.",
      rows: shown.map((s) => ({ label: s.name || s.team, value: s.people, flag: s.flag })), band: [5, 10], width }),
    skills: (width) => pairedChart({ title: "Skill demand and supply", description: "For the 15 skills most asked for, open opportunities against people who have them.",
      rows: skills.map((s) => ({ label: s.label, a: s.demand, b: s.supply })), names: ["demand", "supply"], width }),
    abilities: (width) => barChart({ title: "Public observations per ability",
      description: "How many public observations reference each ability (private ones are not counted, so the chart never tells that one exists); abilities with none are flagged.",
      rows: insights.abilities.map((a) => ({ label: a.name, value: a.observations, flag: a.observations === 0 ? "no public observations" : null })), width }),
  };
  let width = chartWidth(main);
  const drawn = new Map();
  const chart = (name) => { const node = draw[name](width); drawn.set(name, node); return node; };
  redraw = () => {
    const now = chartWidth(main);
    if (Math.abs(now - width) < REDRAW_PX) return;
    width = now;
    for (const [name, node] of drawn) { const next = draw[name](width); node.replaceWith(next); drawn.set(name, next); }
    document.body.dataset.chartsDrawn = String(Number(document.body.dataset.chartsDrawn || 0) + 1);
  };
  replace(main, h("h1", {}, "Insights"),
    h("p", { class: "muted" }, "Computed on this node from its replica: it works offline and shows what this node knows."),
    h("section", { "aria-labelledby": "tribes-h" }, h("h2", { id: "tribes-h" }, "Tribes"),
      h("p", {}, tribeSummary(tribes)),
      unassigned(insights.withoutTribe, "tribe"),
      chart("tribes")),
    h("section", { "aria-labelledby": "squads-h" }, h("h2", { id: "squads-h" }, "Squads"),
      h("p", {}, outOfRange.length ? `${outOfRange.length} of ${squads.length} squads are outside 5-10 people.` : `All ${squads.length} squads have 5-10 people.`),
      unassigned(insights.withoutSquad, "squad"),
      chart("squads"),
      squads.length > shown.length ? h("p", { class: "muted" }, `Showing ${shown.length} of ${squads.length} squads, those out of range first.`) : null),
    h("section", { "aria-labelledby": "skills-h" }, h("h2", { id: "skills-h" }, "Skills: demand against supply"),
      h("p", {}, "Demand: open opportunities asking for the skill. Supply: people who have it at the lowest level one of them asks (shown beside each skill below)."),
      skills.length ? chart("skills") : h("p", { class: "muted" }, "No open opportunity asks for a skill."),
      skills.length ? h("details", {}, h("summary", {}, "Supply by office and tribe"),
        h("div", { class: "table-scroll" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Skill"), h("th", { scope: "col" }, "Level"), h("th", { scope: "col" }, "By office"), h("th", { scope: "col" }, "By tribe"))),
          h("tbody", {}, skills.map((s) => h("tr", {}, h("th", { scope: "row" }, s.label), h("td", {}, `${s.level} of 5 or more`),
            h("td", {}, Object.entries(s.supplyByOffice).map(([k, v]) => `${k}: ${v}`).join(", ")),
            // A colon apart: "Tribe 1 9" read as "Tribe 19".
            h("td", {}, Object.entries(s.supplyByTribe).map(([k, v]) => `${tribeName.get(k) || k}: ${v}`).join(", ")))))))) : null),
    h("section", { "aria-labelledby": "framework-h" }, h("h2", { id: "framework-h" }, "Career framework health"),
      chart("abilities"),
      h("div", { class: "table-scroll" }, h("table", { id: "framework" }, h("thead", {}, h("tr", {}, ["Ability", "Roles", "Public observations", "People at a milestone", "Last updated", "Flags"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, insights.abilities.map((a) => h("tr", {}, h("th", { scope: "row" }, a.name), h("td", {}, String(a.roles)), h("td", {}, String(a.observations)),
          h("td", {}, String(a.peopleWithMilestone)), h("td", {}, a.lastUpdated ? ago(a.lastUpdated) : "never"),
          h("td", {}, a.flags.length ? a.flags.join("; ") : "✓"))))))));
}
