// Config updates as an operator makes them: a ConfigUpdate of the current config, signed by the
// admins its mod_policies need, in a CONFIG_UPDATE envelope from a submitter.
import { randomBytes } from 'node:crypto';
import { buildEnvelope } from '../../orderer/envelopes';
import type { SigningIdentity } from '../../orderer/msp/types';
import { configEnvelopeOfBlock } from '../../orderer/chain/channel-config';
import { common, etcdraft, orderer } from '../../protos';

/** A ConfigSignature of `configUpdate` by `signer` (signed data = signature_header ‖ config_update). */
export function configSignature(configUpdate: Uint8Array, signer: SigningIdentity): common.ConfigSignatureInit {
  const signatureHeader = common.SignatureHeader.encode({ creator: signer.serialized, nonce: randomBytes(24) });
  const data = new Uint8Array(signatureHeader.length + configUpdate.length);
  data.set(signatureHeader, 0);
  data.set(configUpdate, signatureHeader.length);
  return { signatureHeader, signature: signer.sign(data) };
}

/** A CONFIG_UPDATE envelope carrying `update`, signed by `signers` and submitted by `submitter`. */
export function configUpdateEnvelope(channelId: string, update: common.ConfigUpdateInit, signers: readonly SigningIdentity[], submitter: SigningIdentity): { bytes: Uint8Array; txId: string } {
  const configUpdate = common.ConfigUpdate.encode(update);
  const data = common.ConfigUpdateEnvelope.encode({ configUpdate, signatures: signers.map((s) => configSignature(configUpdate, s)) });
  return buildEnvelope({
    channelId,
    type: common.HeaderType.CONFIG_UPDATE,
    data,
    signer: { creator: submitter.serialized, sign: (payload) => submitter.sign(payload) },
  });
}

/**
 * The update that sets the value `key` of /Channel/Orderer to `value` (version + 1, same
 * mod_policy; read set: the Orderer group at its version), as configtxlator compute_update makes it.
 */
export function ordererValueUpdate(channelId: string, config: common.Config, key: string, value: Uint8Array): common.ConfigUpdateInit {
  const ordererGroup = config.channelGroup!.groups['Orderer']!;
  const current = ordererGroup.values[key]!;
  return {
    channelId,
    readSet: { groups: { Orderer: { version: ordererGroup.version } } },
    writeSet: { groups: { Orderer: { version: ordererGroup.version, values: { [key]: { version: current.version + 1, modPolicy: current.modPolicy, value } } } } },
  };
}

/** The update that sets /Channel/Orderer/BatchSize of `config` to `batchSize`. */
export function batchSizeUpdate(channelId: string, config: common.Config, batchSize: { maxMessageCount: number; absoluteMaxBytes: number; preferredMaxBytes: number }): common.ConfigUpdateInit {
  return ordererValueUpdate(channelId, config, 'BatchSize', orderer.BatchSize.encode(batchSize));
}

/** The config a config block carries. */
export function configOfBlock(block: common.Block): common.Config {
  const config = configEnvelopeOfBlock(block)?.config;
  if (config === undefined) throw new Error(`block ${block.header?.number} is not a config block`);
  return config;
}


/** A consenter as the etcdraft metadata lists it (PEM certificates). */
export interface ConsenterEntry {
  host: string;
  port: number;
  clientTlsCert: Uint8Array;
  serverTlsCert: Uint8Array;
}

/** The consenters of a config (etcdraft ConfigMetadata of /Channel/Orderer/ConsensusType). */
export function consentersOf(config: common.Config): ConsenterEntry[] {
  const ct = orderer.ConsensusType.decode(config.channelGroup!.groups['Orderer']!.values['ConsensusType']!.value);
  return etcdraft.ConfigMetadata.decode(ct.metadata).consenters.map((c) => ({ host: c.host, port: c.port, clientTlsCert: c.clientTlsCert, serverTlsCert: c.serverTlsCert }));
}

/** The update that replaces the consenter list of `config` with `consenters` (ConsensusType version + 1). */
export function consentersUpdate(channelId: string, config: common.Config, consenters: readonly etcdraft.ConsenterInit[]): common.ConfigUpdateInit {
  const ct = orderer.ConsensusType.decode(config.channelGroup!.groups['Orderer']!.values['ConsensusType']!.value);
  const metadata = etcdraft.ConfigMetadata.encode({ ...etcdraft.ConfigMetadata.decode(ct.metadata), consenters: consenters.map((c) => ({ ...c })) });
  return ordererValueUpdate(channelId, config, 'ConsensusType', orderer.ConsensusType.encode({ ...ct, metadata }));
}
