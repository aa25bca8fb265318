// The signature set of a config update (reference §5.1, §4.2 step 5): the ConfigSignatures of a
// ConfigUpdateEnvelope, evaluated against the mod_policy of every element the update changes.
import { common, ProtoDecodeError } from '../../protos';
import { OrdererError } from '../errors';
import type { SignedData } from '../msgcheck';

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Per ConfigSignature: data = signature_header ‖ config_update (the bytes as received),
 * identity = the header's creator. A signature header that does not parse makes the whole
 * update BAD_REQUEST, as in Fabric (it is not silently dropped like a refused identity).
 */
export function configUpdateSignedData(envelope: common.ConfigUpdateEnvelope): SignedData[] {
  return envelope.signatures.map((s, index) => {
    let creator: Uint8Array;
    try {
      creator = common.SignatureHeader.decode(s.signatureHeader).creator;
    } catch (err) {
      if (err instanceof ProtoDecodeError) {
        throw OrdererError.badRequest(`config update signature ${index}: bad signature header: ${err.message}`, { cause: err });
      }
      throw err;
    }
    return { data: concat(s.signatureHeader, envelope.configUpdate), identity: creator, signature: s.signature };
  });
}
