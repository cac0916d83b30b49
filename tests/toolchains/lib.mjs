// What the toolchain scripts share: the devnet's accounts, the Counter contract
// compiled with the pinned npm solc (no compiler download), and the check
// runner that reports each check's outcome as one JSON line for pytest.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export const MNEMONIC = "test test test test test test test test test test test junk"; // anvil's, and our devnet's
export const DEV_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

/** Counter.sol from the Hardhat project, compiled with solcjs: { abi, bytecode }. */
export function compileCounter() {
  const solc = require("solc");
  const source = readFileSync(new URL("./hardhat/contracts/Counter.sol", import.meta.url), "utf8");
  const input = {
    language: "Solidity",
    sources: { "Counter.sol": { content: source } },
    settings: { evmVersion: "prague", outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  const counter = output.contracts["Counter.sol"].Counter;
  return { abi: counter.abi, bytecode: `0x${counter.evm.bytecode.object}` };
}

/** Runs named checks in order; each one's outcome is "ok" or its error's first line. */
export class Checks {
  results = {};

  async run(name, fn) {
    try {
      await withTimeout(fn(), 30_000, name);
      this.results[name] = "ok";
    } catch (error) {
      const message = (error?.shortMessage ?? error?.message ?? String(error)).split("\n")[0];
      const details = error?.details ?? error?.info?.error?.message ?? error?.cause?.message;
      this.results[name] = details && !message.includes(details) ? `${message} (${details})` : message;
    }
  }

  print() {
    console.log(JSON.stringify(this.results));
  }
}

function withTimeout(promise, ms, name) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name}: no outcome after ${ms / 1000}s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function assert(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

export function assertEqual(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${String(expected)}, got ${String(actual)}`);
}
