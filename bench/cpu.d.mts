/** Types of cpu.mjs, for the TypeScript benches. */
export function cpuModel(): string;
