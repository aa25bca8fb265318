// Bridges our codecs and @hyperledger/fabric-protos (google-protobuf) for the compat tests.
// The field list of each message comes from our .proto files (parsed by protobufjs); the
// field numbers and wire types that decide the bytes come from Fabric's generated code, so
// a wrong number or type on our side shows up as a value that does not survive.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import '../../protos'; // loads runtime.ts first: 64-bit values as plain numbers everywhere

const protoDir = join(__dirname, '..', '..', 'protos');

function listProtos(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'gen') out.push(...listProtos(p));
    } else if (name.endsWith('.proto')) out.push(p.slice(protoDir.length + 1));
  }
  return out;
}

/** Our .proto files as protobufjs reflection, loaded the way the generator loads them. */
/**
 * Our extensions of Fabric's messages (cluster/README.md): never sent to a Fabric node, so not
 * part of the comparison with Fabric's bindings; test/protos/compat.test.ts checks what a Fabric
 * node makes of them.
 */
export const OUR_EXTENSIONS = {
  messages: ['orderer.SubmitBatch', 'orderer.SubmitBatchResponse'],
  fields: ['orderer.StepRequest.submit_batch', 'orderer.StepResponse.submit_batch_res'],
} as const;

/** Our .proto files; `fabricOnly` leaves out OUR_EXTENSIONS, for comparing with Fabric's bindings. */
export function loadSchema(fabricOnly = true): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) =>
    target.startsWith('google/protobuf/') ? target : target.startsWith(protoDir) ? target : join(protoDir, target);
  root.loadSync(listProtos(protoDir), { keepCase: true });
  if (fabricOnly) {
    for (const path of OUR_EXTENSIONS.fields) {
      const field = root.lookup(path);
      if (!(field instanceof protobuf.Field) || field.parent === null) throw new Error(`extension field ${path} not in the schema`);
      const oneof = field.partOf;
      field.parent.remove(field);
      oneof?.remove(field);
    }
    for (const path of OUR_EXTENSIONS.messages) {
      const type = root.lookupType(path);
      type.parent?.remove(type);
    }
  }
  root.resolveAll();
  return root;
}

export const camel = (s: string): string =>
  (s[0]!.toLowerCase() + s.slice(1)).replace(/_([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
const upperFirst = (s: string): string => s[0]!.toUpperCase() + s.slice(1);

export type Obj = Record<string, unknown>;
export const isObj = (x: unknown): x is Obj => typeof x === 'object' && x !== null && !(x instanceof Uint8Array);

export interface JspbMessage {
  serializeBinary(): Uint8Array;
  toObject(): unknown;
}
export interface JspbClass {
  new (): JspbMessage;
  deserializeBinary(bytes: Uint8Array): JspbMessage;
}
function isJspbClass(x: unknown): x is JspbClass {
  return typeof x === 'function' && typeof Reflect.get(x, 'deserializeBinary') === 'function';
}

// require() keeps google-protobuf's missing type declarations out of our types.
const fabric: unknown = require('@hyperledger/fabric-protos');
const timestampPb: unknown = require('google-protobuf/google/protobuf/timestamp_pb');

/** Where fabric-protos' JS puts each of our proto packages (it groups by folder, not package). */
const FABRIC_HOMES: [prefix: string, roots: unknown[]][] = [
  ['google.protobuf.', [timestampPb]],
  ['etcdraft.', [Reflect.get(Reflect.get(fabric as object, 'orderer') as object, 'etcdraft')]],
  ['common.', [Reflect.get(fabric as object, 'common'), Reflect.get(fabric as object, 'msp')]],
  ['msp.', [Reflect.get(fabric as object, 'msp')]],
  ['orderer.', [Reflect.get(fabric as object, 'orderer')]],
];

function lookup(roots: unknown[], path: string[]): unknown {
  for (const root of roots) {
    let cur: unknown = root;
    for (const part of path) cur = cur == null ? undefined : Reflect.get(cur as object, part);
    if (cur !== undefined) return cur;
  }
  return undefined;
}

/** The fabric-protos class (or enum object) for one of our fully qualified names. */
export function fabricThing(fullName: string): unknown {
  for (const [prefix, roots] of FABRIC_HOMES) {
    if (fullName.startsWith(prefix)) return lookup(roots, fullName.slice(prefix.length).split('.'));
  }
  return undefined;
}

export function fabricClass(fullName: string): JspbClass {
  const c = fabricThing(fullName);
  if (!isJspbClass(c)) throw new Error(`fabric-protos has no message class for ${fullName}`);
  return c;
}

function call(target: object, names: string[], ...args: unknown[]): unknown {
  for (const name of names) {
    const fn: unknown = Reflect.get(target, name);
    if (typeof fn === 'function') return Reflect.apply(fn, target, args);
  }
  throw new Error(`fabric-protos object has none of ${names.join(', ')}`);
}

const fullNameOf = (t: protobuf.Type): string => t.fullName.slice(1);
const msgType = (f: protobuf.Field): protobuf.Type | undefined =>
  f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined;
const asArray = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
const asObj = (x: unknown): Obj => (isObj(x) ? x : {});

/** Builds the fabric-protos message holding the same values as one of our Init objects. */
export function buildFabric(type: protobuf.Type, value: Obj): JspbMessage {
  const msg = new (fabricClass(fullNameOf(type)))();
  for (const f of type.fieldsArray) {
    const v = value[camel(f.name)];
    if (v === undefined) continue;
    const U = upperFirst(camel(f.name));
    const sub = msgType(f);
    if (f.map) {
      // jspb's Map keeps its own entries; fill it in place.
      const map = call(msg, [`get${U}Map`]);
      for (const [k, mv] of Object.entries(asObj(v))) call(map as object, ['set'], k, sub ? buildFabric(sub, asObj(mv)) : mv);
    } else if (f.repeated) {
      call(msg, [`set${U}List`], asArray(v).map((x) => (sub ? buildFabric(sub, asObj(x)) : x)));
    } else {
      // google-protobuf renames fields that clash with its own methods (extension -> extension$),
      // and the unrenamed name then is that method, so the renamed one goes first.
      call(msg, [`set${U}$`, `set${U}`], sub ? buildFabric(sub, asObj(v)) : v);
    }
  }
  return msg;
}

const b64 = (x: unknown): string => Buffer.from(x instanceof Uint8Array ? x : new Uint8Array(0)).toString('base64');

function scalarShape(f: protobuf.Field, v: unknown, inOneof: boolean): unknown {
  // jspb shows an unset oneof member as undefined and an unset plain field as its default.
  if (v === undefined && inOneof) return undefined;
  if (f.type === 'bytes') return b64(v);
  if (v !== undefined) return v;
  if (f.type === 'string') return '';
  if (f.type === 'bool') return false;
  return 0;
}

/** Fields fabric-protos v0.3 added after the v0.2 baseline we implement; they must stay at their defaults. */
export const FABRIC_ONLY: Record<string, Obj> = {
  'common.MetadataSignature': { identifierHeader: '' },
  'orderer.SeekInfo': { contentType: 0 },
};

/**
 * One of our messages (Init or decoded) in the shape google-protobuf's toObject() gives:
 * defaults filled in, bytes as base64, lists as xList, maps as sorted [key, value] pairs
 * under xMap, plus fabric's v0.3-only fields at their defaults. Map entries keep bytes as
 * base64 too; see canonFabric.
 */
export function toJspbShape(type: protobuf.Type, value: Obj | undefined): Obj {
  const out: Obj = { ...FABRIC_ONLY[fullNameOf(type)] };
  const src = value ?? {};
  for (const f of type.fieldsArray) {
    const n = camel(f.name);
    const v = src[n];
    const sub = msgType(f);
    if (f.map) {
      const entries = Object.entries(asObj(v)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      out[`${n}Map`] = entries.map(([k, mv]) => [k, sub ? toJspbShape(sub, asObj(mv)) : f.type === 'bytes' ? b64(mv) : mv]);
    } else if (f.repeated) {
      out[`${n}List`] = asArray(v).map((x) => (sub ? toJspbShape(sub, asObj(x)) : f.type === 'bytes' ? b64(x) : x));
    } else if (sub) {
      out[n] = v == null ? undefined : toJspbShape(sub, asObj(v));
    } else {
      out[n] = scalarShape(f, v, f.partOf != null);
    }
  }
  return out;
}

/** fabric-protos' toObject() output with the bytes it leaves raw (map values) turned into base64. */
export function canonFabric(x: unknown): unknown {
  if (x instanceof Uint8Array) return b64(x);
  if (Array.isArray(x)) return x.map(canonFabric);
  if (isObj(x)) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, canonFabric(v)]));
  return x;
}

/** The keys fabric's toObject() uses for our fields, to compare field sets. */
export function jspbKeys(type: protobuf.Type): string[] {
  return type.fieldsArray.map((f) => camel(f.name) + (f.map ? 'Map' : f.repeated ? 'List' : '')).sort();
}

const isDefault = (v: unknown): boolean =>
  v === undefined ||
  v === 0 ||
  v === false ||
  v === '' ||
  (v instanceof Uint8Array && v.length === 0) ||
  (Array.isArray(v) && v.length === 0) ||
  (isObj(v) && Object.keys(v).length === 0);

/**
 * Records, per message type, which fields some sample set to a non-default value
 * (recursing into nested messages), so the suite can insist every field was exercised.
 * An empty message value counts as set for a message field: it is still on the wire.
 */
export function markSetFields(type: protobuf.Type, value: Obj, seen: Map<string, Set<string>>): void {
  const name = fullNameOf(type);
  const fields = seen.get(name) ?? new Set<string>();
  seen.set(name, fields);
  for (const f of type.fieldsArray) {
    const v = value[camel(f.name)];
    const sub = msgType(f);
    const set = sub && !f.repeated && !f.map ? v != null : f.partOf != null ? v !== undefined : !isDefault(v);
    if (!set) continue;
    fields.add(f.name);
    if (!sub) continue;
    const nested = f.map ? Object.values(asObj(v)) : f.repeated ? asArray(v) : [v];
    for (const x of nested) markSetFields(sub, asObj(x), seen);
  }
}

/** Every message type reachable in a package, nested ones included. */
export function messageTypes(ns: protobuf.NamespaceBase): protobuf.Type[] {
  const out: protobuf.Type[] = [];
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Type) out.push(obj);
    if (obj instanceof protobuf.Namespace) out.push(...messageTypes(obj)); // a Type is a Namespace too
  }
  return out;
}

export function enumTypes(ns: protobuf.NamespaceBase): protobuf.Enum[] {
  const out: protobuf.Enum[] = [];
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Enum) out.push(obj);
    if (obj instanceof protobuf.Namespace) out.push(...enumTypes(obj));
  }
  return out;
}
