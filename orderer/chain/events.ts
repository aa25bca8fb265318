// The Chain's inputs, queued between Readys (event-queue.ts), and what each holds in memory as the
// queue's byte bound counts it.
import type { ForwardedBatch, ForwardedEnvelope, NodeId, SubmitOutcome } from '../../cluster/types';
import type { raftpb } from '../../protos';
import type { ForwardAnswer } from './leader-pipeline';

export type ChainEvent =
  | { kind: 'tick' }
  | { kind: 'step'; msg: raftpb.Message }
  | { kind: 'submit'; from: NodeId; forward: ForwardedEnvelope; answer?: ForwardAnswer }
  | { kind: 'submit-batch'; from: NodeId; batch: ForwardedBatch; answer: (outcomes: SubmitOutcome[]) => void }
  | { kind: 'batch-timeout' }
  | { kind: 'unreachable'; id: NodeId }
  | { kind: 'snapshot-failed'; id: NodeId }
  | { kind: 'snapshot-sent'; id: NodeId };

/** Bytes counted per queued input besides its payload (object, message header). */
const EVENT_OVERHEAD_BYTES = 64;
/** Bytes counted per Raft entry besides its data. */
const ENTRY_OVERHEAD_BYTES = 32;

/** What a queued input holds in memory, as the event queue's byte bound counts it. */
export function chainEventBytes(ev: ChainEvent): number {
  switch (ev.kind) {
    case 'step': {
      let n = EVENT_OVERHEAD_BYTES + (ev.msg.snapshot?.data.length ?? 0);
      for (const e of ev.msg.entries) n += ENTRY_OVERHEAD_BYTES + e.data.length;
      return n;
    }
    case 'submit':
      return EVENT_OVERHEAD_BYTES + ev.forward.envelope.length;
    case 'submit-batch': {
      let n = EVENT_OVERHEAD_BYTES;
      for (const envelope of ev.batch.envelopes) n += ENTRY_OVERHEAD_BYTES + envelope.length;
      return n;
    }
    default:
      return EVENT_OVERHEAD_BYTES;
  }
}

/**
 * A SubmitBatch's envelopes, each handed to `take` as a forward of its own; `answer` hears all
 * their outcomes, in order, once the last is known (each now, or later when a leader still
 * applying its log held it).
 */
export function takeEach(
  batch: ForwardedBatch,
  take: (forward: ForwardedEnvelope, answer: ForwardAnswer) => void,
  answer: (outcomes: SubmitOutcome[]) => void,
): void {
  const { envelopes, lastValidationSeq } = batch;
  const results = new Array<SubmitOutcome>(envelopes.length);
  let unanswered = envelopes.length;
  for (let i = 0; i < envelopes.length; i++) {
    take({ lastValidationSeq, envelope: envelopes[i]! }, (outcome) => {
      results[i] = outcome;
      if (--unanswered === 0) answer(results);
    });
  }
}
