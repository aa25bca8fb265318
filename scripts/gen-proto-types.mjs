// Generates protos/gen/*.ts: TypeScript interfaces plus encode/decode functions for
// every message in protos/. protobufjs parses the .proto files and supplies the
// Reader/Writer runtime; the code emitted here decides which fields go on the wire.
// We generate instead of using protobufjs' own codecs because Fabric's bytes depend on
// two rules protobufjs does not follow: proto3 fields equal to their default are
// omitted (Go's canonical form), and etcd's gogoproto raftpb writes every scalar,
// even when zero. 64-bit integers are JS numbers (exact up to 2^53). Decoders check each
// known field's wire type and every length, since their input comes from the network.
import protobuf from 'protobufjs';
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(projectDir, 'protos');
const outDir = join(protoDir, 'gen');
const PROTO2_PACKAGES = new Set(['raftpb']);

function listProtos(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'gen') out.push(...listProtos(p));
    } else if (name.endsWith('.proto')) out.push(p);
  }
  return out;
}

const root = new protobuf.Root();
root.resolvePath = (origin, target) => {
  if (target.startsWith('google/protobuf/')) return target;
  return join(protoDir, target.startsWith(protoDir) ? relative(protoDir, target) : target);
};
root.loadSync(listProtos(protoDir).map((p) => relative(protoDir, p)), { keepCase: true });
root.resolveAll();

const camel = (s) => (s[0].toLowerCase() + s.slice(1)).replace(/_([a-zA-Z0-9])/g, (_, c) => c.toUpperCase());
// gogoproto non-nullable embedded messages are always present in raftpb.
const alwaysPresent = (f, proto2) => proto2 && !f.repeated && !f.partOf && f.resolvedType instanceof protobuf.Type && f.options?.['(gogoproto.nullable)'] !== true;
const pkgOf = (obj) => {
  const parts = [];
  for (let p = obj.parent; p && p.name; p = p.parent) if (!(p instanceof protobuf.Type)) parts.unshift(p.name);
  return parts.join('.');
};
// Nested types are flattened as Outer_Inner, the way most generators name them.
const localName = (obj) => {
  const parts = [obj.name];
  for (let p = obj.parent; p instanceof protobuf.Type; p = p.parent) parts.unshift(p.name);
  return parts.join('_');
};
const moduleOf = (pkg) => pkg.replace(/\./g, '_');

const byPkg = new Map();
function collect(ns) {
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Type || obj instanceof protobuf.Enum) {
      const pkg = pkgOf(obj);
      if (!byPkg.has(pkg)) byPkg.set(pkg, []);
      byPkg.get(pkg).push(obj);
    }
    if (obj.nestedArray) collect(obj);
  }
}
collect(root);

const SCALAR_TS = {
  double: 'number', float: 'number', int32: 'number', uint32: 'number', sint32: 'number',
  fixed32: 'number', sfixed32: 'number', int64: 'number', uint64: 'number', sint64: 'number',
  fixed64: 'number', sfixed64: 'number', bool: 'boolean', string: 'string', bytes: 'Uint8Array',
};
const WIRE = {
  double: 1, float: 5, int32: 0, uint32: 0, sint32: 0, fixed32: 5, sfixed32: 5, int64: 0,
  uint64: 0, sint64: 0, fixed64: 1, sfixed64: 1, bool: 0, string: 2, bytes: 2,
};
const DEFAULT = (t) => (t === 'bool' ? 'false' : t === 'string' ? "''" : t === 'bytes' ? 'EMPTY_BYTES' : '0');

function emitPackage(pkg, objs) {
  const mod = moduleOf(pkg);
  const imports = new Set();
  const ref = (obj, suffix = '') => {
    const p = pkgOf(obj);
    const name = localName(obj) + suffix;
    if (p === pkg) return name;
    imports.add(moduleOf(p));
    return `${moduleOf(p)}.${name}`;
  };
  const fnRef = (obj, fn) => {
    const p = pkgOf(obj);
    if (p === pkg) return `${fn}${localName(obj)}`;
    imports.add(moduleOf(p));
    return `${moduleOf(p)}.${fn}${localName(obj)}`;
  };
  const proto2 = PROTO2_PACKAGES.has(pkg);
  const L = [];
  for (const obj of objs) {
    if (obj instanceof protobuf.Enum) {
      L.push(`export enum ${localName(obj)} {`);
      for (const [k, v] of Object.entries(obj.values)) L.push(`  ${k} = ${v},`);
      L.push('}', '');
      continue;
    }
    const name = localName(obj);
    const fields = [...obj.fieldsArray].sort((a, b) => a.id - b.id);
    const tsType = (f, init) => {
      if (f.resolvedType instanceof protobuf.Type) return ref(f.resolvedType, init ? 'Init' : '');
      if (f.resolvedType instanceof protobuf.Enum) return ref(f.resolvedType);
      return SCALAR_TS[f.type];
    };
    for (const init of [false, true]) {
      L.push(`export interface ${name}${init ? 'Init' : ''} {`);
      for (const f of fields) {
        const n = camel(f.name);
        if (f.map) {
          const v = f.resolvedType instanceof protobuf.Type ? ref(f.resolvedType, init ? 'Init' : '') : f.resolvedType ? ref(f.resolvedType) : SCALAR_TS[f.type];
          L.push(`  ${n}${init ? '?' : ''}: Record<string, ${v}>;`);
        } else if (f.repeated) {
          L.push(`  ${n}${init ? '?' : ''}: ${tsType(f, init)}[];`);
        } else {
          const isMsg = f.resolvedType instanceof protobuf.Type;
          const optional = init || (isMsg && !alwaysPresent(f, proto2)) || f.partOf;
          L.push(`  ${n}${optional ? '?' : ''}: ${tsType(f, init)}${optional ? ' | undefined' : ''};`);
        }
      }
      L.push('}', '');
    }
    // encoder
    L.push(`export function encode${name}(w: Writer, m: ${name}Init): Writer {`);
    const typeName = obj.fullName.slice(1);
    // 64-bit unsigned writes go through a runtime helper that saturates instead of wrapping.
    const put = (scalar, x) => (scalar === 'uint64' ? `writeUint64(w, ${x})` : scalar === 'fixed64' ? `writeFixed64(w, ${x})` : `w.${scalar}(${x})`);
    const putTagged = (tag, scalar, x) => (scalar === 'uint64' || scalar === 'fixed64' ? `${put(scalar, x).replace('(w,', `(w.uint32(${tag}),`)}` : `w.uint32(${tag}).${scalar}(${x})`);
    for (const f of fields) {
      const n = camel(f.name);
      const v = `m.${n}`;
      const isMsg = f.resolvedType instanceof protobuf.Type;
      const isEnum = f.resolvedType instanceof protobuf.Enum;
      const scalar = isEnum ? 'int32' : f.type;
      const wire = isMsg ? 2 : WIRE[scalar];
      if (f.map) {
        const kt = f.keyType;
        const vIsMsg = f.resolvedType instanceof protobuf.Type;
        const vScalar = f.resolvedType instanceof protobuf.Enum ? 'int32' : f.type;
        const keyExpr = kt === 'string' ? 'k' : kt === 'bool' ? "k === 'true'" : 'Number(k)';
        // Keys go out sorted, as Go's deterministic marshaling and google-protobuf do, so
        // the same config always has the same bytes. Go writes key and value even when default.
        L.push(`  if (${v} != null) for (const k of Object.keys(${v}).sort()) {`);
        L.push(`    const mv = ${v}[k]!;`);
        L.push(`    ${putTagged(`${(f.id << 3) | 2}).fork().uint32(${(1 << 3) | WIRE[kt]}`, kt, keyExpr)};`);
        if (vIsMsg) L.push(`    ${fnRef(f.resolvedType, 'encode')}(w.uint32(${(2 << 3) | 2}).fork(), mv).ldelim();`);
        else L.push(`    ${putTagged((2 << 3) | WIRE[vScalar], vScalar, 'mv')};`);
        L.push('    w.ldelim();', '  }');
      } else if (f.repeated) {
        if (isMsg) {
          L.push(`  if (${v} != null) for (const x of ${v}) ${fnRef(f.resolvedType, 'encode')}(w.uint32(${(f.id << 3) | 2}).fork(), x).ldelim();`);
        } else {
          const packed = WIRE[scalar] !== 2 && (proto2 ? f.options?.packed === true : f.options?.packed !== false);
          if (packed) {
            L.push(`  if (${v} != null && ${v}.length > 0) { w.uint32(${(f.id << 3) | 2}).fork(); for (const x of ${v}) ${put(scalar, 'x')}; w.ldelim(); }`);
          } else {
            L.push(`  if (${v} != null) for (const x of ${v}) ${putTagged((f.id << 3) | WIRE[scalar], scalar, 'x')};`);
          }
        }
      } else if (isMsg) {
        const nullable = !proto2 || f.partOf || f.options?.['(gogoproto.nullable)'] === true;
        if (nullable) L.push(`  if (${v} != null) ${fnRef(f.resolvedType, 'encode')}(w.uint32(${(f.id << 3) | 2}).fork(), ${v}).ldelim();`);
        else L.push(`  ${fnRef(f.resolvedType, 'encode')}(w.uint32(${(f.id << 3) | 2}).fork(), ${v} ?? {}).ldelim();`);
      } else {
        const tag = (f.id << 3) | wire;
        if (f.partOf) {
          // A set oneof member is written even when it holds the default value.
          L.push(`  if (${v} != null) ${putTagged(tag, scalar, v)};`);
        } else if (proto2) {
          // gogoproto non-nullable scalars are always written; bytes only when non-nil
          // (EMPTY_BYTES stands for nil, see runtime.ts).
          if (scalar === 'bytes') L.push(`  if (${v} != null && ${v} !== EMPTY_BYTES) w.uint32(${tag}).bytes(${v});`);
          else L.push(`  ${putTagged(tag, scalar, `${v} ?? ${DEFAULT(scalar)}`)};`);
        } else if (scalar === 'bytes' || scalar === 'string') {
          L.push(`  if (${v} != null && ${v}.length > 0) w.uint32(${tag}).${scalar}(${v});`);
        } else {
          L.push(`  if (${v}) ${putTagged(tag, scalar, v)};`);
        }
      }
    }
    L.push('  return w;', '}', '');
    // decoder: every known field checks its wire type, so bytes of another message type
    // fail loudly instead of decoding into nonsense.
    L.push(`export function decode${name}(r: Reader, end: number): ${name} {`);
    const initFields = [];
    for (const f of fields) {
      const n = camel(f.name);
      const vType = () => (f.resolvedType instanceof protobuf.Type ? ref(f.resolvedType) : f.resolvedType ? ref(f.resolvedType) : SCALAR_TS[f.type]);
      if (f.map) initFields.push(`${n}: newMap<${vType()}>()`);
      else if (f.repeated) initFields.push(`${n}: []`);
      else if (alwaysPresent(f, proto2)) initFields.push(`${n}: ${fnRef(f.resolvedType, 'decode')}(Reader.create(EMPTY_BYTES), 0)`);
      else if (f.resolvedType instanceof protobuf.Type || f.partOf) continue;
      else if (f.resolvedType instanceof protobuf.Enum) initFields.push(`${n}: 0`);
      else initFields.push(`${n}: ${DEFAULT(f.type)}`);
    }
    const T = `'${typeName}'`;
    const want = (tagVar, field, wt) => `if ((${tagVar} & 7) !== ${wt}) throw wireTypeError(${T}, ${field}, ${tagVar} & 7);`;
    L.push(`  const m: ${name} = { ${initFields.join(', ')} };`);
    L.push('  while (r.pos < end) {', '    const t = r.uint32();', '    switch (t >>> 3) {');
    for (const f of fields) {
      const n = camel(f.name);
      const isMsg = f.resolvedType instanceof protobuf.Type;
      const isEnum = f.resolvedType instanceof protobuf.Enum;
      const scalar = isEnum ? 'int32' : f.type;
      const cast = isEnum ? ` as ${ref(f.resolvedType)}` : '';
      L.push(`      case ${f.id}: {`);
      if (f.map) {
        const kt = f.keyType;
        const vIsMsg = f.resolvedType instanceof protobuf.Type;
        const vIsEnum = f.resolvedType instanceof protobuf.Enum;
        const vScalar = vIsEnum ? 'int32' : f.type;
        const vDefault = vIsMsg ? `${fnRef(f.resolvedType, 'decode')}(r, r.pos)` : DEFAULT(vScalar);
        const entry = `'${typeName}.${f.name} entry'`;
        L.push(`        ${want('t', f.id, 2)}`);
        L.push(`        const e = delimitedEnd(r); let k = ${kt === 'string' ? "''" : kt === 'bool' ? 'false' : '0'}; let v: ${vIsMsg || vIsEnum ? ref(f.resolvedType) : SCALAR_TS[vScalar]} | undefined;`);
        L.push('        while (r.pos < e) {', '          const et = r.uint32();');
        L.push(`          if (et >>> 3 === 1) { if ((et & 7) !== ${WIRE[kt]}) throw wireTypeError(${entry}, 1, et & 7); k = r.${kt}(); }`);
        const vWire = vIsMsg ? 2 : WIRE[vScalar];
        const vRead = vIsMsg ? `${fnRef(f.resolvedType, 'decode')}(r, delimitedEnd(r))` : `r.${vScalar}()${vIsEnum ? ` as ${ref(f.resolvedType)}` : ''}`;
        L.push(`          else if (et >>> 3 === 2) { if ((et & 7) !== ${vWire}) throw wireTypeError(${entry}, 2, et & 7); v = ${vRead}; }`);
        L.push(`          else skipUnknown(r, et, ${entry});`, '        }');
        L.push(`        checkEnd(r, e, ${entry});`);
        L.push(`        m.${n}[String(k)] = v ?? ${vDefault};`);
      } else if (f.repeated) {
        if (isMsg) {
          L.push(`        ${want('t', f.id, 2)}`);
          L.push(`        m.${n}.push(${fnRef(f.resolvedType, 'decode')}(r, delimitedEnd(r)));`);
        } else if (WIRE[scalar] !== 2) {
          // Packed and unpacked are both valid encodings of a repeated number.
          L.push(`        if ((t & 7) === 2) { const e = delimitedEnd(r); while (r.pos < e) m.${n}.push(r.${scalar}()${cast}); checkEnd(r, e, '${typeName}.${f.name}'); }`);
          L.push(`        else { ${want('t', f.id, WIRE[scalar])} m.${n}.push(r.${scalar}()${cast}); }`);
        } else {
          L.push(`        ${want('t', f.id, 2)}`);
          L.push(`        m.${n}.push(r.${scalar}());`);
        }
      } else if (isMsg) {
        L.push(`        ${want('t', f.id, 2)}`);
        L.push(`        m.${n} = ${fnRef(f.resolvedType, 'decode')}(r, delimitedEnd(r));`);
      } else {
        L.push(`        ${want('t', f.id, WIRE[scalar])}`);
        L.push(`        m.${n} = r.${scalar}()${cast};`);
      }
      if (f.partOf) {
        for (const other of f.partOf.fieldsArray) if (other !== f) L.push(`        delete m.${camel(other.name)};`);
      }
      L.push('        break;', '      }');
    }
    L.push('      default:', `        skipUnknown(r, t, ${T});`, '    }', '  }');
    L.push(`  checkEnd(r, end, ${T});`);
    L.push('  return m;', '}', '');
    L.push(`export const ${name}: MessageCodec<${name}, ${name}Init> = {`);
    L.push(`  typeName: ${T},`);
    L.push(`  encode: (m) => encode${name}(Writer.create(), m).finish(),`);
    L.push(`  decode: (b) => decodeWith(b, ${T}, decode${name}),`);
    L.push('};', '');
  }
  const head = [
    '// Generated by scripts/gen-proto-types.mjs from protos/**/*.proto. Do not edit.',
    '/* eslint-disable */',
    'import {',
    '  Reader, Writer, EMPTY_BYTES, decodeWith, delimitedEnd, checkEnd, skipUnknown, wireTypeError,',
    '  writeUint64, writeFixed64, newMap, type MessageCodec,',
    "} from '../runtime';",
    ...[...imports].sort().map((m) => `import * as ${m} from './${m}';`),
    '',
  ];
  writeFileSync(join(outDir, `${mod}.ts`), head.concat(L).join('\n'));
}

mkdirSync(outDir, { recursive: true });
for (const [pkg, objs] of byPkg) emitPackage(pkg, objs);
console.log(`generated ${[...byPkg.keys()].map(moduleOf).join(', ')} in protos/gen/`);
