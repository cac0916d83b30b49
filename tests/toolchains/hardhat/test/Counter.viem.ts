// Counter through Hardhat's viem toolbox: deployment, events, custom errors and
// revert reasons with the viem assertions, a balance change, an Ignition deploy.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { network } from "hardhat";
import { getAddress, parseEther } from "viem";

import CounterModule from "../ignition/modules/Counter.js";

describe("Counter (viem)", async function () {
  const { viem, ignition } = await network.create();
  const publicClient = await viem.getPublicClient();
  const [deployer, other] = await viem.getWalletClients();

  it("deploys with a constructor argument and reads it back", async function () {
    const counter = await viem.deployContract("Counter", [5n]);
    assert.equal(await counter.read.x(), 5n);
    assert.equal(await counter.read.owner(), getAddress(deployer.account.address));
    const code = await publicClient.getCode({ address: counter.address });
    assert.ok(code !== undefined && code.length > 2);
  });

  it("emits Increment with its arguments", async function () {
    const counter = await viem.deployContract("Counter", [0n]);
    await viem.assertions.emitWithArgs(counter.write.incBy([3n]), counter, "Increment", [
      getAddress(deployer.account.address),
      3n,
    ]);
    const events = await counter.getEvents.Increment();
    assert.equal(events.length, 1);
    assert.equal(events[0].args.amount, 3n);
    assert.equal(await counter.read.x(), 3n);
  });

  it("reverts with a custom error", async function () {
    const counter = await viem.deployContract("Counter", [0n]);
    await viem.assertions.revertWithCustomError(counter.write.incBy([0n]), counter, "ZeroAmount");
  });

  it("reverts with a custom error and its arguments", async function () {
    const counter = await viem.deployContract("Counter", [1n]);
    const asOther = await viem.getContractAt("Counter", counter.address, { client: { wallet: other } });
    await viem.assertions.revertWithCustomErrorWithArgs(asOther.write.reset(), counter, "NotOwner", [
      getAddress(other.account.address),
    ]);
  });

  it("reverts with a reason string", async function () {
    const counter = await viem.deployContract("Counter", [0n]);
    await viem.assertions.revertWith(counter.read.requirePositive([0n]), "amount must be positive");
  });

  it("moves balances", async function () {
    const counter = await viem.deployContract("Counter", [0n], { value: parseEther("1") });
    await viem.assertions.balancesHaveChanged(counter.write.payout([other.account.address]), [
      { address: other.account.address, amount: parseEther("1") },
      { address: counter.address, amount: -parseEther("1") },
    ]);
  });

  it("deploys an Ignition module", async function () {
    const { counter } = await ignition.deploy(CounterModule, {
      parameters: { CounterModule: { start: 34n } },
      deploymentId: `counter-${process.pid}-${Date.now()}`,
    });
    assert.equal(await counter.read.x(), 42n);
  });
});
