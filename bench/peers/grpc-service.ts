// The gRPC peer's service, defined by hand (no .proto): Add takes two int32 and
// returns one, as 8 and 4 little-endian bytes; EchoString and EchoBytes carry their
// value as the whole message. grpc-js frames them like any protobuf message.
import type { ServiceDefinition } from "@grpc/grpc-js";

const pair = {
  serialize(v: [number, number]): Buffer {
    const b = Buffer.allocUnsafe(8);
    b.writeInt32LE(v[0], 0);
    b.writeInt32LE(v[1], 4);
    return b;
  },
  deserialize: (b: Buffer): [number, number] => [b.readInt32LE(0), b.readInt32LE(4)],
};
const int32 = {
  serialize(v: number): Buffer {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32LE(v, 0);
    return b;
  },
  deserialize: (b: Buffer): number => b.readInt32LE(0),
};
const string = { serialize: (s: string) => Buffer.from(s, "utf8"), deserialize: (b: Buffer) => b.toString("utf8") };
const bytes = { serialize: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength), deserialize: (b: Buffer) => b };

function unary<Req, Res>(
  name: string,
  req: { serialize(v: Req): Buffer; deserialize(b: Buffer): Req },
  res: { serialize(v: Res): Buffer; deserialize(b: Buffer): Res },
) {
  return {
    path: `/bench.Bench/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: req.serialize,
    requestDeserialize: req.deserialize,
    responseSerialize: res.serialize,
    responseDeserialize: res.deserialize,
  };
}

export const benchService = {
  Add: unary("Add", pair, int32),
  EchoString: unary("EchoString", string, string),
  EchoBytes: unary("EchoBytes", bytes, bytes),
} satisfies ServiceDefinition;

/** Messages up to 64 MiB (the default limit on receive is 4 MiB). */
export const grpcOptions = {
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
  "grpc.max_send_message_length": 64 * 1024 * 1024,
};
