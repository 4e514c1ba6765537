// The run's results as a terminal table and as Markdown (bench/results/latest.md).
import { describeMachine } from "./machine.js";
import { grid, sections, type RunResults } from "./results.js";

const RATIO_NOTE = "×N after a value: shmrpc (default mode) is N times better (faster, or less CPU) than that system; below 1, worse.";

/** The number of `reason` among a section's footnotes (added if new). */
function footnote(notes: string[], reason: string): number {
  const i = notes.indexOf(reason);
  return i >= 0 ? i + 1 : notes.push(reason);
}

export function terminalTable(results: RunResults): string {
  const out: string[] = [`shmrpc bench${results.quick ? " (--quick)" : ""}${results.load ? " (--load: a CPU hog per core)" : ""}: ${describeMachine(results.machine)}`, RATIO_NOTE, ""];
  const labelWidth = Math.max(...results.systems.map((s) => s.label.length)) + 2;
  for (const section of sections) {
    out.push(`${section.title} [${section.unit}]`);
    const cells = grid(results, section);
    const notes: string[] = [];
    const texts = cells.map((row) => row.map((c) => (c.na !== undefined ? `n/a [${footnote(notes, c.na)}]` : c.ratio ? `${c.value} ${c.ratio}` : c.value)));
    const widths = section.columns.map((col, i) => Math.max(col.header.length, ...texts.map((row) => row[i]!.length)) + 2);
    out.push("".padEnd(labelWidth) + section.columns.map((c, i) => c.header.padStart(widths[i]!)).join(""));
    results.systems.forEach((s, r) => {
      if (cells[r]!.every((c) => c.value === "")) return;
      out.push(s.label.padEnd(labelWidth) + texts[r]!.map((t, i) => t.padStart(widths[i]!)).join(""));
    });
    notes.forEach((n, i) => out.push(`  [${i + 1}] n/a: ${n}`));
    out.push("");
  }
  out.push(...streamLines(results), "");
  out.push(results.load ? "Targets (issue 13, busy host):" : "Targets (issues 4 and 13):");
  for (const t of results.targets) {
    const mark = t.met === null ? " n/a " : t.met ? " met " : "MISSED";
    const value = t.value === null ? "n/a" : `${fmt(t.value)} ${t.unit}`;
    const threshold = t.threshold === null ? "" : `, threshold ${fmt(t.threshold)}`;
    out.push(`  [${mark}] ${t.target}: ${value}${threshold}${t.note ? ` (${t.note})` : ""}`);
  }
  return out.join("\n");
}

function fmt(x: number): string {
  return Math.abs(x) >= 1000 ? x.toExponential(2) : Number(x.toPrecision(3)).toString();
}

export function markdown(results: RunResults): string {
  const m = results.machine;
  const out: string[] = [
    `Measured by \`npm run bench\`${results.quick ? " -- --quick" : ""}${results.load ? " -- --load (a node busy loop per core, normal priority, all along)" : ""} on ${m.date.slice(0, 10)}: ${m.cpu}, ${m.cores} cores, ${m.kernel}, Node ${m.node}` +
      ` (load average ${m.loadAverage[0]} at start: the machine was shared, so compare ratios within this run, not absolute figures).`,
    "",
    RATIO_NOTE,
    "",
  ];
  for (const section of sections) {
    out.push(`**${section.title}** (${section.unit})`, "");
    const cells = grid(results, section);
    const notes: string[] = [];
    out.push(`| system | ${section.columns.map((c) => c.header).join(" | ")} |`);
    out.push(`|---|${section.columns.map(() => "--:").join("|")}|`);
    results.systems.forEach((s, r) => {
      if (cells[r]!.every((c) => c.value === "")) return;
      const text = cells[r]!.map((c) => (c.na !== undefined ? `n/a [${footnote(notes, c.na)}]` : c.ratio ? `${c.value} (${c.ratio})` : c.value));
      out.push(`| ${s.label} | ${text.join(" | ")} |`);
    });
    if (notes.length > 0) out.push("", notes.map((n, i) => `[${i + 1}] n/a: ${n}`).join("; "));
    out.push("");
  }
  out.push(...streamLines(results).map((l, i) => (i === 0 ? `**${l}**\n` : `- ${l}`)), "");
  out.push(results.load ? "**Targets of issue 13 for a busy host**" : "**Targets of issues 4 and 13**", "", "| target | value | threshold | met |", "|---|--:|--:|:-:|");
  for (const t of results.targets) {
    const value = t.value === null ? "n/a" : `${fmt(t.value)} ${t.unit}`;
    const threshold = t.threshold === null ? "" : fmt(t.threshold);
    const met = t.met === null ? "n/a" : t.met ? "yes" : "**no**";
    out.push(`| ${t.target}${t.note ? ` (${t.note})` : ""} | ${value} | ${threshold} | ${met} |`);
  }
  out.push("");
  return out.join("\n");
}

/** The stream rows (issue 23) as lines: a title, then one figure a line. */
function streamLines(results: RunResults): string[] {
  const s = results.streams;
  if (s === undefined) return [];
  if ("na" in s) return ["Streams", `n/a: ${s.na}`];
  return [
    "Streams (one stream, shared memory unless said)",
    `small items (an integer each): ${fmt(s.smallItemsPerSecond)} items/s; Unix-socket NDJSON peers: tuned (256 lines a write) ${fmt(s.ndjsonItemsPerSecond)} items/s, usual (a write per item) ${fmt(s.ndjsonPlainItemsPerSecond)} items/s; the JS ceiling (a for await over an in-process async function*) ${fmt(s.ceilingItemsPerSecond)} items/s`,
    `${fmt(s.chunkTotalBytes / 2 ** 20)} MiB as 1 MiB chunks: ${fmt(s.chunkBytesPerSecond / 1e9)} GB/s; with a view consumer ${fmt(s.chunkViewBytesPerSecond / 1e9)} GB/s (8 MiB rings: ${fmt(s.chunkViewBigRingBytesPerSecond / 1e9)} GB/s); one hot memcpy of a chunk: ${fmt(s.memcpyBytesPerSecond / 1e9)} GB/s; RSS growth client ${fmt(s.clientRssGrowthMiB)} MiB, server ${fmt(s.serverRssGrowthMiB)} MiB`,
    `time to first item p50 ${fmt(s.firstItem.p50)} µs (p99 ${fmt(s.firstItem.p99)}); unary round trip p50 ${fmt(s.unary.p50)} µs (p99 ${fmt(s.unary.p99)})`,
  ];
}
