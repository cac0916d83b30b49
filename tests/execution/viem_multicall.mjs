// viem's `multicall` against a node, as a dapp runs it: the chain definition
// names Multicall3 at its canonical address (viem's OP Stack chains do the same)
// and viem batches the reads into one aggregate3 call through it. viem refuses
// to multicall on a chain without that contract, so a result means it was used.
// Usage: node viem_multicall.mjs RPC_URL CHAIN_ID HOLDER_ADDRESS
// Prints one JSON line: the block read and each read's status and result.
import { createPublicClient, defineChain, http, parseAbi } from "viem";

const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";
const [url, chainId, holder] = process.argv.slice(2);

const chain = defineChain({
  id: Number(chainId),
  name: "node under test",
  nativeCurrency: { name: "Open", symbol: "OPEN", decimals: 18 },
  rpcUrls: { default: { http: [url] } },
  contracts: { multicall3: { address: MULTICALL3 } },
});
const client = createPublicClient({ chain, transport: http(url) });
const abi = parseAbi([
  "function getChainId() view returns (uint256)",
  "function getBlockNumber() view returns (uint256)",
  "function getEthBalance(address) view returns (uint256)",
  "function noSuchFunction() view returns (uint256)",
]);

const blockNumber = await client.getBlockNumber();
const results = await client.multicall({
  blockNumber,
  contracts: [
    { address: MULTICALL3, abi, functionName: "getChainId" },
    { address: MULTICALL3, abi, functionName: "getBlockNumber" },
    { address: MULTICALL3, abi, functionName: "getEthBalance", args: [holder] },
    { address: MULTICALL3, abi, functionName: "noSuchFunction" },
  ],
});
console.log(JSON.stringify({
  blockNumber: blockNumber.toString(),
  results: results.map((r) => ({ status: r.status, result: r.status === "success" ? r.result.toString() : null })),
}));
