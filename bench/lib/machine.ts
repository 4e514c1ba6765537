// The machine a run was measured on.
import { cpus, loadavg, release, totalmem } from "node:os";
import { execFileSync } from "node:child_process";

export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  node: string;
  memoryGiB: number;
  date: string;
  /** 1, 5 and 15 minute load averages when the run started, and when it ended. */
  loadAverage: number[];
  loadAverageEnd?: number[];
}

export function machine(): Machine {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? "unknown",
    cores: list.length,
    kernel: `Linux ${release()}`,
    node: process.version,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    date: new Date().toISOString(),
    loadAverage: currentLoad(),
  };
}

export function currentLoad(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}

export function describeMachine(m: Machine): string {
  return `${m.cpu}, ${m.cores} cores, ${m.kernel}, Node ${m.node}, ${m.date.slice(0, 16).replace("T", " ")} UTC, load average ${m.loadAverage[0]} at start`;
}

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
export function clockTicks(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
  } catch {
    return 100;
  }
}
