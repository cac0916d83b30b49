// Uses the README's viem snippet (written beside this file as viem.mjs, with the
// node's URL) as a dapp would: reads, a transfer, a multicall. Prints JSON.
import { parseAbi } from "viem";

import { openledgerDevnet, publicClient, walletClient } from "./viem.mjs";

const hash = await walletClient.sendTransaction({ to: "0x000000000000000000000000000000000000dEaD", value: 1n });
const receipt = await publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100 });
const [blockNumber] = await publicClient.multicall({
  allowFailure: false,
  contracts: [{
    address: openledgerDevnet.contracts.multicall3.address,
    abi: parseAbi(["function getBlockNumber() view returns (uint256)"]),
    functionName: "getBlockNumber",
  }],
});
console.log(JSON.stringify({
  chainId: await publicClient.getChainId(),
  from: walletClient.account.address,
  status: receipt.status,
  receiptFrom: receipt.from,
  multicallBlockNumber: blockNumber.toString(),
  head: (await publicClient.getBlockNumber({ cacheTime: 0 })).toString(),
}));
