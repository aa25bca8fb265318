// Dependencies point one way (docs/architecture.md, "Dependencies point one way"):
//
//   cmd ──▶ orderer ──▶ consensus
//                 ├──▶ cluster
//                 ├──▶ ledger
//                 └──▶ protos        (everything may import protos; protos imports nothing of ours)
//
// This test reads every module's imports, type-only ones included (a type import is still a
// dependency a reader has to follow), and fails on an edge against that picture, printing it.
// It also fails on any import cycle that exists at runtime, among all our modules and tests:
// there only value imports count, since `import type` (and an import whose names are used only
// as types) is erased when TypeScript or swc compiles the module. What is erased is decided by
// the TypeScript compiler itself (transpileModule, the same per-file view the build and jest
// have), not by a pattern of our own. A cycle is broken by moving the shared piece into a module
// of its own, not by deferring a require.
//
// Beside it, test/consensus/raft/purity.test.ts keeps the Raft core free of IO and clocks.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.join(__dirname, '..');
const SOURCE_LAYERS = ['protos', 'consensus', 'cluster', 'ledger', 'orderer', 'cmd'] as const;
type Layer = (typeof SOURCE_LAYERS)[number];
const SCANNED_DIRS: readonly string[] = [...SOURCE_LAYERS, 'test'];

/**
 * What each layer may import of ours besides itself. Tests may import anything.
 * - consensus, cluster and ledger do not know each other: today none of the three imports
 *   another (consensus/wal is reached only through orderer/), and nothing in the architecture
 *   asks for such an edge.
 * - cmd builds orderer objects and prints protos; it never reaches past orderer/ into the
 *   ledger, consensus or cluster (orderer/ re-exports what cmd needs, e.g. computeTxId in
 *   orderer/envelopes.ts, the storage tools in orderer/storage-tools.ts).
 * - No source module imports test code.
 */
const MAY_IMPORT: Readonly<Record<Layer, readonly Layer[]>> = {
  protos: [],
  consensus: ['protos'],
  cluster: ['protos'],
  ledger: ['protos'],
  orderer: ['consensus', 'cluster', 'ledger', 'protos'],
  cmd: ['orderer', 'protos'],
};

interface ImportSite {
  /** The specifier as written. */
  readonly spec: string;
  readonly line: number;
  /** False when the compiler erases it (import type, export type, names used only as types). */
  readonly runtime: boolean;
}

/**
 * Every module specifier in `source`: import and export declarations, `import x = require()`,
 * `require()` and `import()` calls, and `import('...')` types. `runtime` is whether the
 * compiled CommonJS module still requires it.
 */
function importSites(fileName: string, source: string): ImportSite[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: Array<{ spec: string; line: number }> = [];
  const note = (literal: ts.Node): void => {
    if (ts.isStringLiteralLike(literal)) {
      found.push({ spec: literal.text, line: sf.getLineAndCharacterOfPosition(literal.getStart(sf)).line + 1 });
    }
  };
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined) {
      note(node.moduleSpecifier);
    } else if (ts.isExternalModuleReference(node)) {
      note(node.expression);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require';
      if ((isRequire || callee.kind === ts.SyntaxKind.ImportKeyword) && node.arguments[0] !== undefined) note(node.arguments[0]);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      note(node.argument.literal);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);

  // What survives compilation: the require() calls in the module transpileModule emits (it
  // drops type-only imports, and imports whose names are only used as types, as tsc and swc do).
  const emitted = ts.transpileModule(source, {
    fileName,
    reportDiagnostics: false,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, isolatedModules: true, esModuleInterop: true },
  }).outputText;
  const required = new Set([...emitted.matchAll(/\brequire\((["'])([^"']+)\1\)/g)].map((m) => m[2]!));
  return found.map(({ spec, line }) => ({ spec, line, runtime: required.has(spec) }));
}

/** A module's file relative to ROOT, for a relative specifier; undefined for packages. */
function resolveSpec(fromFile: string, spec: string, known: ReadonlySet<string>): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.join(path.dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    if (known.has(candidate) || fs.existsSync(path.join(ROOT, candidate))) return candidate;
  }
  return base; // does not exist: reported by the compiler; its folder still tells its layer
}

interface Cycle {
  /** Starts and ends at the same module. */
  readonly path: readonly string[];
  /** Further modules in the same strongly connected component, sorted. */
  readonly others: readonly string[];
}

/**
 * The import cycles in `graph` (module → modules it requires): one cycle per strongly connected
 * component, written as a path that starts and ends at the same module, followed by a note
 * naming the component's other modules if there are any. Tarjan's algorithm, iterative so a
 * deep import chain cannot overflow the stack.
 */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): Cycle[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of graph.keys()) {
    if (index.has(root)) continue;
    const work: Array<{ node: string; next: number }> = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter++);
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const edges = graph.get(frame.node) ?? [];
      if (frame.next < edges.length) {
        const to = edges[frame.next++]!;
        if (!graph.has(to)) continue;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, next: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node)!, index.get(to)!));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low.set(parent.node, Math.min(low.get(parent.node)!, low.get(frame.node)!));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        let member: string;
        do {
          member = stack.pop()!;
          onStack.delete(member);
          component.push(member);
        } while (member !== frame.node);
        const selfLoop = (graph.get(frame.node) ?? []).includes(frame.node);
        if (component.length > 1 || selfLoop) components.push(component);
      }
    }
  }
  return components.map((component) => {
    const cycle = cycleThrough(graph, new Set(component));
    // The rest of the tangle, so one run names every module to untie.
    return { path: cycle, others: component.filter((m) => !cycle.includes(m)).sort() };
  });
}

/** A shortest cycle through the component's first module (in sorted order), by breadth-first search. */
function cycleThrough(graph: ReadonlyMap<string, readonly string[]>, component: ReadonlySet<string>): string[] {
  const start = [...component].sort()[0]!;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let at = 0; at < queue.length; at++) {
    const node = queue[at]!;
    for (const to of graph.get(node) ?? []) {
      if (!component.has(to)) continue;
      if (to === start) {
        const cycle = [start];
        for (let back: string | undefined = node; back !== start && back !== undefined; back = cameFrom.get(back)) cycle.splice(1, 0, back);
        cycle.push(start);
        return cycle;
      }
      if (!cameFrom.has(to)) {
        cameFrom.set(to, node);
        queue.push(to);
      }
    }
  }
  throw new Error(`no cycle through ${start}`); // a strongly connected component always has one
}

// ---------------------------------------------------------------------------------------------
// The project as it is

function tsFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFilesUnder(rel));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly site: ImportSite;
}

const files = SCANNED_DIRS.flatMap(tsFilesUnder).sort();
const known = new Set(files);
const edges: Edge[] = files.flatMap((from) =>
  importSites(from, fs.readFileSync(path.join(ROOT, from), 'utf8')).flatMap((site) => {
    const to = resolveSpec(from, site.spec, known);
    return to === undefined ? [] : [{ from, to, site }];
  }),
);

const describeCycle = (c: Cycle): string =>
  c.path.join(' → ') + (c.others.length > 0 ? `  (same cycle group: ${c.others.join(', ')})` : '');
const topFolder = (file: string): string => file.split(path.sep)[0]!;
const describeEdge = (e: Edge): string =>
  `${e.from}:${e.site.line} → ${e.to} ('${e.site.spec}'${e.site.runtime ? '' : ', type only'})`;

describe('layering', () => {
  test('there is something to check', () => {
    expect(files.length).toBeGreaterThan(100);
    for (const layer of SOURCE_LAYERS) expect(files.some((f) => topFolder(f) === layer)).toBe(true);
    // A walker that sees nothing passes every rule: it must see plenty of both kinds of edge,
    // and the one the service registration cannot do without.
    expect(edges.filter((e) => e.site.runtime).length).toBeGreaterThan(500);
    expect(edges.filter((e) => !e.site.runtime).length).toBeGreaterThan(50);
    const registration = edges.find((e) => e.from === path.join('orderer', 'grpc-service.ts') && e.to === path.join('orderer', 'broadcast.ts'));
    expect(registration?.site.runtime).toBe(true);
  });

  test.each(SOURCE_LAYERS.map((layer) => [layer, [layer, ...MAY_IMPORT[layer]].join(', ')] as const))(
    '%s/ imports only %s',
    (layer) => {
      const allowed = MAY_IMPORT[layer];
      const offending = edges.filter((e) => {
        if (topFolder(e.from) !== layer) return false;
        const target = topFolder(e.to);
        return target !== layer && !(allowed as readonly string[]).includes(target);
      });
      if (offending.length > 0) {
        const what = allowed.length === 0 ? 'nothing of ours' : allowed.join(', ');
        throw new Error(`${layer}/ may import only ${what} (docs/architecture.md, "Dependencies point one way"):\n  ${offending.map(describeEdge).join('\n  ')}`);
      }
    },
  );

  test('no runtime import cycle among our modules and tests', () => {
    const graph = new Map<string, string[]>(files.map((f) => [f, []]));
    for (const e of edges) if (e.site.runtime && known.has(e.to)) graph.get(e.from)!.push(e.to);
    const cycles = findCycles(graph);
    if (cycles.length > 0) {
      throw new Error(
        `runtime import cycles (move the shared piece into a module of its own):\n  ${cycles.map(describeCycle).join('\n  ')}`,
      );
    }
  });
});

describe('the checker itself', () => {
  test('type-only imports are told apart from value imports as the compiler does', () => {
    const source = [
      "import type { A } from './type-only';",
      "import { type B } from './type-specifiers';",
      "import { C } from './used-as-type';",
      "import { D } from './used-as-value';",
      "import './side-effect';",
      "export { E } from './re-export';",
      "export type { F } from './type-re-export';",
      "import fs = require('node:fs');",
      "type G = import('./import-type').G;",
      'const lazy = () => require(\'./deferred\');',
      'export const x: A | B | C | G = D(fs, lazy);',
    ].join('\n');
    const runtime = Object.fromEntries(importSites('x.ts', source).map((s) => [s.spec, s.runtime]));
    expect(runtime).toEqual({
      './type-only': false,
      './type-specifiers': false,
      './used-as-type': false,
      './used-as-value': true,
      './side-effect': true,
      './re-export': true,
      './type-re-export': false,
      'node:fs': true,
      './import-type': false,
      // A deferred require still ties the two modules together: it does not break a cycle.
      './deferred': true,
    });
  });

  test('a cycle is found and printed as a path; a diamond is not a cycle', () => {
    const graph = new Map<string, string[]>([
      ['a', ['b', 'd']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['e', 'f']],
      ['e', ['g']],
      ['f', ['g']],
      ['g', []],
      ['h', ['h']],
    ]);
    const described = (): string[] => findCycles(graph).map(describeCycle).sort();
    expect(described()).toEqual(['a → b → c → a', 'h → h']);
    graph.set('i', ['a']);
    graph.set('c', ['a', 'i']);
    expect(described()).toEqual(['a → b → c → a  (same cycle group: i)', 'h → h']);
    graph.set('i', []);
    graph.set('c', []);
    graph.set('h', []);
    expect(findCycles(graph)).toEqual([]);
  });
});
