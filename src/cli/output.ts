// What the command line writes: aligned tables, JSON, numbers people read, and the one
// place every byte for stdout and stderr goes through, which blanks out the token.
// Escape codes (redrawing in place) are written only to a terminal; piped output is
// plain text, one table or JSON document after another.

export type Cell = string | number;

export class Output {
  /** Strings that must never be printed (the token), longest first. */
  private readonly secrets: string[] = [];
  readonly stdoutIsTTY = process.stdout.isTTY === true;
  readonly stderrIsTTY = process.stderr.isTTY === true;

  /** Never print `secret`, in any output, error messages included. */
  hide(secret: string | undefined): void {
    if (secret) {
      this.secrets.push(secret);
      this.secrets.sort((a, b) => b.length - a.length);
    }
  }

  redact(text: string): string {
    for (const s of this.secrets) text = text.split(s).join("***");
    return text;
  }

  out(text: string): void {
    process.stdout.write(this.redact(text));
  }

  err(text: string): void {
    process.stderr.write(this.redact(text));
  }

  /** One JSON document on one line (`--json`: one per line, so a stream of them is NDJSON). */
  json(value: unknown): void {
    this.out(jsonText(value) + "\n");
  }
}

// A server's strings (method names, error messages, results) are a peer's input: printed
// as they are, an escape sequence in one could drive the user's terminal. JSON.stringify
// escapes C0 controls; DEL, the C1 controls (U+009B is a CSI on some terminals) and the
// line separators are escaped here too. Text views show every control character as \uXXXX.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029]/g;
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const escapeChar = (c: string): string => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");

/** JSON text with no character a terminal would act on. */
export function jsonText(value: unknown, indent?: number): string {
  return (JSON.stringify(value, null, indent) ?? "null").replace(UNSAFE_IN_JSON, escapeChar);
}

/** A peer's string for a text view: control characters (newlines too) shown as \uXXXX. */
export function printable(s: string): string {
  return s.replace(CONTROL, escapeChar);
}

/** Rows under a header, columns padded to their widest cell; numbers (and cells of
 *  columns listed in `right`) are right-aligned. Plain text: no escape codes. */
export function table(header: string[], rows: Cell[][], right: number[] = []): string {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(printable(String(r[i] ?? ""))))));
  const line = (cells: Cell[], isHeader: boolean): string =>
    cells
      .map((c, i) => {
        const s = printable(String(c ?? ""));
        const pad = " ".repeat(widths[i]! - width(s));
        const alignRight = !isHeader ? typeof c === "number" || right.includes(i) : right.includes(i) || rows.some((r) => typeof r[i] === "number");
        if (i === cells.length - 1 && !alignRight) return s; // no trailing blanks
        return alignRight ? pad + s : s + pad;
      })
      .join("  ");
  return [line(header, true), ...rows.map((r) => line(r, false))].join("\n") + "\n";
}

/** Columns a string takes on a terminal. */
function width(s: string): number {
  return columnsOf(s);
}

/** `line` cut to `columns` terminal columns (with … where it was cut). */
export function fit(line: string, columns: number): string {
  if (columnsOf(line) <= columns) return line;
  let used = 0;
  let out = "";
  for (const c of line) {
    const w = columnsOf(c);
    if (used + w > columns - 1) break;
    out += c;
    used += w;
  }
  return out + "…";
}

/** Columns a string takes on a terminal: East Asian wide and fullwidth characters and most
 *  emoji take two, combining marks and zero-width characters none, the rest one. (Tables
 *  show control characters escaped, see printable().) */
export function columnsOf(s: string): number {
  let n = 0;
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    if (ZERO_WIDTH.test(c)) continue;
    n += (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) || (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) || (cp >= 0xffe0 && cp <= 0xffe6) ||
      (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd) ? 2 : 1;
  }
  return n;
}
const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u200b-\u200f\u2060\ufeff]$/u;


/** A duration in nanoseconds as people read it: 850 ns, 12.3 µs, 4.56 ms, 1.20 s. */
export function nanos(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${sig(ns / 1e3)} µs`;
  if (ns < 1e9) return `${sig(ns / 1e6)} ms`;
  return `${sig(ns / 1e9)} s`;
}

/** Three significant digits (no exponent). */
function sig(x: number): string {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** A rate as people read it: 950, 12.3k, 1.21M. */
export function rate(x: number): string {
  if (x < 1e3) return x.toFixed(0);
  if (x < 1e6) return `${sig(x / 1e3)}k`;
  return `${sig(x / 1e6)}M`;
}

/** How long since `startedAt` (ms since the epoch): 42s, 3m12s, 2h05m, 4d03h; "?" when unknown. */
export function uptime(startedAt: number, now = Date.now()): string {
  if (!(startedAt > 0)) return "?";
  const s = Math.max(0, Math.floor((now - startedAt) / 1000));
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h`;
}
