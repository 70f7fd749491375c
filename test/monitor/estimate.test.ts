/** The estimated-RTO formula and its helpers (lambda/monitor/core.ts): pure arithmetic, table-driven. */
import { DEFAULT_RESTORE_BYTES_PER_SECOND, estimateRtoSeconds, median, medianThroughput, RestoreSample } from '../../lambda/monitor/core';

const sample = (bytes: number, restoreSeconds: number, checkSeconds = 0): RestoreSample => ({ verificationKey: `k${bytes}`, verifiedAt: '2026-11-25T00:00:00.000Z', bytes, restoreSeconds, checkSeconds });

describe('estimateRtoSeconds', () => {
  it.each([
    // create, bytes, bytes/s, validation → seconds
    [900, 0, 10_000_000, 120, 1020],
    [900, 10_000_000_000, 10_000_000, 120, 900 + 1000 + 120],
    [600.5, 1_000, 3, 0.2, Math.ceil(600.5 + 1000 / 3 + 0.2)],
    [0, 1, 1_000_000, 0, 1], // a started second counts
  ])('create %p s + %p bytes at %p B/s + %p s → %p s', (instanceCreateSeconds, backupBytes, throughputBytesPerSecond, validationSeconds, expected) => {
    expect(estimateRtoSeconds({ instanceCreateSeconds, backupBytes, throughputBytesPerSecond, validationSeconds })).toBe(expected);
  });

  it('the default throughput makes 1 GB cost 100 s', () => {
    expect(estimateRtoSeconds({ instanceCreateSeconds: 0, backupBytes: 1e9, throughputBytesPerSecond: DEFAULT_RESTORE_BYTES_PER_SECOND, validationSeconds: 0 })).toBe(100);
  });

  it.each([
    ['throughputBytesPerSecond', { throughputBytesPerSecond: 0 }, /throughputBytesPerSecond must be > 0/],
    ['backupBytes', { backupBytes: -1 }, /backupBytes must be a finite number >= 0 \(received -1\)/],
    ['instanceCreateSeconds', { instanceCreateSeconds: Number.NaN }, /instanceCreateSeconds must be a finite number/],
    ['validationSeconds', { validationSeconds: Number.POSITIVE_INFINITY }, /validationSeconds must be a finite number/],
  ])('refuses a bad %s', (_name, bad, error) => {
    expect(() => estimateRtoSeconds({ instanceCreateSeconds: 1, backupBytes: 1, throughputBytesPerSecond: 1, validationSeconds: 1, ...bad })).toThrow(error);
  });
});

describe('median and medianThroughput', () => {
  it.each([
    [[5], 5],
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[10, 10, 1000], 10],
  ])('median(%p) = %p', (values, expected) => expect(median(values)).toBe(expected));

  it('median of nothing is an error', () => expect(() => median([])).toThrow(/median of nothing/));

  it('throughput: the median of each test\'s bytes per restore second; an outlier does not move it', () => {
    expect(medianThroughput([sample(100, 1), sample(1000, 5), sample(300, 100)])).toBe(100);
  });

  it('tests that measured nothing (0 s or 0 bytes) are ignored; none left → undefined', () => {
    expect(medianThroughput([sample(100, 0), sample(0, 3), sample(50, 2)])).toBe(25);
    expect(medianThroughput([sample(100, 0)])).toBeUndefined();
    expect(medianThroughput([])).toBeUndefined();
  });
});
