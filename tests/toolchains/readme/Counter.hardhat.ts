// A test run with the README's hardhat.config.ts: deploy and call Counter on the
// configured network through the viem toolbox.
import assert from "node:assert/strict";
import { it } from "node:test";

import { network } from "hardhat";

it("deploys and calls Counter on the configured network", async function () {
  const { viem } = await network.create();
  const publicClient = await viem.getPublicClient();
  assert.equal(await publicClient.getChainId(), 161299);
  const counter = await viem.deployContract("Counter", [3n]);
  await viem.assertions.emit(counter.write.inc(), counter, "Increment");
  assert.equal(await counter.read.x(), 4n);
});
