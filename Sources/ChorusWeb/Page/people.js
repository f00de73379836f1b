// The people directory, profiles, and editing one's own profile.
import { h, replace, field, pips, routeQuery, bounded } from "/ui/dom.js";
import { api, me, peopleNames, all } from "/ui/api.js";
import { act, notify, moreButton, oneAtATime } from "/ui/shell.js";
import { withdrawControl } from "/ui/recognition.js";

const PAGE = 50;

/** Who may read a feedback item, in words (the node's names are for code). */
const SEEN_BY = { public: "public", private: "private", privateAndManager: "private, and their manager", managerOnly: "for their manager" };

export async function nameOf(id) { return (await peopleNames([id]))(id); }

function personCard(person) {
  return h("li", { class: "card person", tabindex: "-1" },
    h("a", { href: `#/people/${encodeURIComponent(person.id)}`, class: "name", dir: "auto" }, person.name || person.id),
    h("span", { class: "muted", dir: "auto" }, [person.title, person.office].filter(Boolean).join(" · ")));
}

/** #/people?q=...: search by name and skill, or browse page by page. */
export async function directory(main) {
  const q = routeQuery().get("q") || "";
  const input = h("input", { type: "search", name: "q", value: q, autocomplete: "off", placeholder: "e.g. sofia python", maxlength: 200 });
  const form = h("form", { role: "search", class: "search", onsubmit: (event) => {
    event.preventDefault();
    location.hash = `#/people?q=${encodeURIComponent(input.value.trim())}`;
  } }, field("Search people by name, title or skill", input), h("button", { type: "submit" }, "Search"));
  // A screen reader hears how many are shown, not fifty names read out at each page.
  const list = h("ul", { class: "cards", id: "people-results" });
  const shown = h("p", { class: "muted", role: "status" });
  replace(main, h("h1", {}, "People"), form, shown, list);
  // A search pages by rank (`next` is the offset of the next page), browsing by id (`next` is
  // the last id shown); both end when `next` is null.
  const searching = q.trim() !== "";
  const load = async (next) => {
    const from = next == null ? "" : searching ? `&offset=${next}` : `&after=${encodeURIComponent(next)}`;
    const page = await api(`/api/v1/people?${searching ? `q=${encodeURIComponent(q)}&` : ""}limit=${PAGE}${from}`);
    return { ...page, nextAfter: page.next ?? null };
  };
  // A page's cards, the count they bring the list to said as they come.
  const cards = (page) => {
    const nodes = page.people.map(personCard);
    const count = list.children.length + nodes.length, more = page.nextAfter !== null;
    shown.textContent = searching ? `${count}${more ? "+" : ""} people match “${q}”` : `Showing ${count}${more ? "" : " (all)"} people`;
    return nodes;
  };
  const first = await load(null);
  if (searching && !first.people.length) {
    replace(list, h("li", { class: "empty" }, `Nobody matches “${q}”.`));
    return;
  }
  list.append(...cards(first));
  main.append(moreButton("people-more", list, first.nextAfter, load, cards));
}

function teamLink(teams, id) {
  if (!id) return null;
  const team = teams.get(id);
  return h("span", {}, team ? team.name || id : id);
}

/** An ability's milestones as [level, title] (1 to 5 when it defines none). */
function milestonesOf(ability) {
  const defined = Object.keys(ability?.milestones || {}).map(Number).filter((n) => n >= 1 && n <= 5).sort((a, b) => a - b);
  return (defined.length ? defined : [1, 2, 3, 4, 5]).map((n) => [n, ability?.milestones?.[String(n)]?.title]);
}

const byName = (a, b) => (a.name || a.id).localeCompare(b.name || b.id);

/** For a person's manager: the milestone of each ability, set in one save. */
function careerStepsForm(person, abilities) {
  const rows = [...abilities.values()].sort(byName).map((ability) => {
    const current = person.careerSteps?.[ability.id];
    const options = milestonesOf(ability);
    // A step the ability no longer defines (its milestones changed since) is shown as it is, so
    // saving another ability's step does not clear it.
    const kept = current !== undefined && !options.some(([n]) => n === current) ? h("option", { value: current, selected: true }, `${current} (no longer defined)`) : null;
    const select = h("select", { "aria-label": `Milestone in ${ability.name || ability.id}`, dataset: { ability: ability.id } },
      h("option", { value: "" }, "Not set"), kept,
      options.map(([n, title]) => h("option", { value: n, selected: n === current }, title ? `${n}: ${title}` : `${n}`)));
    return { ability, shown: select.value, select };
  });
  return h("details", { id: "set-steps" }, h("summary", {}, "Set career steps (you are their manager)"),
    h("form", { class: "stack", onsubmit: oneAtATime(async (event) => {
      event.preventDefault();
      const steps = {};
      for (const { ability, shown, select } of rows) {
        if (select.value !== shown) steps[ability.id] = select.value === "" ? null : Number(select.value);
      }
      if (!Object.keys(steps).length) { notify("Nothing changed", "ok"); return; }
      const saved = await act(() => api(`/api/v1/people/${encodeURIComponent(person.id)}`, { method: "PATCH", body: { careerSteps: steps } }), "Career steps saved");
      if (saved) window.dispatchEvent(new HashChangeEvent("hashchange"));
    }) }, h("ul", { class: "plain" }, rows.map(({ ability, select }) => h("li", { class: "row" }, h("span", {}, ability.name || ability.id), select))),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-steps" }, "Save career steps"))));
}

/** For anyone but the person: evidence of a milestone they reached, public or private. */
function observationForm(person, abilities) {
  const sorted = [...abilities.values()].sort(byName);
  const ability = h("select", { id: "observation-ability" }, sorted.map((a) => h("option", { value: a.id }, a.name || a.id)));
  const milestone = h("select", { id: "observation-milestone" });
  const fillMilestones = () => replace(milestone, milestonesOf(abilities.get(ability.value)).map(([n, title]) => h("option", { value: n }, title ? `${n}: ${title}` : `${n}`)));
  ability.addEventListener("change", fillMilestones);
  fillMilestones();
  const body = h("textarea", { id: "observation-body", rows: 3, required: true });
  const bodyField = field("What you saw", body, "A concrete example helps them and their manager");
  bodyField.append(bounded(body, 2000));
  const visibility = h("select", { id: "observation-visibility" },
    h("option", { value: "public" }, "Everyone"), h("option", { value: "private" }, "Private: them, their manager and you"));
  return h("details", { id: "record-observation" }, h("summary", {}, "Record an observation"),
    h("form", { class: "stack", onsubmit: oneAtATime(async (event) => {
      event.preventDefault();
      if (!body.value.trim()) { notify("Write what you saw first", "error"); body.focus(); return; }
      const made = await act(() => api("/api/v1/observations", { method: "POST", body: {
        person: person.id, ability: ability.value, milestone: Number(milestone.value), body: body.value.trim(), visibility: visibility.value } }),
      "Observation recorded");
      if (made) window.dispatchEvent(new HashChangeEvent("hashchange"));   // the profile lists it
    }) }, field("Ability", ability), field("Milestone it shows", milestone), bodyField, field("Who can see it", visibility),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-observation" }, "Record"))));
}

/** #/people/:id: a profile. */
export async function profile(main, id) {
  const [person, viewer, teams, abilities] = await Promise.all([
    api(`/api/v1/people/${encodeURIComponent(id)}`), me(), all("teams"), all("abilities")]);
  const name = await peopleNames([person.manager, id].filter(Boolean));
  const labels = person.skillLabels || {};
  const skills = Object.entries(person.skills || {}).sort((a, b) => b[1] - a[1] || (labels[a[0]] || a[0]).localeCompare(labels[b[0]] || b[0]));
  const goals = person.developmentGoals || [];
  const experience = Object.values(person.experience || {}).sort((a, b) => String(b.from || "").localeCompare(String(a.from || "")));
  const steps = Object.entries(person.careerSteps || {});
  const isMe = viewer === id;
  const facts = [
    ["Title", person.title], ["Role", person.role], ["Office", person.office], ["Time zone", person.timezone],
    ["Manager", person.manager ? h("a", { href: `#/people/${encodeURIComponent(person.manager)}` }, name(person.manager)) : null],
    ["Squad", teamLink(teams, person.squad)], ["Tribe", teamLink(teams, person.tribe)], ["Chapter", teamLink(teams, person.chapter)],
    ["Guilds", (person.guilds || []).length ? person.guilds.map((g) => teams.get(g)?.name || g).join(", ") : null],
    ["Available for projects", person.hoursPerWeekAvailable != null ? `${person.hoursPerWeekAvailable} hours a week` : null],
    ["Mentoring", person.openToMentoring ? "Open to mentoring" : null],
  ].filter(([, value]) => value);
  const [feedback, observed] = await Promise.all([api(`/api/v1/feedback?about=${encodeURIComponent(id)}&limit=10`).catch(() => ({ items: [] })),
    api(`/api/v1/observations?person=${encodeURIComponent(id)}&limit=20`).catch(() => ({ observations: [] }))]);
  const authors = await peopleNames([...feedback.items.map((f) => f.from), ...observed.observations.map((o) => o.author)]);
  replace(main,
    h("div", { class: "title-row" }, h("h1", { dir: "auto" }, person.name || id),
      h("div", { class: "actions" },
        isMe ? h("a", { class: "button", href: "#/me/edit" }, "Edit my profile") : null,
        viewer && !isMe ? h("a", { class: "button", href: `#/give?to=${encodeURIComponent(id)}` }, "Give feedback or thanks") : null,
        viewer && person.manager === viewer ? h("a", { class: "button secondary", id: "objective-for", href: `#/objectives/new?for=${encodeURIComponent(id)}` }, "New objective for them") : null)),
    h("dl", { class: "facts" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", { dir: "auto" }, v)])),
    h("section", { "aria-labelledby": "skills-h" }, h("h2", { id: "skills-h" }, "Skills"),
      skills.length ? h("ul", { class: "skills", id: "profile-skills" }, skills.map(([skill, level]) =>
        h("li", { dataset: { skill } }, h("span", { class: "skill-name" }, labels[skill] || skill), pips(level, 5, "level"))))
        : h("p", { class: "muted" }, "No skills yet.")),
    h("section", { "aria-labelledby": "goals-h" }, h("h2", { id: "goals-h" }, "Wants to learn"),
      goals.length ? h("ul", { class: "chips" }, goals.map((g) => h("li", { class: "chip grow" }, labels[g] || g))) : h("p", { class: "muted" }, "Nothing listed.")),
    h("section", { "aria-labelledby": "steps-h" }, h("h2", { id: "steps-h" }, "Career steps"),
      steps.length ? h("ul", { class: "steps" }, steps.map(([ability, milestone]) => {
        const a = abilities.get(ability);
        const title = a?.milestones?.[String(milestone)]?.title;
        return h("li", {}, h("span", {}, a?.name || ability), pips(milestone, 5, "milestone"), title ? h("small", { class: "muted" }, title) : null);
      })) : h("p", { class: "muted" }, "No milestones recorded."),
      viewer && person.manager === viewer && abilities.size ? careerStepsForm({ ...person, id }, abilities) : null,
      observationsList(observed, authors, abilities, id),
      viewer && !isMe && abilities.size ? observationForm({ ...person, id }, abilities) : null),
    h("section", { "aria-labelledby": "exp-h" }, h("h2", { id: "exp-h" }, "Experience"),
      experience.length ? h("ul", { class: "plain" }, experience.map((e) => h("li", {},
        h("strong", {}, e.title || ""), e.organisation ? ` at ${e.organisation}` : "", e.from ? h("span", { class: "muted" }, ` ${e.from}–${e.to || "now"}`) : "")))
        : h("p", { class: "muted" }, "None listed.")),
    feedbackSection(feedback, authors, viewer, id, person.name || id));
}

/** The observations of a person's abilities on their profile: the first twenty, "Show more" for the rest. */
function observationsList(first, authors, abilities, id) {
  if (!first.observations.length) return null;
  const row = (o, names) => h("li", { tabindex: "-1" },
    h("strong", {}, abilities.get(o.ability)?.name || o.ability), ` · milestone ${o.milestone}: `, h("bdi", {}, o.body || ""),
    h("small", { class: "muted" }, " (", h("bdi", {}, names(o.author)), o.visibility === "private" ? ", private" : "", ")"));
  const list = h("ul", { class: "plain", id: "observations" }, first.observations.map((o) => row(o, authors)));
  const more = moreButton("observations-more", list, first.next,
    (after) => api(`/api/v1/observations?person=${encodeURIComponent(id)}&limit=20&after=${encodeURIComponent(after)}`)
      .then((page) => ({ ...page, nextAfter: page.next })),
    async (page) => { const names = await peopleNames(page.observations.map((o) => o.author)); return page.observations.map((o) => row(o, names)); });
  return [list, more];
}

/**
 * "Feedback and recognition you may see" on a profile: the newest ten, "Show more" for the rest
 * (by cursor), and Withdraw on the viewer's own, after which focus goes to the next item.
 */
function feedbackSection(first, authors, viewer, id, name) {
  const section = h("section", { "aria-labelledby": "fb-h" }, h("h2", { id: "fb-h", tabindex: "-1" }, "Feedback and recognition you may see"));
  const nothing = () => h("p", { class: "muted" }, "Nothing you may see.");
  const list = h("ul", { class: "plain", id: "profile-feedback" });
  const row = (f, names) => {
    const li = h("li", { dataset: { id: f.id }, tabindex: "-1" },
      h("span", { class: `tag ${f.kind}` }, f.kind), " from ", h("bdi", {}, names(f.from)), ": ", h("bdi", {}, f.body), " ", h("small", { class: "muted" }, `(${SEEN_BY[f.visibility] || "private"})`));
    if (viewer && f.from === viewer) {
      li.append(" ", withdrawControl({ ...f, toName: name }, () => {
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        if (list.children.length) next.focus();
        else if (!more.hidden) more.focus();   // older items remain: Show more brings them
        else { list.replaceWith(nothing()); section.querySelector("h2").focus(); }
      }));
    }
    return li;
  };
  const more = moreButton("profile-feedback-more", list, first.nextAfter,
    (after) => api(`/api/v1/feedback?about=${encodeURIComponent(id)}&limit=10&after=${encodeURIComponent(after)}`),
    async (page) => { const names = await peopleNames(page.items.map((f) => f.from)); return page.items.map((f) => row(f, names)); });
  if (!first.items.length) { section.append(nothing()); return section; }
  list.append(...first.items.map((f) => row(f, authors)));
  section.append(list, more);
  return section;
}

/** A row editing one skill: its label, a level select, a remove button. */
function skillRow(skill, label, level, onRemove) {
  const select = h("select", { "aria-label": `Level for ${label}`, dataset: { skill } },
    [1, 2, 3, 4, 5].map((n) => h("option", { value: n, selected: n === level }, `${n}`)));
  return h("li", { class: "skill-edit", dataset: { skill } }, h("span", { class: "skill-name" }, label), select,
    h("button", { type: "button", class: "link", "aria-label": `Remove ${label}`, onclick: onRemove }, "Remove"));
}

/** Skill suggestions from the ESCO taxonomy while typing, in a datalist. */
export function skillInput(id, labelText) {
  const list = h("datalist", { id: `${id}-list` });
  const input = h("input", { id, type: "text", list: `${id}-list`, autocomplete: "off", maxlength: 200 });
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    const q = input.value.trim();
    if (q.length < 2) return;
    timer = setTimeout(async () => {
      const result = await api(`/api/v1/skills?q=${encodeURIComponent(q)}&limit=8`).catch(() => ({ skills: [] }));
      replace(list, result.skills.map((s) => h("option", { value: s.label })));
    }, 150);
  });
  return { input, node: h("div", {}, field(labelText, input), list) };
}

/** #/me/edit: the signed-in person edits their own profile. */
export async function edit(main) {
  const id = await me();
  if (!id) {
    replace(main, h("h1", {}, "Edit my profile"), h("p", {}, "You are not signed in. Open Chorus through your office's sign-in page. On your own laptop, Chorus signs you in when it is started with your person id (",
      h("code", {}, "chorus serve --owner YOUR-ID"), ")."));
    return;
  }
  const person = await api(`/api/v1/people/${encodeURIComponent(id)}`);
  const labels = person.skillLabels || {};
  const removed = new Set();
  const title = h("input", { type: "text", value: person.title || "" });
  const titleField = field("Title", title);
  titleField.append(bounded(title, 200));
  // Suggested from the browser's own list of IANA names (the node takes those and no others).
  const timezone = h("input", { type: "text", value: person.timezone || "", maxlength: 200, placeholder: "Europe/Stockholm", list: "timezone-list", autocomplete: "off" });
  const timezones = h("datalist", { id: "timezone-list" }, (Intl.supportedValuesOf?.("timeZone") || []).map((zone) => h("option", { value: zone })));
  const hours = h("input", { id: "edit-hours", type: "number", min: 0, max: 80, value: person.hoursPerWeekAvailable ?? "" });
  const mentoring = h("input", { type: "checkbox", checked: !!person.openToMentoring });
  const skillList = h("ul", { class: "plain", id: "edit-skills" });
  const addRow = (skill, label, level) => {
    const row = skillRow(skill, label, level, () => { removed.add(skill); row.remove(); });
    skillList.append(row);
  };
  for (const [skill, level] of Object.entries(person.skills || {})) addRow(skill, labels[skill] || skill, level);
  const newSkill = skillInput("new-skill", "Add a skill");
  const newLevel = h("select", { id: "new-skill-level" }, [1, 2, 3, 4, 5].map((n) => h("option", { value: n }, `${n}`)));
  const addButton = h("button", { type: "button", class: "secondary", id: "add-skill", onclick: () => {
    const text = newSkill.input.value.trim();
    if (!text) return;
    addRow(`new:${text}`, text, Number(newLevel.value));
    newSkill.input.value = "";
    newSkill.input.focus();
  } }, "Add skill");
  const goal = skillInput("new-goal", "Add something you want to learn");
  const goals = new Set(person.developmentGoals || []);
  const goalList = h("ul", { class: "chips" });
  const removedGoals = new Set();
  const addedGoals = new Set();
  const renderGoals = () => replace(goalList, [...goals].map((g) => h("li", { class: "chip grow" }, labels[g] || g,
    h("button", { type: "button", class: "link", "aria-label": `Stop learning ${labels[g] || g}`, onclick: () => {
      goals.delete(g); if (addedGoals.has(g)) addedGoals.delete(g); else removedGoals.add(g); renderGoals();
    } }, "×"))));
  renderGoals();
  const form = h("form", { class: "stack", onsubmit: oneAtATime(async (event) => {
    event.preventDefault();
    const skills = {};
    for (const skill of removed) if (!skill.startsWith("new:")) skills[skill] = null;
    for (const select of skillList.querySelectorAll("select")) {
      const skill = select.dataset.skill;
      const level = Number(select.value);
      if (skill.startsWith("new:")) skills[skill.slice(4)] = level;
      else if (person.skills?.[skill] !== level) skills[skill] = level;
    }
    const body = {};
    if (title.value.trim() !== (person.title || "")) body.title = title.value.trim() || null;
    if (timezone.value.trim() !== (person.timezone || "")) body.timezone = timezone.value.trim() || null;
    // An emptied field clears the hours (it was ignored, and the old figure stayed).
    const hoursValue = hours.value === "" ? undefined : Number(hours.value);
    if (hoursValue !== (person.hoursPerWeekAvailable ?? undefined)) body.hoursPerWeekAvailable = hoursValue ?? null;
    if (mentoring.checked !== !!person.openToMentoring) body.openToMentoring = mentoring.checked;
    if (Object.keys(skills).length) body.skills = skills;
    if (addedGoals.size || removedGoals.size) body.developmentGoals = { add: [...addedGoals], remove: [...removedGoals] };
    if (!Object.keys(body).length) { location.hash = `#/people/${encodeURIComponent(id)}`; return; }
    const saved = await act(() => api(`/api/v1/people/${encodeURIComponent(id)}`, { method: "PATCH", body }), "Profile saved");
    if (saved) location.hash = `#/people/${encodeURIComponent(id)}`;
  }) },
    titleField, field("Time zone", timezone, "IANA name, e.g. Europe/Stockholm"), timezones,
    field("Hours a week available for projects", hours), h("div", { class: "field inline" }, mentoring, h("label", { for: (mentoring.id = "mentoring") }, "Open to mentoring")),
    h("fieldset", {}, h("legend", {}, "Skills and levels (1 = learning, 5 = expert)"), skillList,
      h("div", { class: "row" }, newSkill.node, field("Level", newLevel), addButton)),
    h("fieldset", {}, h("legend", {}, "What I want to learn"), goalList,
      h("div", { class: "row" }, goal.node, h("button", { type: "button", class: "secondary", onclick: () => {
        const text = goal.input.value.trim();
        if (!text || goals.has(text)) return;
        goals.add(text); addedGoals.add(text); removedGoals.delete(text); goal.input.value = ""; renderGoals();
      } }, "Add"))),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "save-profile" }, "Save"), h("a", { href: `#/people/${encodeURIComponent(id)}` }, "Cancel")));
  replace(main, h("h1", {}, "Edit my profile"), form);
}
