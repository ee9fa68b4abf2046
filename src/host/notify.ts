/**
 * Desktop notices of pushes, over the session bus's org.freedesktop.Notifications
 * (what a desktop's notification daemon serves): a generation that failed to reach a
 * cache, once per generation and cache (a retry of the same one says nothing new),
 * and the push that recovers; with `notify: always`, every upload and deferral too.
 *
 * Where no session bus or notification server answers (a system service, a server, a
 * CI runner), nothing is sent and nothing fails: the journal has the result anyway.
 * Each notice is one call bounded by withBus's timeout.
 */
import type { NotifyMode } from "../config/config.js";
import { generationLabel } from "../runtime/format.js";
import { scrubSecrets } from "../runtime/secrets.js";
import type { LastResult } from "../state/state.js";

export interface Notice {
  summary: string;
  body: string;
  urgency: "low" | "normal";
}

/** What noticeFor reads of a push result. */
export interface NoticeResult {
  profile: string;
  cache: string;
  generation: number | null;
  storePath: string;
  status: "pushed" | "up-to-date" | "planned" | "failed" | "deferred";
  uploaded: number;
  message?: string;
}

/** The longest body sent: a server shows a few lines of it anyway. */
const BODY_LIMIT = 600;

/** What was recorded for the same profile and cache before the result. */
export interface NoticeHistory {
  lastResult: LastResult | null;
  /** The generation whose failure was told, until a push there works. */
  failing?: string;
}

/** The notice a result is worth, given what was recorded before it; null for none. */
export function noticeFor(mode: NotifyMode, result: NoticeResult, previous: NoticeHistory): Notice | null {
  if (mode === "never" || result.status === "planned") return null;
  const what = generationLabel(result.profile, result.generation);
  if (result.status === "failed") {
    if (previous.failing === result.storePath) return null;
    return {
      summary: `${what} did not reach ${result.cache}`,
      body: `${result.message ?? "unknown error"}. It stays pending: the next switch or the verify timer tries again; \`genpush status\` says more.`,
      urgency: "normal",
    };
  }
  if (result.status === "deferred") {
    const told = previous.lastResult?.status === "deferred" && previous.lastResult.storePath === result.storePath;
    if (mode !== "always" || told) return null;
    return { summary: `${what} waits for an unmetered network`, body: result.message ?? "", urgency: "low" };
  }
  // Only an upload recovers: "up-to-date" is a generation pushed before (a rollback), no news.
  if (result.status !== "pushed") return null;
  if (previous.failing !== undefined) {
    return {
      summary: `${result.cache} has ${what} now`,
      body: `The push that failed before went through${result.uploaded > 0 ? `: ${result.uploaded} paths uploaded` : ""}.`,
      urgency: "low",
    };
  }
  if (mode === "always" && result.uploaded > 0) {
    return { summary: `${what} pushed to ${result.cache}`, body: `${result.uploaded} paths uploaded.`, urgency: "low" };
  }
  return null;
}

/**
 * Sends a notice; resolves false (with why, for the debug log) where no session bus or
 * notification server answers. Never throws.
 */
export async function sendNotice(notice: Notice): Promise<{ sent: boolean; why?: string }> {
  try {
    const [{ withBus }, { default: dbus }] = await Promise.all([import("./bus.js"), import("dbus-next")]);
    await withBus("user", async (bus) => {
      const object = await bus.getProxyObject("org.freedesktop.Notifications", "/org/freedesktop/Notifications");
      const notifications = object.getInterface("org.freedesktop.Notifications") as unknown as {
        Notify(...args: unknown[]): Promise<number>;
      };
      await notifications.Notify(
        "genpush",
        0,
        "network-server",
        `genpush: ${scrubSecrets(notice.summary)}`,
        escapeMarkup(truncate(scrubSecrets(notice.body))),
        [],
        { urgency: new dbus.Variant("y", notice.urgency === "low" ? 0 : 1) },
        -1,
      );
    });
    return { sent: true };
  } catch (error) {
    return { sent: false, why: (error as Error).message };
  }
}

function truncate(text: string): string {
  return text.length > BODY_LIMIT ? `${text.slice(0, BODY_LIMIT - 3)}...` : text;
}

/** A server may read the body as markup (the `body-markup` capability): what we say is text. */
function escapeMarkup(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}
