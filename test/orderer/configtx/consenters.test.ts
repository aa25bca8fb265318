// Raft membership from config updates (reference §3.6, §3.8): which node a config adds, removes
// or re-certifies, the consenter_ids that follow, and the refusals an operator sees.
import { common } from '../../../protos';
import type { RaftConsenter } from '../../../orderer/channelconfig/settings';
import {
  checkQuorumGuard,
  consenterUpdateOf,
  detectConsenterChange,
  validateChannelConfigTransition,
  validateConfigUpdate,
  type ConsenterChange,
} from '../../../orderer/configtx';
import { ChainInvariantError } from '../../../orderer/errors';
import type { ConsenterSpec } from '../../../orderer/channelconfig';
import {
  accessOf,
  batchSizeUpdate,
  CHANNEL,
  consentersUpdate,
  makeFixture,
  newConsenter,
  ordererErrorOf,
  settingsOf,
  signUpdate,
  type Fixture,
} from './fixture';

let f: Fixture;
beforeAll(() => {
  f = makeFixture();
});
afterAll(() => f.cleanup());

const DAY_MS = 24 * 60 * 60 * 1000;
/** Raft IDs of orderers 1-3 in the genesis block, and the next one to hand out. */
const IDS = [1, 2, 3];
const NEXT_ID = 4;

function raft(c: ConsenterSpec): RaftConsenter {
  return { host: c.host, port: c.port, clientTlsCert: c.clientTlsCert!, serverTlsCert: c.serverTlsCert! };
}

/** The update of the consenters to `next`, validated as a client's update, then as a transition. */
function transition(next: readonly ConsenterSpec[], opts: { activeNodes?: readonly number[]; nowMs?: number } = {}) {
  const validated = validateConfigUpdate({
    channelId: CHANNEL,
    current: f.genesis,
    access: accessOf(f.genesis),
    envelope: signUpdate(consentersUpdate(f.genesis, next), [f.ordererAdmin]),
  });
  return validateChannelConfigTransition({
    channelId: CHANNEL,
    current: { config: f.genesis, settings: settingsOf(f.genesis), consenterIds: IDS, nextConsenterId: NEXT_ID },
    next: validated.config,
    update: validated.update,
    activeNodes: opts.activeNodes,
    nowMs: opts.nowMs ?? Date.now(),
  });
}

describe('membership changes and their raft IDs', () => {
  const orderer = (i: number) => (): ConsenterSpec => f.ordererConsenters[i - 1]!;
  const [o1, o2, o3, o4] = [orderer(1), orderer(2), orderer(3), orderer(4)];

  test('adding one consenter: AddNode with the next consenter ID, appended in config order', () => {
    const { consenterChange, settings } = transition([o1(), o2(), o3(), o4()]);
    expect(consenterChange).toMatchObject({ kind: 'add', nodeId: 4, ids: [1, 2, 3, 4], nextConsenterId: 5 });
    expect(settings.orderer.consensus.consenters).toHaveLength(4);
  });

  test('adding in the middle of the list: IDs follow the config order', () => {
    const { consenterChange } = transition([o1(), o4(), o2(), o3()]);
    expect(consenterChange).toMatchObject({ kind: 'add', nodeId: 4, ids: [1, 4, 2, 3], nextConsenterId: 5 });
  });

  test('removing one consenter: RemoveNode of its ID, next ID unchanged', () => {
    const { consenterChange } = transition([o1(), o3()]);
    expect(consenterChange).toMatchObject({ kind: 'remove', nodeId: 2, ids: [1, 3], nextConsenterId: 4 });
    expect(consenterChange.kind === 'remove' && consenterChange.consenter.host).toBe('orderer2.example.com');
  });

  test('replacing one certificate: a rotation, the new entry inherits the old ID, no new ID', () => {
    const renewed = newConsenter(f.ordererTlsCa, 'orderer3.example.com', 7052);
    const { consenterChange } = transition([o1(), o2(), renewed]);
    expect(consenterChange).toMatchObject({ kind: 'rotate', nodeId: 3, ids: [1, 2, 3], nextConsenterId: 4 });
  });

  test('an update that does not rewrite ConsensusType is no membership change', () => {
    const validated = validateConfigUpdate({
      channelId: CHANNEL,
      current: f.genesis,
      access: accessOf(f.genesis),
      envelope: signUpdate(batchSizeUpdate(f.genesis, { maxMessageCount: 1, absoluteMaxBytes: 1000, preferredMaxBytes: 1000 }), [f.ordererAdmin]),
    });
    expect(consenterUpdateOf(validated.update)).toBe(false);
    const out = validateChannelConfigTransition({
      channelId: CHANNEL,
      current: { config: f.genesis, settings: settingsOf(f.genesis), consenterIds: IDS, nextConsenterId: NEXT_ID },
      next: validated.config,
      update: validated.update,
      nowMs: Date.now(),
    });
    expect(out.consenterChange).toEqual({ kind: 'none', ids: [1, 2, 3], nextConsenterId: 4 });
    expect(out.settings.orderer.batchSize.maxMessageCount).toBe(1);
  });

  test('a next config that does not follow the current sequence is BAD_REQUEST', () => {
    const validated = validateConfigUpdate({
      channelId: CHANNEL,
      current: f.genesis,
      access: accessOf(f.genesis),
      envelope: signUpdate(consentersUpdate(f.genesis, [o1(), o2()]), [f.ordererAdmin]),
    });
    const err = ordererErrorOf(() =>
      validateChannelConfigTransition({
        channelId: CHANNEL,
        current: { config: f.genesis, settings: settingsOf(f.genesis), consenterIds: IDS, nextConsenterId: NEXT_ID },
        next: { ...validated.config, sequence: 5 },
        update: validated.update,
        nowMs: Date.now(),
      }),
    );
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('config at sequence 5 cannot follow the current config at sequence 0');
  });

  test('detectConsenterChange: more than one added or removed is BAD_REQUEST with the counts', () => {
    const old = [o1(), o2(), o3()].map(raft);
    const err = ordererErrorOf(() => detectConsenterChange(old, [raft(o1())], IDS, NEXT_ID));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('adds 0 and removes 2');
    const swapTwo = ordererErrorOf(() => detectConsenterChange(old, [o1(), o4(), f.ordererConsenters[4]!].map(raft), IDS, NEXT_ID));
    expect(swapTwo.message).toContain('adds 2 and removes 2');
  });

  test('detectConsenterChange: IDs that do not match the consenters are a broken chain state', () => {
    const old = [o1(), o2(), o3()].map(raft);
    expect(() => detectConsenterChange(old, old, [1, 2], NEXT_ID)).toThrow(ChainInvariantError);
  });
});

describe('certificates of joining consenters', () => {
  test('a new consenter with an expired certificate is refused; an existing one is forgiven', () => {
    const past = { notBefore: new Date(Date.now() - 10 * DAY_MS), notAfter: new Date(Date.now() - DAY_MS) };
    const expired = newConsenter(f.ordererTlsCa, 'orderer7.example.com', 7057, past);
    // The client's update alone passes (expiry ignored for the set), the transition does not.
    const err = ordererErrorOf(() => transition([...f.ordererConsenters.slice(0, 3), expired]));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('/Channel/Orderer/ConsensusType: new consenter orderer7.example.com:7057: client TLS certificate');
    expect(err.message).toContain('not valid at');

    // Once a member, the consenter's expired certificate is forgiven: the client's update alone
    // (no clock: expiry ignored) admits it, and a later update of that config passes the
    // transition checks at the present time.
    const withExpired = validateConfigUpdate({
      channelId: CHANNEL,
      current: f.genesis,
      access: accessOf(f.genesis),
      envelope: signUpdate(consentersUpdate(f.genesis, [...f.ordererConsenters.slice(0, 3), expired]), [f.ordererAdmin]),
    }).config;
    const later = validateConfigUpdate({
      channelId: CHANNEL,
      current: withExpired,
      access: accessOf(withExpired),
      envelope: signUpdate(batchSizeUpdate(withExpired, { maxMessageCount: 7, absoluteMaxBytes: 1000, preferredMaxBytes: 1000 }), [f.ordererAdmin]),
      nowMs: Date.now(),
    });
    const out = validateChannelConfigTransition({
      channelId: CHANNEL,
      current: { config: withExpired, settings: settingsOf(withExpired), consenterIds: [1, 2, 3, 4], nextConsenterId: 5 },
      next: later.config,
      update: later.update,
      nowMs: Date.now(),
    });
    expect(out.consenterChange).toEqual({ kind: 'none', ids: [1, 2, 3, 4], nextConsenterId: 5 });
  });

  test('a consenter whose certificate chains through the TLS CA but lacks TLS usages is refused', () => {
    const signingOnly = newConsenter(f.ordererTlsCa, 'orderer8.example.com', 7058, undefined, ['1.3.6.1.5.5.7.3.4']);
    const err = ordererErrorOf(() => transition([...f.ordererConsenters.slice(0, 3), signingOnly]));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('extended key usage');
  });
});

describe('quorum guard (reference §3.8 step 6)', () => {
  const add: ConsenterChange = { kind: 'add', nodeId: 4, ids: [1, 2, 3, 4], nextConsenterId: 5, consenter: {} as RaftConsenter };
  const remove: ConsenterChange = { kind: 'remove', nodeId: 2, ids: [1, 3], nextConsenterId: 4, consenter: {} as RaftConsenter };
  const rotate: ConsenterChange = { kind: 'rotate', nodeId: 3, ids: [1, 2, 3], nextConsenterId: 4, consenter: {} as RaftConsenter };

  test('adding a 4th node needs 3 active nodes', () => {
    expect(() => checkQuorumGuard(add, [1, 2, 3])).not.toThrow();
    const err = ordererErrorOf(() => checkQuorumGuard(add, [1, 2]));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('would lose quorum');
  });

  test('removing a node: the others active must make a quorum of the remaining set', () => {
    expect(() => checkQuorumGuard(remove, [1, 2, 3])).not.toThrow();
    expect(ordererErrorOf(() => checkQuorumGuard(remove, [1, 2])).message).toContain('remove of raft node 2 refused');
  });

  test('a node an earlier config removed counts for nothing, though Raft still hears from it', () => {
    // Consenters 1-4 after node 5's removal (its Raft removal not applied yet); 2 and 3 down.
    const removeFour: ConsenterChange = { kind: 'remove', nodeId: 4, ids: [1, 2, 3], nextConsenterId: 6, consenter: {} as RaftConsenter };
    expect(ordererErrorOf(() => checkQuorumGuard(removeFour, [1, 4, 5])).message).toContain('only 1 active consenters would count towards a quorum of 2 of 3');
    const addSix: ConsenterChange = { kind: 'add', nodeId: 6, ids: [1, 2, 3, 4, 6], nextConsenterId: 7, consenter: {} as RaftConsenter };
    expect(ordererErrorOf(() => checkQuorumGuard(addSix, [1, 4, 5])).message).toContain('only 2 active consenters would count towards a quorum of 3 of 5');
    expect(() => checkQuorumGuard(addSix, [1, 2, 4, 5])).not.toThrow();
  });

  test("rotating a node's certificate counts it as inactive", () => {
    expect(() => checkQuorumGuard(rotate, [1, 2, 3])).not.toThrow();
    expect(ordererErrorOf(() => checkQuorumGuard(rotate, [2, 3])).message).toContain('rotate of raft node 3 refused');
  });

  test('unknown activity skips the guard; a cluster of two or fewer may grow or rotate regardless', () => {
    expect(() => checkQuorumGuard(remove, undefined)).not.toThrow();
    const addToOne: ConsenterChange = { ...add, ids: [1, 2] };
    expect(() => checkQuorumGuard(addToOne, [])).not.toThrow();
  });

  test('through the transition: adding with one node active is refused', () => {
    const err = ordererErrorOf(() => transition([...f.ordererConsenters.slice(0, 4)], { activeNodes: [1] }));
    expect(err.status).toBe(common.Status.BAD_REQUEST);
    expect(err.message).toContain('add of raft node 4 refused');
  });
});

describe('consenterUpdateOf', () => {
  const ct = (version: number) => ({ groups: { Orderer: { values: { ConsensusType: { version } } } } });
  const decode = (u: common.ConfigUpdateInit) => common.ConfigUpdate.decode(common.ConfigUpdate.encode(u));

  test('true when the write set holds ConsensusType at a version other than the read set (absent = 0)', () => {
    expect(consenterUpdateOf(decode({ readSet: ct(1), writeSet: ct(2) }))).toBe(true);
    expect(consenterUpdateOf(decode({ writeSet: ct(1) }))).toBe(true);
    expect(consenterUpdateOf(decode({ readSet: ct(2), writeSet: ct(2) }))).toBe(false);
    expect(consenterUpdateOf(decode({ writeSet: ct(0) }))).toBe(false);
    expect(consenterUpdateOf(decode({ readSet: ct(1), writeSet: { groups: { Orderer: {} } } }))).toBe(false);
  });
});
