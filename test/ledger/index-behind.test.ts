// When the tx-id index's windows are written (ledger/index-behind.ts), driven with a stand-in for
// the index environment whose commits take as long as a test says: enough ids start a window at
// once, a window's time starts one with what came meanwhile and no more, and ids that keep
// arriving wait for a window of their own instead of going out a few at a time.
import { IndexBehind } from '../../ledger/index-behind';
import type { IndexBlock, IndexEntry, TxIdIndex } from '../../ledger/tx-index';

const EMPTY = new Uint8Array(0);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Written {
  /** Ids per window, in the order the windows were recorded as indexed. */
  windows: number[];
  chunks: IndexEntry[][];
  /** When each chunk's write began. */
  chunkTimesMs: number[];
}

function indexBehind(commitMs: number, o: { windowMs: number; windowTxIds: number; chunkTxIds: number; chunkGapMs?: number }): { behind: IndexBehind; written: Written } {
  const written: Written = { windows: [], chunks: [], chunkTimesMs: [] };
  let current = 0;
  const index = {
    writeChunk: async (entries: readonly IndexEntry[], _before: unknown, _after: unknown, chunk: { first: boolean; last: boolean }): Promise<boolean> => {
      written.chunks.push([...entries]);
      written.chunkTimesMs.push(performance.now());
      if (chunk.first) current = 0;
      current += entries.length;
      if (commitMs > 0) await sleep(commitMs);
      if (chunk.last) written.windows.push(current);
      return true;
    },
  } as unknown as TxIdIndex;
  let failure: Error | undefined;
  const behind = new IndexBehind({
    index,
    indexedTip: { height: 0, lastHash: EMPTY },
    chunkGapMs: 0,
    ...o,
    tipAfter: (number) => ({ height: number + 1, lastHash: EMPTY }),
    failure: () => failure,
    fail: (err) => (failure = err instanceof Error ? err : new Error(String(err))),
  });
  return { behind, written };
}

let nextId = 0;
const block = (number: number, ids: number): IndexBlock => ({ number, txIds: Array.from({ length: ids }, () => `id-${nextId++}`) });

test('enough ids start a window at once, also when they arrive just as the window before is written', async () => {
  // Every number of microtasks between the two windows: the second must never wait for its time.
  for (let turns = 0; turns < 12; turns++) {
    const { behind, written } = indexBehind(0, { windowMs: 60_000, windowTxIds: 4, chunkTxIds: 2 });
    behind.add([block(0, 4)]);
    for (let i = 0; i < turns; i++) await Promise.resolve();
    const second = block(1, 4);
    behind.add([second]);
    for (let waited = 0; written.windows.length < 2 && waited < 1_000; waited += 5) await sleep(5);
    expect({ turns, windows: written.windows }).toEqual({ turns, windows: [4, 4] });
    expect(behind.lookup(second.txIds[0]!)).toBeUndefined(); // indexed: no longer answered from memory
    behind.stop();
  }
});

test('a window started by its time takes what came meanwhile; blocks arriving while it is written wait for their own window', async () => {
  // 10 ids a millisecond or so, a commit takes 3 ms, a window's time is 100 ms.
  const { behind, written } = indexBehind(3, { windowMs: 100, windowTxIds: 32_768, chunkTxIds: 2_000 });
  let number = 0;
  const startedMs = Date.now();
  while (Date.now() - startedMs < 700) {
    behind.add([block(number++, 10)]);
    await sleep(1);
  }
  await behind.flush();
  behind.stop();
  const ids = written.windows.reduce((a, b) => a + b, 0);
  expect(ids).toBe(number * 10);
  // About one window per 100 ms (and the last one of the flush), not a window per commit.
  expect(written.windows.length).toBeLessThanOrEqual(12);
  expect(Math.min(...written.windows.slice(0, -1))).toBeGreaterThan(40);
});

test("a window's chunks are sorted by key, and an id's occurrences stay in block order", async () => {
  const { behind, written } = indexBehind(0, { windowMs: 60_000, windowTxIds: 1_000, chunkTxIds: 3 });
  const hex = (first: string): string => first.padEnd(64, '0');
  // Fabric ids (hex) sort by their packed bytes; 'b0…' appears in blocks 0 and 2.
  behind.add([
    { number: 0, txIds: [hex('c0'), hex('b0'), 'zeta', hex('a0')] },
    { number: 1, txIds: ['alpha', hex('ff')] },
    { number: 2, txIds: [hex('b0'), '', hex('00')] },
  ]);
  await behind.flush();
  const entries = written.chunks.flat();
  expect(entries.map((e) => [e.txId.slice(0, 2), e.blockNumber, e.txIndex])).toEqual([
    ['00', 2, 2],
    ['a0', 0, 3],
    ['b0', 0, 1],
    ['b0', 2, 0],
    ['c0', 0, 0],
    ['ff', 1, 1],
    ['al', 1, 0], // ids that are not packed come after, by their UTF-8 bytes
    ['ze', 0, 2],
  ]);
  expect(written.chunks.map((c) => c.length)).toEqual([3, 3, 2]);
});

test("a window's chunks are paced while the index keeps up, and written back to back when a full window waits", async () => {
  const gaps = (times: number[]): number[] => times.slice(1).map((t, i) => t - times[i]!);
  // Keeping up: 12 ids, 4 per chunk, nothing behind them, the window started by its time.
  const paced = indexBehind(0, { windowMs: 1, windowTxIds: 100, chunkTxIds: 4, chunkGapMs: 40 });
  paced.behind.add([block(0, 12)]);
  for (let waited = 0; paced.written.windows.length < 1 && waited < 2_000; waited += 5) await sleep(5);
  expect(paced.written.chunks.map((c) => c.length)).toEqual([4, 4, 4]);
  for (const gap of gaps(paced.written.chunkTimesMs)) expect(gap).toBeGreaterThanOrEqual(35);
  paced.behind.stop();
  // Behind: a full window (8 ids) waits while the first is written, so no pauses.
  const behind = indexBehind(0, { windowMs: 60_000, windowTxIds: 8, chunkTxIds: 4, chunkGapMs: 40 });
  behind.behind.add([block(0, 8), block(1, 8), block(2, 8)]);
  await behind.behind.flush();
  expect(behind.written.windows).toEqual([8, 8, 8]);
  const firstWindowGap = gaps(behind.written.chunkTimesMs)[0]!;
  expect(firstWindowGap).toBeLessThan(35);
});

test('a flush (a close) writes the window under way and the rest without pauses', async () => {
  const { behind, written } = indexBehind(0, { windowMs: 1, windowTxIds: 100, chunkTxIds: 2, chunkGapMs: 200 });
  behind.add([block(0, 10)]);
  // The window's first chunk is written, and it pauses before the second.
  for (let waited = 0; written.chunks.length < 1 && waited < 2_000; waited += 5) await sleep(5);
  behind.add([block(1, 4)]);
  const startedMs = performance.now();
  await behind.flush();
  // At most the one pause already begun (200 ms), not the 5 more of a paced window and its successor.
  expect(performance.now() - startedMs).toBeLessThan(600);
  expect(written.windows).toEqual([10, 4]);
  behind.stop();
});
