// Sync echo of a Buffer: time a call against one Buffer alloc+fill, and minor page faults
// per call on each side (client: resourceUsage; server: field 10 of /proc/<pid>/stat), and
// CPU time per call on each side (on a busy host the wall time is mostly waiting for a CPU).
// node faults.mjs NAME SIZE N SERVERPID   (start srv.mjs NAME first)
import { readFileSync } from "node:fs";
const { Client } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
const [name, size, n, spid] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), process.argv[5]];
const fields = (pid) => { const s = readFileSync(`/proc/${pid}/stat`, "utf8"); return s.slice(s.lastIndexOf(")") + 2).split(" "); };
const minflt = (pid) => Number(fields(pid)[7]);
/** CPU time of a process in ms (utime + stime, clock ticks of 10 ms). */
const cpuMs = (pid) => { const f = fields(pid); return (Number(f[11]) + Number(f[12])) * 10; };
// RING=<bytes>: the client's ringBytes (a message up to a quarter of it travels as one record).
const c = new Client(name, process.env.RING ? { ringBytes: Number(process.env.RING) } : {}); await c.waitForConnection(2000);
const b = Buffer.alloc(size, 7);
// WARM=<calls> before counting (default 20): faults in the first seconds are mostly the JIT and heap growth, not per message.
for (let i = 0, w = Number(process.env.WARM ?? 20); i < w; i++) c.call("echo", b);
const f0 = process.resourceUsage().minorPageFault, s0 = minflt(spid), t0 = performance.now();
const u0 = process.cpuUsage(), sc0 = cpuMs(spid);
for (let i = 0; i < n; i++) c.call("echo", b);
const dt = (performance.now() - t0) / n, f1 = process.resourceUsage().minorPageFault, s1 = minflt(spid);
const u = process.cpuUsage(u0), cpuClient = (u.user + u.system) / 1000 / n, cpuServer = (cpuMs(spid) - sc0) / n;
const t1 = performance.now(); let x = 0; for (let i = 0; i < n; i++) { const a = Buffer.allocUnsafe(size); a.fill(i); x += a[size - 1]; } const at = (performance.now() - t1) / n;
const hot = Buffer.alloc(size), t2 = performance.now(); for (let i = 0; i < n; i++) b.copy(hot); const mt = (performance.now() - t2) / n;
console.log(`echo ${size}: hot memcpy ${(mt * 1000).toFixed(0)} µs (${(dt / mt).toFixed(1)}×),  ${(dt * 1000).toFixed(0)} µs/call, alloc+fill ${(at * 1000).toFixed(0)} µs (${(dt / at).toFixed(1)}×), faults/call client ${((f1 - f0) / n).toFixed(1)} server ${((s1 - s0) / n).toFixed(1)}; CPU/call client ${(cpuClient * 1000).toFixed(0)} µs server ${(cpuServer * 1000).toFixed(0)} µs (${((cpuClient + cpuServer) / at).toFixed(1)}× alloc+fill)`);
c.close();
