// The creator-expiry input of one channel config: the validity period of a creator's certificate,
// whether or not the channel's MSPs accept the creator (Fabric's expiry filter runs before the
// Writers policy), read once per refused creator rather than per envelope.
import { common } from '../../../protos';
import { buildChannelConfig } from '../../../orderer/channelconfig';
import { ConfigChannelAccess } from '../../../orderer/policies/channel-access';
import { enc, makeOrg, serialize } from '../msp/fixtures';

const DAY_MS = 86_400_000;
const org1 = makeOrg('Org1MSP');
const ordererOrg = makeOrg('OrdererMSP');

function access(): ConfigChannelAccess {
  const spec = (org: typeof org1) => ({ mspId: org.mspId, rootCerts: [enc(org.root.certificate.pem)], intermediateCerts: [], adminCerts: [enc(org.admin.certificate.pem)] });
  const init = buildChannelConfig({
    channelId: 'ch1',
    consenters: [{ host: 'o1', port: 7050 }],
    ordererOrgs: [{ ...spec(ordererOrg), endpoints: ['o1:7050'] }],
    applicationOrgs: [spec(org1)],
  });
  return ConfigChannelAccess.fromConfig('ch1', common.Config.decode(common.Config.encode(init)));
}

test('a refused creator\'s certificate still gives its validity, the same at every envelope; garbage gives none', () => {
  const a = access();
  const notAfter = new Date(Math.floor((Date.now() - DAY_MS) / 1000) * 1000);
  const notBefore = new Date(notAfter.getTime() - 30 * DAY_MS);
  const expiredForeign = serialize('Org1MSP', makeOrg('EvilMSP').issue({ notBefore, notAfter }).certificate.pem);
  const expected = { notBeforeMs: notBefore.getTime(), notAfterMs: notAfter.getTime() };
  for (let i = 0; i < 3; i++) expect(a.creatorValidity(expiredForeign)).toEqual(expected);
  // An accepted creator comes from the MSP's identity.
  const memberNotAfter = new Date(notAfter.getTime() + 60 * DAY_MS);
  const member = org1.issue({ ous: ['client'], notBefore, notAfter: memberNotAfter });
  expect(a.creatorValidity(serialize('Org1MSP', member.certificate.pem))).toEqual({ notBeforeMs: notBefore.getTime(), notAfterMs: memberNotAfter.getTime() });
  for (let i = 0; i < 3; i++) expect(a.creatorValidity(serialize('Org1MSP', 'not a certificate'))).toBeUndefined();
  expect(a.creatorValidity(new Uint8Array([1, 2, 3]))).toBeUndefined();
  expect(a.creatorValidity(new Uint8Array())).toBeUndefined();
});
