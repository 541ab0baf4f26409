import {
  clampPercent,
  describeEstimate,
  formatBytes,
  formatDuration,
  formatMemory,
  shortUuid,
  since
} from '../src/format';

describe('formatMemory', () => {
  it('shows MiB below 1 GiB', () => {
    expect(formatMemory(512)).toBe('512 MiB');
    expect(formatMemory(1023)).toBe('1023 MiB');
  });

  it('shows GiB with one decimal below 10 GiB, rounded above', () => {
    expect(formatMemory(1024)).toBe('1.0 GiB');
    expect(formatMemory(1536)).toBe('1.5 GiB');
    expect(formatMemory(81920)).toBe('80 GiB');
    expect(formatMemory(10 * 1024 + 700)).toBe('11 GiB');
  });
});

describe('formatDuration', () => {
  const minute = 60_000;

  it('says "< 1 min" under a minute, and for negative durations', () => {
    expect(formatDuration(0)).toBe('< 1 min');
    expect(formatDuration(59_999)).toBe('< 1 min');
    expect(formatDuration(-5 * minute)).toBe('< 1 min');
  });

  it('counts minutes, then hours and minutes, then days', () => {
    expect(formatDuration(minute)).toBe('1 min');
    expect(formatDuration(59 * minute)).toBe('59 min');
    expect(formatDuration(60 * minute)).toBe('1 h 0 min');
    expect(formatDuration((3 * 60 + 12) * minute)).toBe('3 h 12 min');
    expect(formatDuration(47 * 60 * minute + 59 * minute)).toBe('47 h 59 min');
    expect(formatDuration(48 * 60 * minute)).toBe('2 days');
  });
});

describe('since', () => {
  it('is the duration since an ISO date', () => {
    const now = Date.parse('2025-01-02T03:04:05Z');
    expect(since('2025-01-02T00:00:00Z', now)).toBe('3 h 4 min');
  });

  it('is empty for an unreadable date', () => {
    expect(since('not a date')).toBe('');
  });
});

describe('shortUuid', () => {
  it('keeps short ids and shortens long ones', () => {
    expect(shortUuid('GPU-0')).toBe('GPU-0');
    expect(shortUuid('GPU-1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809')).toBe('GPU-1a2b3c4d…');
  });
});

describe('clampPercent', () => {
  it('rounds into 0..100 and treats NaN as 0', () => {
    expect(clampPercent(42.4)).toBe(42);
    expect(clampPercent(-3)).toBe(0);
    expect(clampPercent(180)).toBe(100);
    expect(clampPercent(NaN)).toBe(0);
  });
});

describe('formatBytes', () => {
  it('uses decimal units, one decimal below 10', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1500)).toBe('1.5 kB');
    expect(formatBytes(3.2e9)).toBe('3.2 GB');
    expect(formatBytes(45e9)).toBe('45 GB');
  });
});

describe('describeEstimate', () => {
  it('says how long, how large and from where', () => {
    expect(describeEstimate({ seconds: 250, size_bytes: 2.1e9, source: 'last build' })).toBe(
      'about 4 min, 2.1 GB (from its last build)'
    );
    expect(describeEstimate({ seconds: 600, size_bytes: 9e9, source: 'profile' })).toBe(
      "about 10 min, 9.0 GB (the profile's estimate)"
    );
    expect(describeEstimate({ seconds: 20, size_bytes: 0, source: 'last build' })).toBe(
      'under a minute (from its last build)'
    );
    expect(describeEstimate(null)).toBe('');
  });
});
