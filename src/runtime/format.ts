/** Numbers as people read them in one-line reports. */

export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** A bound or a wait in seconds, in messages: whole seconds as such ("2s", "39s"), tenths below ten ("7.1s"). */
export function formatSeconds(ms: number): string {
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes}m${Math.round((ms % 60_000) / 1000)}s`;
}

export function generationLabel(profile: string, number: number | null): string {
  return number === null ? `the current ${profile} generation` : `${profile} generation ${number}`;
}

/**
 * A recorded time (ISO, UTC) as people read it in a report: local time to the minute, and how
 * long ago ("2026-11-26 14:03, 3 minutes ago").
 */
export function formatWhen(iso: string, now = Date.now()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  const local = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}`;
  return `${local}, ${ago(now - at.getTime())}`;
}

function ago(ms: number): string {
  const steps: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "hour"],
    [60_000, "minute"],
  ];
  if (ms < 60_000) return "just now";
  for (const [size, unit] of steps) if (ms >= size) return `${plural(Math.floor(ms / size), unit)} ago`;
  return "just now";
}

/**
 * An upload's progress line: paths, and where the backend says which paths are done, their
 * NAR bytes, the rate and the time left at that rate ("12/40 paths, 35 MiB of 120 MiB NAR,
 * 8.1 MiB/s, about 11s left").
 */
export function progressText(p: {
  done: number;
  total: number;
  bytes?: number;
  totalBytes: number;
  elapsedMs: number;
}): string {
  const paths = `${p.done}/${p.total} paths`;
  if (p.bytes === undefined || p.totalBytes === 0) return paths;
  const amount = `${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)} NAR`;
  // A rate from less than a second of upload says little.
  if (p.elapsedMs < 1000 || p.bytes === 0) return `${paths}, ${amount}`;
  const rate = p.bytes / (p.elapsedMs / 1000);
  const left = ((p.totalBytes - p.bytes) / rate) * 1000;
  return `${paths}, ${amount}, ${formatBytes(rate)}/s, about ${formatDuration(left)} left`;
}

export function plural(n: number, word: string, words = `${word}s`): string {
  return `${n} ${n === 1 ? word : words}`;
}
