// What the kernel says about the meter's processes: resident memory (/proc/PID/status) and CPU time
// (/proc/PID/stat), plus the bench process's own. CPU per phase shows which process is the
// bottleneck when a throughput figure looks low.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat times; 100 on every Linux this runs on. */
const CLK_TCK = 100;

export function rssBytes(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/** Peak resident set over the process's life (VmHWM). */
export function hwmBytes(pid: number): number {
  return statusField(pid, 'VmHWM');
}

function statusField(pid: number, field: string): number {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** User + system CPU seconds used so far by `pid`. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of the full line (utime, stime) are 11 and 12 after the comm.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/**
 * Machine-wide CPU seconds from /proc/stat: `tasks` (user + nice + system: processes, ours and other
 * tenants'), `softirq` (+ irq: mostly loopback TCP processing, which the kernel does not charge to
 * the processes that caused it) and `steal` (time the hypervisor gave to other guests).
 */
export function machineSeconds(): { tasks: number; softirq: number; steal: number } {
  try {
    const c = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return { tasks: (c[0] + c[1] + c[2]) / CLK_TCK, softirq: (c[5] + c[6]) / CLK_TCK, steal: (c[7] ?? 0) / CLK_TCK };
  } catch {
    return { tasks: Number.NaN, softirq: Number.NaN, steal: Number.NaN };
  }
}

export interface CpuWindow {
  /** CPU busy fraction (1.0 = one full core) of each process over the window. */
  stop(): Record<string, number>;
}

/**
 * Starts measuring CPU of the named pids over a window (wall clock to stop()). The result has three
 * more keys: `others` (every other process on the machine: other tenants of a shared box), and the
 * machine's `softirq` and `steal` (see machineSeconds).
 */
export function cpuWindow(pids: Record<string, number>): CpuWindow {
  const t0 = performance.now();
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const machine0 = machineSeconds();
  return {
    stop() {
      const wall = (performance.now() - t0) / 1000;
      const used = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, (cpuSeconds(pid) - start[k]) / wall]));
      const ours = Object.values(used).reduce((a, b) => a + b, 0);
      const machine1 = machineSeconds();
      return {
        ...used,
        others: Math.max(0, (machine1.tasks - machine0.tasks) / wall - ours),
        softirq: (machine1.softirq - machine0.softirq) / wall,
        steal: (machine1.steal - machine0.steal) / wall,
      };
    },
  };
}

/** Resident memory mapped from files (the node binary and libraries, shared between processes). */
export function rssFileBytes(pid: number): number {
  return statusField(pid, 'RssFile');
}

export interface RssSampler {
  /** Peak VmRSS per name, and the file-backed part (RssFile) at that peak. */
  stop(): { peak: Record<string, number>; fileAtPeak: Record<string, number>; samples: number };
}

/** Samples VmRSS of each pid every `everyMs` until stop(); keeps the peak. */
export function sampleRss(pids: Record<string, number>, everyMs = 100): RssSampler {
  const peak: Record<string, number> = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
  const fileAtPeak: Record<string, number> = Object.fromEntries(Object.keys(pids).map((k) => [k, 0]));
  let samples = 0;
  const take = (): void => {
    samples++;
    for (const [k, pid] of Object.entries(pids)) {
      const v = rssBytes(pid);
      if (v > peak[k]) {
        peak[k] = v;
        fileAtPeak[k] = rssFileBytes(pid);
      }
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peak, fileAtPeak, samples };
    },
  };
}
