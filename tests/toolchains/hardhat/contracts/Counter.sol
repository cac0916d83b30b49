// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// A counter with events and custom errors: what a dapp's first contract looks like.
contract Counter {
    uint256 public x;
    address public owner;

    event Increment(address indexed by, uint256 amount);

    error ZeroAmount();
    error NotOwner(address caller);

    constructor(uint256 start) payable {
        x = start;
        owner = msg.sender;
    }

    function inc() external {
        x += 1;
        emit Increment(msg.sender, 1);
    }

    function incBy(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        x += amount;
        emit Increment(msg.sender, amount);
    }

    function reset() external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        x = 0;
    }

    function requirePositive(uint256 amount) external pure returns (uint256) {
        require(amount > 0, "amount must be positive");
        return amount;
    }

    /// Sends the whole balance to `to`: a balance change on two accounts.
    function payout(address payable to) external {
        to.transfer(address(this).balance);
    }
}
