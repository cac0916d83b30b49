#!/usr/bin/env node
// Compiles every Solidity source under contracts/src/ with the pinned solc-js
// (package.json) and writes one artifact per deployable contract to
// contracts/artifacts/<ContractName>.json. The artifacts are committed, so the
// Python package needs no compiler at run time; tests/contracts/test_artifacts_fresh.py
// recompiles with --out and fails when the committed ones are stale.
//
// Usage:
//   node contracts/compile.mjs             write contracts/artifacts/
//   node contracts/compile.mjs --out DIR   write DIR instead (DIR is created)
//   node contracts/compile.mjs --check     compare with contracts/artifacts/, write nothing
//
// The output depends only on the sources and the compiler settings: source
// units are named relative to contracts/ ("src/L2/L1Block.sol",
// "@openzeppelin/contracts/utils/Address.sol"), the metadata hash is left out of
// the bytecode, and JSON is written with sorted keys, two-space indentation and
// a trailing newline.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

const CONTRACTS_DIR = path.dirname(fileURLToPath(import.meta.url));
const SRC_DIR = path.join(CONTRACTS_DIR, 'src');
const DEFAULT_OUT_DIR = path.join(CONTRACTS_DIR, 'artifacts');

// Recorded in every artifact. outputSelection is added at compile time only.
const SETTINGS = {
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none' },
  optimizer: { enabled: true, runs: 200 },
  remappings: [],
};

const OUTPUT_SELECTION = {
  '*': {
    '': ['ast'],
    '*': ['abi', 'evm.bytecode.object', 'evm.bytecode.linkReferences', 'evm.deployedBytecode.object'],
  },
};

function usage(message) {
  if (message) process.stderr.write(`compile.mjs: ${message}\n`);
  process.stderr.write('usage: node contracts/compile.mjs [--out DIR | --check]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const args = { outDir: DEFAULT_OUT_DIR, check: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--out') {
      if (i + 1 >= argv.length) usage('--out needs a directory');
      args.outDir = path.resolve(argv[i + 1]);
      i += 1;
    } else if (arg.startsWith('--out=')) {
      args.outDir = path.resolve(arg.slice('--out='.length));
    } else if (arg === '--check') {
      args.check = true;
    } else if (arg === '-h' || arg === '--help') {
      usage();
    } else {
      usage(`unknown argument ${arg}`);
    }
  }
  return args;
}

function listSources(dir) {
  const found = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...listSources(full));
    else if (entry.isFile() && entry.name.endsWith('.sol')) found.push(full);
  }
  return found;
}

function sourceUnitName(file) {
  return path.relative(CONTRACTS_DIR, file).split(path.sep).join('/');
}

// Imports of local files arrive already in `sources`; only package imports
// (@openzeppelin/...) reach this callback, resolved through node_modules.
function findImports(importPath) {
  if (importPath.startsWith('src/')) {
    const file = path.join(CONTRACTS_DIR, ...importPath.split('/'));
    if (fs.existsSync(file)) return { contents: fs.readFileSync(file, 'utf8') };
    return { error: `file not found: ${importPath}` };
  }
  try {
    return { contents: fs.readFileSync(require.resolve(importPath), 'utf8') };
  } catch {
    return { error: `cannot resolve import ${importPath} (run npm ci in the repository root)` };
  }
}

// JSON with object keys sorted at every level; array order is kept.
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key]);
    return sorted;
  }
  return value;
}

function stableJson(value) {
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

// Contract kinds per source unit from the AST: interfaces and abstract
// contracts have no bytecode, and libraries with only internal functions are
// inlined into their users, so none of them gets an artifact.
function contractKinds(ast) {
  const kinds = new Map();
  for (const node of ast.nodes) {
    if (node.nodeType === 'ContractDefinition') {
      kinds.set(node.name, { kind: node.contractKind, abstract: Boolean(node.abstract) });
    }
  }
  return kinds;
}

function compile() {
  let solc;
  try {
    solc = require('solc');
  } catch {
    process.stderr.write('compile.mjs: the solc package is not installed; run `npm ci` in the repository root\n');
    process.exit(1);
  }

  const files = listSources(SRC_DIR).sort();
  if (files.length === 0) {
    process.stderr.write(`compile.mjs: no .sol files under ${path.relative(process.cwd(), SRC_DIR)}\n`);
    process.exit(1);
  }
  const sources = {};
  for (const file of files) sources[sourceUnitName(file)] = { content: fs.readFileSync(file, 'utf8') };

  const input = {
    language: 'Solidity',
    sources,
    settings: { ...SETTINGS, outputSelection: OUTPUT_SELECTION },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

  const diagnostics = output.errors ?? [];
  const errors = diagnostics.filter((d) => d.severity === 'error');
  for (const d of diagnostics.filter((x) => x.severity !== 'error')) {
    process.stderr.write(d.formattedMessage ?? `${d.severity}: ${d.message}\n`);
  }
  if (errors.length > 0) {
    for (const d of errors) process.stderr.write(d.formattedMessage ?? `error: ${d.message}\n`);
    process.stderr.write(`compile.mjs: compilation failed with ${errors.length} error(s)\n`);
    process.exit(1);
  }

  const compiler = { settings: SETTINGS, version: solc.version() };
  const artifacts = new Map();
  for (const sourceName of Object.keys(sources)) {
    const kinds = contractKinds(output.sources[sourceName].ast);
    const contracts = output.contracts[sourceName] ?? {};
    for (const contractName of Object.keys(contracts).sort()) {
      const info = kinds.get(contractName);
      const contract = contracts[contractName];
      const bytecode = contract.evm.bytecode.object;
      if (!info || info.kind === 'interface' || info.abstract || bytecode === '') continue;
      // A library of internal functions has nothing to call: its ABI lists at most
      // the custom errors it declares, which the contracts using it carry anyway.
      if (info.kind === 'library' && contract.abi.every((item) => item.type === 'error')) continue;
      if (Object.keys(contract.evm.bytecode.linkReferences ?? {}).length > 0) {
        process.stderr.write(
          `compile.mjs: ${sourceName}:${contractName} needs library linking, which is not supported; ` +
            'make the library functions internal\n',
        );
        process.exit(1);
      }
      if (artifacts.has(contractName)) {
        const other = artifacts.get(contractName).sourceName;
        process.stderr.write(
          `compile.mjs: contract name ${contractName} is defined in both ${other} and ${sourceName}; ` +
            'artifact names must be unique\n',
        );
        process.exit(1);
      }
      artifacts.set(contractName, {
        abi: contract.abi,
        bytecode: `0x${bytecode}`,
        compiler,
        contractName,
        deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
        sourceName,
      });
    }
  }
  return artifacts;
}

function write(artifacts, outDir) {
  fs.mkdirSync(outDir, { recursive: true });
  const wanted = new Set();
  for (const [name, artifact] of artifacts) {
    const file = `${name}.json`;
    wanted.add(file);
    const target = path.join(outDir, file);
    const text = stableJson(artifact);
    if (!fs.existsSync(target) || fs.readFileSync(target, 'utf8') !== text) fs.writeFileSync(target, text);
  }
  // A contract that was renamed or removed must not leave its artifact behind.
  // Only files that are artifacts themselves are removed, so a mistaken --out
  // (say, the repository root) cannot delete package.json.
  for (const file of fs.readdirSync(outDir)) {
    if (file.endsWith('.json') && !wanted.has(file) && isArtifactFile(path.join(outDir, file))) {
      fs.rmSync(path.join(outDir, file));
    }
  }
}

function isArtifactFile(file) {
  try {
    const data = JSON.parse(fs.readFileSync(file, 'utf8'));
    return ['abi', 'bytecode', 'compiler', 'contractName', 'deployedBytecode', 'sourceName'].every((k) => k in data);
  } catch {
    return false;
  }
}

function check(artifacts, outDir) {
  const problems = [];
  const present = fs.existsSync(outDir) ? fs.readdirSync(outDir).filter((f) => f.endsWith('.json')) : [];
  for (const [name, artifact] of artifacts) {
    const target = path.join(outDir, `${name}.json`);
    if (!fs.existsSync(target)) problems.push(`${name}: artifact missing`);
    else if (fs.readFileSync(target, 'utf8') !== stableJson(artifact)) problems.push(`${name}: artifact is stale`);
  }
  for (const file of present) {
    const name = file.slice(0, -'.json'.length);
    if (!artifacts.has(name)) problems.push(`${name}: artifact has no contract in contracts/src`);
  }
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`compile.mjs: ${p}\n`);
    process.stderr.write('compile.mjs: run `node contracts/compile.mjs` and commit contracts/artifacts/\n');
    process.exit(1);
  }
}

const args = parseArgs(process.argv.slice(2));
const started = process.hrtime.bigint();
const artifacts = compile();
if (args.check) {
  check(artifacts, args.outDir);
} else {
  write(artifacts, args.outDir);
}
const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
process.stdout.write(
  `compile.mjs: ${artifacts.size} artifact(s) ${args.check ? 'up to date in' : 'written to'} ` +
    `${path.relative(process.cwd(), args.outDir) || '.'} in ${ms} ms\n`,
);
