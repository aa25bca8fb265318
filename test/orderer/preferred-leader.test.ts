// The preferred-leader policy's decisions, one guard at a time (orderer/chain/preferred-leader.ts).
import { ProgressState } from '../../consensus/raft/api';
import { PreferredLeaderPolicy, rankConsenters, type PreferredLeaderInput } from '../../orderer/chain/preferred-leader';

const QUIET = 20;
const ELECTION = 10;
type Peer = { match: number; state: ProgressState; recentActive: boolean };
const healthy = (match = 50): Peer => ({ match, state: ProgressState.Replicate, recentActive: true });

/** Node 3 leads; node 1 ranks first. */
function input(tick: number, over: Partial<PreferredLeaderInput> = {}, peers: Record<number, Peer> = { 1: healthy(), 2: healthy() }): PreferredLeaderInput {
  return {
    tick,
    selfId: 3,
    ranking: [1, 2, 3],
    leaderId: 3,
    isLeader: true,
    leaderReady: true,
    transferInProgress: false,
    commitIndex: 50,
    progress: new Map(Object.entries(peers).map(([id, p]) => [Number(id), p])),
    ...over,
  };
}

/** Ticks from..to with the same input; returns the tick of the first transfer, if any. */
function run(policy: PreferredLeaderPolicy, from: number, to: number, make: (t: number) => PreferredLeaderInput): { tick: number; to: number } | undefined {
  for (let t = from; t <= to; t++) {
    const ev = policy.onTick(make(t)).find((e) => e.kind === 'transfer');
    if (ev !== undefined && ev.kind === 'transfer') return { tick: t, to: ev.to };
  }
  return undefined;
}

describe('preferred leader policy', () => {
  const newPolicy = (): PreferredLeaderPolicy => new PreferredLeaderPolicy({ quietTicks: QUIET, electionTick: ELECTION });

  test('a ready leader hands over to the best-ranked healthy consenter after the quiet period, once', () => {
    const p = newPolicy();
    const first = run(p, 1, 100, (t) => input(t));
    expect(first).toEqual({ tick: 1 + QUIET, to: 1 });
    expect(p.status().transferringTo).toBe(1);
    // No second transfer while the first one is pending.
    expect(run(p, 1 + QUIET + 1, 1 + QUIET + 2 * ELECTION - 1, (t) => input(t))).toBeUndefined();
  });

  test('the best-ranked consenter and a leader ranked above everyone healthy do nothing', () => {
    const p = newPolicy();
    expect(run(p, 1, 200, (t) => input(t, { selfId: 1, leaderId: 1 }, { 2: healthy(), 3: healthy() }))).toBeUndefined();
    expect(p.status().preferredLeaderId).toBe(1);
    // Node 2 leads, node 1 is down: nothing better than node 2 is healthy.
    const q = newPolicy();
    expect(run(q, 1, 200, (t) => input(t, { selfId: 2, leaderId: 2 }, { 1: { ...healthy(3), state: ProgressState.Probe, recentActive: false }, 3: healthy() }))).toBeUndefined();
  });

  test('a leader not in the list ranks below every listed consenter', () => {
    const p = newPolicy();
    expect(run(p, 1, 100, (t) => input(t, { ranking: [2] }))).toEqual({ tick: 1 + QUIET, to: 2 });
  });

  test('no transfer before the leader has been ready for the quiet period (an election just settled)', () => {
    const p = newPolicy();
    // Ready only from tick 50 on (log being applied, a conf change pending, catching up...).
    expect(run(p, 1, 100, (t) => input(t, { leaderReady: t >= 50 }))).toEqual({ tick: 50 + QUIET, to: 1 });
  });

  test('no transfer while Raft has a transfer in progress', () => {
    const p = newPolicy();
    expect(run(p, 1, 100, (t) => input(t, { transferInProgress: t < 80 }))).toEqual({ tick: 80, to: 1 });
  });

  test('a target that was unreachable waits for a whole quiet period of answers', () => {
    const p = newPolicy();
    // Node 1 answers until 10, then is unreachable (probe, no answers) until 40.
    const peers = (t: number): Record<number, Peer> => ({ 1: t >= 10 && t < 40 ? { match: 50, state: ProgressState.Probe, recentActive: false } : healthy(), 2: healthy() });
    // Node 2 is healthy the whole time and ranks above the leader: it is the target meanwhile.
    const first = run(p, 1, 200, (t) => input(t, {}, peers(t)));
    expect(first).toEqual({ tick: 1 + QUIET, to: 2 });
    const q = newPolicy();
    const onlyOne = run(q, 1, 200, (t) => input(t, { ranking: [1, 3] }, peers(t)));
    // Healthy again at 40 (replicate); it must stay so for QUIET ticks.
    expect(onlyOne).toEqual({ tick: 40 + QUIET, to: 1 });
  });

  test('a better-ranked consenter that answers but is not healthy long enough is waited for, not passed over (one transfer, not two)', () => {
    const p = newPolicy();
    // Node 1 answers from the start but replicates only from tick 15 (a snapshot, then probing).
    const peers = (t: number): Record<number, Peer> => ({ 1: t < 15 ? { match: 0, state: ProgressState.Snapshot, recentActive: true } : healthy(), 2: healthy() });
    expect(run(p, 1, 100, (t) => input(t, {}, peers(t)))).toEqual({ tick: 15 + QUIET, to: 1 });
  });

  test('a missed answer within an election timeout (Raft clears recentActive at each quorum check) does not reset health', () => {
    const p = newPolicy();
    const flicker = (t: number): Record<number, Peer> => ({ 1: { ...healthy(), recentActive: t % ELECTION !== 0 }, 2: healthy() });
    expect(run(p, 1, 100, (t) => input(t, {}, flicker(t)))).toEqual({ tick: 1 + QUIET, to: 1 });
  });

  test('a target behind what was committed half an election timeout ago waits; the next one down is not chosen instead', () => {
    const p = newPolicy();
    // Commit moves one entry per tick. Node 1 lags 20 entries until tick 60, then 3 (it keeps pace).
    const commit = (t: number): number => 100 + t;
    const at = run(p, 1, 100, (t) => input(t, { commitIndex: commit(t) }, { 1: healthy(commit(t) - (t < 60 ? 20 : 3)), 2: healthy(commit(t)) }));
    expect(at).toEqual({ tick: 60, to: 1 });
  });

  test('a failed transfer backs off exponentially, capped; a success resets the back-off', () => {
    const p = newPolicy();
    const base = Math.max(QUIET, 2 * ELECTION);
    let t = 1;
    const transfers: number[] = [];
    // This node stays leader: every transfer fails.
    for (; t < 5_000; t++) {
      const ev = p.onTick(input(t));
      if (ev.some((e) => e.kind === 'transfer')) transfers.push(t);
    }
    const gaps = transfers.slice(1).map((x, i) => x - transfers[i]!);
    // Judged failed 2 election timeouts after it started, then base x 1, 2, 4, 8, 16, 16...
    expect(gaps.slice(0, 6)).toEqual([1, 2, 4, 8, 16, 16].map((f) => 2 * ELECTION + base * f));
    expect(p.status().consecutiveFailures).toBeGreaterThanOrEqual(6);
    // The next one works: the target leads, this node follows.
    // Past the back-off, a transfer starts again.
    for (; p.status().transferringTo === 0; t++) p.onTick(input(t));
    const ev = p.onTick(input(t + 1, { isLeader: false, leaderId: 1, progress: new Map() }));
    expect(ev).toEqual([{ kind: 'transfer-succeeded', to: 1 }]);
    expect(p.status()).toMatchObject({ consecutiveFailures: 0, backoffRemainingTicks: 0, transferringTo: 0 });
  });

  test('a transfer after which a different node leads counts as failed', () => {
    const p = newPolicy();
    expect(run(p, 1, 100, (t) => input(t))).toEqual({ tick: 21, to: 1 });
    let failed = false;
    for (let t = 22; t <= 21 + 2 * ELECTION; t++) {
      const ev = p.onTick(input(t, { isLeader: false, leaderId: 2, progress: new Map() }));
      failed ||= ev.some((e) => e.kind === 'transfer-failed');
    }
    expect(failed).toBe(true);
    expect(p.status().consecutiveFailures).toBe(1);
  });

  test('endpoints are ranked by the consenter list; unknown ones come back apart', () => {
    const members = [
      { id: 1, host: 'a', port: 7050 },
      { id: 2, host: 'b', port: 7050 },
    ];
    expect(rankConsenters(['b:7050', 'x:1', 'a:7050', 'b:7050'], members)).toEqual({ ranking: [2, 1], unknown: ['x:1'] });
  });
});
