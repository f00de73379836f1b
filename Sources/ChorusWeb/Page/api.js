// The page's only way to the node: JSON over fetch to the same origin. Errors carry the node's
// problem document (detail and hint) so the page can say what to do.
import { foldName } from "/ui/dom.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : `request failed (${status})`);
    this.status = status;
    this.hint = problem && problem.hint;
  }
}

const ADMIN_TOKEN_KEY = "chorus.adminToken";

export const adminToken = {
  get: () => sessionStorage.getItem(ADMIN_TOKEN_KEY),
  set: (token) => sessionStorage.setItem(ADMIN_TOKEN_KEY, token),
  clear: () => sessionStorage.removeItem(ADMIN_TOKEN_KEY),
};

/** GET (default) or another method with a JSON body; `admin` sends the admin token. */
export async function api(path, { method = "GET", body, admin = false, timeoutMs } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (admin) headers.Authorization = `Bearer ${adminToken.get() || ""}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
                                   signal: timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined });
  } catch (error) {
    throw new ApiError(0, { detail: "Chorus did not answer", hint: "check your connection and try again; if Chorus runs on this computer, start it again" });
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

/** Who is acting (null when nobody is signed in: the page is then read-only). Only an answer is
 *  remembered: a node not answering yet (the tab reopened before `chorus serve` is up) left the
 *  whole tab read-only until a reload (a read-only audit). */
let mePromise = null;
export function me() {
  if (!mePromise) {
    mePromise = api("/api/v1/me").then((r) => r.person).catch(() => { mePromise = null; return null; });
  }
  return mePromise;
}

/** Names for person ids, fetched in one request and remembered. */
const names = new Map();
export async function peopleNames(ids) {
  const missing = [...new Set(ids.filter((id) => id && !names.has(id)))];
  for (let i = 0; i < missing.length; i += 100) {
    const chunk = missing.slice(i, i + 100);
    const result = await api(`/api/v1/people?ids=${chunk.map(encodeURIComponent).join(",")}`);
    for (const person of result.people) names.set(person.id, person.name || person.id);
    for (const id of chunk) if (!names.has(id)) names.set(id, id);
  }
  return (id) => names.get(id) || id;
}

/**
 * The people here whose name is `typed`, as people compare names (`foldName`), from the search's
 * best 50. Throws as `api` does when the node does not answer.
 */
export async function peopleNamed(typed) {
  const found = await api(`/api/v1/people?q=${encodeURIComponent(typed)}&limit=50`);
  return found.people.filter((p) => foldName(p.name || "") === foldName(typed));
}

/** Every record of a small collection (teams, badges, abilities), fetched once per page load. */
const collections = new Map();
export function all(collection) {
  if (!collections.has(collection)) {
    collections.set(collection, (async () => {
      const records = [];
      let after = null;
      for (let page = 0; page < 50; page++) {
        const result = await api(`/api/v1/${collection}?limit=1000${after ? `&after=${encodeURIComponent(after)}` : ""}`);
        records.push(...result[collection]);
        if (!result.next) break;
        after = result.next;
      }
      return new Map(records.map((r) => [r.id, r]));
    })().catch((error) => { collections.delete(collection); throw error; }));
  }
  return collections.get(collection);
}
