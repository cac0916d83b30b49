// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Counter} from "@counter/Counter.sol";

/// The cheatcodes this script uses (forge-std's Vm, without the dependency).
interface Vm {
    function envUint(string calldata name) external view returns (uint256);
    function startBroadcast(uint256 privateKey) external;
    function stopBroadcast() external;
}

/// `forge script --broadcast`: Counter deployed with CREATE2 (`new X{salt: ...}`
/// goes through the deterministic deployment proxy at 0x4e59...956C), then one call.
contract DeployCounter {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    bytes32 internal constant SALT = keccak256("openledger toolchain suite");

    function run() external returns (Counter counter) {
        vm.startBroadcast(vm.envUint("DEPLOYER_KEY"));
        counter = new Counter{salt: SALT}(40);
        counter.incBy(2);
        vm.stopBroadcast();
    }
}
