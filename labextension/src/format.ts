/** Small text formatters shared by the widgets. */

/** GPU memory, e.g. "80 GiB". */
export function formatMemory(mib: number): string {
  if (mib >= 1024) {
    const gib = mib / 1024;
    return `${gib >= 10 ? Math.round(gib) : gib.toFixed(1)} GiB`;
  }
  return `${mib} MiB`;
}

/** A duration in words, e.g. "3 h 12 min". */
export function formatDuration(ms: number): string {
  const minutes = Math.max(Math.floor(ms / 60_000), 0);
  if (minutes < 1) {
    return '< 1 min';
  }
  if (minutes < 60) {
    return `${minutes} min`;
  }
  const hours = Math.floor(minutes / 60);
  if (hours < 48) {
    return `${hours} h ${minutes % 60} min`;
  }
  return `${Math.floor(hours / 24)} days`;
}

/** Time since an ISO date, or '' when the date is unreadable. */
export function since(iso: string, now: number = Date.now()): string {
  const then = Date.parse(iso);
  return Number.isNaN(then) ? '' : formatDuration(now - then);
}

/** A GPU uuid shortened for display: "GPU-1a2b3c4d…". */
export function shortUuid(uuid: string): string {
  return uuid.length > 16 ? `${uuid.slice(0, 12)}…` : uuid;
}

/** A percentage between 0 and 100. */
export function clampPercent(value: number): number {
  return Math.min(Math.max(Math.round(value || 0), 0), 100);
}

/** A size in bytes, e.g. "3.2 GB" (decimal units, as `docker images` prints them). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = Math.max(bytes || 0, 0);
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 || value >= 10 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** An ISO date as the user's locale prints a date and time ('' when unreadable). */
export function formatDate(iso: string): string {
  const then = Date.parse(iso);
  return Number.isNaN(then)
    ? ''
    : new Date(then).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/**
 * What a build will take, e.g. "about 4 min, 2.1 GB (from its last build)"; '' when unknown.
 * (The server words its progress messages the same way: workspaces/build_reporting.py.)
 */
export function describeEstimate(
  estimate: { seconds: number; size_bytes: number; source: string } | null
): string {
  if (!estimate) {
    return '';
  }
  const minutes = Math.round(estimate.seconds / 60);
  const time = minutes < 1 ? 'under a minute' : `about ${minutes} min`;
  const size = estimate.size_bytes ? `, ${formatBytes(estimate.size_bytes)}` : '';
  const source =
    estimate.source === 'last build' ? 'from its last build' : "the profile's estimate";
  return `${time}${size} (${source})`;
}
