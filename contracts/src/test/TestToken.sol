// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestToken
/// @notice A plain OpenZeppelin ERC-20 used by tests and benchmarks of the node
///         (token transfers are the standard contract workload). Not deployed in
///         any network's genesis.
contract TestToken is ERC20 {
    /// @param supply Tokens minted to the deployer, in the smallest unit.
    constructor(uint256 supply) ERC20("Test Token", "TST") {
        _mint(msg.sender, supply);
    }
}
