const { Server } = await import(process.env.SHMRPC_DIST ?? "../../dist/src/index.js");
// node srv.mjs [name] [busy]   (default /rpc_probe, park mode; VIEW=1: echo bound with { view: true })
const name = process.argv[2] ?? "/rpc_probe";
const s = new Server(name, { busyPoll: process.argv[3] === "busy", ...(process.env.SPIN ? { spinMicros: Number(process.env.SPIN) } : {}) }); s.bind("add", (a, b) => a + b); s.bind("echo", (x) => x, process.env.VIEW === "1" ? { view: true } : undefined);
const d = s.run(); console.log("serving"); process.on("SIGINT", () => s.close()); process.on("SIGTERM", () => s.close()); await d;
