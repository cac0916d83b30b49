// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {Hashing} from "../libraries/Hashing.sol";
import {OutputRoot} from "../libraries/OutputRoot.sol";
import {Types} from "../libraries/Types.sol";
import {SecureMerkleTrie} from "../libraries/trie/SecureMerkleTrie.sol";
import {IOpenLedgerRollup} from "./interfaces/IOpenLedgerRollup.sol";

/// @title OpenLedgerPortal
/// @notice The L1 end of the OPEN bridge. Deposits lock OPEN (an ERC-20 on L1)
///         here and emit TransactionDeposited, from which every node derives an
///         L2 deposit transaction (type 0x7E) that mints the same amount of native
///         OPEN on L2. Withdrawals burn OPEN on L2 in the L2ToL1MessagePasser
///         predeploy; once the L2 output that contains the withdrawal is final on
///         the rollup contract, anyone proves it here with a storage proof and
///         finalizes it, and the portal releases the OPEN.
/// @dev    Event format, deposit gas rules, withdrawal hashing and proof layout
///         follow the OP Stack's OptimismPortal (custom-gas-token variant, with an
///         L2OutputOracle-style rollup), so derivation and proving code reads the
///         same bytes.
///
///         Accounting: `lockedBalance` counts only OPEN that entered through
///         depositOPEN, depositOPENWithPermit or lockGenesisBacking. OPEN sent to
///         the portal by a plain ERC-20 transfer is not counted and can never be
///         paid out, so withdrawals never release more than was locked for L2.
contract OpenLedgerPortal is AccessControl {
    using SafeERC20 for IERC20;

    /// @notice Deployment parameters.
    /// @custom:field maxDepositGasPerBlock Initial cap on the sum of deposit gas
    ///                                     limits in one L1 block.
    /// @custom:field maxDepositDataSize    Largest `data` a deposit may carry, in bytes.
    /// @custom:field proofMaturityDelay    Seconds a proven withdrawal waits before it
    ///                                     can be finalized.
    struct Params {
        uint64 maxDepositGasPerBlock;
        uint32 maxDepositDataSize;
        uint64 proofMaturityDelay;
    }

    /// @notice Where a withdrawal was proven.
    /// @custom:field outputRoot  Output root the proof opened.
    /// @custom:field timestamp   L1 time of the proof.
    /// @custom:field outputIndex Index of that output on the rollup contract.
    struct ProvenWithdrawal {
        bytes32 outputRoot;
        uint128 timestamp;
        uint128 outputIndex;
    }

    /// @notice Role allowed to pause and unpause deposits and withdrawals.
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");

    /// @notice Version of the TransactionDeposited opaqueData layout.
    uint256 public constant DEPOSIT_VERSION = 0;

    /// @notice Value of l2Sender outside a withdrawal call.
    address internal constant DEFAULT_L2_SENDER = 0x000000000000000000000000000000000000dEaD;

    /// @notice Storage slot of the sentMessages mapping in L2ToL1MessagePasser.
    uint256 internal constant SENT_MESSAGES_SLOT = 0;

    /// @notice Gas kept back for the portal's own work after the withdrawal call
    ///         (OP's SafeCall reserve): cold account access, the call itself,
    ///         resetting l2Sender and the event.
    uint256 internal constant CALL_RESERVED_GAS = 40_000;

    /// @notice Intrinsic gas of an L2 transaction without data.
    uint64 internal constant TX_BASE_GAS = 21_000;

    /// @notice Worst-case L2 gas per data byte: the EIP-7623 calldata floor of a
    ///         non-zero byte (4 tokens x 10 gas), which the L2 applies to deposits
    ///         and which exceeds the 16 gas of intrinsic calldata cost.
    uint64 internal constant GAS_PER_DATA_BYTE = 40;

    /// @notice The OPEN token locked by deposits and released by withdrawals.
    IERC20 public immutable openToken;

    /// @notice The rollup contract holding L2 outputs and their finality.
    IOpenLedgerRollup public immutable rollup;

    /// @notice Largest `data` a deposit may carry, in bytes.
    uint256 public immutable maxDepositDataSize;

    /// @notice Seconds between proving a withdrawal and finalizing it, so that the
    ///         guardian can pause on a forged proof even against a final output.
    uint256 public immutable proofMaturityDelay;

    /// @notice L1 block whose deposit gas is counted in depositGasUsed.
    uint64 public depositGasBlock;

    /// @notice Sum of the gas limits of the deposits made in depositGasBlock.
    uint64 public depositGasUsed;

    /// @notice Cap on the sum of deposit gas limits in one L1 block, so that the
    ///         deposits of an L1 block fit into the first L2 block of its epoch.
    uint64 public maxDepositGasPerBlock;

    /// @notice Whether deposits are paused.
    bool public depositsPaused;

    /// @notice Whether withdrawals (proving and finalizing) are paused.
    bool public withdrawalsPaused;

    /// @notice L2 sender of the withdrawal being finalized; DEFAULT_L2_SENDER
    ///         otherwise. Targets read it to authenticate L2 callers.
    address public l2Sender;

    /// @notice OPEN (wei) that backs L2 OPEN and can be paid out by withdrawals.
    uint256 public lockedBalance;

    /// @notice Proofs of withdrawals, by withdrawal hash.
    mapping(bytes32 withdrawalHash => ProvenWithdrawal) public provenWithdrawals;

    /// @notice Withdrawals already finalized, by withdrawal hash.
    mapping(bytes32 withdrawalHash => bool) public finalizedWithdrawals;

    /// @notice Emitted for every deposit; nodes derive the L2 deposit from it.
    /// @dev    The L2 deposit transaction is `[sourceHash, from, to, mint, value,
    ///         gasLimit, isSystemTx=false, data]` with the fields of opaqueData and
    ///         `sourceHash = keccak256(bytes32(0) ++ keccak256(l1BlockHash ++
    ///         uint256(logIndex)))`, where l1BlockHash is the hash of the L1 block
    ///         that contains this event and logIndex is the event's index among
    ///         that block's logs.
    /// @param from       L2 sender: the depositor, aliased when it is a contract.
    /// @param to         L2 recipient of the value and of the call.
    /// @param version    Layout of opaqueData; DEPOSIT_VERSION.
    /// @param opaqueData abi.encodePacked(uint256 mint, uint256 value, uint64 gasLimit,
    ///                   bool isCreation, bytes data).
    event TransactionDeposited(address indexed from, address indexed to, uint256 indexed version, bytes opaqueData);

    /// @notice Emitted when a withdrawal is proven (or proven again after its
    ///         output was rolled back).
    /// @param withdrawalHash Hash of the withdrawal.
    /// @param from           L2 sender of the withdrawal.
    /// @param to             L1 target of the withdrawal.
    /// @param outputIndex    Index of the output the proof opened.
    event WithdrawalProven(
        bytes32 indexed withdrawalHash, address indexed from, address indexed to, uint256 outputIndex
    );

    /// @notice Emitted when a withdrawal is finalized.
    /// @param withdrawalHash Hash of the withdrawal.
    /// @param success        Whether the call to the target succeeded (true when
    ///                       there was no call). The OPEN is paid either way.
    event WithdrawalFinalized(bytes32 indexed withdrawalHash, bool success);

    /// @notice Emitted when OPEN backing the L2 genesis allocation is locked.
    /// @param from   Account the OPEN came from.
    /// @param amount OPEN (wei) locked.
    event GenesisBackingLocked(address indexed from, uint256 amount);

    /// @notice Emitted when the per-L1-block deposit gas cap changes.
    /// @param previous The old cap.
    /// @param current  The new cap.
    event MaxDepositGasPerBlockSet(uint64 previous, uint64 current);

    /// @notice Emitted when deposits are paused.
    /// @param account The guardian that paused them.
    event DepositsPaused(address indexed account);

    /// @notice Emitted when deposits are unpaused.
    /// @param account The guardian that unpaused them.
    event DepositsUnpaused(address indexed account);

    /// @notice Emitted when withdrawals are paused.
    /// @param account The guardian that paused them.
    event WithdrawalsPaused(address indexed account);

    /// @notice Emitted when withdrawals are unpaused.
    /// @param account The guardian that unpaused them.
    event WithdrawalsUnpaused(address indexed account);

    /// @notice A constructor argument is the zero address.
    error ZeroAddress();

    /// @notice The per-block deposit gas cap is below the gas of the smallest deposit.
    /// @param value The rejected cap.
    error InvalidMaxDepositGasPerBlock(uint64 value);

    /// @notice Deposits are paused.
    error DepositsArePaused();

    /// @notice Withdrawals are paused.
    error WithdrawalsArePaused();

    /// @notice A deposit to the zero address (contract creation is not supported).
    error InvalidDepositTarget();

    /// @notice The deposit's gas limit cannot pay for its data on L2.
    /// @param gasLimit The deposit's gas limit.
    /// @param minimum  minimumGasLimit(data.length).
    error GasLimitTooLow(uint64 gasLimit, uint64 minimum);

    /// @notice The deposit's data is larger than maxDepositDataSize.
    /// @param size    The data size.
    /// @param maximum maxDepositDataSize.
    error DataTooLarge(uint256 size, uint256 maximum);

    /// @notice The deposit would take the current L1 block's deposit gas over the cap.
    /// @param used     Deposit gas already used in this L1 block.
    /// @param gasLimit The deposit's gas limit.
    /// @param maximum  maxDepositGasPerBlock.
    error DepositGasPerBlockExceeded(uint256 used, uint256 gasLimit, uint256 maximum);

    /// @notice The withdrawal targets the portal or the OPEN token (a call from the
    ///         portal could act with its authority, e.g. approve its OPEN), or the
    ///         zero address (the token cannot pay it).
    /// @param target The rejected target.
    error InvalidWithdrawalTarget(address target);

    /// @notice The output root proof has a version the portal does not know.
    /// @param version The rejected version.
    error UnsupportedOutputRootVersion(bytes32 version);

    /// @notice The rollup has no output at this index.
    /// @param outputIndex The index.
    error UnknownOutput(uint256 outputIndex);

    /// @notice The output root proof does not hash to the rollup's output root.
    /// @param expected Output root on the rollup.
    /// @param actual   Hash of the proof.
    error InvalidOutputRootProof(bytes32 expected, bytes32 actual);

    /// @notice The storage proof does not show sentMessages[withdrawalHash] == true.
    /// @param withdrawalHash Hash of the withdrawal.
    error InvalidWithdrawalProof(bytes32 withdrawalHash);

    /// @notice The withdrawal is proven against an output that still stands.
    /// @param withdrawalHash Hash of the withdrawal.
    error WithdrawalAlreadyProven(bytes32 withdrawalHash);

    /// @notice The withdrawal has not been proven.
    /// @param withdrawalHash Hash of the withdrawal.
    error WithdrawalNotProven(bytes32 withdrawalHash);

    /// @notice The withdrawal was finalized before.
    /// @param withdrawalHash Hash of the withdrawal.
    error WithdrawalAlreadyFinalized(bytes32 withdrawalHash);

    /// @notice The proof is younger than proofMaturityDelay.
    /// @param withdrawalHash Hash of the withdrawal.
    /// @param maturesAt      First L1 timestamp at which it can be finalized.
    error ProofNotMature(bytes32 withdrawalHash, uint256 maturesAt);

    /// @notice The output the withdrawal was proven against was rolled back.
    /// @param outputIndex Index of that output.
    error OutputRolledBack(uint256 outputIndex);

    /// @notice The output the withdrawal was proven against is not final yet.
    /// @param outputIndex Index of that output.
    error OutputNotFinalized(uint256 outputIndex);

    /// @notice The withdrawal asks for more OPEN than the portal has locked.
    /// @param locked    lockedBalance.
    /// @param requested The withdrawal's value.
    error InsufficientLockedBalance(uint256 locked, uint256 requested);

    /// @notice Too little gas is left to give the target call its gas limit.
    /// @param gasLimit The withdrawal's gas limit.
    error InsufficientGasForCall(uint256 gasLimit);

    /// @notice finalizeWithdrawalTransaction was re-entered from a withdrawal call.
    error Reentrancy();

    /// @param _openToken The OPEN ERC-20 on L1 (with EIP-2612 permit).
    /// @param _rollup    The rollup contract holding L2 outputs.
    /// @param _admin     Receives DEFAULT_ADMIN_ROLE and GUARDIAN_ROLE.
    /// @param _params    Deposit limits and the proof maturity delay.
    constructor(IERC20 _openToken, IOpenLedgerRollup _rollup, address _admin, Params memory _params) {
        if (address(_openToken) == address(0) || address(_rollup) == address(0) || _admin == address(0)) {
            revert ZeroAddress();
        }
        if (_params.maxDepositGasPerBlock < TX_BASE_GAS) {
            revert InvalidMaxDepositGasPerBlock(_params.maxDepositGasPerBlock);
        }
        openToken = _openToken;
        rollup = _rollup;
        maxDepositDataSize = _params.maxDepositDataSize;
        proofMaturityDelay = _params.proofMaturityDelay;
        maxDepositGasPerBlock = _params.maxDepositGasPerBlock;
        l2Sender = DEFAULT_L2_SENDER;
        _grantRole(DEFAULT_ADMIN_ROLE, _admin);
        _grantRole(GUARDIAN_ROLE, _admin);
        emit MaxDepositGasPerBlockSet(0, _params.maxDepositGasPerBlock);
    }

    // ---------------------------------------------------------------- deposits

    /// @notice Locks `_amount` OPEN of the caller (approved to the portal) and
    ///         deposits it to `_to` on L2 with a call carrying `_data`.
    /// @dev    The L2 deposit mints `_amount` to the L2 sender (the caller, aliased
    ///         when it is a contract) and sends `_amount` from it to `_to`. If the L2
    ///         call fails, the minted OPEN stays with the L2 sender. Nodes derive that
    ///         deposit from the TransactionDeposited event; its source hash is
    ///         keccak256(bytes32(0) ++ keccak256(l1BlockHash ++ uint256(logIndex)))
    ///         with the hash of the L1 block holding the event and the event's log
    ///         index in that block.
    /// @param _to       L2 recipient (not the zero address).
    /// @param _amount   OPEN (wei) to lock and mint on L2.
    /// @param _gasLimit L2 gas for the deposit; at least minimumGasLimit(_data.length).
    /// @param _data     Calldata of the L2 call; at most maxDepositDataSize bytes.
    function depositOPEN(address _to, uint256 _amount, uint64 _gasLimit, bytes calldata _data) external {
        _deposit(_to, _amount, _gasLimit, _data);
    }

    /// @notice depositOPEN with an EIP-2612 permit of the caller for `_amount`, so
    ///         no separate approve transaction is needed.
    /// @dev    A permit that fails (e.g. because someone submitted it first) is
    ///         ignored; the transfer then succeeds if the allowance is in place.
    /// @param _to       L2 recipient (not the zero address).
    /// @param _amount   OPEN (wei) to lock and mint on L2; also the permit value.
    /// @param _gasLimit L2 gas for the deposit; at least minimumGasLimit(_data.length).
    /// @param _data     Calldata of the L2 call; at most maxDepositDataSize bytes.
    /// @param _deadline Permit deadline.
    /// @param _v        Permit signature v.
    /// @param _r        Permit signature r.
    /// @param _s        Permit signature s.
    function depositOPENWithPermit(
        address _to,
        uint256 _amount,
        uint64 _gasLimit,
        bytes calldata _data,
        uint256 _deadline,
        uint8 _v,
        bytes32 _r,
        bytes32 _s
    ) external {
        try IERC20Permit(address(openToken)).permit(msg.sender, address(this), _amount, _deadline, _v, _r, _s) {}
        catch {}
        _deposit(_to, _amount, _gasLimit, _data);
    }

    /// @notice Least L2 gas limit of a deposit carrying `_byteCount` bytes of data:
    ///         21000 + 40 per byte, the worst case of the EIP-7623 calldata floor
    ///         the L2 enforces on deposits (OP charges 16 per byte, which the floor
    ///         outgrows under Prague).
    /// @param _byteCount Size of the deposit's data.
    /// @return The minimum gas limit.
    function minimumGasLimit(uint64 _byteCount) public pure returns (uint64) {
        return TX_BASE_GAS + GAS_PER_DATA_BYTE * _byteCount;
    }

    /// @notice Locks OPEN that backs the L2 genesis allocation, without minting on
    ///         L2, so that withdrawals of genesis OPEN can be paid.
    /// @param _amount OPEN (wei) to pull from the caller (approved to the portal).
    function lockGenesisBacking(uint256 _amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        lockedBalance += _amount;
        openToken.safeTransferFrom(msg.sender, address(this), _amount);
        emit GenesisBackingLocked(msg.sender, _amount);
    }

    /// @dev Checks the deposit, meters its gas, locks the OPEN and emits the event.
    function _deposit(address _to, uint256 _amount, uint64 _gasLimit, bytes calldata _data) internal {
        if (depositsPaused) revert DepositsArePaused();
        if (_to == address(0)) revert InvalidDepositTarget();
        if (_data.length > maxDepositDataSize) revert DataTooLarge(_data.length, maxDepositDataSize);
        uint64 minimum = minimumGasLimit(uint64(_data.length));
        if (_gasLimit < minimum) revert GasLimitTooLow(_gasLimit, minimum);
        _meterDepositGas(_gasLimit);

        if (_amount != 0) {
            lockedBalance += _amount;
            openToken.safeTransferFrom(msg.sender, address(this), _amount);
        }

        // As OP: an EOA deposits as itself; a contract's L1 address is aliased so
        // that it cannot pose as the L2 contract at the same address.
        address from = msg.sender;
        if (msg.sender != tx.origin) {
            unchecked {
                from = address(uint160(msg.sender) + uint160(0x1111000000000000000000000000000000001111));
            }
        }
        emit TransactionDeposited(
            from, _to, DEPOSIT_VERSION, abi.encodePacked(_amount, _amount, _gasLimit, false, _data)
        );
    }

    /// @dev Adds `_gasLimit` to this L1 block's deposit gas, reverting over the cap.
    function _meterDepositGas(uint64 _gasLimit) internal {
        uint64 used = depositGasBlock == uint64(block.number) ? depositGasUsed : 0;
        uint64 maximum = maxDepositGasPerBlock;
        if (uint256(used) + _gasLimit > maximum) revert DepositGasPerBlockExceeded(used, _gasLimit, maximum);
        depositGasBlock = uint64(block.number);
        depositGasUsed = used + _gasLimit;
    }

    // ------------------------------------------------------------- withdrawals

    /// @notice Proves that a withdrawal was initiated on L2: `_outputRootProof`
    ///         must hash to the rollup's output root at `_outputIndex`, and
    ///         `_withdrawalProof` must show sentMessages[withdrawalHash] == true in
    ///         the L2ToL1MessagePasser storage root inside it.
    /// @dev    Anyone may prove any withdrawal. A proven withdrawal can be proven
    ///         again only after the output it was proven against was rolled back
    ///         (its index is gone or holds another root); that resets the maturity
    ///         delay.
    /// @param _tx              The withdrawal, as hashed on L2.
    /// @param _outputIndex     Index of an output on the rollup contract.
    /// @param _outputRootProof Preimage of that output root.
    /// @param _withdrawalProof Storage proof (eth_getProof's storageProof[0].proof)
    ///                         of the sentMessages slot of the withdrawal.
    function proveWithdrawalTransaction(
        Types.WithdrawalTransaction calldata _tx,
        uint256 _outputIndex,
        OutputRoot.OutputRootProof calldata _outputRootProof,
        bytes[] calldata _withdrawalProof
    ) external {
        if (withdrawalsPaused) revert WithdrawalsArePaused();
        if (_tx.target == address(this) || _tx.target == address(openToken) || _tx.target == address(0)) {
            revert InvalidWithdrawalTarget(_tx.target);
        }
        if (_outputRootProof.version != OutputRoot.VERSION_0) {
            revert UnsupportedOutputRootVersion(_outputRootProof.version);
        }

        bytes32 outputRoot = _currentOutputRoot(_outputIndex);
        if (outputRoot == bytes32(0)) revert UnknownOutput(_outputIndex);
        bytes32 proofRoot = OutputRoot.hashOutputRootProof(_outputRootProof);
        if (proofRoot != outputRoot) revert InvalidOutputRootProof(outputRoot, proofRoot);

        bytes32 withdrawalHash = Hashing.hashWithdrawal(_tx);
        ProvenWithdrawal storage proven = provenWithdrawals[withdrawalHash];
        if (proven.timestamp != 0 && _currentOutputRoot(proven.outputIndex) == proven.outputRoot) {
            revert WithdrawalAlreadyProven(withdrawalHash);
        }

        bytes32 storageKey = keccak256(abi.encode(withdrawalHash, SENT_MESSAGES_SLOT));
        bool included = SecureMerkleTrie.verifyInclusionProof(
            abi.encode(storageKey), hex"01", _withdrawalProof, _outputRootProof.messagePasserStorageRoot
        );
        if (!included) revert InvalidWithdrawalProof(withdrawalHash);

        provenWithdrawals[withdrawalHash] = ProvenWithdrawal({
            outputRoot: outputRoot,
            timestamp: uint128(block.timestamp),
            outputIndex: uint128(_outputIndex)
        });
        emit WithdrawalProven(withdrawalHash, _tx.sender, _tx.target, _outputIndex);
    }

    /// @notice Finalizes a proven withdrawal: pays `_tx.value` OPEN to `_tx.target`
    ///         and, when `_tx.data` is not empty, calls `_tx.target` with it and at
    ///         least `_tx.gasLimit` gas (l2Sender() returns `_tx.sender` during the
    ///         call). Each withdrawal is finalized at most once.
    /// @dev    Requires the proof to be at least proofMaturityDelay old and the
    ///         output it opened to be still on the rollup (same root) and final.
    ///         The withdrawal is marked finalized before any external call. The
    ///         OPEN is paid even when the call fails (success=false in the event);
    ///         the transaction reverts instead if it cannot give the call its gas
    ///         limit, so a caller cannot make the call fail by sending too little gas.
    /// @param _tx The withdrawal, as hashed on L2.
    function finalizeWithdrawalTransaction(Types.WithdrawalTransaction calldata _tx) external {
        if (withdrawalsPaused) revert WithdrawalsArePaused();
        if (l2Sender != DEFAULT_L2_SENDER) revert Reentrancy();

        bytes32 withdrawalHash = Hashing.hashWithdrawal(_tx);
        ProvenWithdrawal memory proven = provenWithdrawals[withdrawalHash];
        if (proven.timestamp == 0) revert WithdrawalNotProven(withdrawalHash);
        if (finalizedWithdrawals[withdrawalHash]) revert WithdrawalAlreadyFinalized(withdrawalHash);
        uint256 maturesAt = uint256(proven.timestamp) + proofMaturityDelay;
        if (block.timestamp < maturesAt) revert ProofNotMature(withdrawalHash, maturesAt);
        if (_currentOutputRoot(proven.outputIndex) != proven.outputRoot) revert OutputRolledBack(proven.outputIndex);
        if (!rollup.isOutputFinalized(proven.outputIndex)) revert OutputNotFinalized(proven.outputIndex);
        uint256 locked = lockedBalance;
        if (_tx.value > locked) revert InsufficientLockedBalance(locked, _tx.value);

        finalizedWithdrawals[withdrawalHash] = true;
        lockedBalance = locked - _tx.value;

        if (_tx.value != 0) openToken.safeTransfer(_tx.target, _tx.value);

        bool success = true;
        if (_tx.data.length != 0) {
            l2Sender = _tx.sender;
            success = _callWithMinGas(_tx.target, _tx.gasLimit, _tx.data);
            l2Sender = DEFAULT_L2_SENDER;
        }
        emit WithdrawalFinalized(withdrawalHash, success);
    }

    /// @dev Output root at `_outputIndex` on the rollup, or zero when the rollup has
    ///      no live output there (never posted, or rolled back and not replaced).
    ///      latestOutputIndex reverts when no output is live, which reads as zero.
    function _currentOutputRoot(uint256 _outputIndex) internal view returns (bytes32) {
        try rollup.latestOutputIndex() returns (uint256 latest) {
            if (_outputIndex > latest) return bytes32(0);
        } catch {
            return bytes32(0);
        }
        return rollup.getL2Output(_outputIndex).outputRoot;
    }

    /// @dev Calls `_target` with `_data` and all remaining gas, after checking that
    ///      at least `_minGas` reaches it (63/64 rule) with CALL_RESERVED_GAS left
    ///      for the portal; reverts otherwise. Return data is not copied.
    function _callWithMinGas(address _target, uint256 _minGas, bytes memory _data) internal returns (bool success) {
        // gasleft * 63 >= minGas * 64 + reserved * 63, i.e. gasleft - reserved >= minGas * 64 / 63.
        if (gasleft() * 63 < _minGas * 64 + CALL_RESERVED_GAS * 63) revert InsufficientGasForCall(_minGas);
        assembly ("memory-safe") {
            success := call(gas(), _target, 0, add(_data, 32), mload(_data), 0, 0)
        }
    }

    // ------------------------------------------------------------------ admin

    /// @notice Sets the cap on the sum of deposit gas limits per L1 block. Keep it
    ///         below the L2 block gas limit minus the L1-info deposit's gas.
    /// @param _maxDepositGasPerBlock The new cap; at least 21000.
    function setMaxDepositGasPerBlock(uint64 _maxDepositGasPerBlock) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_maxDepositGasPerBlock < TX_BASE_GAS) revert InvalidMaxDepositGasPerBlock(_maxDepositGasPerBlock);
        emit MaxDepositGasPerBlockSet(maxDepositGasPerBlock, _maxDepositGasPerBlock);
        maxDepositGasPerBlock = _maxDepositGasPerBlock;
    }

    /// @notice Pauses deposits.
    function pauseDeposits() external onlyRole(GUARDIAN_ROLE) {
        depositsPaused = true;
        emit DepositsPaused(msg.sender);
    }

    /// @notice Unpauses deposits.
    function unpauseDeposits() external onlyRole(GUARDIAN_ROLE) {
        depositsPaused = false;
        emit DepositsUnpaused(msg.sender);
    }

    /// @notice Pauses proving and finalizing withdrawals.
    function pauseWithdrawals() external onlyRole(GUARDIAN_ROLE) {
        withdrawalsPaused = true;
        emit WithdrawalsPaused(msg.sender);
    }

    /// @notice Unpauses proving and finalizing withdrawals.
    function unpauseWithdrawals() external onlyRole(GUARDIAN_ROLE) {
        withdrawalsPaused = false;
        emit WithdrawalsUnpaused(msg.sender);
    }
}
