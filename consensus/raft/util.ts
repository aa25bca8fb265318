// Small helpers shared by the log, storage and state machine: entry sizes as they go on
// the wire, byte-capped slicing, and classification of message types.
import { raftpb, varintSize } from '../../protos';

const MessageType = raftpb.MessageType;

/** Encoded size of an Entry (gogoproto writes type, term and index always, data when present). */
export function entrySizeBytes(e: raftpb.Entry): number {
  const dataLength = e.data.length;
  return (
    3 +
    varintSize(e.type) +
    varintSize(e.term) +
    varintSize(e.index) +
    (dataLength > 0 ? 1 + varintSize(dataLength) + dataLength : 0)
  );
}

export function entriesSizeBytes(entries: readonly raftpb.Entry[]): number {
  let total = 0;
  for (const e of entries) total += entrySizeBytes(e);
  return total;
}

/**
 * Longest prefix of entries whose total size stays within maxBytes; always at least one
 * entry so a single oversized entry still makes progress (etcd's limitSize rule; a cap of 0
 * therefore means one entry at a time). Infinity means no limit.
 */
export function limitSize(entries: raftpb.Entry[], maxBytes: number): raftpb.Entry[] {
  if (entries.length <= 1 || maxBytes === Number.POSITIVE_INFINITY) return entries;
  let size = entrySizeBytes(entries[0]!);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySizeBytes(entries[n]!);
    if (size > maxBytes) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

/** Message types that only ever travel inside one node (never on the wire). */
export function isLocalMsg(type: raftpb.MessageType): boolean {
  return (
    type === MessageType.MsgHup ||
    type === MessageType.MsgBeat ||
    type === MessageType.MsgUnreachable ||
    type === MessageType.MsgSnapStatus ||
    type === MessageType.MsgCheckQuorum ||
    type === MessageType.MsgStorageAppend ||
    type === MessageType.MsgStorageAppendResp ||
    type === MessageType.MsgStorageApply ||
    type === MessageType.MsgStorageApplyResp
  );
}

/** Responses: a node must know the sender's progress to accept them. */
export function isResponseMsg(type: raftpb.MessageType): boolean {
  return (
    type === MessageType.MsgAppResp ||
    type === MessageType.MsgVoteResp ||
    type === MessageType.MsgHeartbeatResp ||
    type === MessageType.MsgUnreachable ||
    type === MessageType.MsgPreVoteResp
  );
}

export function voteRespMsgType(type: raftpb.MessageType): raftpb.MessageType {
  if (type === MessageType.MsgVote) return MessageType.MsgVoteResp;
  if (type === MessageType.MsgPreVote) return MessageType.MsgPreVoteResp;
  throw new RangeError(`not a vote message: ${MessageType[type]}`);
}

/**
 * A fresh Message with every field at its default; callers fill in what they need. Built
 * field by field so every message shares one object shape (fast property access in V8).
 */
export function newMessage(init: Partial<raftpb.Message>): raftpb.Message {
  return {
    type: init.type ?? MessageType.MsgHup,
    to: init.to ?? 0,
    from: init.from ?? 0,
    term: init.term ?? 0,
    logTerm: init.logTerm ?? 0,
    index: init.index ?? 0,
    entries: init.entries ?? [],
    commit: init.commit ?? 0,
    snapshot: init.snapshot,
    reject: init.reject ?? false,
    rejectHint: init.rejectHint ?? 0,
    context: init.context ?? EMPTY,
    vote: init.vote ?? 0,
    responses: init.responses ?? [],
  };
}

export const EMPTY: Uint8Array = new Uint8Array(0);

export function emptyConfState(): raftpb.ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export function emptySnapshot(): raftpb.Snapshot {
  return { data: EMPTY, metadata: { confState: emptyConfState(), index: 0, term: 0 } };
}

export function isEmptySnapshot(s: raftpb.Snapshot | undefined): boolean {
  return s === undefined || s.metadata.index === 0;
}

export function isEmptyHardState(h: raftpb.HardState): boolean {
  return h.term === 0 && h.vote === 0 && h.commit === 0;
}

export function hardStateEqual(a: raftpb.HardState, b: raftpb.HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function cloneConfState(cs: raftpb.ConfState): raftpb.ConfState {
  return {
    voters: [...cs.voters],
    learners: [...cs.learners],
    votersOutgoing: [...cs.votersOutgoing],
    learnersNext: [...cs.learnersNext],
    autoLeave: cs.autoLeave,
  };
}
