// The talent marketplace: opportunities with filters, interest, posting, and "my matches"
// with the explanation of each score and what would raise it.
import { h, replace, field, routeQuery, bounded } from "/ui/dom.js";
import { api, me, peopleNames } from "/ui/api.js";
import { act, oneAtATime } from "/ui/shell.js";
import { skillInput } from "/ui/people.js";

const KINDS = [["", "All kinds"], ["role", "Roles"], ["project", "Part-time projects"], ["mentorship", "Mentorships"], ["companyBet", "Company bets"]];
const KIND_NAMES = { role: "Role", project: "Project", mentorship: "Mentorship", companyBet: "Company bet" };

function skillChips(opportunity) {
  const labels = opportunity.skillLabels || {};
  const required = Object.entries(opportunity.requiredSkills || {});
  const learnable = opportunity.learnableSkills || [];
  return h("div", { class: "chips-block" },
    required.length ? h("ul", { class: "chips", "aria-label": "Skills asked for" }, required.map(([skill, spec]) =>
      h("li", { class: spec.mustHave ? "chip must" : "chip" }, `${labels[skill] || skill} ${spec.minLevel || 1}+`, spec.mustHave ? " (must)" : ""))) : null,
    learnable.length ? h("ul", { class: "chips", "aria-label": "Skills you can learn" }, learnable.map((skill) => h("li", { class: "chip grow" }, `learn ${labels[skill] || skill}`))) : null);
}

function interestButton(opportunity, viewer, count) {
  if (!viewer) return null;
  // The owner sees who is interested; the node refuses their own interest.
  if (opportunity.owner === viewer) return h("span", { class: "muted own-posting" }, "You posted this");
  let interested = (opportunity.interested || []).includes(viewer);
  // Ten "I'm interested" buttons on a page say which opportunity each is for, to a screen
  // reader, after the words shown (which stay the start of its name: "withdraw" is said too).
  const button = h("button", { type: "button", class: interested ? "secondary" : "", "aria-pressed": String(interested) });
  const label = () => replace(button, interested ? "✓ Interested (withdraw)" : "I'm interested",
    h("span", { class: "visually-hidden" }, `: ${opportunity.title || opportunity.id}`));
  label();
  button.addEventListener("click", async () => {
    const updated = await act(() => api(`/api/v1/opportunities/${encodeURIComponent(opportunity.id)}/interest`, { method: interested ? "DELETE" : "POST" }),
      interested ? "Interest withdrawn" : "The owner can now see you are interested");
    if (updated) {
      interested = (updated.interested || []).includes(viewer);
      button.setAttribute("aria-pressed", String(interested));
      button.className = interested ? "secondary" : "";
      label();
      // The card's count follows (it kept the count the page was drawn with).
      if (count) count.textContent = `${updated.interestedCount ?? (updated.interested || []).length} interested`;
    }
  });
  return button;
}

/** Whether an opportunity's end date has passed while its status still says open: the node
 *  matches it to no one and refuses new interest in it (by its own clock; this is the page's). */
function hasEnded(o) {
  return o.status !== "filled" && o.status !== "closed" && /^\d{4}-\d{2}-\d{2}$/.test(o.endDate || "")
    && o.endDate < new Date().toISOString().slice(0, 10);
}

function opportunityCard(o, name, viewer) {
  const count = h("span", { class: "interested-count" }, `${o.interestedCount ?? (o.interested || []).length} interested`);
  const ended = hasEnded(o);
  return h("li", { class: "card opportunity", dataset: { id: o.id } },
    h("p", { class: "muted" }, KIND_NAMES[o.kind] || o.kind || "Opportunity", o.betRank ? ` · bet #${o.betRank}` : "",
      o.hoursPerWeek ? ` · ${o.hoursPerWeek} h/week` : "", o.location ? ` · ${o.location === "office" ? (o.office || "in an office") : "remote"}` : "",
      o.status && o.status !== "open" ? ` · ${o.status}` : "", ended ? ` · ended ${o.endDate}` : ""),
    h("h3", { dir: "auto" }, o.title || o.id),
    o.description ? h("p", { dir: "auto" }, o.description) : null,
    skillChips(o),
    h("p", { class: "muted" }, "Owner: ", o.owner ? h("a", { href: `#/people/${encodeURIComponent(o.owner)}` }, h("bdi", {}, name(o.owner))) : "nobody",
      " · ", count),
    ended ? null : h("div", { class: "actions" }, interestButton(o, viewer, count)));
}

/** #/opportunities?kind=&all=1 */
export async function list(main) {
  const query = routeQuery();
  const kind = query.get("kind") || "";
  const where = query.get("location") || "";
  const skillText = query.get("skill") || "";
  const includeClosed = query.get("all") === "1";
  const kindSelect = h("select", { name: "kind" }, KINDS.map(([v, t]) => h("option", { value: v, selected: v === kind }, t)));
  const whereSelect = h("select", { name: "location" }, [["", "Anywhere"], ["remote", "Remote"], ["office", "In an office"]]
    .map(([v, t]) => h("option", { value: v, selected: v === where }, t)));
  const skillFilter = skillInput("filter-skill", "Skill");
  skillFilter.input.value = skillText;
  const closed = h("input", { type: "checkbox", id: "include-closed", checked: includeClosed });
  const form = h("form", { class: "filters", onsubmit: (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (kindSelect.value) params.set("kind", kindSelect.value);
    if (whereSelect.value) params.set("location", whereSelect.value);
    if (skillFilter.input.value.trim()) params.set("skill", skillFilter.input.value.trim());
    if (closed.checked) params.set("all", "1");
    location.hash = `#/opportunities?${params}`;
  } }, field("Kind", kindSelect), field("Where", whereSelect), skillFilter.node,
    h("div", { class: "field inline" }, closed, h("label", { for: "include-closed" }, "Include filled and closed")),
    h("button", { type: "submit" }, "Filter"));
  const params = new URLSearchParams({ limit: "200" });
  if (kind) params.set("kind", kind);
  if (where) params.set("location", where);
  if (skillText) params.set("skill", skillText);
  if (includeClosed) params.set("status", "all");
  // The top bets are asked for apart: in a page of every kind, a bet past the first 200 was left out.
  const unfiltered = !kind && !where && !skillText;
  const [result, viewer, betList] = await Promise.all([api(`/api/v1/opportunities?${params}`), me(),
    unfiltered ? api("/api/v1/opportunities?kind=companyBet&limit=1000") : Promise.resolve({ opportunities: [] })]);
  const name = await peopleNames(result.opportunities.map((o) => o.owner));
  const bets = betList.opportunities.filter((o) => o.betRank).sort((a, b) => a.betRank - b.betRank || (a.title || a.id).localeCompare(b.title || b.id)).slice(0, 10);
  // 200 at a time; "Show more" follows the list's `next`, and the count says "+" until the end.
  const cards = h("ul", { class: "cards", id: "opportunities" }, result.opportunities.map((o) => opportunityCard(o, name, viewer)));
  let shown = result.opportunities.length;
  let next = result.next;
  const heading = h("h2", {});
  const countText = () => `${shown}${next ? "+" : ""} ${includeClosed ? "" : "open "}opportunities`;
  heading.textContent = countText();
  const more = h("button", { type: "button", class: "secondary", id: "more-opportunities", onclick: async () => {
    more.disabled = true;
    const page = await act(() => api(`/api/v1/opportunities?${params}&offset=${encodeURIComponent(next)}`));
    more.disabled = false;
    if (!page) return;
    const names = await peopleNames(page.opportunities.map((o) => o.owner));
    for (const o of page.opportunities) cards.append(opportunityCard(o, names, viewer));
    shown += page.opportunities.length;
    next = page.next;
    heading.textContent = countText();
    if (!next) more.remove();
  } }, "Show more");
  replace(main,
    h("div", { class: "title-row" }, h("h1", {}, "Marketplace"),
      h("div", { class: "actions" }, viewer ? h("a", { class: "button", href: "#/matches" }, "My matches") : null,
        viewer ? h("a", { class: "button secondary", href: "#/opportunities/new" }, "Post an opportunity") : null)),
    form,
    unfiltered && bets.length ? h("section", { "aria-labelledby": "bets-h" }, h("h2", { id: "bets-h" }, "Top company bets"),
      h("ol", { class: "bets" }, bets.map((b) => h("li", {}, h("strong", {}, b.title), b.hoursPerWeek ? h("span", { class: "muted" }, ` · ${b.hoursPerWeek} h/week`) : "")))) : null,
    heading, cards, next ? more : null);
}

/** #/opportunities/new: post one, owned by the signed-in person. */
export async function post(main) {
  const viewer = await me();
  if (!viewer) { replace(main, h("h1", {}, "Post an opportunity"), h("p", {}, "Sign in to post.")); return; }
  const title = h("input", { id: "post-title", type: "text", required: true });
  const titleField = field("Title", title);
  titleField.append(bounded(title, 200));
  const kind = h("select", { id: "post-kind" }, KINDS.slice(1).map(([v, t]) => h("option", { value: v, selected: v === "project" }, t.replace(/s$/, ""))));
  const description = h("textarea", { id: "post-description", rows: 4 });
  const descriptionField = field("Description", description);
  descriptionField.append(bounded(description, 2000));
  const hours = h("input", { id: "post-hours", type: "number", min: 1, max: 80, value: 4 });
  const location_ = h("select", {}, h("option", { value: "remote" }, "Remote"), h("option", { value: "office" }, "In an office"));
  // In an office says which one: the poster's own, unless they name another.
  const office = h("input", { id: "post-office", type: "text", maxlength: 200 });
  const officeField = field("Which office", office);
  officeField.hidden = true;
  location_.addEventListener("change", () => { officeField.hidden = location_.value !== "office"; office.required = location_.value === "office"; });
  api(`/api/v1/people/${encodeURIComponent(viewer)}`).then((p) => {
    if (!office.value && p.office && p.office.toLowerCase() !== "remote") office.value = p.office;
  }).catch(() => {});
  const skills = h("ul", { class: "plain", id: "post-skills" });
  const skill = skillInput("post-skill", "Skill asked for");
  const level = h("select", { id: "post-skill-level" }, [1, 2, 3, 4, 5].map((n) => h("option", { value: n }, `${n}`)));
  const must = h("input", { type: "checkbox", id: "post-skill-must" });
  const required = new Map();
  const renderSkills = () => replace(skills, [...required].map(([text, spec]) => h("li", {}, `${text} ${spec.minLevel}+${spec.mustHave ? " (must)" : ""} `,
    h("button", { type: "button", class: "link", "aria-label": `Remove ${text}`, onclick: () => { required.delete(text); renderSkills(); } }, "Remove"))));
  const learn = skillInput("post-learn", "A skill people can learn there (optional)");
  const form = h("form", { class: "stack", onsubmit: oneAtATime(async (event) => {
    event.preventDefault();
    const body = { title: title.value.trim(), kind: kind.value, location: location_.value, status: "open" };
    if (location_.value === "office") body.office = office.value.trim();
    if (description.value.trim()) body.description = description.value.trim();
    if (hours.value) body.hoursPerWeek = Number(hours.value);
    if (required.size) body.requiredSkills = Object.fromEntries(required);
    if (learn.input.value.trim()) body.learnableSkills = { add: [learn.input.value.trim()] };
    const created = await act(() => api("/api/v1/opportunities", { method: "POST", body }), "Posted");
    if (created) location.hash = "#/opportunities";
  }) },
    titleField, field("Kind", kind), descriptionField, field("Hours a week", hours), field("Where", location_), officeField,
    h("fieldset", {}, h("legend", {}, "Skills asked for"), skills,
      h("div", { class: "row" }, skill.node, field("Minimum level", level), h("div", { class: "field inline" }, must, h("label", { for: "post-skill-must" }, "Must have")),
        h("button", { type: "button", class: "secondary", id: "post-add-skill", onclick: () => {
          const text = skill.input.value.trim();
          if (!text) return;
          required.set(text, { minLevel: Number(level.value), mustHave: must.checked });
          skill.input.value = ""; must.checked = false; renderSkills(); skill.input.focus();
        } }, "Add skill"))),
    learn.node,
    h("div", { class: "actions" }, h("button", { type: "submit", id: "post-opportunity" }, "Post")));
  replace(main, h("h1", {}, "Post an opportunity"), form);
}

/** #/matches: the signed-in person's best opportunities, each score explained. */
export async function matches(main) {
  const viewer = await me();
  if (!viewer) { replace(main, h("h1", {}, "My matches"), h("p", {}, "Sign in to see the opportunities that match you.")); return; }
  const result = await api(`/api/v1/people/${encodeURIComponent(viewer)}/matches?limit=10`);
  replace(main, h("h1", {}, "My matches"),
    h("p", { class: "muted" }, "Scores run from 0 to 5 and are made only of skill fit, growth fit and availability: never your name, gender, office, manager or tenure. ",
      h("a", { href: "#/opportunities" }, "Browse everything")),
    result.matches.length ? h("ol", { class: "cards matches", id: "matches" }, result.matches.map((m) => {
      const o = m.details || { id: m.opportunity };
      return h("li", { class: "card match", dataset: { id: m.opportunity } },
        h("div", { class: "title-row" }, h("h2", {}, o.title || o.id),
          h("span", { class: "score", role: "img", "aria-label": `score ${m.score} of 5` }, h("meter", { min: 0, max: 5, value: m.score, "aria-hidden": "true" }), ` ${m.score.toFixed(2)} / 5`)),
        h("p", { class: "muted" }, `skill fit ${Math.round(m.components.skillFit * 100)}% · growth fit ${Math.round(m.components.growthFit * 100)}% · availability ${Math.round(m.components.availability * 100)}%`),
        h("h3", {}, "Why"), h("ul", { class: "why" }, m.explanations.map((e) => h("li", { class: `why-${e.kind}` }, e.text))),
        m.improvements.length ? [h("h3", {}, "What would raise this match"),
          h("ul", { class: "raise" }, m.improvements.slice(0, 3).map((i) => h("li", {}, i.text, h("small", { class: "muted" }, ` (to ${i.scoreAfter.toFixed(2)})`))))] : null,
        h("div", { class: "actions" }, interestButton(o, viewer)));
    })) : h("p", { class: "muted" }, "No open opportunities to match yet."));
}
