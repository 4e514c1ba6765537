// The gRPC peer's server (@grpc/grpc-js) on a Unix domain socket: `node grpc-server.js <path>`.
import * as grpc from "@grpc/grpc-js";
import { benchService, grpcOptions } from "./grpc-service.js";

const path = process.argv[2]!;
const server = new grpc.Server(grpcOptions);
server.addService(benchService, {
  Add(call: grpc.ServerUnaryCall<[number, number], number>, callback: grpc.sendUnaryData<number>) {
    callback(null, call.request[0] + call.request[1]);
  },
  EchoString(call: grpc.ServerUnaryCall<string, string>, callback: grpc.sendUnaryData<string>) {
    callback(null, call.request);
  },
  EchoBytes(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) {
    callback(null, call.request);
  },
});
server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  console.log("ready");
});
process.stdin.on("end", () => server.tryShutdown(() => process.exit(0)));
process.stdin.resume();
