// ethers v6 against a node: JsonRpcSigner from provider.getSigner() (the node's
// own accounts through eth_accounts / eth_sendTransaction), event listeners, and
// the error codes ethers derives from the node's answers. Prints one JSON
// object: check name -> "ok" or the error.
//
//   node_modules/.bin/node tests/toolchains/ethers_client.mjs http://127.0.0.1:8545
import { ContractFactory, JsonRpcProvider, parseEther, parseUnits, Wallet } from "ethers";

import { assert, assertEqual, Checks, compileCounter, DEV_KEYS } from "./lib.mjs";

const url = process.argv[2];
const { abi, bytecode } = compileCounter();
const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 100, cacheTimeout: -1 });
const wallet = new Wallet(DEV_KEYS[5], provider);
const checks = new Checks();
let counter;

const expectCode = async (promise, code) => {
  try {
    await promise;
  } catch (error) {
    assertEqual(error.code, code, `ethers error code (${error.shortMessage ?? error.message})`);
    return error;
  }
  throw new Error(`expected ${code}, the call succeeded`);
};

await checks.run("getSigner and eth_sendTransaction", async () => {
  const accounts = await provider.listAccounts();
  assert(accounts.length >= 10, `the node lists its dev accounts (got ${accounts.length})`);
  const signer = await provider.getSigner(0);
  assertEqual(signer.address, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "account 0");
  const to = Wallet.createRandom().address;
  const tx = await signer.sendTransaction({ to, value: parseEther("0.5") });
  const receipt = await tx.wait();
  assertEqual(receipt.status, 1, "status");
  assertEqual(await provider.getBalance(to), parseEther("0.5"), "recipient balance");
});

await checks.run("deploy and call with a Wallet", async () => {
  counter = await new ContractFactory(abi, bytecode, wallet).deploy(10n);
  await counter.waitForDeployment();
  assertEqual(await counter.x(), 10n, "x");
  const receipt = await (await counter.incBy(5n)).wait();
  assertEqual(receipt.status, 1, "incBy status");
  assertEqual(await counter.x(), 15n, "x after incBy");
});

await checks.run("contract event listener", async () => {
  const seen = new Promise((resolve) => {
    counter.once("Increment", (by, amount, event) => resolve({ by, amount, event }));
  });
  await (await counter.incBy(2n)).wait();
  const { by, amount, event } = await seen;
  assertEqual(by, wallet.address, "by");
  assertEqual(amount, 2n, "amount");
  assertEqual(event.log.address, await counter.getAddress(), "log address");
});

await checks.run("block listener", async () => {
  const start = await provider.getBlockNumber();
  const seen = new Promise((resolve) => provider.once("block", resolve));
  await (await wallet.sendTransaction({ to: wallet.address, value: 1n })).wait();
  assert((await seen) > start - 1, "a block number at or after the head when listening began");
});

await checks.run("custom error revert: CALL_EXCEPTION with the decoded error", async () => {
  // A static call decodes the error with the contract's ABI...
  const error = await expectCode(counter.incBy.staticCall(0n), "CALL_EXCEPTION");
  assertEqual(error.revert?.name, "ZeroAmount", "decoded error");
  // ...a transaction's gas estimate carries the revert data for the dapp to decode.
  const otherKey = new Wallet(DEV_KEYS[1]);
  const notOwner = await expectCode(counter.connect(otherKey.connect(provider)).reset(), "CALL_EXCEPTION");
  const decoded = counter.interface.parseError(notOwner.data);
  assertEqual(decoded?.name, "NotOwner", "decoded error");
  assertEqual(decoded?.args[0], otherKey.address, "NotOwner's argument");
});

await checks.run("require reason: CALL_EXCEPTION with the reason", async () => {
  const error = await expectCode(counter.requirePositive(0n), "CALL_EXCEPTION");
  assertEqual(error.reason, "amount must be positive", "reason");
});

await checks.run("nonce too low: NONCE_EXPIRED", async () => {
  const nonce = await provider.getTransactionCount(wallet.address, "latest");
  assert(nonce > 0, "the wallet has sent transactions");
  await expectCode(wallet.sendTransaction({ to: wallet.address, value: 1n, nonce: nonce - 1 }), "NONCE_EXPIRED");
});

await checks.run("insufficient funds: INSUFFICIENT_FUNDS", async () => {
  const poor = Wallet.createRandom(provider);
  await expectCode(poor.sendTransaction({ to: wallet.address, value: 1n, gasLimit: 21_000n }), "INSUFFICIENT_FUNDS");
});

await checks.run("replacement underpriced: REPLACEMENT_UNDERPRICED", async () => {
  // A gap in the nonces keeps the first transaction pending in both nodes' pools.
  const nonce = (await provider.getTransactionCount(wallet.address, "pending")) + 1;
  const fees = { maxFeePerGas: parseUnits("30", "gwei"), maxPriorityFeePerGas: parseUnits("1", "gwei") };
  await wallet.sendTransaction({ to: wallet.address, value: 1n, nonce, gasLimit: 21_000n, ...fees });
  await expectCode(
    wallet.sendTransaction({ to: wallet.address, value: 2n, nonce, gasLimit: 21_000n, ...fees }),
    "REPLACEMENT_UNDERPRICED",
  );
  // Fill the gap so the pool is left with nothing pending.
  await (await wallet.sendTransaction({ to: wallet.address, value: 1n, nonce: nonce - 1, gasLimit: 21_000n, ...fees }))
    .wait();
});

checks.print();
provider.destroy();
process.exit(0);
