// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title WOPEN
/// @notice Wrapped native OPEN: an ERC-20 backed 1:1 by the OPEN it holds,
///         with EIP-2612 permits and ERC-5805 voting power for governance
///         (OpenLedgerGovernor). Voting power follows delegation: holders must
///         delegate (to themselves or another account) before their balance counts.
/// @dev    Clock: timestamp (ERC-6372 CLOCK_MODE "mode=timestamp"), so voting
///         delays and periods are in seconds whatever the L2 block time.
///         totalSupply() == address(this).balance, except for OPEN forced in
///         without deposit (selfdestruct), which stays unbacked by tokens.
///         No constructor arguments and no owner: safe to place as a predeploy.
contract WOPEN is ERC20, ERC20Permit, ERC20Votes {
    /// @notice Emitted when OPEN is wrapped.
    /// @param account Account credited with WOPEN.
    /// @param amount  OPEN wrapped (wei).
    event Deposit(address indexed account, uint256 amount);

    /// @notice Emitted when WOPEN is unwrapped.
    /// @param account Account whose WOPEN was burned and who received the OPEN.
    /// @param amount  OPEN unwrapped (wei).
    event Withdrawal(address indexed account, uint256 amount);

    constructor() ERC20("Wrapped OPEN", "WOPEN") ERC20Permit("Wrapped OPEN") {}

    /// @notice Wraps msg.value; plain transfers of OPEN to this contract do the same.
    receive() external payable {
        _deposit();
    }

    /// @notice Wraps msg.value OPEN into as much WOPEN for the caller.
    function deposit() external payable {
        _deposit();
    }

    /// @notice Burns `amount` WOPEN of the caller and sends it as much OPEN.
    /// @dev    Reverts with ERC20InsufficientBalance when the balance is short.
    ///         The burn happens before the transfer, so re-entry finds the new balance.
    /// @param amount Amount to unwrap (wei).
    function withdraw(uint256 amount) external {
        _burn(msg.sender, amount);
        emit Withdrawal(msg.sender, amount);
        Address.sendValue(payable(msg.sender), amount);
    }

    /// @notice Current timepoint of the votes clock: the block timestamp.
    /// @return The block timestamp.
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice ERC-6372 description of the clock.
    /// @return "mode=timestamp".
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /// @notice Next permit nonce of `owner`.
    /// @param owner Account.
    /// @return The nonce.
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _deposit() private {
        _mint(msg.sender, msg.value);
        emit Deposit(msg.sender, msg.value);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }
}
