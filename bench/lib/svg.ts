// bench/results/latency.svg: each system's latency distribution as a percentile plot
// (x: percentile on a "nines" scale, y: round trip in µs, both logarithmic), one panel
// for the hot round trip and one for the wake-up after idling.
import { describeMachine } from "./machine.js";
import { isNa, type RunResults } from "./results.js";
import type { Distribution } from "./stats.js";

const COLORS = ["#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#8c564b", "#7f7f7f"];
const W = 1000;
const PANEL_W = 430;
const PANEL_H = 330;
const TOP = 60;
const LEFT = [70, 570];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const nines = (percentile: number): number => -Math.log10(Math.max(1e-6, 1 - percentile / 100));

function panel(x0: number, title: string, series: Array<{ label: string; color: string; d: Distribution }>): string {
  if (series.length === 0) return "";
  const maxX = Math.max(...series.map((s) => nines(s.d.curve[s.d.curve.length - 1]![0])));
  const ys = series.flatMap((s) => s.d.curve.map((p) => p[1])).filter((y) => y > 0);
  const lo = Math.floor(Math.log10(Math.min(...ys)));
  const hi = Math.ceil(Math.log10(Math.max(...ys)));
  const px = (x: number) => x0 + (x / maxX) * PANEL_W;
  const py = (us: number) => TOP + PANEL_H - ((Math.log10(Math.max(us, 10 ** lo)) - lo) / (hi - lo)) * PANEL_H;
  const out: string[] = [];
  out.push(`<text x="${x0 + PANEL_W / 2}" y="${TOP - 12}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${x0}" y="${TOP}" width="${PANEL_W}" height="${PANEL_H}" fill="none" stroke="#444"/>`);
  for (let e = lo; e <= hi; e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (Math.log10(v) > hi + 1e-9) continue;
      const y = py(v).toFixed(1);
      out.push(`<line x1="${x0}" x2="${x0 + PANEL_W}" y1="${y}" y2="${y}" stroke="${m === 1 ? "#ccc" : "#eee"}"/>`);
      const label = v >= 1000 ? `${v / 1000} ms` : `${Number(v.toPrecision(2))}`;
      out.push(`<text x="${x0 - 6}" y="${y}" dy="4" text-anchor="end" font-size="11">${label}</text>`);
    }
  }
  const ticks: Array<[number, string]> = [
    [0, "0"],
    [Math.log10(2), "50"],
    [1, "90"],
    [2, "99"],
    [3, "99.9"],
    [4, "99.99"],
    [5, "99.999"],
  ];
  for (const [x, label] of ticks) {
    if (x > maxX + 1e-9) continue;
    const X = px(x).toFixed(1);
    out.push(`<line x1="${X}" x2="${X}" y1="${TOP}" y2="${TOP + PANEL_H}" stroke="#eee"/>`);
    const anchor = x > maxX - 0.15 ? "end" : "middle"; // the last tick's label stays inside the panel
    out.push(`<text x="${X}" y="${TOP + PANEL_H + 16}" text-anchor="${anchor}" font-size="11">${label}</text>`);
  }
  out.push(`<text x="${x0 + PANEL_W / 2}" y="${TOP + PANEL_H + 34}" text-anchor="middle" font-size="12">percentile (%)</text>`);
  const cy = TOP + PANEL_H / 2;
  out.push(`<text x="${x0 - 50}" y="${cy}" transform="rotate(-90 ${x0 - 50} ${cy})" text-anchor="middle" font-size="12">round trip (µs, log scale)</text>`);
  for (const s of series) {
    const points = s.d.curve.map(([p, us]) => `${px(nines(p)).toFixed(1)},${py(us).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"><title>${esc(s.label)}</title></polyline>`);
  }
  return out.join("\n");
}

export function latencySvg(results: RunResults): string {
  const colored = results.systems.map((s, i) => ({ s, color: COLORS[i % COLORS.length]! }));
  const pick = (key: "latency" | "wake") =>
    colored.flatMap(({ s, color }) => {
      const d = s[key];
      return d === undefined || isNa(d) ? [] : [{ label: s.label, color, d }];
    });
  const legendY = TOP + PANEL_H + 60;
  const legend = colored
    .map(({ s, color }, i) => {
      const x = 70 + (i % 4) * 230;
      const y = legendY + Math.floor(i / 4) * 20;
      return `<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="3"/><text x="${x + 30}" y="${y}" dy="4" font-size="12">${esc(s.label)}</text>`;
    })
    .join("\n");
  const captionY = legendY + Math.ceil(colored.length / 4) * 20 + 14;
  const H = captionY + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="13">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="bold">shmrpc and its peers: add(i32, i32) round-trip latency distribution${results.quick ? " (--quick)" : ""}${results.load ? " with a CPU hog per core" : ""}</text>`,
    panel(LEFT[0]!, "hot: one call after another", pick("latency")),
    panel(LEFT[1]!, "wake-up: one call after 5 ms idle", pick("wake")),
    legend,
    `<text x="${W / 2}" y="${captionY}" text-anchor="middle" font-size="11" fill="#333">${esc(describeMachine(results.machine))}</text>`,
    `</svg>`,
    "",
  ].join("\n");
}
