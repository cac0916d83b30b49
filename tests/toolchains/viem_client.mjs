// viem against a node: public, wallet and test clients, simulateCalls, and
// WebSocket watchers. Prints one JSON object: check name -> "ok" or the error.
//
//   node_modules/.bin/node tests/toolchains/viem_client.mjs http://127.0.0.1:8545
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  parseAbiItem,
  parseEther,
  parseGwei,
  webSocket,
} from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";

import { assert, assertEqual, Checks, compileCounter, DEV_KEYS, MNEMONIC } from "./lib.mjs";

const url = process.argv[2];
const wsUrl = url.replace(/^http/, "ws");
const MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11";

const devnet = defineChain({
  id: 161299,
  name: "OpenLedger devnet",
  nativeCurrency: { name: "Open", symbol: "OPEN", decimals: 18 },
  rpcUrls: { default: { http: [url], webSocket: [wsUrl] } },
  contracts: { multicall3: { address: MULTICALL3 } },
});

const counterArtifact = compileCounter();
const publicClient = createPublicClient({ chain: devnet, transport: http(), pollingInterval: 100 });
const wsClient = createPublicClient({ chain: devnet, transport: webSocket(), pollingInterval: 100 });
const account = mnemonicToAccount(MNEMONIC, { addressIndex: 3 });
const wallet = createWalletClient({ account, chain: devnet, transport: http() });
const testClient = createTestClient({ mode: "anvil", chain: devnet, transport: http() });
const checks = new Checks();
let counter; // the deployed Counter's address
const receipt = (hash) => publicClient.waitForTransactionReceipt({ hash, pollingInterval: 100, timeout: 20_000 });
const counterAt = { abi: counterArtifact.abi };

await checks.run("chain id and blocks", async () => {
  assertEqual(await publicClient.getChainId(), 161299, "chain id");
  const latest = await publicClient.getBlock();
  const genesis = await publicClient.getBlock({ blockNumber: 0n, includeTransactions: true });
  assertEqual(genesis.number, 0n, "genesis number");
  assert(latest.number >= 0n && latest.hash.length === 66, "latest block has a number and a hash");
  assert(typeof latest.baseFeePerGas === "bigint", "latest block has a base fee");
  const byHash = await publicClient.getBlock({ blockHash: latest.hash });
  assertEqual(byHash.number, latest.number, "block by hash");
});

await checks.run("deployContract", async () => {
  const hash = await wallet.deployContract({ ...counterArtifact, args: [5n], value: parseEther("1") });
  const r = await receipt(hash);
  assertEqual(r.status, "success", "deploy status");
  counter = r.contractAddress;
  assertEqual(await publicClient.getBalance({ address: counter }), parseEther("1"), "value sent with the deploy");
});

await checks.run("readContract", async () => {
  assertEqual(await publicClient.readContract({ ...counterAt, address: counter, functionName: "x" }), 5n, "x");
  assertEqual(await publicClient.readContract({ ...counterAt, address: counter, functionName: "owner" }),
    account.address, "owner");
});

let incBlock;
await checks.run("writeContract and getLogs", async () => {
  const { request } = await publicClient.simulateContract({
    ...counterAt, address: counter, functionName: "incBy", args: [4n], account,
  });
  const r = await receipt(await wallet.writeContract(request));
  assertEqual(r.status, "success", "incBy status");
  incBlock = r.blockNumber;
  const logs = await publicClient.getLogs({
    address: counter,
    event: parseAbiItem("event Increment(address indexed by, uint256 amount)"),
    args: { by: account.address },
    fromBlock: r.blockNumber,
    toBlock: r.blockNumber,
  });
  assertEqual(logs.length, 1, "Increment logs");
  assertEqual(logs[0].args.amount, 4n, "amount");
  assertEqual(logs[0].transactionHash, r.transactionHash, "log's transaction");
  const events = await publicClient.getContractEvents({ ...counterAt, address: counter, eventName: "Increment",
    fromBlock: 0n });
  assertEqual(events.length, 1, "getContractEvents from block 0");
});

await checks.run("custom error from a simulated write", async () => {
  try {
    await publicClient.simulateContract({ ...counterAt, address: counter, functionName: "incBy", args: [0n], account });
  } catch (error) {
    const revert = error.walk((e) => e.name === "ContractFunctionRevertedError");
    assertEqual(revert?.data?.errorName, "ZeroAmount", "decoded custom error");
    return;
  }
  throw new Error("incBy(0) did not revert");
});

await checks.run("multicall through Multicall3", async () => {
  const results = await publicClient.multicall({
    contracts: [
      { ...counterAt, address: counter, functionName: "x" },
      { ...counterAt, address: counter, functionName: "owner" },
      { ...counterAt, address: counter, functionName: "requirePositive", args: [0n] },
    ],
  });
  assertEqual(results[0].status, "success", "x status");
  assertEqual(results[0].result, 9n, "x");
  assertEqual(results[1].result, account.address, "owner");
  assertEqual(results[2].status, "failure", "requirePositive(0) fails");
});

await checks.run("two transactions in flight from one sender", async () => {
  const sender = privateKeyToAccount(DEV_KEYS[4]);
  const senderWallet = createWalletClient({ account: sender, chain: devnet, transport: http() });
  const start = await publicClient.getTransactionCount({ address: sender.address, blockTag: "pending" });
  const first = await senderWallet.sendTransaction({ to: account.address, value: 1n });
  const second = await senderWallet.sendTransaction({ to: account.address, value: 2n });
  const [r1, r2] = await Promise.all([receipt(first), receipt(second)]);
  assertEqual(r1.status, "success", "first status");
  assertEqual(r2.status, "success", "second status");
  const [t1, t2] = await Promise.all([publicClient.getTransaction({ hash: first }),
    publicClient.getTransaction({ hash: second })]);
  assertEqual(t1.nonce, start, "first nonce");
  assertEqual(t2.nonce, start + 1, "second nonce");
});

await checks.run("sendTransaction with explicit EIP-1559 fees", async () => {
  const fees = await publicClient.estimateFeesPerGas();
  assert(fees.maxFeePerGas >= fees.maxPriorityFeePerGas, "maxFee >= priority fee");
  const hash = await wallet.sendTransaction({ to: counter, data: "0x", value: 0n, maxFeePerGas: parseGwei("50"),
    maxPriorityFeePerGas: parseGwei("1"), gas: 100_000n }).catch((e) => { throw e; });
  // Counter has no receive function: the call reverts, and still gets a receipt.
  assertEqual((await receipt(hash)).status, "reverted", "plain transfer to Counter reverts");
});

await checks.run("simulateCalls (eth_simulateV1)", async () => {
  const { results } = await publicClient.simulateCalls({
    account: account.address,
    calls: [
      { to: "0x000000000000000000000000000000000000dEaD", value: parseEther("1") },
      { ...counterAt, to: counter, functionName: "incBy", args: [2n] },
      { ...counterAt, to: counter, functionName: "x" },
    ],
  });
  assertEqual(results.length, 3, "three results");
  assertEqual(results[0].status, "success", "transfer");
  assertEqual(results[1].status, "success", "incBy");
  assertEqual(results[1].logs.length, 1, "incBy's event");
  assertEqual(results[2].result, 11n, "x after incBy in the same simulation");
});

await checks.run("test client: setBalance", async () => {
  const target = "0x00000000000000000000000000000000000b0b00";
  await testClient.setBalance({ address: target, value: parseEther("123") });
  assertEqual(await publicClient.getBalance({ address: target }), parseEther("123"), "balance");
});

await checks.run("test client: mine", async () => {
  const before = await publicClient.getBlockNumber({ cacheTime: 0 });
  await testClient.mine({ blocks: 3 });
  assertEqual(await publicClient.getBlockNumber({ cacheTime: 0 }), before + 3n, "head after mining 3 blocks");
});

await checks.run("test client: impersonateAccount", async () => {
  const whale = "0x000000000000000000000000000000000000c0de";
  await testClient.setBalance({ address: whale, value: parseEther("10") });
  await testClient.impersonateAccount({ address: whale });
  const hash = await wallet.sendTransaction({ account: whale, to: account.address, value: parseEther("1") });
  const r = await receipt(hash);
  assertEqual(r.status, "success", "impersonated transfer");
  assertEqual(r.from.toLowerCase(), whale.toLowerCase(), "sender");
  await testClient.stopImpersonatingAccount({ address: whale });
});

await checks.run("test client: snapshot and revert", async () => {
  const id = await testClient.snapshot();
  const r = await receipt(await wallet.writeContract({ ...counterAt, address: counter, functionName: "inc" }));
  assertEqual(r.status, "success", "inc");
  const after = await publicClient.readContract({ ...counterAt, address: counter, functionName: "x" });
  await testClient.revert({ id });
  const reverted = await publicClient.readContract({ ...counterAt, address: counter, functionName: "x" });
  assertEqual(reverted, after - 1n, "x after revert");
});

await checks.run("WebSocket watchBlocks", async () => {
  const seen = await new Promise((resolve, reject) => {
    const unwatch = wsClient.watchBlocks({
      onBlock: (block) => { unwatch(); resolve(block); },
      onError: (error) => { unwatch(); reject(error); },
    });
    setTimeout(() => wallet.sendTransaction({ to: account.address, value: 1n }).catch(reject), 300);
  });
  assert(seen.number > 0n && seen.hash.length === 66, "a new block with its number and hash");
});

await checks.run("WebSocket watchContractEvent", async () => {
  const log = await new Promise((resolve, reject) => {
    const unwatch = wsClient.watchContractEvent({
      ...counterAt,
      address: counter,
      eventName: "Increment",
      onLogs: (logs) => { unwatch(); resolve(logs[0]); },
      onError: (error) => { unwatch(); reject(error); },
    });
    setTimeout(() => wallet.writeContract({ ...counterAt, address: counter, functionName: "incBy", args: [6n] })
      .catch(reject), 300);
  });
  assertEqual(log.args.amount, 6n, "event amount");
  assertEqual(log.args.by, account.address, "event sender");
});

checks.print();
await wsClient.transport.getRpcClient().then((c) => c.close()).catch(() => {});
process.exit(0);
