// `orderer crypto generate` material read back as Fabric reads it: each org MSP folder becomes
// the MSPConfig configtxgen would put in a channel config, and every generated identity, loaded
// from its own MSP folder as an orderer or a client loads it, validates against that MSP with the
// NodeOU role it was made for, and signs what the MSP verifies. TLS pairs chain to the TLS CA.
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadLocalSigningIdentity } from '../../../orderer/msp/local-msp';
import { defaultSpec, generateCryptoMaterial, CryptoGenerateError, type GeneratedOrg } from '../../../orderer/msp/generate';
import { mspConfigFromDir } from '../../../orderer/msp/msp-dir';
import { X509Msp } from '../../../orderer/msp/x509-msp';
import { common, msp } from '../../../protos';
import { rolePrincipal } from './fixtures';

const ROLE = common.MSPRole_MSPRoleType;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'crypto-generate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const deserialize = (m: X509Msp, serialized: Uint8Array): ReturnType<X509Msp['deserializeIdentity']> => m.deserializeIdentity(msp.SerializedIdentity.decode(serialized));

function roleOf(m: X509Msp, mspId: string, serialized: Uint8Array): string[] {
  const identity = deserialize(m, serialized);
  return (['MEMBER', 'ADMIN', 'CLIENT', 'PEER', 'ORDERER'] as const).filter((r) => identity.satisfiesPrincipal(rolePrincipal(mspId, ROLE[r])));
}

test('every generated identity validates against its org MSP (as configtxgen builds it) with its NodeOU role, and signs', () => {
  const orgs: GeneratedOrg[] = generateCryptoMaterial(path.join(dir, 'crypto'), defaultSpec(3, 2));
  expect(orgs.map((o) => o.mspId)).toEqual(['OrdererMSP', 'Org1MSP', 'Org2MSP']);
  for (const org of orgs) {
    const m = X509Msp.fromMspConfig(mspConfigFromDir(org.mspDir, org.mspId));
    for (const node of org.orderers) {
      const signer = loadLocalSigningIdentity(node.mspDir, org.mspId);
      expect(roleOf(m, org.mspId, signer.serialized)).toEqual(['MEMBER', 'ORDERER']);
      const data = new TextEncoder().encode(`block signed by ${node.name}`);
      expect(deserialize(m, signer.serialized).verify(data, signer.sign(data))).toBe(true);
    }
    const [admin, user] = org.users.map((u) => loadLocalSigningIdentity(u.mspDir, org.mspId));
    expect(roleOf(m, org.mspId, admin!.serialized)).toEqual(['MEMBER', 'ADMIN']);
    expect(roleOf(m, org.mspId, user!.serialized)).toEqual(['MEMBER', 'CLIENT']);
  }
  // Another org's identity is not a member of this one (different CA).
  const ordererMsp = X509Msp.fromMspConfig(mspConfigFromDir(orgs[0]!.mspDir, 'OrdererMSP'));
  const foreign = loadLocalSigningIdentity(orgs[1]!.users[1]!.mspDir, 'OrdererMSP'); // claims the wrong MSP
  expect(() => deserialize(ordererMsp, foreign.serialized)).toThrow(/MSP|CA|certif/i);
});

test('TLS pairs: server certificates name the host, localhost and 127.0.0.1 and chain to the org TLS CA, not to its signing CA', () => {
  const [ordererOrg] = generateCryptoMaterial(path.join(dir, 'crypto'), defaultSpec(1, 0));
  const tlsDir = ordererOrg!.orderers[0]!.tlsDir;
  const server = new X509Certificate(readFileSync(path.join(tlsDir, 'server.crt')));
  const tlsCa = new X509Certificate(readFileSync(path.join(tlsDir, 'ca.crt')));
  expect(server.subjectAltName).toBe('DNS:orderer1.example.com, DNS:orderer1, DNS:localhost, IP Address:127.0.0.1');
  // What a TLS client dialing 127.0.0.1 or localhost checks (Node's own hostname check).
  expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
  expect(server.checkHost('localhost')).toBe('localhost');
  expect(server.checkIssued(tlsCa)).toBe(true);
  expect(server.verify(tlsCa.publicKey)).toBe(true);
  const signingCa = new X509Certificate(readFileSync(path.join(ordererOrg!.dir, 'ca', 'ca.example.com-cert.pem')));
  expect(server.verify(signingCa.publicKey)).toBe(false);
  expect(readdirSync(tlsDir).sort()).toEqual(['ca.crt', 'server.crt', 'server.key']);
});

test('never writes over anything: a non-empty output folder is refused and left as it was', () => {
  const out = path.join(dir, 'crypto');
  mkdirSync(out);
  writeFileSync(path.join(out, 'keep.txt'), 'operator data');
  expect(() => generateCryptoMaterial(out, defaultSpec(1, 1))).toThrow(CryptoGenerateError);
  expect(readdirSync(out)).toEqual(['keep.txt']);
  expect(readdirSync(dir)).toEqual(['crypto']); // no staging folder left behind
  // A sibling that looks like a staging folder (an earlier run's, or anyone's) is never touched.
  const lookalike = path.join(dir, `crypto2.partial-${process.pid}`);
  mkdirSync(lookalike);
  writeFileSync(path.join(lookalike, 'canary'), 'not ours');
  generateCryptoMaterial(path.join(dir, 'crypto2'), defaultSpec(1, 0));
  expect(readFileSync(path.join(lookalike, 'canary'), 'utf8')).toBe('not ours');
  expect(readdirSync(dir).sort()).toEqual(['crypto', 'crypto2', `crypto2.partial-${process.pid}`]);
  // An empty folder is fine.
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  generateCryptoMaterial(empty, defaultSpec(1, 0));
  expect(readdirSync(empty)).toEqual(['ordererOrganizations']);
});

test('the CLI writes the material, prints where it is, and refuses a second run over it (exit 1) and bad flags (exit 2)', () => {
  const cli = path.resolve(__dirname, '../../../dist/cmd/orderer.js');
  const out = path.join(dir, 'cli');
  const run = (...args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [cli, 'crypto', 'generate', ...args], { encoding: 'utf8', env: { ...process.env, INIT_CWD: dir } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const first = run('--output', 'cli', '--orderers', '2', '--orgs', '1');
  expect(first.status).toBe(0);
  expect(first.stdout).toContain(`crypto material written to ${out}`);
  expect(first.stdout).toMatch(/OrdererMSP\s+orderer orderer2\.example\.com\s+ordererOrganizations\/example\.com\/orderers\/orderer2\.example\.com/);
  expect(first.stdout).toMatch(/Org1MSP\s+User1@org1\.example\.com/);
  const again = run('--output', 'cli');
  expect(again.status).toBe(1);
  expect(again.stderr).toMatch(/is not empty .* refusing to write crypto material over it/);
  expect(run('--orderers', '2').status).toBe(2); // no --output
  const bad = run('--output', 'x', '--orderers', '0');
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/--orderers must be an integer from 1 to 99/);
});
