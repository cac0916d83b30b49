// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {Burn} from "../libraries/Burn.sol";
import {Encoding} from "../libraries/Encoding.sol";
import {Hashing} from "../libraries/Hashing.sol";
import {Types} from "../libraries/Types.sol";

/// @title L2ToL1MessagePasser
/// @notice Predeploy where withdrawals from L2 to L1 start. Each withdrawal is
///         recorded in sentMessages; the L1 portal later proves the record with
///         a storage proof against a finalized output root (whose
///         messagePasserStorageRoot is this contract's storage root) and
///         releases the OPEN on L1. The withdrawn OPEN is burned on L2 at once,
///         so the L2 supply matches the OPEN locked in the L1 bridge.
///         Semantics, hash and storage layout follow the OP Stack's contract.
/// @dev    Storage layout (the L1 portal depends on it, do not reorder):
///         slot 0: sentMessages, so sentMessages[h] lives at keccak256(h ++ uint256(0));
///         slot 1: msgNonce.
contract L2ToL1MessagePasser {
    /// @notice Gas limit of the L1 call for withdrawals started by a plain transfer.
    uint64 internal constant RECEIVE_DEFAULT_GAS_LIMIT = 100_000;

    /// @notice Version of the message encoding, stored in the top two bytes of
    ///         each nonce.
    uint16 public constant MESSAGE_VERSION = 1;

    /// @notice Hashes of every withdrawal initiated here. MUST stay at slot 0.
    mapping(bytes32 => bool) public sentMessages;

    /// @notice Sequence number of the next withdrawal, without its version.
    uint240 internal msgNonce;

    /// @notice Emitted for every withdrawal initiated.
    /// @param nonce          Versioned nonce of the withdrawal.
    /// @param sender         L2 address that initiated it.
    /// @param target         L1 address to call.
    /// @param value          OPEN (wei) withdrawn.
    /// @param gasLimit       Minimum gas for the L1 call.
    /// @param data           Calldata for the L1 call.
    /// @param withdrawalHash Hash recorded in sentMessages.
    event MessagePassed(
        uint256 indexed nonce,
        address indexed sender,
        address indexed target,
        uint256 value,
        uint256 gasLimit,
        bytes data,
        bytes32 withdrawalHash
    );

    /// @notice Emitted when OPEN held by this contract is burned.
    /// @param amount OPEN (wei) burned.
    event WithdrawerBalanceBurnt(uint256 indexed amount);

    /// @notice A plain transfer starts a withdrawal of the value to the sender's
    ///         own address on L1, with the default gas limit.
    receive() external payable {
        _initiateWithdrawal(msg.sender, RECEIVE_DEFAULT_GAS_LIMIT, bytes(""));
    }

    /// @notice Starts a withdrawal to L1. The value sent is burned on L2 and
    ///         released on L1 once the withdrawal is proven and finalized.
    /// @param _target   L1 address to call (and to credit with the value).
    /// @param _gasLimit Minimum gas for the L1 call.
    /// @param _data     Calldata for the L1 call.
    function initiateWithdrawal(address _target, uint256 _gasLimit, bytes calldata _data) external payable {
        _initiateWithdrawal(_target, _gasLimit, _data);
    }

    /// @notice Burns any OPEN this contract holds. Withdrawals burn their value
    ///         at once, so only value forced here (e.g. by another contract's
    ///         selfdestruct) accumulates; anyone may burn it. Does nothing when
    ///         the balance is zero.
    function burn() external {
        uint256 balance = address(this).balance;
        if (balance == 0) return;
        Burn.eth(balance);
        emit WithdrawerBalanceBurnt(balance);
    }

    /// @notice Versioned nonce of the next withdrawal: MESSAGE_VERSION in the top
    ///         two bytes, the sequence number in the low 240 bits.
    /// @return The nonce the next withdrawal will carry.
    function messageNonce() public view returns (uint256) {
        return Encoding.encodeVersionedNonce(msgNonce, MESSAGE_VERSION);
    }

    /// @dev Records the withdrawal, emits it, advances the nonce, burns the value.
    function _initiateWithdrawal(address _target, uint256 _gasLimit, bytes memory _data) internal {
        uint256 nonce = messageNonce();
        bytes32 withdrawalHash = Hashing.hashWithdrawal(
            Types.WithdrawalTransaction({
                nonce: nonce,
                sender: msg.sender,
                target: _target,
                value: msg.value,
                gasLimit: _gasLimit,
                data: _data
            })
        );

        sentMessages[withdrawalHash] = true;

        emit MessagePassed(nonce, msg.sender, _target, msg.value, _gasLimit, _data, withdrawalHash);

        unchecked {
            ++msgNonce;
        }

        if (msg.value > 0) {
            Burn.eth(msg.value);
            emit WithdrawerBalanceBurnt(msg.value);
        }
    }
}
