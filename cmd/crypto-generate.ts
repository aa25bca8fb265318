// `orderer crypto generate`: crypto material for a test or development network in cryptogen's
// folder layout (orderer/msp/generate.ts). Never writes over anything: the output folder must not
// exist or be empty.
import { parseArgs } from 'node:util';
import path from 'node:path';
import { CryptoGenerateError, defaultSpec, generateCryptoMaterial } from '../orderer/msp/generate';

export const CRYPTO_GENERATE_USAGE = `usage: orderer crypto generate --output DIR [--orderers N] [--orgs N] [--domain DOMAIN]

Writes, in the folder layout of Fabric's cryptogen (so configtxgen, osnadmin and the peer CLI read
it), one orderer organisation (OrdererMSP, DOMAIN) with N orderer nodes (orderer1.DOMAIN ...) and
N client organisations (Org1MSP, org1.DOMAIN ...): per organisation a CA and a TLS CA, its MSP
folder with NodeOUs, per node an MSP and TLS server pair, and an Admin and a User1 identity with
TLS client pairs. All keys are ECDSA P-256.

  --output DIR    where to write (required); must not exist or be an empty folder
  --orderers N    orderer nodes (default 3)
  --orgs N        client organisations (default 1)
  --domain D      the orderer organisation's domain (default example.com)

Exit status: 0 written; 1 nothing written (the reason is printed); 2 usage error.`;

export function runCryptoGenerate(argv: readonly string[]): number {
  let values: { output?: string | undefined; orderers?: string | undefined; orgs?: string | undefined; domain?: string | undefined; help?: boolean | undefined };
  try {
    values = parseArgs({
      args: [...argv],
      options: { output: { type: 'string' }, orderers: { type: 'string' }, orgs: { type: 'string' }, domain: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }).values;
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n\n${CRYPTO_GENERATE_USAGE}`);
    return 2;
  }
  if (values.help === true) {
    console.log(CRYPTO_GENERATE_USAGE);
    return 0;
  }
  if (values.output === undefined || values.output === '') {
    console.error(`--output is required\n\n${CRYPTO_GENERATE_USAGE}`);
    return 2;
  }
  const count = (text: string | undefined, fallback: number, flag: string, min: number): number | undefined => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > 99) {
      console.error(`${flag} must be an integer from ${min} to 99, got ${JSON.stringify(text)}\n\n${CRYPTO_GENERATE_USAGE}`);
      return undefined;
    }
    return n;
  };
  const orderers = count(values.orderers, 3, '--orderers', 1);
  const orgs = count(values.orgs, 1, '--orgs', 0);
  if (orderers === undefined || orgs === undefined) return 2;
  const domain = values.domain ?? 'example.com';
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(domain)) {
    console.error(`--domain must be a lower-case DNS name such as example.com, got ${JSON.stringify(domain)}`);
    return 2;
  }
  // A relative --output is taken from where the command was typed (npm run sets INIT_CWD).
  const out = path.resolve(process.env['INIT_CWD'] ?? process.cwd(), values.output);
  try {
    const written = generateCryptoMaterial(out, defaultSpec(orderers, orgs, domain));
    console.log(`crypto material written to ${out}`);
    const rows = written.flatMap((o) => [
      [o.mspId, 'org MSP (configtxgen MSPDir)', path.relative(out, o.mspDir)],
      ...o.orderers.map((i) => [o.mspId, `orderer ${i.name}`, path.relative(out, path.dirname(i.mspDir))]),
      ...o.users.map((i) => [o.mspId, i.name, path.relative(out, path.dirname(i.mspDir))]),
    ]);
    const widths = [0, 1].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
    for (const r of rows) console.log(`  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`);
    return 0;
  } catch (err) {
    if (err instanceof CryptoGenerateError) {
      console.error(`orderer crypto generate: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
