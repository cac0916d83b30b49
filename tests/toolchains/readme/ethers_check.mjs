// Uses the README's ethers snippet (written beside this file as ethers.mjs, with
// the node's URL): a transfer from the mnemonic's wallet and one the node signs.
// Prints JSON.
import { nodeSigner, provider, wallet } from "./ethers.mjs";

const fromWallet = await (await wallet.sendTransaction({ to: "0x000000000000000000000000000000000000dEaD", value: 1n }))
  .wait();
const fromNode = await (await nodeSigner.sendTransaction({ to: "0x000000000000000000000000000000000000dEaD",
  value: 2n })).wait();
console.log(JSON.stringify({
  chainId: (await provider.getNetwork()).chainId.toString(),
  wallet: wallet.address,
  nodeSigner: nodeSigner.address,
  walletStatus: fromWallet.status,
  walletFrom: fromWallet.from,
  nodeStatus: fromNode.status,
  nodeFrom: fromNode.from,
}));
provider.destroy();
