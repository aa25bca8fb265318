// Crypto material for a test or development network, in the folder layout Fabric's cryptogen
// writes, so Fabric's own tools (configtxgen, osnadmin, the peer CLI) read it as they read
// cryptogen's:
//   ordererOrganizations/<domain>/
//     ca/ca.<domain>-cert.pem, ca/priv_sk             the org's signing CA
//     tlsca/tlsca.<domain>-cert.pem, tlsca/priv_sk    the org's TLS CA
//     msp/{cacerts,tlscacerts,admincerts}/, msp/config.yaml (NodeOUs)   the org's MSP, for configtxgen
//     orderers/<host>/msp/{signcerts,keystore,cacerts,tlscacerts,admincerts}/, config.yaml
//     orderers/<host>/tls/{ca.crt,server.crt,server.key}
//     users/{Admin,User1}@<domain>/msp/..., tls/{ca.crt,client.crt,client.key}
//   peerOrganizations/<domain>/ the same with users only (client organisations of the devnet)
// Every identity is a P-256 leaf of its org's CA with the NodeOU (orderer, admin, client) in its
// OU, as cryptogen's with EnableNodeOUs; TLS certificates are leaves of the TLS CA with the host
// names (and localhost) as DNS names
// and 127.0.0.1 as an IP address. Nothing is ever overwritten: the output folder must not exist
// or be empty, and the material goes to a temporary sibling first and is renamed into place.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLeaf, createSelfSignedCa, KeyUsageFlags, privateKeyPem, type IssuedWithKey } from './x509-build';

/** One organisation of the generated network. */
export interface OrgSpec {
  /** The org's MSP ID, e.g. OrdererMSP, Org1MSP. */
  readonly mspId: string;
  /** Its domain: example.com, org1.example.com. */
  readonly domain: string;
  /** Host names of its orderer nodes (orderer organisations), e.g. orderer1.example.com. */
  readonly orderers?: readonly string[];
}

export interface GenerateSpec {
  readonly ordererOrgs: readonly OrgSpec[];
  /** Client organisations (applications): an Admin and a User1 each. */
  readonly peerOrgs: readonly OrgSpec[];
}

/** Where the material of one generated identity is. */
export interface GeneratedIdentity {
  readonly name: string;
  readonly mspDir: string;
  readonly tlsDir: string;
}

export interface GeneratedOrg {
  readonly mspId: string;
  readonly domain: string;
  readonly dir: string;
  /** The org MSP folder configtxgen reads (MSPDir in configtx.yaml). */
  readonly mspDir: string;
  readonly orderers: readonly GeneratedIdentity[];
  readonly users: readonly GeneratedIdentity[];
}

export class CryptoGenerateError extends Error {
  override readonly name: string = 'CryptoGenerateError';
}

const TLS_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const TLS_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** A spec as `npm start` uses it: one orderer org with `orderers` nodes, `clientOrgs` application orgs. */
export function defaultSpec(orderers: number, clientOrgs: number, domain = 'example.com'): GenerateSpec {
  if (!Number.isInteger(orderers) || orderers < 1) throw new CryptoGenerateError(`orderers must be a positive integer, got ${orderers}`);
  if (!Number.isInteger(clientOrgs) || clientOrgs < 0) throw new CryptoGenerateError(`client orgs must be a non-negative integer, got ${clientOrgs}`);
  return {
    ordererOrgs: [{ mspId: 'OrdererMSP', domain, orderers: Array.from({ length: orderers }, (_, i) => `orderer${i + 1}.${domain}`) }],
    peerOrgs: Array.from({ length: clientOrgs }, (_, i) => ({ mspId: `Org${i + 1}MSP`, domain: `org${i + 1}.${domain}` })),
  };
}

/**
 * Writes the material for `spec` into `outDir`, which must not exist or be an empty folder.
 * Everything is written to a temporary sibling first and renamed into place, so a failure leaves
 * nothing half-written behind.
 */
export function generateCryptoMaterial(outDir: string, spec: GenerateSpec): GeneratedOrg[] {
  const out = path.resolve(outDir);
  checkOutDir(out);
  // A fresh folder of our own beside the output (same file system, so the rename is atomic): the
  // only thing ever deleted here, and only when generating failed.
  mkdirSync(path.dirname(out), { recursive: true });
  const staging = mkdtempSync(path.join(path.dirname(out), `.${path.basename(out)}.partial-`));
  try {
    const orgs = [
      ...spec.ordererOrgs.map((o) => writeOrg(staging, 'ordererOrganizations', o)),
      ...spec.peerOrgs.map((o) => writeOrg(staging, 'peerOrganizations', o)),
    ];
    // An existing outDir was checked empty above; rmdirSync removes only an empty folder.
    if (existsSync(out)) rmdirSync(out);
    renameSync(staging, out);
    return orgs.map((o) => relocate(o, staging, out));
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

function checkOutDir(out: string): void {
  let entries: string[];
  try {
    if (!statSync(out).isDirectory()) throw new CryptoGenerateError(`${out} exists and is not a folder; nothing was written`);
    entries = readdirSync(out);
  } catch (err) {
    if (err instanceof CryptoGenerateError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new CryptoGenerateError(`${out} cannot be read: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (entries.length > 0) throw new CryptoGenerateError(`${out} is not empty (${entries.length} entries); refusing to write crypto material over it`);
}

function writeOrg(root: string, kind: 'ordererOrganizations' | 'peerOrganizations', o: OrgSpec): GeneratedOrg {
  const orgDir = path.join(root, kind, o.domain);
  const subject = { organization: o.domain, country: 'US', province: 'California', locality: 'San Francisco' };
  const ca = createSelfSignedCa({ subject: { ...subject, commonName: `ca.${o.domain}` } });
  const tlsCa = createSelfSignedCa({ subject: { ...subject, commonName: `tlsca.${o.domain}` } });
  const caFile = `ca.${o.domain}-cert.pem`;
  const tlsCaFile = `tlsca.${o.domain}-cert.pem`;
  writeKeyed(path.join(orgDir, 'ca'), caFile, ca);
  writeKeyed(path.join(orgDir, 'tlsca'), tlsCaFile, tlsCa);
  const mspDir = path.join(orgDir, 'msp');
  writeMspBase(mspDir, caFile, ca, tlsCaFile, tlsCa);

  const issue = (
    name: string,
    ou: 'orderer' | 'admin' | 'client',
    tlsUsage: string,
    dnsNames: readonly string[],
    home: string,
    ipAddresses: readonly string[] = [],
  ): GeneratedIdentity => {
    const idMsp = path.join(home, 'msp');
    writeMspBase(idMsp, caFile, ca, tlsCaFile, tlsCa);
    const leaf = createLeaf(ca, { subject: { ...subject, organization: undefined, commonName: name, organizationalUnits: [ou] }, keyUsage: KeyUsageFlags.digitalSignature });
    write(path.join(idMsp, 'signcerts', `${name}-cert.pem`), leaf.certificate.pem);
    write(path.join(idMsp, 'keystore', 'priv_sk'), privateKeyPem(leaf.privateKey), 0o600);
    const tlsDir = path.join(home, 'tls');
    const tls = createLeaf(tlsCa, {
      subject: { ...subject, organization: undefined, commonName: name },
      keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment,
      extKeyUsage: [TLS_SERVER_AUTH, TLS_CLIENT_AUTH],
      dnsNames,
      ipAddresses,
    });
    const pair = tlsUsage === TLS_SERVER_AUTH ? 'server' : 'client';
    write(path.join(tlsDir, 'ca.crt'), tlsCa.certificate.pem);
    write(path.join(tlsDir, `${pair}.crt`), tls.certificate.pem);
    write(path.join(tlsDir, `${pair}.key`), privateKeyPem(tls.privateKey), 0o600);
    return { name, mspDir: idMsp, tlsDir };
  };

  // Local networks and the tests dial orderers at 127.0.0.1, and a TLS client checks the address it
  // dialed against the certificate's IP SANs (a DNS SAN "localhost" does not cover an IP).
  const orderers = (o.orderers ?? []).map((host) =>
    issue(host, 'orderer', TLS_SERVER_AUTH, [host, host.split('.')[0]!, 'localhost'], path.join(orgDir, 'orderers', host), ['127.0.0.1']),
  );
  const users = [`Admin@${o.domain}`, `User1@${o.domain}`].map((name) =>
    issue(name, name.startsWith('Admin@') ? 'admin' : 'client', TLS_CLIENT_AUTH, [name.split('@')[0]!], path.join(orgDir, 'users', name)),
  );
  return { mspId: o.mspId, domain: o.domain, dir: orgDir, mspDir, orderers, users };
}

/** cacerts, tlscacerts, an empty admincerts (NodeOUs make admins by OU) and config.yaml. */
function writeMspBase(mspDir: string, caFile: string, ca: IssuedWithKey, tlsCaFile: string, tlsCa: IssuedWithKey): void {
  write(path.join(mspDir, 'cacerts', caFile), ca.certificate.pem);
  write(path.join(mspDir, 'tlscacerts', tlsCaFile), tlsCa.certificate.pem);
  mkdirSync(path.join(mspDir, 'admincerts'), { recursive: true });
  write(path.join(mspDir, 'config.yaml'), nodeOusYaml(`cacerts/${caFile}`));
}

/** The NodeOUs section cryptogen writes with EnableNodeOUs. */
export function nodeOusYaml(caCertPath: string): string {
  const ou = (role: string): string => `  ${role[0]!.toUpperCase()}${role.slice(1)}OUIdentifier:\n    Certificate: ${caCertPath}\n    OrganizationalUnitIdentifier: ${role}\n`;
  return `NodeOUs:\n  Enable: true\n${ou('client')}${ou('peer')}${ou('admin')}${ou('orderer')}`;
}

function writeKeyed(dir: string, certFile: string, ca: IssuedWithKey): void {
  write(path.join(dir, certFile), ca.certificate.pem);
  write(path.join(dir, 'priv_sk'), privateKeyPem(ca.privateKey), 0o600);
}

function write(file: string, text: string, mode = 0o644): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text, { mode, flag: 'wx' });
}

function relocate(o: GeneratedOrg, from: string, to: string): GeneratedOrg {
  const move = (p: string): string => path.join(to, path.relative(from, p));
  const id = (i: GeneratedIdentity): GeneratedIdentity => ({ name: i.name, mspDir: move(i.mspDir), tlsDir: move(i.tlsDir) });
  return { ...o, dir: move(o.dir), mspDir: move(o.mspDir), orderers: o.orderers.map(id), users: o.users.map(id) };
}
