// init's output: one line per step with a mark and the reason, and the list of what changed for
// the closing summary ("unchanged" when a second init in a row did nothing).
//   ✓ done / fine     ✗ failed (init exits 1)     ! needs your attention (not fatal)     - skipped
import type { CliContext } from './context.js';
import { CHECK, CROSS } from './output/style.js';

export class StepLog {
  failed = false;
  readonly changes: string[] = [];

  constructor(private readonly ctx: CliContext) {}

  private line(mark: string, step: string, detail: string, more: readonly string[]): void {
    const text = `${mark} ${step}: ${detail}`;
    this.ctx.out([text, ...more].join('\n'));
  }

  ok(step: string, detail: string, more: readonly string[] = []): void {
    this.line(this.ctx.style.ok(CHECK), step, detail, more);
  }

  fail(step: string, detail: string, hint?: string): void {
    this.failed = true;
    this.line(this.ctx.style.bad(CROSS), step, detail, hint ? [`    ${hint}`] : []);
  }

  warn(step: string, detail: string, more: readonly string[] = []): void {
    this.line(this.ctx.style.bad('!'), step, detail, more);
  }

  skip(step: string, detail: string): void {
    this.line(this.ctx.style.dim('-'), step, detail, []);
  }

  /** Records something init changed on disk or in a running process. */
  change(what: string): void {
    this.changes.push(what);
  }
}

/** `~/x` for paths under the home directory, to keep lines short. */
export function tilde(path: string, home: string): string {
  return path === home ? '~' : path.startsWith(home + '/') ? `~${path.slice(home.length)}` : path;
}
