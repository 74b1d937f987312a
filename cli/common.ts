/**
 * What every command of the command line shares, gathered: output (./output.ts), option parsers and kinds
 * (./args.ts), and the process (./process.ts: Ctrl-C, the terminal, the file-access drop once listening).
 * @module
 */
export * from "./output.ts";
export * from "./args.ts";
export * from "./process.ts";
