// Organisations with real MSPs for test channels: since policies are enforced, a channel whose
// MSPs have no CA cannot be opened. Writes cryptogen-layout material (orderer/msp/generate.ts)
// under `dir`/msps and returns the organisation specs for a genesis block and each orderer's local MSP.
import path from 'node:path';
import type { OrganizationSpec } from '../../orderer/channelconfig';
import { defaultSpec, generateCryptoMaterial } from '../../orderer/msp/generate';
import { mspConfigFromDir } from '../../orderer/msp/msp-dir';

export interface TestMsps {
  /** OrdererMSP, with its orderer endpoints. */
  ordererOrg(endpoints: readonly string[]): OrganizationSpec;
  /** Org1MSP. */
  readonly clientOrg: OrganizationSpec;
  /** General.LocalMSPDir of orderer i (0-based), MSP ID OrdererMSP. */
  readonly ordererMspDirs: readonly string[];
  /** Org1's User1 MSP folder. */
  readonly clientMspDir: string;
}

export function writeTestMsps(dir: string, orderers: number): TestMsps {
  const orgs = generateCryptoMaterial(path.join(dir, 'msps'), defaultSpec(orderers, 1));
  const ordererOrg = orgs.find((o) => o.mspId === 'OrdererMSP')!;
  const clientOrg = orgs.find((o) => o.mspId === 'Org1MSP')!;
  const ordererMsp = mspConfigFromDir(ordererOrg.mspDir, 'OrdererMSP');
  return {
    ordererOrg: (endpoints) => ({ mspId: 'OrdererMSP', msp: ordererMsp, endpoints: [...endpoints] }),
    clientOrg: { mspId: 'Org1MSP', msp: mspConfigFromDir(clientOrg.mspDir, 'Org1MSP') },
    ordererMspDirs: ordererOrg.orderers.map((o) => o.mspDir),
    clientMspDir: clientOrg.users.find((u) => u.name.startsWith('User1@'))!.mspDir,
  };
}
