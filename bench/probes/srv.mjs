import { Server } from "../../dist/src/index.js";
const s = new Server("/rpc_probe"); s.bind("add", (a, b) => a + b); s.bind("echo", (x) => x);
const d = s.run(); console.log("serving"); process.on("SIGINT", () => s.close()); await d;
