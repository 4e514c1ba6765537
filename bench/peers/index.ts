// Every system the bench measures, in table order, and how another process connects to each.
import { shmrpcPeer, shmrpcViewPeer, shmrpcVariantPeer, connectShmrpc } from "./shmrpc.js";
import { shmrpcContractPeer, connectShmrpcContract } from "./shmrpc-contract.js";
import { socketPeer, connectSocket } from "./socket.js";
import { ipcPeer } from "./ipc.js";
import { grpcPeer, connectGrpc } from "./grpc.js";
import { portPeer } from "./port.js";
import { threadsPeer } from "./threads.js";
import { comlinkPeer } from "./comlink.js";
import { zeromqPeer, connectZeromq } from "./zeromq.js";
import { natsPeer, connectNats } from "./nats.js";
import type { Peer, PeerClient } from "./peer.js";

export const peers: Peer[] = [shmrpcPeer(false), shmrpcContractPeer("zod"), shmrpcContractPeer("valibot"), shmrpcVariantPeer("middleware"), shmrpcVariantPeer("traced"), shmrpcPeer(true), shmrpcViewPeer, socketPeer, ipcPeer("json"), ipcPeer("advanced"), zeromqPeer, grpcPeer, threadsPeer, portPeer, comlinkPeer, natsPeer(true), natsPeer(false)];

export const connectors: Record<string, (args: string[]) => Promise<PeerClient>> = {
  shmrpc: connectShmrpc,
  "shmrpc-busypoll": connectShmrpc,
  "shmrpc-zod": connectShmrpcContract,
  "shmrpc-valibot": connectShmrpcContract,
  "shmrpc-middleware": connectShmrpc,
  "shmrpc-traced": connectShmrpc,
  socket: connectSocket,
  zeromq: connectZeromq,
  grpc: connectGrpc,
  "shmrpc-nats": connectNats,
  "shmrpc-nats-async": connectNats,
};
