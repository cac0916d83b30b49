// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {OpenLedgerPortal} from "../L1/OpenLedgerPortal.sol";
import {Types} from "../libraries/Types.sol";

/// @title PortalDepositor
/// @notice A contract that deposits through the portal, so tests can check that
///         contract callers are aliased on L2.
contract PortalDepositor {
    /// @notice The portal deposited to.
    OpenLedgerPortal public immutable portal;

    /// @param _portal The portal.
    constructor(OpenLedgerPortal _portal) {
        portal = _portal;
    }

    /// @notice Approves the portal for `_amount` of this contract's OPEN and deposits it.
    /// @param _to       L2 recipient.
    /// @param _amount   OPEN (wei).
    /// @param _gasLimit L2 gas limit.
    /// @param _data     L2 calldata.
    function deposit(address _to, uint256 _amount, uint64 _gasLimit, bytes calldata _data) external {
        IERC20 token = portal.openToken();
        token.approve(address(portal), _amount);
        portal.depositOPEN(_to, _amount, _gasLimit, _data);
    }
}

/// @title PortalWithdrawalTarget
/// @notice L1 target of withdrawals with calldata in the portal tests: records
///         the portal's l2Sender and the gas it received, can fail, and can try to
///         re-enter the portal.
contract PortalWithdrawalTarget {
    /// @notice The portal that calls this contract.
    OpenLedgerPortal public immutable portal;

    /// @notice l2Sender() seen by the last successful call.
    address public lastL2Sender;

    /// @notice Value passed to the last successful `record`.
    uint256 public lastValue;

    /// @notice Number of successful calls.
    uint256 public calls;

    /// @notice Emitted by every successful call.
    /// @param l2Sender l2Sender() during the call.
    /// @param value    The recorded value.
    /// @param gasLeft  gasleft() at the start of the call.
    event Called(address l2Sender, uint256 value, uint256 gasLeft);

    /// @notice `useGas` received less gas than it needs.
    /// @param gasLeft What it received.
    error NotEnoughGas(uint256 gasLeft);

    /// @notice `fail` always reverts with this.
    error Failed();

    /// @param _portal The portal.
    constructor(OpenLedgerPortal _portal) {
        portal = _portal;
    }

    /// @notice Records `_value` and the portal's l2Sender.
    /// @param _value Any value.
    function record(uint256 _value) external {
        uint256 gasLeft = gasleft();
        lastL2Sender = portal.l2Sender();
        lastValue = _value;
        calls += 1;
        emit Called(lastL2Sender, _value, gasLeft);
    }

    /// @notice Succeeds only with at least `_gas` gas left on entry.
    /// @param _gas Gas the call needs.
    function useGas(uint256 _gas) external {
        uint256 gasLeft = gasleft();
        if (gasLeft < _gas) revert NotEnoughGas(gasLeft);
        calls += 1;
        emit Called(portal.l2Sender(), _gas, gasLeft);
    }

    /// @notice Always reverts.
    function fail() external pure {
        revert Failed();
    }

    /// @notice Tries to finalize another withdrawal from inside a withdrawal call.
    /// @param _tx The other withdrawal.
    function reenter(Types.WithdrawalTransaction calldata _tx) external {
        portal.finalizeWithdrawalTransaction(_tx);
        calls += 1;
    }
}
