/** Types of cpu.mjs, for the TypeScript benches and their tests. */
export function cpuModelFrom(lscpu: string): string | null;
export function cpuModel(): string;
export const SIDE_BY_SIDE_SPEED_RATIO: number;
export function notSideBySide(rows: ReadonlyArray<{ cpu?: string | null; startImagesPerSecond?: number | null }>): string | null;
