// The recognition feed (thanks, praise, badges, comments, high-fives) and giving feedback.
import { h, replace, field, routeQuery, ago, bounded } from "/ui/dom.js";
import { api, me, peopleNames, peopleNamed, all } from "/ui/api.js";
import { act, notify, moreButton, oneAtATime } from "/ui/shell.js";

// The node's bounds (Feedback.bodyCharactersMax, Feedback.commentCharactersMax).
const MESSAGE_MAX = 4000, COMMENT_MAX = 1000;

const VISIBILITY = [
  ["public", "Public: everyone, in the recognition feed"],
  ["private", "Private: only you and them"],
  ["privateAndManager", "Private, and their manager"],
  ["managerOnly", "Only their manager (and you)"],
];

function commentTime(comment) {
  const at = comment.value?.at ?? Number(String(comment.timestamp || "").split(".")[0]);
  return at ? ago(at) : "";
}

/**
 * An item's comments (the newest, as lists carry them), each of one's own with Remove, and a
 * button for the rest when the item has more; `show(item)` renders the item's comments again.
 */
function commentItems(item, name, viewer, show) {
  const items = (item.comments || []).map((c) => h("li", { tabindex: "-1" },
    h("strong", {}, h("bdi", {}, name(c.value?.author))), " ", h("bdi", {}, c.value?.body ?? ""), " ", h("small", { class: "muted" }, commentTime(c)),
    viewer && c.value?.author === viewer && c.entry ? [" ", h("button", { type: "button", class: "link remove-comment", "aria-label": `Remove your comment: ${(c.value?.body ?? "").slice(0, 60)}`,
      onclick: async () => {
        const updated = await act(() => api(`/api/v1/feedback/${encodeURIComponent(item.id)}/comments/${encodeURIComponent(c.entry)}`, { method: "DELETE" }), "Comment removed");
        if (updated) show(updated, "input");
      } }, "Remove")] : null));
  const hidden = (item.commentCount ?? items.length) - items.length;
  if (hidden > 0) {
    items.unshift(h("li", {}, h("button", { type: "button", class: "link show-comments", onclick: async () => {
      const whole = await act(() => api(`/api/v1/feedback/${encodeURIComponent(item.id)}`));
      if (whole) show(whole, "first", true);
    } }, `Show ${hidden} earlier comment${hidden === 1 ? "" : "s"}`)));
  }
  return items;
}

/**
 * Withdraw, for the author of an item: asks again in place (no dialog), then deletes it, which
 * every replica obeys. `done()` takes the item off the page.
 */
export function withdrawControl(item, done) {
  const box = h("span", { class: "withdraw" });
  // Which item, for a screen reader listing several of one's own: its kind, to whom, its start.
  const what = `your ${item.kind || "feedback"}${item.toName ? ` to ${item.toName}` : ""}: ${String(item.body || "").slice(0, 40)}`;
  const ask = () => replace(box, h("button", { type: "button", class: "link withdraw-item", "aria-label": `Withdraw ${what}`, onclick: confirm }, "Withdraw"));
  const confirm = () => {
    const yes = h("button", { type: "button", class: "link danger withdraw-confirm", "aria-label": `Yes, withdraw ${what}`, onclick: async () => {
      yes.disabled = true;   // a second press sent a second delete, answered "no such item"
      const gone = await act(() => api(`/api/v1/feedback/${encodeURIComponent(item.id)}`, { method: "DELETE" }), "Withdrawn");
      if (gone) done(); else { yes.disabled = false; yes.focus(); }
    } }, "Yes, withdraw it");
    replace(box, "Withdraw it for everyone? ", yes, " ", h("button", { type: "button", class: "link", onclick: () => { ask(); box.querySelector("button").focus(); } }, "Keep it"));
    yes.focus();
  };
  ask();
  return box;
}

function feedItem(item, name, badges, viewer) {
  const badge = item.badge ? badges[item.badge] : null;
  const comments = h("ul", { class: "comments" });
  // Once the earlier comments are open they stay open (a comment posted or removed folded them).
  let expanded = false;
  const show = async (updated, focus, expand = false) => {
    expanded = expanded || expand;
    let shown = updated;
    if (expanded && (updated.commentCount ?? 0) > (updated.comments || []).length) {
      // Quietly: the action's own notice stands, and the newest comments are shown if this fails.
      shown = await api(`/api/v1/feedback/${encodeURIComponent(item.id)}`).catch(() => updated);
    }
    replace(comments, commentItems(shown, await peopleNames((shown.comments || []).map((c) => c.value?.author)), viewer, show));
    if (focus === "first") comments.querySelector("li")?.focus();
    if (focus === "input") input.focus();
  };
  replace(comments, commentItems(item, name, viewer, show));
  const count = h("span", { class: "count" }, String(item.highFives || 0));
  // High-fives are for what others give: one's own item shows its count without the button.
  const own = Boolean(viewer) && item.from === viewer;
  const fiveButton = h("button", { type: "button", class: "five", disabled: !viewer || own,
    "aria-label": own ? `High-fives on your ${item.kind} (${item.highFives || 0})` : `High-five ${name(item.from)}'s ${item.kind} (${item.highFives || 0} so far)`,
    onclick: async () => {
      // Each press is one more high-five at the node: one from this page, the button done after
      // it (a second press, or a double-click, added another; a read-only audit).
      fiveButton.disabled = true;
      const updated = await act(() => api(`/api/v1/feedback/${encodeURIComponent(item.id)}/high-fives`, { method: "POST" }));
      if (updated) {
        count.textContent = String(updated.highFives || 0);
        fiveButton.setAttribute("aria-label", `You high-fived ${name(item.from)}'s ${item.kind} (${updated.highFives || 0} so far)`);
        fiveButton.setAttribute("aria-pressed", "true");
      } else {
        fiveButton.disabled = false;
      }
    } }, "🙌 ", count);
  // Each item's field and button say whose item they belong to (a screen reader lists them by name).
  const about = `${name(item.from)}'s ${item.kind === "feedback" ? "feedback" : item.kind} to ${name(item.to)}`;
  const input = h("input", { type: "text", required: true, "aria-label": `Add a comment to ${about}` });
  const counter = bounded(input, COMMENT_MAX);
  const form = h("form", { class: "comment-form", onsubmit: oneAtATime(async (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    const updated = await act(() => api(`/api/v1/feedback/${encodeURIComponent(item.id)}/comments`, { method: "POST", body: { body } }));
    if (updated) {
      await show(updated);
      input.value = "";
      input.dispatchEvent(new Event("input"));   // the counter follows the emptied field
    }
  }) }, field("Add a comment", input), h("button", { type: "submit", class: "secondary" }, "Comment"), counter);
  const card = h("li", { class: "card feed-item", dataset: { id: item.id }, tabindex: "-1" },
    h("p", { class: "feed-head" },
      h("a", { href: `#/people/${encodeURIComponent(item.from)}` }, h("bdi", {}, name(item.from))), ` ${item.kind === "thanks" ? "thanked" : item.kind === "praise" ? "praised" : "gave feedback to"} `,
      h("a", { href: `#/people/${encodeURIComponent(item.to)}` }, h("bdi", {}, name(item.to)))),
    badge ? h("p", { class: "badge" }, h("span", { class: "badge-icon", "aria-hidden": "true" }, badge.icon || "🏅"), " ", h("bdi", {}, badge.name || item.badge),
      // A custom badge may take a built-in one's name and icon: readers are told which it is.
      badge.isCustom ? h("small", { class: "muted custom-badge" }, " (a custom badge)") : null,
      badge.description ? h("small", { class: "muted" }, " — ", h("bdi", {}, badge.description)) : null) : null,
    h("blockquote", { dir: "auto" }, item.body),
    h("div", { class: "feed-actions" }, fiveButton, own ? withdrawControl({ ...item, toName: name(item.to) }, () => {
      // Focus goes on to the next card (or the one before), not to the top of the page.
      const next = card.nextElementSibling || card.previousElementSibling;
      card.remove();
      (next || document.querySelector("main h1"))?.focus();
    }) : null),
    comments, viewer ? form : null);
  return card;
}

/** #/feed: public recognition, newest first. */
export async function feed(main) {
  const [result, viewer] = await Promise.all([api("/api/v1/feed?limit=50"), me()]);
  const ids = result.items.flatMap((i) => [i.from, i.to, ...(i.comments || []).map((c) => c.value?.author)]);
  const name = await peopleNames(ids);
  const list = h("ul", { class: "cards feed", id: "feed" }, result.items.map((item) => feedItem(item, name, result.badges || {}, viewer)));
  // Pages go on from the last item shown (a cursor): a thanks given meanwhile does not repeat one.
  const more = moreButton("feed-more", list, result.nextAfter, (after) => api(`/api/v1/feed?limit=50&after=${encodeURIComponent(after)}`), async (page) => {
    const names = await peopleNames(page.items.flatMap((i) => [i.from, i.to, ...(i.comments || []).map((c) => c.value?.author)]));
    return page.items.map((item) => feedItem(item, names, page.badges || {}, viewer));
  });
  replace(main,
    h("div", { class: "title-row" }, h("h1", { tabindex: "-1" }, "Recognition"), viewer ? h("a", { class: "button", href: "#/give" }, "Give thanks or feedback") : null),
    viewer ? null : h("p", { class: "muted" }, "Sign in to high-five and comment."),
    result.items.length ? [list, more] : h("p", { class: "muted" }, "No public recognition yet. Be the first to thank someone."));
}

/**
 * The person the "To" field names: the one picked from the list ("Name (id)"), else the one
 * person here of exactly that name, else an id typed as it is. Null, with a notice saying
 * what to do, when it names nobody or several people.
 */
async function recipient(text, viewer) {
  const picked = text.match(/\(([^()]+)\)\s*$/);
  if (picked) return picked[1];
  const typed = text.trim();
  let named;
  try {
    named = await peopleNamed(typed);
  } catch (error) {
    notify(error.message, "error", error.hint);   // the node, not the name, is the problem
    return null;
  }
  const others = named.filter((p) => p.id !== viewer);
  if (others.length === 1) return others[0].id;
  if (!named.length && typed !== viewer && await api(`/api/v1/people/${encodeURIComponent(typed)}`).then(() => true, () => false)) return typed;
  if (named.length && !others.length || typed === viewer) {
    notify("That is you", "error", "feedback and thanks go to someone else");
  } else {
    notify(others.length ? `Several people are called ${typed}` : `Nobody here is called ${typed}`, "error",
      "type part of their name and pick them from the list");
  }
  return null;
}

/** #/give?to=ID: feedback, praise or thanks with a visibility and an optional badge. */
export async function give(main) {
  const viewer = await me();
  if (!viewer) {
    replace(main, h("h1", {}, "Give feedback"), h("p", {}, "You are not signed in, so you cannot give feedback from this browser."));
    return;
  }
  const preset = routeQuery().get("to");
  const presetName = preset ? (await peopleNames([preset]))(preset) : "";
  const badges = await all("badges");
  const toInput = h("input", { id: "give-to", type: "text", list: "give-to-list", required: true, autocomplete: "off", value: preset ? `${presetName} (${preset})` : "" });
  const toList = h("datalist", { id: "give-to-list" });
  let timer = null;
  toInput.addEventListener("input", () => {
    clearTimeout(timer);
    const q = toInput.value.trim();
    if (q.length < 2 || q.endsWith(")")) return;
    timer = setTimeout(async () => {
      const result = await api(`/api/v1/people?q=${encodeURIComponent(q)}&limit=8`).catch(() => ({ people: [] }));
      replace(toList, result.people.filter((p) => p.id !== viewer).map((p) => h("option", { value: `${p.name} (${p.id})` })));
    }, 150);
  });
  const kind = h("select", { id: "give-kind" }, [["thanks", "Thanks"], ["praise", "Praise"], ["feedback", "Feedback"]].map(([v, t]) => h("option", { value: v }, t)));
  const visibility = h("select", { id: "give-visibility" }, VISIBILITY.map(([v, t]) => h("option", { value: v }, t)));
  // The kind's default visibility, until the person chooses one: changing the kind once put
  // back "public" over a "private" they had chosen, and the item went to the public feed.
  let visibilityChosen = false;
  visibility.addEventListener("change", () => { visibilityChosen = true; });
  kind.addEventListener("change", () => { if (!visibilityChosen) visibility.value = kind.value === "feedback" ? "private" : "public"; });
  const badge = h("select", { id: "give-badge" }, h("option", { value: "" }, "No badge"),
    // A custom badge may take a built-in one's name and icon: the list says which is which.
    [...badges.values()].sort((a, b) => (a.name || "").localeCompare(b.name || "")).map((b) => h("option", { value: b.id }, `${b.icon || "🏅"} ${b.name || b.id}${b.isCustom ? " (custom)" : ""}`)));
  // A badge goes with praise or thanks: the node refuses one with feedback.
  const badgeFollowsKind = () => { badge.disabled = kind.value === "feedback"; if (badge.disabled) badge.value = ""; };
  kind.addEventListener("change", badgeFollowsKind);
  badgeFollowsKind();
  const message = h("textarea", { id: "give-message", rows: 4, required: true });
  const send = h("button", { type: "submit", id: "send-feedback" }, "Send");
  const messageField = field("Message", message);
  messageField.append(bounded(message, MESSAGE_MAX));
  const form = h("form", { class: "stack", onsubmit: async (event) => {
    event.preventDefault();
    // One send at a time: finding the person takes a request or two, and a second click
    // meanwhile would post the thanks twice.
    if (send.disabled) return;
    send.disabled = true;
    try {
      const to = await recipient(toInput.value, viewer);
      if (!to) { toInput.focus(); return; }
      if (!message.value.trim()) { notify("Write a message first", "error"); message.focus(); return; }
      const body = { to, kind: kind.value, body: message.value, visibility: visibility.value };
      if (badge.value) body.badge = badge.value;
      const created = await act(() => api("/api/v1/feedback", { method: "POST", body }), kind.value === "feedback" ? "Feedback sent" : "Sent, thank you!");
      if (created) location.hash = visibility.value === "public" ? "#/feed" : `#/people/${encodeURIComponent(to)}`;
    } finally {
      send.disabled = false;
    }
  } },
    field("To", toInput, "Type a name and pick from the list"), toList,
    field("Kind", kind), field("Who can see it", visibility), field("Badge (optional)", badge), messageField,
    h("div", { class: "actions" }, send));
  replace(main, h("h1", {}, "Give feedback, praise or thanks"), form);
  if (!preset) toInput.focus();
}
