// Codecs for the peer messages channel configs hold, which the config JSON (json.ts) decodes in
// place; protos/ has no peer package.
import { checkEnd, decodeWith, delimitedEnd, type Reader, skipUnknown, wireTypeError, Writer } from '../../protos/runtime';

/** A peer message field by field, as json.ts builds and reads it. */
type PeerMessage = Record<string, unknown>;

interface PeerCodec {
  readonly typeName: string;
  encode(message: PeerMessage): Uint8Array;
  decode(bytes: Uint8Array): PeerMessage;
}

// The two peer messages channel configs hold (fabric-protos peer/configuration.proto), with codecs
// of their own since protos/ has no peer package: ACLs {map<string, APIResource> acls = 1},
// APIResource {string policy_ref = 1}, AnchorPeers {repeated AnchorPeer anchor_peers = 1},
// AnchorPeer {string host = 1; int32 port = 2}. Encoded as the generated codecs encode (defaults
// omitted, map entries sorted by key, key and value always written).
type AnchorPeer = { host: string; port: number };

function readString(r: Reader, t: number, type: string): string {
  if ((t & 7) !== 2) throw wireTypeError(type, t >>> 3, t & 7);
  return r.string();
}

function decodeApiResource(r: Reader, end: number): { policyRef: string } {
  const m = { policyRef: '' };
  while (r.pos < end) {
    const t = r.uint32();
    if (t >>> 3 === 1) m.policyRef = readString(r, t, 'peer.APIResource');
    else skipUnknown(r, t, 'peer.APIResource');
  }
  checkEnd(r, end, 'peer.APIResource');
  return m;
}

function encodeApiResource(w: Writer, m: PeerMessage): Writer {
  const policyRef = m['policyRef'] as string | undefined;
  if (policyRef) w.uint32(10).string(policyRef);
  return w;
}

function decodeAnchorPeer(r: Reader, end: number): AnchorPeer {
  const m: AnchorPeer = { host: '', port: 0 };
  while (r.pos < end) {
    const t = r.uint32();
    if (t >>> 3 === 1) m.host = readString(r, t, 'peer.AnchorPeer');
    else if (t >>> 3 === 2) {
      if ((t & 7) !== 0) throw wireTypeError('peer.AnchorPeer', 2, t & 7);
      m.port = r.int32();
    } else skipUnknown(r, t, 'peer.AnchorPeer');
  }
  checkEnd(r, end, 'peer.AnchorPeer');
  return m;
}

function encodeAnchorPeer(w: Writer, m: PeerMessage): Writer {
  const host = m['host'] as string | undefined;
  const port = m['port'] as number | undefined;
  if (host) w.uint32(10).string(host);
  if (port) w.uint32(16).int32(port);
  return w;
}

export const PEER_CODECS: Readonly<Record<string, PeerCodec>> = {
  'peer.APIResource': {
    typeName: 'peer.APIResource',
    encode: (m) => encodeApiResource(Writer.create(), m).finish(),
    decode: (b) => decodeWith(b, 'peer.APIResource', decodeApiResource),
  },
  'peer.ACLs': {
    typeName: 'peer.ACLs',
    encode: (m) => {
      const w = Writer.create();
      const acls = (m['acls'] as Record<string, PeerMessage> | undefined) ?? {};
      for (const k of Object.keys(acls).sort()) {
        w.uint32(10).fork().uint32(10).string(k);
        encodeApiResource(w.uint32(18).fork(), acls[k]!).ldelim();
        w.ldelim();
      }
      return w.finish();
    },
    decode: (b) =>
      decodeWith(b, 'peer.ACLs', (r, end) => {
        const acls = Object.create(null) as Record<string, { policyRef: string }>;
        while (r.pos < end) {
          const t = r.uint32();
          if (t >>> 3 !== 1) {
            skipUnknown(r, t, 'peer.ACLs');
            continue;
          }
          if ((t & 7) !== 2) throw wireTypeError('peer.ACLs', 1, t & 7);
          const e = delimitedEnd(r);
          let k = '';
          let v = { policyRef: '' };
          while (r.pos < e) {
            const et = r.uint32();
            if (et >>> 3 === 1) k = readString(r, et, 'peer.ACLs.acls entry');
            else if (et >>> 3 === 2) {
              if ((et & 7) !== 2) throw wireTypeError('peer.ACLs.acls entry', 2, et & 7);
              v = decodeApiResource(r, delimitedEnd(r));
            } else skipUnknown(r, et, 'peer.ACLs.acls entry');
          }
          checkEnd(r, e, 'peer.ACLs.acls entry');
          acls[k] = v;
        }
        checkEnd(r, end, 'peer.ACLs');
        return { acls };
      }),
  },
  'peer.AnchorPeer': {
    typeName: 'peer.AnchorPeer',
    encode: (m) => encodeAnchorPeer(Writer.create(), m).finish(),
    decode: (b) => decodeWith(b, 'peer.AnchorPeer', decodeAnchorPeer),
  },
  'peer.AnchorPeers': {
    typeName: 'peer.AnchorPeers',
    encode: (m) => {
      const w = Writer.create();
      for (const p of (m['anchorPeers'] as PeerMessage[] | undefined) ?? []) encodeAnchorPeer(w.uint32(10).fork(), p).ldelim();
      return w.finish();
    },
    decode: (b) =>
      decodeWith(b, 'peer.AnchorPeers', (r, end) => {
        const anchorPeers: AnchorPeer[] = [];
        while (r.pos < end) {
          const t = r.uint32();
          if (t >>> 3 !== 1) {
            skipUnknown(r, t, 'peer.AnchorPeers');
            continue;
          }
          if ((t & 7) !== 2) throw wireTypeError('peer.AnchorPeers', 1, t & 7);
          anchorPeers.push(decodeAnchorPeer(r, delimitedEnd(r)));
        }
        checkEnd(r, end, 'peer.AnchorPeers');
        return { anchorPeers };
      }),
  },
};
