// Flow control window for one follower: the last index of each MsgApp sent but not yet
// acknowledged, oldest first. While the window is full the leader stops sending entries to
// that follower (maxInflightMsgs bounds memory and network use per peer).
import type { RaftIndex } from './api';
import { RaftInvariantError } from './errors';

export class Inflights {
  private readonly buffer: RaftIndex[];
  private start = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity <= 0) {
      throw new RangeError(`maxInflightMsgs must be a positive integer, got ${capacity}`);
    }
    this.buffer = new Array<RaftIndex>(capacity).fill(0);
  }

  get count(): number {
    return this.size;
  }

  full(): boolean {
    return this.size === this.capacity;
  }

  /** Record a MsgApp whose last entry is lastIndex; indexes must be added in increasing order. */
  add(lastIndex: RaftIndex): void {
    if (this.full()) throw new RaftInvariantError('cannot add into a full inflights window');
    const slot = (this.start + this.size) % this.capacity;
    this.buffer[slot] = lastIndex;
    this.size++;
  }

  /** Release every MsgApp whose last index is <= index (they are acknowledged). */
  freeLE(index: RaftIndex): void {
    while (this.size > 0 && this.buffer[this.start]! <= index) {
      this.start = (this.start + 1) % this.capacity;
      this.size--;
    }
    if (this.size === 0) this.start = 0;
  }

  reset(): void {
    this.start = 0;
    this.size = 0;
  }
}
