// Stream plumbing shared by both sides of AtomicBroadcast (the Broadcast and Deliver handlers,
// the Deliver and Broadcast clients): pull-style reading with flow control, writing with
// backpressure, and ending a server call with a gRPC status.
//
// A module of its own so that the services (broadcast.ts, deliver.ts) and their registration
// (grpc-service.ts) depend on it and not on each other: the registration imports the services,
// never the other way round.
import type * as grpc from '@grpc/grpc-js';
import type { Listener } from './atomic-broadcast';

/** What a stream is to the helpers here: its events, and pause/resume for the reader. */
interface EventSource {
  on<A extends unknown[]>(event: string, listener: Listener<A>): unknown;
  off<A extends unknown[]>(event: string, listener: Listener<A>): unknown;
}
interface PausableSource extends EventSource {
  readonly destroyed: boolean;
  pause(): unknown;
  resume(): unknown;
}
interface MessageSink<T> extends EventSource {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  write(message: T): boolean;
}

/** Ends a call with a gRPC error status (for failures outside the protocol's own statuses). */
export function failCall(
  call: { readonly destroyed: boolean; emit(event: 'error', status: { code: grpc.status; details: string }): boolean },
  code: grpc.status,
  details: string,
): void {
  if (call.destroyed) return;
  const error = { code, details };
  // grpc-js turns an 'error' event on a server stream into the call's final status.
  call.emit('error', error);
}

/**
 * Pull-style reading of a gRPC stream's messages with flow control: at most `maxBuffered`
 * messages wait here; beyond that the stream is paused, so grpc-js stops reading and HTTP/2
 * flow control pushes back on the sender instead of memory growing.
 *
 * next() resolves with the next message, or undefined once the stream ended, closed or was
 * cancelled; after the buffered messages it rejects with the stream's error, if it had one.
 */
export class InboundMessages<T> {
  private readonly buffered: T[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  private readonly onData = (message: T): void => {
    this.buffered.push(message);
    if (this.buffered.length >= this.maxBuffered) this.stream.pause();
    this.notify();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };
  private readonly onError = (err: Error): void => {
    this.failure ??= err;
    this.onEnd();
  };

  constructor(
    private readonly stream: PausableSource,
    private readonly maxBuffered = 1,
  ) {
    if (!(maxBuffered >= 1)) throw new RangeError(`maxBuffered must be at least 1, got ${maxBuffered}`);
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
    if (stream.destroyed) this.ended = true;
  }

  async next(): Promise<T | undefined> {
    for (;;) {
      const message = this.takeBuffered();
      if (message !== undefined) return message;
      if (this.ended) {
        if (this.failure !== undefined) throw this.failure;
        return undefined;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  /**
   * The next message if one is already buffered, without a promise; undefined when none is (then
   * next() waits for one or tells the end). For readers that take every message of a burst.
   */
  takeBuffered(): T | undefined {
    if (this.buffered.length === 0) return undefined;
    const message = this.buffered.shift() as T;
    if (this.buffered.length < this.maxBuffered && !this.ended) this.stream.resume();
    return message;
  }

  /** Stops listening (the stream itself is left as it is). */
  dispose(): void {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    this.stream.off('error', this.onError);
    this.ended = true;
    this.buffered.length = 0;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * Writes one message and, when the stream's buffer is full, waits for 'drain' before
 * resolving: a slow reader makes its own stream wait and nobody else. Resolves false if the
 * stream is gone (closed, errored, cancelled) or `signal` aborts.
 */
export function writeWithBackpressure<T>(stream: MessageSink<T>, message: T, signal?: AbortSignal): Promise<boolean> {
  if (stream.destroyed || stream.writableEnded || signal?.aborted === true) return Promise.resolve(false);
  if (stream.write(message)) return Promise.resolve(true);
  return drained(stream, signal);
}

/**
 * After a write() that returned false: resolves true at 'drain', false if the stream is gone
 * first (closed, errored, cancelled) or `signal` aborts.
 */
export function drained(stream: EventSource & { readonly destroyed?: boolean; readonly writableEnded?: boolean }, signal?: AbortSignal): Promise<boolean> {
  // A call that ended (with a status of its own) or a signal that fired while the write was
  // being made would never send the events waited for below.
  if (stream.destroyed === true || stream.writableEnded === true || signal?.aborted === true) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const settle = (written: boolean): void => {
      stream.off('drain', onDrain);
      stream.off('close', onGone);
      stream.off('error', onGone);
      signal?.removeEventListener('abort', onGone);
      resolve(written);
    };
    const onDrain = (): void => settle(true);
    const onGone = (): void => settle(false);
    stream.on('drain', onDrain);
    stream.on('close', onGone);
    stream.on('error', onGone);
    signal?.addEventListener('abort', onGone, { once: true });
  });
}
