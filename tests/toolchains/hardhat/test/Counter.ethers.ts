// Counter through hardhat-ethers: a ContractFactory deployment, an event read
// from the receipt, and a custom error decoded from the node's revert data.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { network } from "hardhat";

describe("Counter (ethers)", async function () {
  const { ethers } = await network.create();
  const [deployer, other] = await ethers.getSigners();

  it("deploys, increments and reads the event", async function () {
    const counter = await ethers.deployContract("Counter", [7n]);
    await counter.waitForDeployment();
    assert.equal(await counter.x(), 7n);
    const receipt = await (await counter.inc()).wait();
    assert.equal(receipt?.status, 1);
    const [log] = receipt!.logs.map((l) => counter.interface.parseLog(l)).filter((l) => l !== null);
    assert.equal(log?.name, "Increment");
    assert.equal(log?.args.by, deployer.address);
    assert.equal(log?.args.amount, 1n);
    assert.equal(await counter.x(), 8n);
  });

  it("decodes a custom error", async function () {
    const counter = await ethers.deployContract("Counter", [1n]);
    await counter.waitForDeployment();
    await assert.rejects(
      (counter.connect(other) as typeof counter).reset(),
      (error: any) => {
        // Hardhat's provider raises the node's JSON-RPC error (code 3, the revert
        // data), which the contract's interface decodes.
        assert.equal(error.code, 3);
        const decoded = counter.interface.parseError(error.data);
        assert.equal(decoded?.name, "NotOwner");
        assert.deepEqual([...decoded!.args], [other.address]);
        return true;
      },
    );
  });
});
