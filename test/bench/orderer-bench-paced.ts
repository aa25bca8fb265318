// Rate-limited Broadcast load for the latency run: `ratePerSecond` envelopes per second until a
// prepared load is sent, spread round-robin over `streams` streams (stream i on orderers[i % length]).
// Same envelopes and client as cmd/client-load.ts (prepareLoad, BroadcastClient); that
// generator sends as fast as the orderer answers, this one on a schedule: every tick it sends
// what the schedule says is due by now, so a slow moment is caught up rather than lost.
// The envelopes come from a PreparedLoad (built and signed ahead, so signing is not in the
// latency run either), which records when each one was sent.
import type * as grpc from '@grpc/grpc-js';
import type { PreparedLoad } from '../../cmd/client-load';
import { BroadcastClient } from '../../orderer/deliver-client';
import { dialOrderer } from '../../orderer/atomic-broadcast';
import { common } from '../../protos';

export interface PacedLoadOptions {
  orderers: readonly string[];
  streams: number;
  ratePerSecond: number;
  /** The envelopes to send, all of them (e.g. a whole number of blocks). */
  prepared: PreparedLoad;
  tls?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
  /** Envelopes a stream keeps unanswered at most; a full stream is skipped until it has room. */
  windowPerStream?: number;
  signal?: AbortSignal;
}

export interface PacedLoadProgress {
  sent: number;
  answered: number;
  succeeded: number;
}

export interface PacedLoadReport {
  sent: number;
  succeeded: number;
  failed: number;
  elapsedMs: number;
  /** What was sent per second (below the target rate when the orderer pushed back). */
  sentPerSecond: number;
  errors: string[];
}

const TICK_MS = 2;

export async function runPacedLoad(options: PacedLoadOptions, progress: PacedLoadProgress = { sent: 0, answered: 0, succeeded: 0 }): Promise<PacedLoadReport> {
  const { orderers, streams: streamCount, ratePerSecond, prepared } = options;
  const window = options.windowPerStream ?? 256;
  const total = prepared.remaining;
  const clients = new Map<string, grpc.Client>();
  for (const address of new Set(orderers)) clients.set(address, dialOrderer(address, { tls: options.tls, channelOptions: options.channelOptions }));
  const streams = Array.from({ length: streamCount }, (_, i) => {
    const address = orderers[i % orderers.length] as string;
    return new BroadcastClient(address, { client: clients.get(address) as grpc.Client });
  });
  const errors = new Set<string>();
  let failed = 0;
  let settled = 0;
  let next = 0;
  let allSettled: (() => void) | undefined;
  const onSettled = (): void => {
    settled++;
    progress.answered++;
    if (settled >= progress.sent) allSettled?.();
  };
  const startedMs = Date.now();
  let lastSendMs = startedMs;
  try {
    while (progress.sent < total && options.signal?.aborted !== true) {
      const dueCount = Math.min(total, Math.floor(((Date.now() - startedMs) * ratePerSecond) / 1000));
      let skipped = 0;
      while (progress.sent < dueCount && skipped < streams.length) {
        const stream = streams[next] as BroadcastClient;
        next = (next + 1) % streams.length;
        if (stream.ended) throw new Error(`a Broadcast stream to ${stream.address} ended: ${stream.failure?.message ?? 'unknown'}`);
        if (stream.inflight >= window) {
          skipped++;
          continue;
        }
        skipped = 0;
        progress.sent++;
        lastSendMs = Date.now();
        stream.send(prepared.take() as Uint8Array).then(
          (response) => {
            if (response.status === common.Status.SUCCESS) progress.succeeded++;
            else {
              failed++;
              errors.add(`status ${response.status}`);
            }
            onSettled();
          },
          (err: unknown) => {
            failed++;
            errors.add(err instanceof Error ? err.message : String(err));
            onSettled();
          },
        );
      }
      await new Promise<void>((resolve) => setTimeout(resolve, TICK_MS));
    }
    if (settled < progress.sent) {
      await new Promise<void>((resolve) => {
        allSettled = resolve;
        if (settled >= progress.sent) resolve();
      });
    }
  } finally {
    for (const s of streams) s.cancel();
    for (const c of clients.values()) c.close();
  }
  const elapsedMs = Date.now() - startedMs;
  const sendingMs = Math.max(1, lastSendMs - startedMs);
  return {
    sent: progress.sent,
    succeeded: progress.succeeded,
    failed,
    elapsedMs,
    sentPerSecond: Math.round((progress.sent * 1000) / sendingMs),
    errors: [...errors].slice(0, 5),
  };
}
