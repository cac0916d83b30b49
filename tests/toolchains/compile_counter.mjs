// Prints Counter's ABI and bytecode, compiled with the pinned npm solc, as JSON
// for the Python toolchain tests (web3.py has no compiler of its own).
import { compileCounter } from "./lib.mjs";

console.log(JSON.stringify(compileCounter()));
