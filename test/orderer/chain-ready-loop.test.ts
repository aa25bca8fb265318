// The Ready loop module (orderer/chain/ready-loop.ts) on its own: the order of the stages, the
// leader's early sends (Raft thesis §10.2.1), a stop between stages, errors handed to the owner,
// an input queued just as the loop finishes is not left waiting for the next tick, and work
// between Readys takes turns with them.
import { RaftRole, type Ready } from '../../consensus/raft/api';
import { ReadyLoop, ReadyProcessor, type ReadyStages } from '../../orderer/chain/ready-loop';
import { raftpb } from '../../protos';

const MT = raftpb.MessageType;

function msg(type: raftpb.MessageType, to = 2): raftpb.Message {
  return raftpb.Message.decode(raftpb.Message.encode({ type, from: 1, to, term: 2 }));
}

function ready(over: Partial<Ready>): Ready {
  return { entries: [], committedEntries: [], messages: [], mustSync: false, ...over };
}

/** A node handing out the given Readys in turn. */
function nodeOf(readys: Ready[]): { hasReady(): boolean; ready(): Ready; advance(): void; advanced: number } {
  const n = {
    advanced: 0,
    hasReady: () => readys.length > 0,
    ready: () => readys.shift()!,
    advance: () => {
      n.advanced++;
    },
  };
  return n;
}

function recordingStages(log: string[], stopAt?: string): ReadyStages {
  let stopped = false;
  const stop = (stage: string): void => {
    if (stage === stopAt) stopped = true;
  };
  return {
    persist: () => {
      log.push('persist');
      stop('persist');
    },
    send: (m) => log.push(`send ${MT[m.type]}`),
    softState: (ss) => log.push(`soft ${ss.role}`),
    apply: () => {
      log.push('apply');
      stop('apply');
    },
    stopped: () => stopped,
  };
}

test('a follower persists before it sends; a leader keeping its term and vote sends appends and heartbeats first', async () => {
  const log: string[] = [];
  const processor = new ReadyProcessor({ term: 2, vote: 1 });
  const node = nodeOf([
    ready({ softState: { leaderId: 1, role: RaftRole.Leader }, hardState: { term: 2, vote: 1, commit: 0 }, messages: [msg(MT.MsgApp)] }),
    ready({ hardState: { term: 2, vote: 1, commit: 3 }, messages: [msg(MT.MsgApp), msg(MT.MsgSnap), msg(MT.MsgHeartbeat, 3)] }),
    ready({ hardState: { term: 3, vote: 0, commit: 3 }, messages: [msg(MT.MsgHeartbeat)] }),
  ]);
  for (let i = 0; i < 3; i++) expect(await processor.process(node, recordingStages(log))).toBe('advanced');
  expect(log).toEqual([
    // Not yet leader when this Ready was made: persist first.
    'persist', 'send MsgApp', `soft ${RaftRole.Leader}`, 'apply',
    // Leader, same term and vote: replication leaves early, the snapshot after persisting.
    'send MsgApp', 'send MsgHeartbeat', 'persist', 'send MsgSnap', 'apply',
    // A new term on the way to the disk: nothing leaves before it is there.
    'persist', 'send MsgHeartbeat', 'apply',
  ]);
  expect(node.advanced).toBe(3);
});

test('a stop between stages ends the Ready without applying or advancing', async () => {
  const log: string[] = [];
  const node = nodeOf([ready({ messages: [msg(MT.MsgAppResp)] })]);
  expect(await new ReadyProcessor({ term: 1, vote: 0 }).process(node, recordingStages(log, 'persist'))).toBe('stopped');
  expect(log).toEqual(['persist']);
  expect(node.advanced).toBe(0);
});

test('an error in a stage goes to the owner and ends the loop', async () => {
  const errors: unknown[] = [];
  const node = nodeOf([ready({})]);
  const stages = { ...recordingStages([]), persist: () => Promise.reject(new Error('disk gone')) };
  const loop = new ReadyLoop(node, new ReadyProcessor({ term: 1, vote: 0 }), stages, {
    beforeReady: () => undefined,
    hasQueuedInputs: () => false,
    afterAdvance: () => undefined,
    onError: (err) => errors.push(err),
  });
  loop.kick();
  await loop.idle;
  expect(errors).toHaveLength(1);
  expect(node.advanced).toBe(0);
  expect(loop.running).toBe(false);
});

test('an input queued right as the loop finishes starts it again at once (found by the whole-orderer simulator)', async () => {
  const queued: number[] = [];
  const handled: number[] = [];
  const loop = new ReadyLoop(nodeOf([]), new ReadyProcessor({ term: 1, vote: 0 }), recordingStages([]), {
    beforeReady: () => handled.push(...queued.splice(0)),
    hasQueuedInputs: () => queued.length > 0,
    afterAdvance: () => undefined,
    onError: (err) => {
      throw err;
    },
  });
  loop.kick(); // nothing to do: the loop runs and finishes within this call
  queued.push(1);
  loop.kick();
  await loop.idle;
  expect(handled).toEqual([1]);
});

test('work between Readys (a backlog after a catch-up) takes turns with Readys, one step each, and keeps the loop going until it is done', async () => {
  const log: string[] = [];
  let steps = 3;
  const loop = new ReadyLoop(nodeOf([ready({}), ready({})]), new ReadyProcessor({ term: 1, vote: 0 }), recordingStages(log), {
    beforeReady: () => undefined,
    hasQueuedInputs: () => false,
    afterAdvance: () => undefined,
    betweenReadys: () => {
      if (steps === 0) return undefined;
      steps--;
      log.push('step');
      return Promise.resolve();
    },
    onError: (err) => {
      throw err;
    },
  });
  loop.kick();
  await loop.idle;
  expect(log).toEqual(['step', 'persist', 'apply', 'step', 'persist', 'apply', 'step']);
});

test('work the owner chains from inside the loop\'s first synchronous step (a halt closing the WAL) is part of idle', async () => {
  // A chain that halts on a broken Raft message closes its WAL once the loop is out, by chaining
  // the close onto the loop; its owner's halt() then awaits idle. When the message broke the very
  // first step of a drive (before any await), the close was chained before kick() had stored
  // drive()'s promise, and storing it dropped the close from idle: halt() returned with the WAL
  // still open and locked (seen as a flaky test/orderer/chain-halt.test.ts on a loaded machine).
  let closed = false;
  const loop: ReadyLoop = new ReadyLoop(nodeOf([]), new ReadyProcessor({ term: 1, vote: 0 }), recordingStages([]), {
    beforeReady: () => {
      throw new Error('a broken message');
    },
    hasQueuedInputs: () => false,
    afterAdvance: () => undefined,
    onError: () =>
      loop.then(async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        closed = true;
      }),
  });
  loop.kick();
  await loop.idle;
  expect(closed).toBe(true);
});
