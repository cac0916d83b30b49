// Hardhat 3 against the OpenLedger devnet and anvil, compiling offline with the
// npm solc (solcjs) that package.json pins: `path` makes Hardhat use it instead
// of downloading a compiler.
import { fileURLToPath } from "node:url";

import hardhatEthers from "@nomicfoundation/hardhat-ethers";
import hardhatToolboxViem from "@nomicfoundation/hardhat-toolbox-viem";
import { defineConfig } from "hardhat/config";

const mnemonic = "test test test test test test test test test test test junk";

export default defineConfig({
  plugins: [hardhatToolboxViem, hardhatEthers],
  solidity: {
    version: "0.8.30",
    path: fileURLToPath(import.meta.resolve("solc/soljson.js")),
  },
  networks: {
    openledger: {
      type: "http",
      chainId: 161299,
      url: process.env.OPENLEDGER_RPC_URL ?? "http://127.0.0.1:8545",
      accounts: { mnemonic },
    },
    anvil: {
      type: "http",
      chainId: 161299,
      url: process.env.ANVIL_RPC_URL ?? "http://127.0.0.1:8546",
      accounts: { mnemonic },
    },
  },
});
