// A leader's pipeline on its own, elected and ready to take envelopes: a ledger holding one block
// (in memory), simulated timers, proposals collected instead of handed to Raft. Tests pass the
// settings and whatever options they test.
import pino from 'pino';
import { newBlock } from '../../ledger/block';
import { raftIndex } from '../../orderer/chain/ids';
import { LeaderPipeline, type HeldForward, type LeaderPipelineOptions } from '../../orderer/chain/leader-pipeline';
import { common } from '../../protos';
import { MemoryBlockStore } from '../sim/orderer/memory-block-store';
import { SimClock } from '../sim/orderer/sim-clock';

export interface ReadyPipeline {
  pipeline: LeaderPipeline;
  store: MemoryBlockStore;
  /** The blocks it proposed, in order. */
  proposed: Uint8Array[];
  /** What readyIfApplied handed back on becoming ready (forwards held until then). */
  heldUntilReady: HeldForward[] | undefined;
}

export async function readyLeaderPipeline(
  channelId: string,
  o: Pick<LeaderPipelineOptions, 'settings'> & Partial<LeaderPipelineOptions>,
): Promise<ReadyPipeline> {
  const store = new MemoryBlockStore(channelId);
  await store.append(newBlock(0, new Uint8Array(0), [common.Envelope.encode({ payload: Uint8Array.of(1) })]));
  const proposed: Uint8Array[] = [];
  const pipeline = new LeaderPipeline({
    channelId,
    blockStore: store,
    timers: new SimClock().timersFor(1),
    logger: pino({ level: 'silent' }),
    propose: (bytes) => void proposed.push(bytes),
    onBatchTimeout: () => undefined,
    maxIntakeEnvelopes: 100,
    intakeHighWater: 10,
    intakeWaitTimeoutMs: 1_000,
    ...o,
  });
  pipeline.becomeLeader(raftIndex(0));
  const heldUntilReady = pipeline.readyIfApplied(raftIndex(0));
  return { pipeline, store, proposed, heldUntilReady };
}
