// What the harness needs of each system it measures.

/** One connection to a peer's server, as the measuring process sees it. */
export interface PeerClient {
  /** A synchronous add, for peers that have synchronous calls (shmrpc only). */
  addSync?: (a: number, b: number) => number;
  /** A synchronous echo, for peers that have synchronous calls. */
  echoSync?: <T extends string | Uint8Array>(x: T) => T;
  add(a: number, b: number): Promise<number>;
  /** Echo of a string or bytes; bytes may come back as any Uint8Array. */
  echo<T extends string | Uint8Array>(x: T): Promise<T>;
  close(): void | Promise<void>;
}

/** A running server of a peer. */
export interface PeerServer {
  /** The server's process id, for its CPU time; undefined if it runs in this process. */
  pid: number | undefined;
  connect(): Promise<PeerClient>;
  /** Arguments that let bench/loadgen.ts connect another process; undefined if the peer cannot. */
  loadgen: string[] | undefined;
  /** Why no other process can connect (shown as n/a in the table). */
  noLoadgen?: string;
  stop(): Promise<void>;
}

export interface Peer {
  id: string;
  label: string;
  /** What a user imports to use it (for the import-time row); undefined: same as another row's. */
  module?: string;
  /** Measured on the payload rows only; the other rows show this as the reason. */
  payloadsOnly?: string;
  start(): Promise<PeerServer>;
}
