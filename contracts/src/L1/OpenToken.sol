// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title OpenToken
/// @notice OPEN, the OpenLedger token on L1: the L2's gas token (locked in the
///         portal to back L2 balances) and the staking token of the rollup
///         contract. The whole supply, 1,000,000,000 OPEN, is minted once to one
///         holder at deployment; there is no mint function, so the supply can
///         only shrink (burn).
/// @dev    ERC20Votes uses the default block-number clock, which suits an L1
///         Governor; holders must delegate (to themselves or others) for their
///         balance to count as voting power. ERC20Permit and ERC20Votes share one
///         nonce per owner (OpenZeppelin Nonces).
contract OpenToken is ERC20, ERC20Burnable, ERC20Permit, ERC20Votes {
    /// @notice The fixed supply minted at deployment, in the smallest unit (18 decimals).
    uint256 public constant INITIAL_SUPPLY = 1_000_000_000 * 1e18;

    /// @param holder Receives the whole supply (a treasury, a multisig or a
    ///               distribution contract); must not be the zero address.
    constructor(address holder) ERC20("Open", "OPEN") ERC20Permit("Open") {
        _mint(holder, INITIAL_SUPPLY);
    }

    /// @notice Next permit / delegateBySig nonce of `owner`.
    /// @param owner The account.
    /// @return The nonce the next signature of `owner` must use.
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @dev Balance changes move voting power between delegates (ERC20Votes).
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }
}
