// What a dapp developer does with ethers v6 against a node: deploy the ERC-20
// TestToken from dev account 0, read balanceOf, send a transfer, wait for its
// receipt, read the Transfer event back with queryFilter. Prints one JSON
// summary on stdout for tests/toolchains/test_toolchains.py to check.
//
//   node tests/toolchains/ethers_deploy.mjs http://127.0.0.1:8545
//
// Nothing is given explicitly that a dapp would leave to the node: ethers
// fetches the chain id, nonce and fees, estimates gas (eth_estimateGas) and
// reads through eth_call.

import { readFileSync } from "node:fs";
import { Contract, ContractFactory, HDNodeWallet, JsonRpcProvider, parseUnits } from "ethers";

const DEV_MNEMONIC = "test test test test test test test test test test test junk"; // anvil's, and our devnet's
const RECIPIENT = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"; // dev account 1

const url = process.argv[2];
if (!url) {
  console.error("usage: node ethers_deploy.mjs RPC_URL");
  process.exit(2);
}

const artifact = JSON.parse(
  readFileSync(new URL("../../contracts/artifacts/TestToken.json", import.meta.url), "utf8"),
);

async function main() {
  const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 200 });
  const network = await provider.getNetwork();
  const wallet = HDNodeWallet.fromPhrase(DEV_MNEMONIC).connect(provider);

  const supply = parseUnits("1000000", 18);
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, wallet);
  const token = await factory.deploy(supply);
  const deployTx = token.deploymentTransaction();
  const deployReceipt = await deployTx.wait();
  await token.waitForDeployment();
  const tokenAddress = await token.getAddress();

  const read = new Contract(tokenAddress, artifact.abi, provider);
  const balanceBefore = (await read.balanceOf(wallet.address)).toString();

  const amount = parseUnits("12.5", 18);
  const transferTx = await token.transfer(RECIPIENT, amount);
  const transferReceipt = await transferTx.wait();

  const events = await read.queryFilter(
    read.filters.Transfer(wallet.address, RECIPIENT),
    transferReceipt.blockNumber,
    transferReceipt.blockNumber,
  );
  const balances = {
    sender: (await read.balanceOf(wallet.address)).toString(),
    recipient: (await read.balanceOf(RECIPIENT)).toString(),
  };
  const code = await provider.getCode(tokenAddress);
  const block = await provider.getBlock(transferReceipt.blockNumber, true);

  const summary = {
    chainId: network.chainId.toString(),
    deployer: wallet.address,
    token: tokenAddress,
    deploy: {
      hash: deployTx.hash,
      status: deployReceipt.status,
      contractAddress: deployReceipt.contractAddress,
      blockNumber: deployReceipt.blockNumber,
      gasUsed: deployReceipt.gasUsed.toString(),
      type: deployTx.type,
    },
    codeSize: (code.length - 2) / 2,
    balanceBefore,
    transfer: {
      hash: transferTx.hash,
      status: transferReceipt.status,
      blockNumber: transferReceipt.blockNumber,
      gasUsed: transferReceipt.gasUsed.toString(),
      gasLimit: transferTx.gasLimit.toString(),
      logs: transferReceipt.logs.length,
      nonce: transferTx.nonce,
    },
    events: events.map((e) => ({
      event: e.eventName,
      from: e.args[0],
      to: e.args[1],
      value: e.args[2].toString(),
      blockNumber: e.blockNumber,
      logIndex: e.index,
      transactionHash: e.transactionHash,
    })),
    balancesAfter: balances,
    block: {
      number: block.number,
      transactions: block.prefetchedTransactions.map((tx) => tx.hash),
      baseFeePerGas: block.baseFeePerGas?.toString() ?? null,
    },
  };
  console.log(JSON.stringify(summary));
  provider.destroy();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
