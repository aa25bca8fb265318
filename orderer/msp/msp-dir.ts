// An MSP folder (as cryptogen or Fabric CA write it) as the msp.MSPConfig a channel config holds
// for that organisation: what configtxgen does with an organisation's MSPDir. cacerts,
// intermediatecerts, admincerts, tlscacerts, tlsintermediatecerts and crls are read as PEM files,
// and config.yaml's NodeOUs become fabric_node_ous with the named CA certificate inlined.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { msp } from '../../protos';
import { FABRIC_MSP_TYPE } from './x509-msp';

export class MspDirError extends Error {
  override readonly name: string = 'MspDirError';

  constructor(
    readonly file: string,
    reason: string,
  ) {
    super(`MSP folder ${file}: ${reason}`);
  }
}

type Role = 'client' | 'peer' | 'admin' | 'orderer';
const ROLES: readonly Role[] = ['client', 'peer', 'admin', 'orderer'];

export function mspConfigFromDir(mspDir: string, mspId: string): msp.MSPConfig {
  if (!existsSync(mspDir) || !statSync(mspDir).isDirectory()) throw new MspDirError(mspDir, 'is not a folder');
  const rootCerts = pemFiles(path.join(mspDir, 'cacerts'));
  if (rootCerts.length === 0) throw new MspDirError(path.join(mspDir, 'cacerts'), 'holds no CA certificate');
  const fabric: msp.FabricMSPConfigInit = {
    name: mspId,
    rootCerts,
    intermediateCerts: pemFiles(path.join(mspDir, 'intermediatecerts')),
    admins: pemFiles(path.join(mspDir, 'admincerts')),
    revocationList: pemFiles(path.join(mspDir, 'crls')),
    tlsRootCerts: pemFiles(path.join(mspDir, 'tlscacerts')),
    tlsIntermediateCerts: pemFiles(path.join(mspDir, 'tlsintermediatecerts')),
    cryptoConfig: { signatureHashFamily: 'SHA2', identityIdentifierHashFunction: 'SHA256' },
  };
  const nodeOus = readNodeOus(mspDir);
  const config = msp.FabricMSPConfig.encode(nodeOus === undefined ? fabric : { ...fabric, fabricNodeOus: nodeOus });
  return { type: FABRIC_MSP_TYPE, config };
}

function pemFiles(dir: string): Uint8Array[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((n) => path.join(dir, n))
    .filter((f) => statSync(f).isFile())
    .map((f) => new Uint8Array(readFileSync(f)));
}

function readNodeOus(mspDir: string): msp.FabricNodeOUsInit | undefined {
  const file = path.join(mspDir, 'config.yaml');
  if (!existsSync(file)) return undefined;
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MspDirError(file, `is not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  const nodeOus = field(doc, 'NodeOUs');
  if (nodeOus === undefined) return undefined;
  const out: msp.FabricNodeOUsInit = { enable: field(nodeOus, 'Enable') === true };
  for (const role of ROLES) {
    const key = `${role[0]!.toUpperCase()}${role.slice(1)}OUIdentifier`;
    const id = field(nodeOus, key);
    if (id === undefined) continue;
    const ou = field(id, 'OrganizationalUnitIdentifier');
    if (typeof ou !== 'string' || ou === '') throw new MspDirError(file, `NodeOUs.${key}.OrganizationalUnitIdentifier must be a non-empty string`);
    const certPath = field(id, 'Certificate');
    let certificate = new Uint8Array(0);
    if (certPath !== undefined) {
      if (typeof certPath !== 'string') throw new MspDirError(file, `NodeOUs.${key}.Certificate must be a path`);
      const certFile = path.join(mspDir, certPath);
      if (!existsSync(certFile)) throw new MspDirError(file, `NodeOUs.${key}.Certificate names ${certFile}, which does not exist`);
      certificate = new Uint8Array(readFileSync(certFile));
    }
    const identifier = { certificate, organizationalUnitIdentifier: ou };
    if (role === 'client') out.clientOuIdentifier = identifier;
    else if (role === 'peer') out.peerOuIdentifier = identifier;
    else if (role === 'admin') out.adminOuIdentifier = identifier;
    else out.ordererOuIdentifier = identifier;
  }
  return out;
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[key] : undefined;
}
