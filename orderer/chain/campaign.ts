// Which consenter starts the first election of a brand-new channel. Fabric picks one
// node deterministically from the channel name so that a fresh channel gets a leader
// after a couple of heartbeats instead of waiting out randomized election timeouts:
// x = varint decoded from bytes 24..31 of SHA-256(channel id), candidate = x mod n + 1.
import { createHash } from 'node:crypto';

export function designatedCampaigner(channelId: string, clusterSize: number): number {
  const digest = createHash('sha256').update(channelId, 'utf8').digest();
  let x = 0n;
  let shift = 0n;
  let terminated = false;
  for (let i = 24; i < 32; i++) {
    const b = digest[i]!;
    x |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) {
      terminated = true;
      break;
    }
  }
  // An unterminated varint decodes to 0, as Fabric's proto.DecodeVarint reports.
  if (!terminated) x = 0n;
  return Number(x % BigInt(clusterSize)) + 1;
}
