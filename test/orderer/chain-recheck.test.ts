// The leader checks again what was checked against an older config (Fabric re-validates when
// SubmitRequest.last_validation_seq is behind): a forward checked at an older sequence is
// checked at intake and refused to its sender when it no longer passes; one checked at the
// current sequence is taken as it is; an envelope in the intake when the config moves on is
// checked when it is cut, and one that no longer passes is not ordered. A CONFIG envelope is
// always checked at the leader (the quorum guard needs the leader's view of who is active).
import pino from 'pino';
import { newBlock } from '../../ledger/block';
import { raftIndex } from '../../orderer/chain/ids';
import { LeaderPipeline, type IntakeItem } from '../../orderer/chain/leader-pipeline';
import type { ChainSettings } from '../../orderer/chain/types';
import { OrdererError } from '../../orderer/errors';
import { recheckEnvelope, parseForwardedEnvelope, type PolicyEvaluator } from '../../orderer/msgcheck';
import { common } from '../../protos';
import { simEnvelope } from '../sim/orderer/envelopes';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { SimClock } from '../sim/orderer/sim-clock';
import { testChainSettings } from '../support/chain-settings';

const CHANNEL = 'recheck';

async function readyPipeline(settings: () => ChainSettings, recheck: (item: IntakeItem) => IntakeItem | OrdererError): Promise<{ pipeline: LeaderPipeline; proposed: common.Block[] }> {
  const store = new MemoryBlockStore(CHANNEL);
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const proposed: common.Block[] = [];
  const pipeline = new LeaderPipeline({
    channelId: CHANNEL,
    blockStore: store,
    timers: new SimClock().timersFor(1),
    logger: pino({ level: 'silent' }),
    settings,
    propose: (bytes) => void proposed.push(common.Block.decode(bytes)),
    onBatchTimeout: () => undefined,
    recheck,
    maxIntakeEnvelopes: 1_000,
    intakeHighWater: 1_000,
    intakeWaitTimeoutMs: 1_000,
  });
  pipeline.becomeLeader(raftIndex(0));
  expect(pipeline.readyIfApplied(raftIndex(0))).toEqual([]);
  return { pipeline, proposed };
}

const forward = (label: string, seq: number) => {
  const e = simEnvelope(CHANNEL, label, 64);
  return { txId: e.txId, req: { lastValidationSeq: seq, envelope: e.envelopeBytes } };
};

/** Refuses the tx ids in `refused`, passes the others. */
function scriptedRecheck(refused: Set<string>, seen: string[]): (item: IntakeItem) => IntakeItem | OrdererError {
  return (item) => {
    seen.push(item.txId);
    return refused.has(item.txId) ? OrdererError.forbidden('signature set does not satisfy policy /Channel/Writers') : item;
  };
}

test('a forward checked against an older config is checked again at intake; the sender hears the refusal', async () => {
  const settings = testChainSettings(3, { configSequence: 1, maxMessageCount: 10 });
  const seen: string[] = [];
  const stale = forward('stale', 0);
  const current = forward('current', 1);
  const { pipeline } = await readyPipeline(() => settings, scriptedRecheck(new Set([stale.txId]), seen));
  const refusal = pipeline.takeForwarded(2, stale.req);
  expect(refusal).toBeInstanceOf(OrdererError);
  expect((refusal as OrdererError).status).toBe(common.Status.FORBIDDEN);
  expect(pipeline.takeForwarded(2, current.req)).toBe('taken');
  // Only the stale one was checked again.
  expect(seen).toEqual([stale.txId]);
  expect(pipeline.status().intakeEnvelopes).toBe(1);
});

test('an envelope in the intake when the config moves on is checked when cut; one that no longer passes is not ordered', async () => {
  let settings = testChainSettings(3, { configSequence: 0, maxMessageCount: 10, maxInflightBlocks: 5 });
  const seen: string[] = [];
  const keep = forward('keep', 0);
  const drop = forward('drop', 0);
  const { pipeline, proposed } = await readyPipeline(() => settings, scriptedRecheck(new Set([drop.txId]), seen));
  expect(pipeline.takeForwarded(2, keep.req)).toBe('taken');
  expect(pipeline.takeForwarded(2, drop.req)).toBe('taken');
  // A config block committed: sequence 1. The intake is cut now.
  settings = { ...settings, configSequence: 1 };
  pipeline.pump();
  pipeline.cutPending();
  expect(seen.sort()).toEqual([keep.txId, drop.txId].sort());
  const ordered = proposed.flatMap((b) => b.data!.data.map((d) => common.ChannelHeader.decode(common.Payload.decode(common.Envelope.decode(d).payload).header!.channelHeader).txId));
  expect(ordered).toEqual([keep.txId]);
});

test('recheckEnvelope: the Writers policy, the size limit and maintenance mode of the current config', () => {
  const env = simEnvelope(CHANNEL, 'e', 100);
  const parsed = parseForwardedEnvelope(env.envelopeBytes);
  const open: PolicyEvaluator = { evaluateSignedData: () => true };
  const closed: PolicyEvaluator = {
    evaluateSignedData: () => {
      throw OrdererError.forbidden('signature set does not satisfy policy /Channel/Writers: 0 of 1 sub-policies');
    },
  };
  const access = (evaluator: PolicyEvaluator) => ({ evaluator, creatorValidity: () => undefined });
  expect(recheckEnvelope(parsed, { absoluteMaxBytes: 1_000_000, maintenanceMode: false }, access(open))).toBeUndefined();
  expect(recheckEnvelope(parsed, { absoluteMaxBytes: 1_000_000, maintenanceMode: false }, access(closed))?.status).toBe(common.Status.FORBIDDEN);
  expect(recheckEnvelope(parsed, { absoluteMaxBytes: 10, maintenanceMode: false }, access(open))?.status).toBe(common.Status.REQUEST_ENTITY_TOO_LARGE);
  expect(recheckEnvelope(parsed, { absoluteMaxBytes: 1_000_000, maintenanceMode: true }, access(open))?.status).toBe(common.Status.SERVICE_UNAVAILABLE);
});
