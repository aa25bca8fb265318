// Go duration strings ("2s", "500ms", "1m30s", "1.5h"), as Fabric stores them in
// BatchTimeout and etcdraft Options.TickInterval and as orderer.yaml writes them.
// The grammar is Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ with units
// ns, us, µs, μs, ms, s, m, h, or the bare "0"; no spaces. Parsing is done in exact
// nanoseconds (bigint) so "1ns" stays positive and overflow is detected like Go's.

export class InvalidDurationError extends Error {
  override readonly name = 'InvalidDurationError';

  constructor(
    readonly text: string,
    reason: string,
  ) {
    super(`invalid duration ${JSON.stringify(text)}: ${reason}`);
  }
}

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ['ns', 1n],
  ['us', 1_000n],
  ['\u00b5s', 1_000n], // micro sign
  ['\u03bcs', 1_000n], // Greek mu
  ['ms', 1_000_000n],
  ['s', 1_000_000_000n],
  ['m', 60_000_000_000n],
  ['h', 3_600_000_000_000n],
]);

// Go's Duration is an int64 of nanoseconds.
const MAX_DURATION_NS = (1n << 63n) - 1n;

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** Parses a Go duration into exact nanoseconds. */
export function parseGoDurationNs(text: string): bigint {
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new InvalidDurationError(text, 'empty');

  let totalNs = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]))) throw new InvalidDurationError(text, `unexpected ${JSON.stringify(s[0])}`);
    let i = 0;
    while (isDigit(s[i])) i++;
    const intDigits = s.slice(0, i);
    s = s.slice(i);
    let fracDigits = '';
    let hasPoint = false;
    if (s.startsWith('.')) {
      hasPoint = true;
      s = s.slice(1);
      let j = 0;
      while (isDigit(s[j])) j++;
      fracDigits = s.slice(0, j);
      s = s.slice(j);
    }
    if (intDigits === '' && fracDigits === '') {
      throw new InvalidDurationError(text, hasPoint ? 'a number needs digits around the point' : 'missing number');
    }
    let u = 0;
    while (u < s.length && s[u] !== '.' && !isDigit(s[u])) u++;
    if (u === 0) throw new InvalidDurationError(text, 'missing unit (ns, us, ms, s, m or h)');
    const unitText = s.slice(0, u);
    s = s.slice(u);
    const unitNs = NS_PER_UNIT.get(unitText);
    if (unitNs === undefined) throw new InvalidDurationError(text, `unknown unit ${JSON.stringify(unitText)}`);

    let partNs = BigInt(intDigits === '' ? '0' : intDigits) * unitNs;
    if (fracDigits !== '') {
      // Truncates sub-nanosecond digits, as Go does.
      partNs += (BigInt(fracDigits) * unitNs) / 10n ** BigInt(fracDigits.length);
    }
    totalNs += partNs;
    if (totalNs > MAX_DURATION_NS + (negative ? 1n : 0n)) throw new InvalidDurationError(text, 'out of range');
  }
  return negative ? -totalNs : totalNs;
}

/**
 * Parses a Go duration into milliseconds. Sub-millisecond parts are kept as a
 * fraction (so "1ns" > 0, as a positivity check in Go would see it).
 */
export function parseGoDurationMs(text: string): number {
  const ns = parseGoDurationNs(text);
  const whole = ns / 1_000_000n;
  const rest = ns % 1_000_000n;
  return Number(whole) + Number(rest) / 1e6;
}

function fraction(value: bigint, digits: number): { intPart: bigint; frac: string } {
  const scale = 10n ** BigInt(digits);
  const fracDigits = (value % scale).toString().padStart(digits, '0').replace(/0+$/, '');
  return { intPart: value / scale, frac: fracDigits === '' ? '' : `.${fracDigits}` };
}

/** Formats nanoseconds the way Go's Duration.String() does ("1m30s", "500ms", "1h0m0s"). */
export function formatGoDurationNs(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  const u = ns < 0n ? -ns : ns;
  if (u < 1_000_000_000n) {
    if (u < 1_000n) return `${sign}${u}ns`;
    if (u < 1_000_000n) {
      const { intPart, frac } = fraction(u, 3);
      return `${sign}${intPart}${frac}\u00b5s`;
    }
    const { intPart, frac } = fraction(u, 6);
    return `${sign}${intPart}${frac}ms`;
  }
  const { intPart: totalSeconds, frac } = fraction(u, 9);
  let out = `${totalSeconds % 60n}${frac}s`;
  const totalMinutes = totalSeconds / 60n;
  if (totalMinutes > 0n) {
    out = `${totalMinutes % 60n}m${out}`;
    const hours = totalMinutes / 60n;
    if (hours > 0n) out = `${hours}h${out}`;
  }
  return sign + out;
}

/** Formats milliseconds (rounded to whole nanoseconds) as a Go duration string. */
export function formatGoDurationMs(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} ms as a duration`);
  return formatGoDurationNs(BigInt(Math.round(ms * 1e6)));
}
