import { getEventListeners } from 'node:events';
import { open } from 'lmdb';
import { BlockStoreError, channelStoreDir, openBlockStore, type LmdbBlockStore, type StoredBlock } from '../../ledger';
import { ChainBuilder, SeededRandom } from './fixtures/chain';
import { silentLogger, tempDir } from './helpers';

let tmp: ReturnType<typeof tempDir>;
let store: LmdbBlockStore;
let chain: ChainBuilder;
const random = new SeededRandom(77);

beforeEach(async () => {
  tmp = tempDir('iter');
  store = await openBlockStore({ dir: tmp.dir, channelId: 'iterchannel', logger: silentLogger });
  chain = new ChainBuilder();
});

afterEach(async () => {
  await store.close();
  tmp.remove();
});

const appendSome = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await store.append(chain.nextSimple(random, 32));
};

/** Resolves to 'pending' if the promise has not settled after the event loop has had a few turns. */
async function stateOf<T>(p: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 20))]);
}

test('yields the stored blocks from the start number, then waits and is woken by appends', async () => {
  await appendSome(5);
  const it = store.iterate(2);
  expect((await it.next()).value?.number).toBe(2);
  expect((await it.next()).value?.number).toBe(3);
  expect((await it.next()).value?.number).toBe(4);
  const waiting = it.next();
  expect(await stateOf(waiting)).toBe('pending');
  expect(store.stats().waitingIterators).toBe(1);
  await appendSome(1);
  const woken = await waiting;
  expect(woken.done).toBe(false);
  expect((woken.value as StoredBlock).number).toBe(5);
  await it.return();
  expect(store.stats()).toMatchObject({ waitingIterators: 0, openIterators: 0 });
});

test('a start number beyond the height waits until that block exists', async () => {
  await appendSome(1);
  const it = store.iterate(3);
  const first = it.next();
  await appendSome(2);
  expect(await stateOf(first)).toBe('pending');
  await appendSome(1);
  expect((await first).value?.number).toBe(3);
  await it.return();
});

test('for-await over the iterator sees every block in order, including ones appended while it runs', async () => {
  await appendSome(3);
  const seen: number[] = [];
  const consumer = (async () => {
    for await (const block of store.iterate(0)) {
      seen.push(block.number);
      if (block.number === 9) break; // break calls return()
    }
  })();
  await appendSome(7);
  await consumer;
  expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  expect(store.stats()).toMatchObject({ waitingIterators: 0, openIterators: 0 });
});

test('return() while next() is waiting ends it at once with done', async () => {
  const it = store.iterate(0);
  const waiting = it.next();
  expect(await stateOf(waiting)).toBe('pending');
  await it.return();
  await expect(waiting).resolves.toEqual({ done: true, value: undefined });
  await expect(it.next()).resolves.toMatchObject({ done: true });
  expect(store.stats()).toMatchObject({ waitingIterators: 0, openIterators: 0 });
});

test('aborting the signal mid-wait ends the iteration and removes the abort listener', async () => {
  const controller = new AbortController();
  const it = store.iterate(0, { signal: controller.signal });
  expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
  const waiting = it.next();
  expect(await stateOf(waiting)).toBe('pending');
  controller.abort();
  await expect(waiting).resolves.toMatchObject({ done: true });
  expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  expect(store.stats()).toMatchObject({ waitingIterators: 0, openIterators: 0 });
});

test('an iterator stopped by return() lets go of its signal too', async () => {
  const controller = new AbortController();
  const it = store.iterate(0, { signal: controller.signal });
  await it.return();
  expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  const preAborted = store.iterate(0, { signal: AbortSignal.abort() });
  await expect(preAborted.next()).resolves.toMatchObject({ done: true });
});

test('200 concurrent iterators all receive each new block and all stop cleanly', async () => {
  await appendSome(2);
  const readers = 200;
  const controllers = Array.from({ length: readers }, () => new AbortController());
  const seen: number[][] = Array.from({ length: readers }, () => []);
  const consumers = controllers.map(async (controller, i) => {
    for await (const block of store.iterate(0, { signal: controller.signal })) seen[i]!.push(block.number);
  });
  // let every reader catch up and park
  for (let turn = 0; turn < 1000 && store.stats().waitingIterators < readers; turn++) await new Promise((r) => setTimeout(r, 5));
  expect(store.stats().waitingIterators).toBe(readers);
  const started = process.hrtime.bigint();
  await appendSome(3);
  for (let turn = 0; turn < 1000 && seen.some((s) => s.length < 5); turn++) await new Promise((r) => setTimeout(r, 5));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  expect(seen.every((s) => s.join() === '0,1,2,3,4')).toBe(true);
  expect(elapsedMs).toBeLessThan(5000);
  controllers.forEach((c) => c.abort());
  await Promise.all(consumers);
  expect(store.stats()).toMatchObject({ waitingIterators: 0, openIterators: 0 });
  for (const c of controllers) expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
});

test('closing the store makes a waiting next() reject with BlockStoreError closed', async () => {
  const it = store.iterate(0);
  const waiting = it.next();
  expect(await stateOf(waiting)).toBe('pending');
  await store.close();
  await expect(waiting).rejects.toMatchObject({ reason: 'closed' });
  await expect(waiting).rejects.toBeInstanceOf(BlockStoreError);
  store = await openBlockStore({ dir: tmp.dir, channelId: 'iterchannel', logger: silentLogger });
});

describe('blocks appended readable before durable (what a Raft-committed block is)', () => {
  test('iterators yield them while their commit is under way; height, getBlock and getByTxId wait for it', async () => {
    await appendSome(1);
    const it = store.iterate(1);
    const waiting = it.next();
    expect(await stateOf(waiting)).toBe('pending');
    const block = chain.nextSimple(random, 8);
    const order: string[] = [];
    const append = store.appendBatch([block], { readableBeforeDurable: true }).then(() => order.push('durable'));
    const yielded = await waiting;
    order.push('yielded');
    expect(yielded.value?.number).toBe(1);
    expect(Buffer.from(yielded.value!.bytes).equals(Buffer.from(block))).toBe(true);
    // Not durable yet: the store's own view is unchanged; Deliver plans its seeks with readableHeight.
    expect(store.readableHeight()).toBe(2);
    expect(store.height()).toBe(1);
    expect(store.getBlock(1)).toBeUndefined();
    expect(store.getByTxId('tx-1')).toBeUndefined();
    await append;
    expect(order).toEqual(['yielded', 'durable']);
    expect(store.height()).toBe(2);
    expect(store.getByTxId('tx-1')).toEqual({ blockNumber: 1, txIndex: 0 });
    // After its commit it is read as any durable block, from a new iterator too.
    const again = store.iterate(1);
    expect((await again.next()).value?.number).toBe(1);
    await again.return();
    await it.return();
  });

  test('without the option an iterator gets a block only once it is durable', async () => {
    const it = store.iterate(0);
    const order: string[] = [];
    const waiting = it.next().then((r) => {
      order.push(`yielded ${r.value?.number}`);
    });
    await store.appendBatch([chain.nextSimple(random, 8)]).then(() => order.push('durable'));
    await waiting;
    expect(order).toEqual(['durable', 'yielded 0']);
    await it.return();
  });

  test('a failed write takes its blocks back: an iterator not yet at them does not get them', async () => {
    await appendSome(1);
    // Another writer moves the tip behind the store's back: the next commit fails as a conflict.
    const raw = open({ path: channelStoreDir(tmp.dir, 'iterchannel'), maxDbs: 4, overlappingSync: false });
    try {
      const meta = raw.openDB('meta', { encoding: 'binary', keyEncoding: 'binary' });
      const tip = Buffer.alloc(40);
      tip.writeUInt32BE(7, 4);
      await meta.put(Buffer.from('tip'), tip);
    } finally {
      await raw.close();
    }
    const early = store.iterate(1);
    const failed = store.appendBatch([chain.nextSimple(random, 8)], { readableBeforeDurable: true });
    // A reader already waiting gets it at once (a Raft-committed block is final)...
    expect((await early.next()).value?.number).toBe(1);
    await expect(failed).rejects.toMatchObject({ reason: 'conflict' });
    // ...and then waits at the next number; a reader not yet at it does not get it.
    expect(await stateOf(early.next())).toBe('pending');
    const late = store.iterate(1);
    expect(await stateOf(late.next())).toBe('pending');
    expect(store.readableHeight()).toBe(1);
    expect(store.height()).toBe(1);
    await early.return();
    await late.return();
  });

  test('behind a durable-only batch still being committed they wait for their own commit', async () => {
    await appendSome(1);
    const it = store.iterate(1);
    const durableOnly = store.appendBatch([chain.nextSimple(random, 8)]);
    const early = store.appendBatch([chain.nextSimple(random, 8)], { readableBeforeDurable: true });
    expect(store.readableHeight()).toBe(1);
    expect((await it.next()).value?.number).toBe(1);
    expect((await it.next()).value?.number).toBe(2);
    await Promise.all([durableOnly, early]);
    expect(store.height()).toBe(3);
    await it.return();
  });

  test('batches appended back to back are readable in one run, before either is durable', async () => {
    await appendSome(1);
    const first = store.appendBatch([chain.nextSimple(random, 8)], { readableBeforeDurable: true });
    const second = store.appendBatch([chain.nextSimple(random, 8), chain.nextSimple(random, 8)], { readableBeforeDurable: true });
    expect(store.readableHeight()).toBe(4);
    const it = store.iterate(1);
    const numbers: number[] = [];
    for (let i = 0; i < 3; i++) numbers.push((await it.next()).value!.number);
    expect(numbers).toEqual([1, 2, 3]);
    await Promise.all([first, second]);
    expect(store.height()).toBe(4);
    await it.return();
  });
});
