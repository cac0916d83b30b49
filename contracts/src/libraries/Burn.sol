// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Burn
/// @notice Removes OPEN from the L2 supply.
library Burn {
    /// @notice Burns `_amount` wei of the calling contract's balance by sending it
    ///         to a Burner that self-destructs in its own constructor.
    /// @param _amount Amount of OPEN (wei) to burn.
    function eth(uint256 _amount) internal {
        new Burner{value: _amount}();
    }
}

/// @title Burner
/// @notice Destroys the OPEN it is created with. Under EIP-6780 a contract that
///         self-destructs in the transaction that created it is deleted with its
///         balance, and naming itself as beneficiary means no account receives
///         the balance: the value leaves the supply. Nothing remains at the
///         Burner's address after the transaction.
contract Burner {
    /// @notice Receives the value to burn and destroys it.
    constructor() payable {
        selfdestruct(payable(address(this)));
    }
}
