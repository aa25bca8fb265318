// Why a node campaigns. A transfer campaign (after MsgTimeoutNow) skips pre-vote and is
// marked in the vote's context so voters honour it despite their leader lease.

export enum CampaignType {
  PreElection = 'pre-election',
  Election = 'election',
  Transfer = 'transfer',
}

/** Context of a transfer MsgVote; the same bytes as etcd so mixed clusters recognise it. */
export const CAMPAIGN_TRANSFER_CONTEXT: Uint8Array = new TextEncoder().encode('CampaignTransfer');
