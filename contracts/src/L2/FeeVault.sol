// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/// @title FeeVault
/// @notice Base of the predeploys that collect transaction fees on L2. The node
///         credits fees to the vault's balance directly (fees are never burned,
///         so the OPEN supply is conserved); anyone can sweep the whole balance
///         to RECIPIENT once it reaches MIN_WITHDRAWAL_AMOUNT. The recipient
///         receives the OPEN on L2 and may bridge it to L1 itself.
/// @dev    Predeploys are placed by running their creation code at the fixed
///         address in genesis, so the constructor arguments become immutables.
///         Storage layout: slot 0: totalProcessed.
abstract contract FeeVault {
    /// @notice Minimum balance (wei) that withdraw() sweeps.
    uint256 public immutable MIN_WITHDRAWAL_AMOUNT;

    /// @notice L2 account that receives the swept fees.
    address public immutable RECIPIENT;

    /// @notice Total OPEN (wei) swept to RECIPIENT so far.
    uint256 public totalProcessed;

    /// @notice Emitted when OPEN is sent to the vault by a call (fees credited
    ///         by the node do not execute code and emit nothing).
    /// @param from  Sender of the OPEN.
    /// @param value OPEN (wei) received.
    event Received(address indexed from, uint256 value);

    /// @notice Emitted when the balance is swept to the recipient.
    /// @param value OPEN (wei) swept.
    /// @param to    Recipient.
    /// @param from  Caller of withdraw().
    event Withdrawal(uint256 value, address to, address from);

    /// @notice The recipient given to the constructor is the zero address.
    error ZeroRecipient();

    /// @notice The balance is below MIN_WITHDRAWAL_AMOUNT.
    /// @param balance Current balance (wei).
    /// @param minimum MIN_WITHDRAWAL_AMOUNT (wei).
    error BelowMinWithdrawalAmount(uint256 balance, uint256 minimum);

    /// @param _recipient           L2 account that receives the swept fees.
    /// @param _minWithdrawalAmount Minimum balance (wei) that withdraw() sweeps.
    constructor(address _recipient, uint256 _minWithdrawalAmount) {
        if (_recipient == address(0)) revert ZeroRecipient();
        RECIPIENT = _recipient;
        MIN_WITHDRAWAL_AMOUNT = _minWithdrawalAmount;
    }

    /// @notice Accepts OPEN sent by a call.
    receive() external payable {
        emit Received(msg.sender, msg.value);
    }

    /// @notice Sends the whole balance to RECIPIENT. Callable by anyone.
    /// @dev    Reverts with BelowMinWithdrawalAmount when the balance is below the
    ///         minimum, and bubbles up the recipient's revert if it rejects the
    ///         OPEN. State is updated before the transfer, so re-entry from the
    ///         recipient finds a zero balance.
    function withdraw() external {
        uint256 value = address(this).balance;
        if (value < MIN_WITHDRAWAL_AMOUNT) revert BelowMinWithdrawalAmount(value, MIN_WITHDRAWAL_AMOUNT);

        totalProcessed += value;
        emit Withdrawal(value, RECIPIENT, msg.sender);

        Address.sendValue(payable(RECIPIENT), value);
    }
}
