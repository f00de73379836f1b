// What every view shares with the shell: notices, running a write, the sync indicator.
import { h, replace, ago } from "/ui/dom.js";
import { api } from "/ui/api.js";

// Notices: errors (with the node's hint) and confirmations, announced to screen readers.
export function notify(text, kind = "ok", hint) {
  const box = document.getElementById("notice");
  // The node's hints serve API clients too, which quote commands in backticks: read here as plain text.
  const plain = (s) => String(s).replace(/`/g, "");
  replace(box, h("strong", {}, plain(text)), hint ? h("span", { class: "hint" }, ` ${plain(hint)}`) : null,
    h("button", { type: "button", class: "link", onclick: hideNotice, "aria-label": "Dismiss" }, "×"));
  box.className = `notice ${kind}`;
  box.hidden = false;
  // A confirmation usually comes just before the page moves on: let it outlive that navigation.
  box.dataset.keep = kind === "ok" ? "1" : "0";
}

/** Called when the page changes: a notice stays for one navigation after it appeared. */
export function ageNotice() {
  const box = document.getElementById("notice");
  if (box.dataset.keep === "1") box.dataset.keep = "0"; else hideNotice();
}
export function hideNotice() { document.getElementById("notice").hidden = true; }

/** Runs a write, reports failure with the node's hint, and refreshes the sync indicator. */
export async function act(action, success) {
  try {
    const result = await action();
    if (success) notify(success);
    refreshStatus();
    return result;
  } catch (error) {
    notify(error.message, "error", error.hint);
    return undefined;
  }
}

/**
 * A form's submit handler run once at a time: a second press (a double-click, Enter twice) while
 * the first is answered is let go, and the form's submit buttons are disabled meanwhile. Posts,
 * objectives, observations and comments were made twice (a read-only audit).
 */
export function oneAtATime(handler) {
  let busy = false;
  return async (event) => {
    if (busy) { event?.preventDefault?.(); return undefined; }
    busy = true;
    const buttons = [...(event?.currentTarget?.querySelectorAll?.('button[type="submit"]') ?? [])];
    for (const button of buttons) button.disabled = true;
    try {
      return await handler(event);
    } finally {
      busy = false;
      for (const button of buttons) button.disabled = false;
    }
  };
}

// The sync indicator: always visible, polled every few seconds.
/**
 * "Show more" for a list paged by cursor (`nextAfter`): `load(after)` fetches the next page,
 * `render(page)` makes its elements (which take focus: give them tabindex -1). They are appended to
 * `list` and the first is focused, since the button may be gone. One press at a time: two quick
 * presses loaded one page twice.
 */
export function moreButton(id, list, after, load, render) {
  const more = h("button", { type: "button", class: "secondary", id, hidden: !after, onclick: async () => {
    if (!after) { more.hidden = true; return; }   // nothing more: never the first page again
    more.disabled = true;
    const page = await act(() => load(after));
    more.disabled = false;
    if (!page) { more.focus(); return; }
    const nodes = await render(page);
    list.append(...nodes);
    after = page.nextAfter;
    more.hidden = !after;
    nodes[0]?.focus();
  } }, "Show more");
  return more;
}

export const STATUS_INTERVAL_MS = 3000;
/** One status request at a time: each write asks too (`act`), and a node that hangs once piled up
 *  a request every few seconds, the indicator saying "In sync" for good (a read-only audit). */
let statusInFlight = null;
export function refreshStatus() {
  if (!statusInFlight) statusInFlight = askStatus().finally(() => { statusInFlight = null; });
  return statusInFlight;
}

async function askStatus() {
  const box = document.getElementById("sync");
  const text = box.querySelector(".sync-text");
  try {
    const status = await api("/api/v1/status", { timeoutMs: 5000 });
    box.dataset.state = status.state;
    // Writes, as a person counts edits (one thanks), not the operations they make (one per field).
    const writes = status.waitingWrites ?? status.waitingToPush;
    box.dataset.waiting = String(writes);
    const waiting = writes === 1 ? "1 change waits to sync" : `${writes} changes wait to sync`;
    const last = `last synced ${ago(status.lastSyncAt)}`;
    const texts = {
      standalone: "Standalone node: no hub configured",
      connecting: `Connecting to the hub… ${writes ? waiting : ""}`,
      inSync: `In sync · ${last}`,
      waiting: `${waiting} · ${last}`,
      offline: `Offline: ${waiting} · ${last}`,
      // Its upstream may be an office, not the hub (a laptop's): named as what it is to this node.
      refused: `The node this one syncs with refuses its sync (hover for why); ask this node's operator · ${waiting}`,
      diverged: `Out of step with the hub: syncing will not mend it; ask this node's operator (hover for why)`,
    };
    text.textContent = texts[status.state] || status.state;
    // The hub's address and its last error are shown to signed-in people only.
    box.title = status.lastError ? `Last error: ${status.lastError}` : (status.upstream ? `Hub: ${status.upstream}`
      : (status.state === "standalone" ? "" : "Sign in to see the hub and its last error"));
  } catch {
    box.dataset.state = "unreachable";
    box.title = "";
    text.textContent = "This node is not answering";
  }
}

